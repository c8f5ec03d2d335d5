"""Kubernetes resource quantities ("500m", "4Gi", "1e3"), parsed exactly as the API server does.

The policy keeps what the admin wrote (so rendered manifests read like the policy), and uses
these helpers only to compare requests with limits and to size Dask workers in bytes and cores.
"""

from __future__ import annotations

import re
from decimal import Decimal

__all__ = ["QuantityError", "parse_quantity", "to_bytes", "to_cores"]

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1),
            "k": Decimal(10**3), "M": Decimal(10**6), "G": Decimal(10**9), "T": Decimal(10**12),
            "P": Decimal(10**15), "E": Decimal(10**18)}
_QUANTITY = re.compile(r"^\+?(?P<number>\d+(?:\.\d*)?|\.\d+)(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?$")

_HINT = "use a non-negative number with an optional Kubernetes suffix, e.g. 500m, 2, 512Mi, 4Gi"


class QuantityError(ValueError):
    """A string that the Kubernetes API server would refuse as a quantity."""


def parse_quantity(value: str | int | float) -> Decimal:
    """Return the quantity as an exact Decimal (cores or bytes), or raise QuantityError."""
    text = str(value).strip()
    match = _QUANTITY.match(text)
    if not match:
        raise QuantityError(f"{value!r} is not a Kubernetes quantity; {_HINT}")
    number = Decimal(match["number"])
    suffix = match["suffix"] or ""
    if suffix in _BINARY:
        return number * _BINARY[suffix]
    if suffix in _DECIMAL:
        return number * _DECIMAL[suffix]
    return number * Decimal(10) ** int(suffix[1:])  # e/E exponent


def to_bytes(value: str | int | float) -> int:
    return int(parse_quantity(value))


def to_cores(value: str | int | float) -> float:
    return float(parse_quantity(value))


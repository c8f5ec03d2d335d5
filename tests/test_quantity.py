from decimal import Decimal

import pytest

from dask_kubeflow.quantity import QuantityError, parse_quantity, to_bytes, to_cores


@pytest.mark.parametrize(
    ("text", "value"),
    [("500m", Decimal("0.5")), ("2", Decimal(2)), ("1.5", Decimal("1.5")), ("4Gi", Decimal(4 * 2**30)),
     ("512Mi", Decimal(512 * 2**20)), ("4G", Decimal(4 * 10**9)), ("1e3", Decimal(1000)), ("+1k", Decimal(1000)),
     (".5", Decimal("0.5")), (3, Decimal(3))],
)
def test_parses_what_kubernetes_accepts(text, value):
    assert parse_quantity(text) == value


@pytest.mark.parametrize("text", ["4Gb", "-1", "lots", "", "1.2.3", "Gi", "4 Gi", "1gi"])
def test_refuses_what_kubernetes_refuses_with_a_hint(text):
    with pytest.raises(QuantityError, match="not a Kubernetes quantity; use .*4Gi"):
        parse_quantity(text)


def test_conversions():
    assert to_bytes("1Gi") == 2**30
    assert to_cores("250m") == 0.25

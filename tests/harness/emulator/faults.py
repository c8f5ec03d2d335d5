"""Injected faults: the next N requests matching verb/resource/namespace answer 409, 500 or hang."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field


@dataclass
class Fault:
    verb: str  # get|list|watch|create|update|patch|delete|deletecollection|*
    resource: str  # plural, plural.group, or plural/subresource; "*" for any
    status: int | str  # 409, 500, ... or "hang"
    count: int = 1
    namespace: str | None = None
    hits: int = field(default=0, init=False)

    @property
    def remaining(self) -> int:
        return self.count - self.hits

    def matches(self, verb: str, plural: str, group: str, subresource: str | None, namespace: str | None) -> bool:
        if self.verb not in ("*", verb):
            return False
        if self.namespace is not None and self.namespace != namespace:
            return False
        if self.resource == "*":
            return True
        name, _, sub = self.resource.partition("/")
        res, _, grp = name.partition(".")
        return res == plural and (not grp or grp == group) and (sub or None) == subresource


class FaultTable:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> Fault:
        if fault.status != "hang" and not (isinstance(fault.status, int) and 400 <= fault.status <= 599):
            raise ValueError(f"fault status must be an HTTP error code (409, 500, ...) or 'hang', not {fault.status!r}")
        if fault.count < 1:
            raise ValueError(f"fault count must be at least 1, not {fault.count}")
        with self._lock:
            self._faults.append(fault)
        return fault

    def take(self, verb: str, plural: str, group: str, subresource: str | None,
             namespace: str | None) -> Fault | None:
        """The first armed fault matching this request, consuming one of its N uses."""
        with self._lock:
            for fault in self._faults:
                if fault.remaining > 0 and fault.matches(verb, plural, group, subresource, namespace):
                    fault.hits += 1
                    return fault
        return None

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

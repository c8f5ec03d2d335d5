"""Policy fields of hibernation and usage budgets (docs/hibernation.md): ``lifecycle`` and ``budget``."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from .base import Model as _Model
from .rules import duration_seconds, is_duration

__all__ = ["Lifecycle", "Budget"]


class Lifecycle(_Model):
    """Hibernation: an idle cluster gives its scheduler back (docs/hibernation.md)."""

    hibernate_after: str | None = Field(None, description="idle time before the scheduler is stopped (None: never)")

    @field_validator("hibernate_after", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> str | None:
        if value is None:
            return None
        text = str(value)
        if not is_duration(text):
            raise ValueError(f"{value!r} is not a duration; use e.g. 30m, 8h or 1h30m (or null: never hibernate)")
        return text

    @property
    def hibernate_seconds(self) -> int | None:
        return None if self.hibernate_after is None else duration_seconds(self.hibernate_after)


class Budget(_Model):
    """Core-hours a namespace may use per calendar month (UTC) before its autoscaler is clamped."""

    core_hours: float | None = Field(None, ge=0, description="core-hours per calendar month (None: no budget)")
    clamp_to: int = Field(0, ge=0, le=1000, description="autoscaler maximum once the budget is spent")
    warn_at: float = Field(0.8, gt=0, le=1, description="fraction of the budget that triggers a warning")
    contact: str = Field("your platform admin", description="whom users ask to raise the budget")

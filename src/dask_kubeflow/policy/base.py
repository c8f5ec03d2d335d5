"""The base of every policy model: camelCase keys in YAML (as in Kubernetes), unknown keys refused."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

__all__ = ["Model"]


class Model(BaseModel):
    """camelCase keys in YAML (as in Kubernetes), unknown keys refused, frozen."""

    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True)

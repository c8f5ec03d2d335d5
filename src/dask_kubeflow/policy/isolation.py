"""Per-tier isolation settings: extra egress for Dask pods, and how strictly their pods are confined (pure).

``network.egress``: what Dask pods may reach beyond their own namespace and the cluster DNS, which
render always allows. Everything else (other namespaces, the cloud metadata address, the internet)
is closed unless a rule here opens it, e.g. object storage for one tier.

``security``: the Pod Security Standard the rendered scheduler and worker pods meet. ``restricted``
(the default) runs them as a non-root user with no capabilities, no privilege escalation and the
runtime's default seccomp profile; ``baseline`` runs them as the image's own user (root in the
plain Dask image) for tiers that install packages at start (``EXTRA_APT_PACKAGES``).
"""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import Field, field_validator, model_validator

from ..kube.names import is_dns_label, is_label_key, is_label_value
from .base import Model

__all__ = ["EgressPeer", "EgressPort", "EgressRule", "IPBlock", "METADATA_ADDRESSES", "NetworkSettings", "PodSecurity"]

# Cloud instance metadata (AWS, GCP, Azure, OpenStack; AWS' IPv6 one): credentials of the node live there.
METADATA_ADDRESSES = ("169.254.169.254", "fd00:ec2::254")
DEFAULT_RUN_AS = 1000


def _network(value: str, what: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise ValueError(f"{what} {value!r} is not a CIDR block; write it like 10.20.0.0/16 or 2001:db8::/64") from None


class IPBlock(Model):
    cidr: str
    except_: tuple[str, ...] = Field((), alias="except")

    @model_validator(mode="after")
    def _valid(self) -> IPBlock:
        block = _network(self.cidr, "cidr")
        holes = [_network(e, "except") for e in self.except_]
        for hole, text in zip(holes, self.except_):
            if hole.version != block.version or not hole.subnet_of(block):  # type: ignore[arg-type]
                raise ValueError(f"except {text!r} is not inside cidr {self.cidr!r}; Kubernetes refuses that")
        for address in map(ipaddress.ip_address, METADATA_ADDRESSES):
            if address in block and not any(address in hole for hole in holes):
                raise ValueError(
                    f"cidr {self.cidr!r} includes the cloud metadata address {address} (node credentials); "
                    f"add it to except, e.g. except: [{address}/{address.max_prefixlen}]"
                )
        return self


class EgressPeer(Model):
    """One destination: an ``ipBlock`` outside the cluster, or pods of one ``namespace`` (``podLabels`` narrows)."""

    ip_block: IPBlock | None = None
    namespace: str | None = None
    pod_labels: dict[str, str] = Field(default_factory=dict)

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: str | None) -> str | None:
        if value is not None and not is_dns_label(value):
            raise ValueError(f"{value!r} is not a namespace name (lowercase letters, digits and '-')")
        return value

    @field_validator("pod_labels")
    @classmethod
    def _labels(cls, value: dict[str, str]) -> dict[str, str]:
        for key, val in value.items():
            if not is_label_key(key) or not is_label_value(str(val)):
                raise ValueError(f"{key}={val!r} is not a valid Kubernetes label")
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> EgressPeer:
        if (self.ip_block is None) == (self.namespace is None):
            raise ValueError("give exactly one of ipBlock (addresses outside the cluster) or namespace")
        if self.ip_block is not None and self.pod_labels:
            raise ValueError("podLabels goes with namespace, not with ipBlock")
        return self


class EgressPort(Model):
    protocol: Literal["TCP", "UDP", "SCTP"] = "TCP"
    port: int = Field(ge=1, le=65535)
    end_port: int | None = Field(None, ge=1, le=65535)

    @model_validator(mode="after")
    def _range(self) -> EgressPort:
        if self.end_port is not None and self.end_port < self.port:
            raise ValueError(f"endPort ({self.end_port}) is below port ({self.port})")
        return self


class EgressRule(Model):
    """Pods may open connections to any of ``to`` on any of ``ports`` (none listed: every port)."""

    to: tuple[EgressPeer, ...]
    ports: tuple[EgressPort, ...] = ()

    @model_validator(mode="after")
    def _somewhere(self) -> EgressRule:
        if not self.to:
            raise ValueError("to is empty; list at least one destination (ipBlock or namespace)")
        return self


class NetworkSettings(Model):
    egress: tuple[EgressRule, ...] = Field((), description="extra destinations of the Dask pods")


class PodSecurity(Model):
    profile: Literal["restricted", "baseline"] = "restricted"
    run_as_user: int | None = Field(DEFAULT_RUN_AS, ge=0, le=2**31 - 1)
    run_as_group: int | None = Field(DEFAULT_RUN_AS, ge=0, le=2**31 - 1)

    @model_validator(mode="after")
    def _non_root(self) -> PodSecurity:
        if self.profile == "restricted" and self.run_as_user == 0:
            raise ValueError("runAsUser 0 is root, which profile restricted forbids; use a non-zero user "
                             "or profile: baseline for this tier")
        return self

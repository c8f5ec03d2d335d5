"""The policy in force, loaded from the policy ConfigMap and reloaded when it changes.

A changed ConfigMap is validated as a whole: if any problem is found the new policy is refused
(Event on the ConfigMap, error log, ``policy_valid`` 0 and ``policy_refused_info`` naming the
problem) and the last good policy stays in force. If no good policy was ever loaded (the
controller started with a broken ConfigMap) nothing is reconciled until the ConfigMap is fixed:
rolling built-in defaults out to every namespace because of a typo would be worse.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kr8s.asyncio import Api

from ..kube.errors import API_ERRORS, KubeError, from_exception
from ..kube.resources import ConfigMap, ObjectRef
from ..kube.retry import Backoff
from ..policy import Policy, PolicyError, PolicyProblem, parse_policy_text
from . import apply, metrics
from .events import post_event

__all__ = ["PolicySource", "checked_policy", "policy_from_configmap"]

log = logging.getLogger(__name__)


def policy_from_configmap(body: dict[str, Any], key: str) -> Policy:
    """Validate the policy YAML under ``data[key]`` of a ConfigMap; raises PolicyError.

    Read with the bounded reader ``policy check`` uses: size, nesting and alias expansion are
    limited, so no edit of the ConfigMap can take the controller's memory or stack.
    """
    meta = body.get("metadata") or {}
    source = f"ConfigMap {meta.get('namespace')}/{meta.get('name')} key {key}"
    text = (body.get("data") or {}).get(key)
    if text is None:
        raise PolicyError([PolicyProblem(source, "", f"the key is missing; put the policy YAML under data.{key}")])
    if not isinstance(text, str):
        raise PolicyError([PolicyProblem(source, "", f"data.{key} is not text; put the policy YAML there")])
    return parse_policy_text(text, source)


def checked_policy(body: dict[str, Any], key: str) -> Policy:
    """``policy_from_configmap``, with anything unexpected turned into a refusal (logged with its traceback):
    an edit of the ConfigMap must never end the watch or replace the policy in force."""
    try:
        return policy_from_configmap(body, key)
    except PolicyError:
        raise
    except Exception as err:
        log.exception("checking the policy ConfigMap failed unexpectedly")
        meta = body.get("metadata") or {}
        raise PolicyError([PolicyProblem(
            f"ConfigMap {meta.get('namespace')}/{meta.get('name')} key {key}", "",
            f"could not be checked ({type(err).__name__}: {err}); this is a bug in dask-kubeflow: check the file "
            f"with `dask-kubeflow policy check` and report it with the controller's log")]) from None


@dataclass
class _State:
    policy: Policy | None = None
    digest: str = ""  # of the ConfigMap text in force
    seen: str | None = None  # digest of the latest text seen, accepted or not
    refused: str | None = None  # why the latest text was refused


class PolicySource:
    """Holds the policy in force and keeps it in step with the ConfigMap."""

    def __init__(self, api: Api, namespace: str, name: str, key: str, on_change: Callable[[], None]) -> None:
        self.api, self.namespace, self.name, self.key = api, namespace, name, key
        self.on_change = on_change
        self.state = _State()
        self._lock = asyncio.Lock()

    @property
    def policy(self) -> Policy | None:
        return self.state.policy

    @property
    def version(self) -> str:
        """Short name of the policy in force, recorded in each namespace's status."""
        policy = self.state.policy
        return f"{policy.source if policy else 'none'}@{self.state.digest[:12] or 'builtin'}"

    def why_not_ready(self) -> str | None:
        if self.state.policy is None:
            return f"no valid policy loaded: {self.state.refused or 'not read yet'}"
        return None

    async def load(self) -> None:
        """Read the ConfigMap now (startup, and after a watch breaks)."""
        body = await apply.get(self.api, ObjectRef("v1", "ConfigMap", self.namespace, self.name))
        if body is None:
            await self._missing()
        else:
            await self.consider(body)

    async def _missing(self) -> None:
        async with self._lock:
            if self.state.policy is None:
                log.warning(
                    "policy ConfigMap %s/%s not found; using the built-in policy (every profile namespace gets the "
                    "default cluster). Create the ConfigMap with key %s to set limits and tiers.",
                    self.namespace, self.name, self.key,
                )
                self.state = _State(policy=Policy.builtin(), digest="", seen="")
                metrics.record_policy_accepted()
                self.on_change()
            elif self.state.seen != "":
                log.warning(
                    "policy ConfigMap %s/%s was deleted; keeping the policy in force (%s). Recreate it to change the policy.",
                    self.namespace, self.name, self.version,
                )
                self.state.seen = ""

    async def consider(self, body: dict[str, Any]) -> None:
        """Take a ConfigMap body from a read or watch event; reload if its policy text changed."""
        text = (body.get("data") or {}).get(self.key)
        digest = hashlib.sha256((text if text is not None else "\0missing").encode()).hexdigest()
        async with self._lock:
            if digest == self.state.seen:
                return
            self.state.seen = digest
            try:
                policy = checked_policy(body, self.key)
            except PolicyError as err:
                self.state.refused = str(err)
                first = err.problems[0] if err.problems else None
                metrics.record_policy_refused(f"{first.path}: {first.message}" if first else str(err))
                kept = f"the last good policy stays in force ({self.version})" if self.state.policy else \
                    "no namespace is reconciled until the policy is fixed"
                log.error("policy refused: %s\n%s. Fix the ConfigMap %s/%s; check it first with "
                          "`dask-kubeflow policy check FILE`.", err, kept, self.namespace, self.name)
                meta = body.get("metadata") or {}
                await post_event(
                    self.api, namespace=self.namespace, reason="PolicyRefused", warning=True,
                    involved={"apiVersion": "v1", "kind": "ConfigMap", "name": self.name,
                              "namespace": self.namespace, "uid": meta.get("uid")},
                    message=f"{err}\n{kept}",
                )
                return
            self.state.policy, self.state.digest, self.state.refused = policy, digest, None
            metrics.record_policy_accepted()
            log.info("policy loaded from ConfigMap %s/%s: %d tier(s) (%s)", self.namespace, self.name,
                     len(policy.tiers), self.version)
            self.on_change()

    async def watch_forever(self) -> None:
        """Follow the ConfigMap; on any break, re-read it and watch again."""
        backoff = Backoff(initial=1.0, maximum=30.0)
        while True:
            delay = 1.0  # the server ended the watch: read again and watch on, after a breath
            try:
                await self.load()
                async for kind, obj in self.api.async_watch(
                    ConfigMap, namespace=self.namespace,  # type: ignore[arg-type]  (kr8s accepts a class)
                    field_selector=f"metadata.name={self.name}",
                ):
                    backoff.reset()
                    if kind == "DELETED":
                        await self._missing()
                    else:
                        await self.consider(obj.raw)
            except asyncio.CancelledError:
                raise
            except (*API_ERRORS, KubeError) as err:
                problem = from_exception(err, verb="watch", resource="configmaps", namespace=self.namespace)
                delay = backoff.next()
                log.warning("watching the policy ConfigMap %s/%s failed (%s); retrying in %.0fs. Check the "
                            "controller's RBAC (get/list/watch configmaps there) and the API server.",
                            self.namespace, self.name, problem, delay)
            await asyncio.sleep(delay)

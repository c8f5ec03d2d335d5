"""`Emulator`: the API server on a real TCP port in a background thread, plus the kubeconfig pointing at it.

It always runs in its own thread with its own event loop, so sync tests, async tests (which must not
block their own loop) and subprocesses (`kopf run`, `kubectl`) all reach it the same way: over HTTP.
"""

from __future__ import annotations

import asyncio
import copy
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import aiohttp.web

from .admission import Webhooks
from .faults import Fault, FaultTable
from .identity import Authenticator, Identity, UserInfo, kubeconfig_name, service_account_user, write_kubeconfig
from .rbac import Authorizer
from .resources import Registry, default_crd_files, load_crd_documents
from .sar import Rule, RuleTable
from .selectors import Selection
from .server import ApiHandler
from .store import WRITE_VERBS, Store

BUILTIN_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
_CRD_CACHE: dict[tuple[Path, ...], list[dict[str, Any]]] = {}


class Emulator:
    """A Kubernetes API emulator serving http://127.0.0.1:<port> until stopped."""

    def __init__(self, crds: Iterable[Path | str] | None = None, *, port: int = 0, host: str = "127.0.0.1",
                 kubeconfig: Path | str | None = None) -> None:
        self._crd_files = tuple(Path(p) for p in (default_crd_files() if crds is None else crds))
        self._port = port
        self._host = host
        self._kubeconfig_path = Path(kubeconfig) if kubeconfig else None
        self._tmpdir: tempfile.TemporaryDirectory[str] | None = None
        self.registry = Registry()
        self.store = Store(self.registry)
        self.rules = RuleTable()
        self.faults = FaultTable()
        self.authenticator = Authenticator()
        self.authorizer = Authorizer(self.store)
        self.webhooks = Webhooks(self.store)
        self._identities: dict[tuple[UserInfo, str], Identity] = {}
        self.handler: ApiHandler | None = None
        self._builtin_reactions: list[Any] = []
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self.url = ""
        self.port = 0
        self._seed()

    # ------------------------------------------------------------------ lifecycle
    def _seed(self) -> None:
        crd_rt = self.registry.by_plural("apiextensions.k8s.io", "customresourcedefinitions")
        ns_rt = self.registry.by_plural("", "namespaces")
        assert crd_rt is not None and ns_rt is not None
        for name in BUILTIN_NAMESPACES:
            if self.store.find(ns_rt, None, name) is None:
                self.store.create(ns_rt, None, {"metadata": {"name": name}}, version="v1", manager="emulator")
        if self._crd_files not in _CRD_CACHE:
            _CRD_CACHE[self._crd_files] = load_crd_documents(self._crd_files)
        for doc in _CRD_CACHE[self._crd_files]:
            if self.store.find(crd_rt, None, doc["metadata"]["name"]) is None:
                self.store.create(crd_rt, None, doc, version="v1", manager="emulator")

    def start(self) -> Self:
        if self._thread is not None:
            return self
        self._thread = threading.Thread(target=self._run, name="k8s-api-emulator", daemon=True)
        self._thread.start()
        self._ready.wait(timeout=30)
        if self._error is not None:
            raise RuntimeError(f"the Kubernetes API emulator failed to start on {self._host}:{self._port}: "
                               f"{self._error}") from self._error
        if not self._ready.is_set():
            raise RuntimeError("the Kubernetes API emulator did not start within 30 s")
        if self._kubeconfig_path is None:
            self._tmpdir = tempfile.TemporaryDirectory(prefix="k8s-emulator-")
            self._kubeconfig_path = Path(self._tmpdir.name) / "kubeconfig"
        write_kubeconfig(self._kubeconfig_path, self.url)
        for (_, namespace), identity in self._identities.items():  # a restarted emulator has a new port
            write_kubeconfig(identity.kubeconfig, self.url, namespace, identity.token, identity.username,
                             identity.user)
        return self

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:  # reported to start() / stop()
            self._error = exc
            self._ready.set()
        finally:
            loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        self.handler = ApiHandler(store=self.store, rules=self.rules, faults=self.faults,
                                  authenticator=self.authenticator, authorizer=self.authorizer, webhooks=self.webhooks)
        self._builtin_reactions = list(self.handler._payloads)  # kmock's own fallbacks; reset() keeps only these
        async with self.handler:
            # No access log: it runs in this thread, inside the test process, whose log handlers pytest swaps
            # under it; the emulator counts and records requests itself (``handler``).
            runner = aiohttp.web.ServerRunner(aiohttp.web.Server(self.handler, access_log=None), handle_signals=False)
            await runner.setup()
            site = aiohttp.web.TCPSite(runner, self._host, self._port, reuse_address=True)
            await site.start()
            server = getattr(site, "_server", None)
            sockets = getattr(server, "sockets", None) or []
            self.port = sockets[0].getsockname()[1] if sockets else self._port
            self.url = f"http://{self._host}:{self.port}"
            self.handler.address = f"{self._host}:{self.port}"
            loop = asyncio.get_running_loop()
            self.store.scheduler = lambda delay, fn: loop.call_soon_threadsafe(loop.call_later, delay, fn)
            self._ready.set()
            try:
                await self._stop.wait()
            finally:
                self.store.scheduler = None
                self.handler.stopping = True
                self.store.close_all_watches()
                await runner.cleanup()
                await self.webhooks.close()

    def stop(self) -> None:
        if self._thread is None:
            return
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=30)
        self._thread = None
        if self._tmpdir is not None:
            self._tmpdir.cleanup()
            self._tmpdir = None
            self._kubeconfig_path = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        await asyncio.get_running_loop().run_in_executor(None, self.start)
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.stop)

    @property
    def kubeconfig(self) -> Path:
        if self._kubeconfig_path is None:
            raise RuntimeError("the emulator is not started: call start() (or use it as a context manager) first")
        return self._kubeconfig_path

    # ------------------------------------------------------------------ identities
    def identity(self, user: str, groups: Iterable[str] = (), *, uid: str = "",
                 extra: dict[str, list[str]] | None = None, namespace: str = "default") -> Identity:
        """A caller named `user` in `groups` (plus system:authenticated, as every authenticator adds): its bearer
        token, userInfo and a kubeconfig (context namespace `namespace`) that authenticates as it. Requests as it
        are authorized by RBAC (the admin kubeconfig's system:masters bypasses RBAC). Same user -> same token."""
        group_list = list(dict.fromkeys([*groups, "system:authenticated"]))
        info = UserInfo(user, tuple(group_list), uid, tuple(sorted((k, tuple(v)) for k, v in (extra or {}).items())))
        return self._identity(info, namespace)

    def service_account(self, namespace: str, name: str) -> Identity:
        """The identity of ServiceAccount `namespace/name` (`system:serviceaccount:<ns>:<name>`, groups
        system:serviceaccounts, system:serviceaccounts:<ns>, system:authenticated); kubeconfig namespace `namespace`.
        The ServiceAccount object need not exist (token reviews of real clusters check it; the emulator does not)."""
        return self._identity(service_account_user(namespace, name), namespace)

    def kubeconfig_for(self, user: str, groups: Iterable[str] = (), namespace: str = "default") -> Path:
        """Path of a kubeconfig that authenticates as `user` in `groups` (see `identity`)."""
        return self.identity(user, groups, namespace=namespace).kubeconfig

    def _identity(self, info: UserInfo, namespace: str) -> Identity:
        token = self.authenticator.register(info)
        found = self._identities.get((info, namespace))
        if found is not None and found.kubeconfig.exists():
            return found
        path = self.kubeconfig.parent / f"{kubeconfig_name(info)}-{namespace}"
        identity = Identity(info, token, write_kubeconfig(path, self.url, namespace, token, info.username, info))
        self._identities[(info, namespace)] = identity
        return identity

    # ------------------------------------------------------------------ test controls
    def webhook_route(self, address: str, target: str) -> None:
        """Where the emulator connects for webhook `address`: `<svc>.<ns>:<port>` (a clientConfig.service) or the
        `host:port` of a clientConfig.url, to `target` (`127.0.0.1:<port>`). The TLS server name stays the
        Service's DNS name (`<svc>.<ns>.svc`) or the URL's host, as on a cluster. Cleared by reset()."""
        host, sep, port = address.rpartition(":")
        if not sep or not port.isdigit():
            raise ValueError(f"webhook_route address must be <svc>.<ns>:<port> or <host>:<port>, not {address!r}")
        for suffix in (".svc.cluster.local", ".svc"):
            host = host.removesuffix(suffix)
        self.webhooks.routes[f"{host}:{port}"] = target
        self.webhooks.routes[f"{host}.svc:{port}"] = target

    @property
    def webhook_calls(self) -> int:
        """How many AdmissionReviews the emulator has sent (successful or not)."""
        return self.webhooks.calls

    def allow(self, user: str, namespace: str = "*", verb: str = "*", group: str = "*", resource: str = "*") -> Rule:
        """Add a SubjectAccessReview rule (default deny). `user` may be `group:<name>`; "*" matches anything."""
        rule = Rule(user, namespace, verb, group, resource)
        self.rules.allow(rule)
        return rule

    def fault(self, verb: str, resource: str, status: int | str = 500, count: int = 1,
              namespace: str | None = None) -> Fault:
        """Make the next `count` requests matching verb/resource(/namespace) answer `status` or hang."""
        if resource != "*":
            self.registry.find(resource.split("/")[0])  # fail early on a typo, naming the known resources
        return self.faults.add(Fault(verb, resource, status, count, namespace))

    def reset(self) -> None:
        """Back to a fresh cluster: built-in namespaces and CRDs only; no rules, faults, counts or kmock
        reactions added by tests.
        Open watches are closed (clients reconnect and re-list, as after an API server restart)."""
        # One critical section: a client reconnecting meanwhile waits, then lists the fresh state.
        with self.store.lock:
            self.store.close_all_watches()
            self.rules.clear()
            self.faults.clear()
            self.webhooks.routes.clear()
            if self.handler is not None:
                self.handler._payloads[:] = self._builtin_reactions
            self.store.clear(set(BUILTIN_NAMESPACES))
            # Built-in CRDs are kept; CRDs created by tests are dropped with their objects.
            crd_rt = self.registry.by_plural("apiextensions.k8s.io", "customresourcedefinitions")
            assert crd_rt is not None
            builtin = {doc["metadata"]["name"] for doc in _CRD_CACHE.get(self._crd_files, [])}
            for crd in self.store.list(crd_rt, lambda o: True)[0]:
                if crd["metadata"]["name"] not in builtin:
                    self.store._remove(crd_rt, crd)
            self._seed()
            self.store.changes.clear()
            if self.handler is not None:
                self.handler.counts.clear()

    # ------------------------------------------------------------------ inspection
    def get(self, resource: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        """The stored object (a deep copy), or None. `resource`: plural, plural.group, kind or short name."""
        rt = self.registry.find(resource)
        obj = self.store.find(rt, namespace if rt.namespaced else None, name)
        return copy.deepcopy(obj) if obj is not None else None

    def objects(self, resource: str, namespace: str | None = None,
                label_selector: str | None = None) -> list[dict[str, Any]]:
        """Stored objects of a resource (deep copies), optionally in one namespace / matching labels."""
        rt = self.registry.find(resource)
        selection = Selection(namespace if rt.namespaced else None, label_selector, None)
        return copy.deepcopy(self.store.list(rt, selection.matches, selection.namespace)[0])

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Store an object directly (seeding for tests), with the same validation as a POST."""
        group, _, version = obj["apiVersion"].rpartition("/")
        rt = next((r for r in self.registry if r.group == group and r.kind == obj["kind"]), None)
        if rt is None:
            raise KeyError(f"the emulator serves no kind {obj['kind']} in {obj['apiVersion']}")
        created = self.store.create(rt, obj.get("metadata", {}).get("namespace"), obj, version=version,
                                    manager="emulator-test")
        return copy.deepcopy(created)

    def _resource_key(self, resource: str | None) -> str | None:
        """`pods`, `Pod`, `deployments.apps`, `pods/status` -> the key counters use (`pods`, `deployments.apps`)."""
        if resource is None:
            return None
        plural, _, sub = resource.partition("/")
        return self.registry.find(plural).key + (f"/{sub}" if sub else "")

    def _matching(self, counter: Any, resource: str | None, namespace: str | None, name: str | None,
                  verbs: Iterable[str] | None = None) -> int:
        """Sum a counter keyed (verb, resource, namespace, name) or (resource, namespace, name) over a filter."""
        want = self._resource_key(resource)
        total = 0
        for key, n in list(counter.items()):
            verb, (res, ns, nm) = (key[0], key[1:]) if len(key) == 4 else (None, key)
            if verbs is not None and verb not in verbs:
                continue
            if (want is not None and res != want) or (namespace is not None and ns != namespace) \
                    or (name is not None and nm != name):
                continue
            total += n
        return total

    def request_count(self, verb: str | None = None, resource: str | None = None, namespace: str | None = None,
                      name: str | None = None) -> int:
        """How many API requests matched (verbs: get, list, watch, create, update, patch, delete, deletecollection)."""
        counts = self.handler.counts if self.handler is not None else {}
        return self._matching(counts, resource, namespace, name, verbs=None if verb is None else (verb,))

    def write_count(self, resource: str | None = None, namespace: str | None = None, name: str | None = None) -> int:
        """Write requests received (create/update/patch/delete/deletecollection), changed state or not."""
        counts = self.handler.counts if self.handler is not None else {}
        return self._matching(counts, resource, namespace, name, verbs=WRITE_VERBS)

    def change_count(self, resource: str | None = None, namespace: str | None = None, name: str | None = None) -> int:
        """Stored state changes (each one bumped the resourceVersion); no-op writes are not counted."""
        return self._matching(self.store.changes, resource, namespace, name)

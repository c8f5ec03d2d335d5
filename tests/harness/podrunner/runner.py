"""The local pod runner: a stand-in kubelet and Deployment controller for one machine.

It watches Deployments, Pods and Services through kr8s (all namespaces) and reconciles level-
triggered (every watch event and at least every `resync` seconds):

- Deployment controller: keeps `spec.replicas` Pods per Deployment (owned by the Deployment
  directly; there is no ReplicaSet in between) and reports the Deployment's status.
- kubelet: gives each Pod a loopback address, runs each container as a local process tree
  (see `commands`), restarts exited containers (restartPolicy, back-off), runs readiness probes and
  reports Pod status; stops the processes when the Pod is deleted.
- Service status and cluster DNS: a Service gets `status.loadBalancer` (the operator waits for a
  Service status before marking a DaskCluster Running) and its names resolve to its ready Pods.
- NetworkPolicy: pods (labels, container ports), namespaces (labels) and NetworkPolicies go into the
  same table; with `enforce_network_policy=True` every pod process checks them when it connects
  (see `podnet.policy_check` and `../netpol.py`).

It runs in a background thread with its own event loop, so a synchronous test can use it.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import logging
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import aiohttp
import kr8s
import kr8s.asyncio

from . import podnet
from .addresses import LoopbackBlock
from .network import PodEntry, container_ports, network_section
from .commands import UnsupportedContainer, container_env, local_command
from . import volumes
from .manifests import container_event, owner_uid, pod_for_deployment, selector_matches, status_patch
from .probes import probe_once, probe_timing
from .processes import is_alive, start_process, stop_process
from .state import ContainerRun, PodProcess, PodRun
from .status import deployment_status, pod_status


CHILD_SITE = Path(__file__).parent / "child_site"
GRACE_CAP_SECONDS = 5.0
BACKOFF_CAP_SECONDS = 10.0


class PodRunner:
    """Runs the Pods of one emulated node. `start()` / `stop()`, or use as a context manager."""

    def __init__(
        self,
        kubeconfig: str | Path,
        workdir: str | Path,
        *,
        resync: float = 0.5,
        bin_dir: Path | None = None,
        enforce_network_policy: bool = False,
    ) -> None:
        self.kubeconfig = Path(kubeconfig)
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.resync = resync
        self.bin_dir = bin_dir or Path(sys.executable).parent
        self.dns_table_path = self.workdir / "cluster-dns.json"
        self.log_path = self.workdir / "pod-runner.log"
        self.errors: list[str] = []
        self.history: list[PodProcess] = []
        self._block: LoopbackBlock | None = None
        self._pods: dict[str, PodRun] = {}
        self._service_ips: dict[str, str] = {}
        self._port_warnings: set[str] = set()
        self._dns = podnet.DnsTable()
        self._enforce = enforce_network_policy
        self._services: dict[str, dict[str, list[str]]] = {}
        self._namespaces: list[dict[str, Any]] = []
        self._policies: list[dict[str, Any]] = []
        self._identities: dict[str, PodEntry] = {}
        self._policy_problems: set[str] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._stopping = False
        self._started = threading.Event()
        self._start_error: BaseException | None = None
        self._stop_tasks: set[asyncio.Task[None]] = set()
        self._log_handler: logging.Handler | None = None
        self.log = logging.getLogger(f"podrunner.{id(self):x}")
        podnet.write_table(str(self.dns_table_path), self._dns)

    # ------------------------------------------------------------------ public API

    def start(self, timeout: float = 30.0) -> PodRunner:
        self._block = LoopbackBlock()
        self._log_handler = logging.FileHandler(self.log_path)
        self._log_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        self.log.addHandler(self._log_handler)
        self.log.setLevel(logging.INFO)
        self._thread = threading.Thread(target=self._thread_main, name="local-pod-runner", daemon=True)
        self._thread.start()
        atexit.register(self._kill_everything)
        if not self._started.wait(timeout) or self._start_error:
            self.stop()
            raise RuntimeError(
                f"the local pod runner could not reach the Kubernetes API ({self.kubeconfig}): "
                f"{self._start_error!r}; see {self.log_path}"
            )
        self.log.info("pod runner started: pod addresses 127.%s.0.0/16, DNS table %s", self._block.octet, self.dns_table_path)
        return self

    def stop(self, timeout: float = 60.0) -> None:
        """Stop every pod process (waiting for each to exit) and the runner thread."""
        self._stopping = True
        if self._loop and self._wake and not self._loop.is_closed():
            try:
                self._loop.call_soon_threadsafe(self._wake.set)
            except RuntimeError:
                pass
        if self._thread:
            self._thread.join(timeout)
        self._kill_everything()
        if self._block:
            self._block.close()
        if self._log_handler:
            self.log.removeHandler(self._log_handler)
            self._log_handler.close()
        atexit.unregister(self._kill_everything)

    def __enter__(self) -> PodRunner:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def processes(self, namespace: str | None = None, labels: Mapping[str, str] | None = None) -> list[PodProcess]:
        """Container processes running now, optionally only in `namespace` / with these pod labels."""
        with self._lock:
            pods = list(self._pods.values())
        found = []
        for pod in pods:
            if namespace and pod.namespace != namespace:
                continue
            if labels and not all(pod.labels.get(k) == v for k, v in labels.items()):
                continue
            for c in pod.containers:
                popen = c.popen
                if popen is not None and popen.poll() is None and c.command is not None:
                    found.append(
                        PodProcess(pod.namespace, pod.name, c.name, popen.pid, pod.ip, c.command.argv, dict(pod.labels), c.log_path)
                    )
        return found

    def pids(self, namespace: str | None = None, labels: Mapping[str, str] | None = None) -> set[int]:
        """PIDs of the running container processes and all their descendants."""
        return {pid for proc in self.processes(namespace, labels) for pid in proc.tree()}

    def leftover_pids(self) -> set[int]:
        """PIDs of every process this runner ever started that still runs (should be empty after stop)."""
        return {p.pid for p in self.history if is_alive(p.pid)}

    def resolve(self, host: str, namespace: str | None = None) -> tuple[str, ...] | None:
        """Addresses the cluster DNS gives `host` (None: not a cluster name)."""
        return podnet.TableFile(str(self.dns_table_path)).table().lookup(host, namespace)

    def dns_environment(self) -> dict[str, str]:
        """Environment that gives another process (e.g. the operator) the cluster DNS."""
        return {"PYTHONPATH": str(CHILD_SITE), podnet.ENV_TABLE: str(self.dns_table_path)}

    # ------------------------------------------------------------------ NetworkPolicy

    @property
    def enforce_network_policy(self) -> bool:
        return self._enforce

    @enforce_network_policy.setter
    def enforce_network_policy(self, value: bool) -> None:
        self._enforce = bool(value)
        self._publish()

    def pod_environment(
        self, namespace: str, name: str, labels: Mapping[str, str], ports: Iterable[Mapping[str, Any]] = ()
    ) -> dict[str, str]:
        """Environment that makes another (Python) process act as a pod `namespace/name` with `labels`:
        its own pod address, the cluster DNS, and, when enforcing, NetworkPolicy on its connections (and
        on connections to it from pods). Used for the upstream operator and for test clients; the
        identity stays in the table until `release_pod_environment(env)`."""
        if self._block is None:
            raise RuntimeError("start the pod runner before asking it for a pod identity")
        with self._lock:
            ip = self._block.allocate()
            self._identities[ip] = PodEntry(namespace, name, ip, dict(labels), container_ports([{"ports": list(ports)}]))
        self._publish()
        return {
            **self.dns_environment(),
            podnet.ENV_POD_IP: ip,
            podnet.ENV_NAMESPACE: namespace,
        }

    def release_pod_environment(self, env: Mapping[str, str]) -> None:
        with self._lock:
            self._identities.pop(env.get(podnet.ENV_POD_IP, ""), None)
        self._publish()

    def network(self) -> Any:
        """The pod network as NetworkPolicy sees it now (a `tests.harness.netpol.Network`)."""
        return podnet.TableFile(str(self.dns_table_path)).table().policy_network()

    def _publish(self) -> None:
        """Rewrite the table (services, pods, namespaces, policies) when anything in it changed."""
        with self._lock:
            entries = [
                PodEntry(p.namespace, p.name, p.ip, dict(p.labels), container_ports(c.spec for c in p.containers))
                for p in self._pods.values()
            ] + list(self._identities.values())
            section = network_section(
                enforce=self._enforce,
                pod_cidr=f"127.{self._block.octet}.0.0/16" if self._block else None,
                pods=entries, namespaces=self._namespaces, policies=self._policies,
            )
            new = podnet.DnsTable(self._services, section)
            if new.to_json() == self._dns.to_json():
                return
            dns_changed = new.services != self._dns.services
            self._dns = new
            podnet.write_table(str(self.dns_table_path), new)
        if dns_changed:
            self.log.info("cluster DNS now: %s", json.dumps(new.services, sort_keys=True))

    def _check_policies(self, policies: list[dict[str, Any]]) -> None:
        """The emulator does not validate built-in kinds: report what the API server would refuse, once."""
        netpol = podnet.load_netpol()
        for found in (message for policy in policies for message in netpol.problems(policy)):
            if found not in self._policy_problems:
                self._policy_problems.add(found)
                self._error(f"{found} (the API server would refuse this NetworkPolicy; the harness evaluates it as written)")

    def host_resolver_rules(self) -> str:
        """For Chromium's --host-resolver-rules: the cluster names the browser should reach."""
        return podnet.TableFile(str(self.dns_table_path)).table().host_resolver_rules()

    def describe(self, tail_lines: int = 30, max_pod_logs: int = 8) -> str:
        """Runner log, errors and the tails of the most recently written pod logs: shown when a test fails."""
        parts = [f"local pod runner workdir: {self.workdir} (every pod's log is under pods/<namespace>/<pod>/)"]
        if self.errors:
            parts.append("runner errors:\n  " + "\n  ".join(self.errors[-20:]))
        logs = sorted(self.workdir.glob("pods/*/*/*.log"), key=lambda p: p.stat().st_mtime)[-max_pod_logs:]
        for path in [self.log_path, *logs]:
            if path.exists():
                lines = path.read_text(errors="replace").splitlines()[-tail_lines:]
                parts.append(f"--- {path} (last {len(lines)} lines)\n" + "\n".join(lines))
        return "\n".join(parts)

    # ------------------------------------------------------------------ thread and loop

    def _thread_main(self) -> None:
        self._loop = asyncio.new_event_loop()
        try:
            self._loop.run_until_complete(self._main())
        except BaseException as exc:  # noqa: BLE001 - reported to the starter
            self._start_error = self._start_error or exc
            self._started.set()
            self.log.exception("pod runner stopped with an error")
        finally:
            self._loop.close()

    async def _main(self) -> None:
        self._wake = asyncio.Event()
        try:
            self.api = await kr8s.asyncio.api(kubeconfig=str(self.kubeconfig))
            await self.api.async_version()
        except Exception as exc:
            self._start_error = exc
            self._started.set()
            return
        self._session = aiohttp.ClientSession()
        kinds = ("pods", "deployments", "services", "namespaces", "networkpolicies")
        watchers = [asyncio.create_task(self._watch(kind)) for kind in kinds]
        self._started.set()
        try:
            while not self._stopping:
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=self.resync)
                except asyncio.TimeoutError:
                    pass
                self._wake.clear()
                if self._stopping:
                    break
                try:
                    await self._reconcile()
                except Exception as exc:  # noqa: BLE001 - keep the node running, report it
                    self._error(f"reconcile failed: {exc!r}")
        finally:
            for task in watchers:
                task.cancel()
            await asyncio.gather(*watchers, return_exceptions=True)
            await asyncio.gather(*[self._stop_pod(pod) for pod in list(self._pods.values())], return_exceptions=True)
            await asyncio.gather(*self._stop_tasks, return_exceptions=True)
            await self._session.close()

    async def _watch(self, kind: str) -> None:
        while not self._stopping:
            try:
                async for _event, _obj in self.api.async_watch(kind, namespace=kr8s.ALL):
                    assert self._wake is not None
                    self._wake.set()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the periodic resync covers the gap
                self.log.info("watch of %s ended (%r); watching again", kind, exc)
            await asyncio.sleep(0.2)

    def _error(self, message: str) -> None:
        self.log.error(message)
        self.errors.append(message)

    def _kill_everything(self) -> None:
        """Last resort (stop() after a hung loop, or interpreter exit): kill every process group we started."""
        with self._lock:
            pods = list(self._pods.values())
        for pod in pods:
            for c in pod.containers:
                if c.popen is not None and c.popen.poll() is None:
                    stop_process(c.popen, grace_seconds=1.0)

    # ------------------------------------------------------------------ reconcile

    async def _list(self, kind: str) -> list[dict[str, Any]]:
        return [obj async for obj in self.api.async_get(kind, namespace=kr8s.ALL, raw=True)]  # type: ignore[misc]

    async def _reconcile(self) -> None:
        pods = await self._list("pods")
        deployments = await self._list("deployments")
        services = await self._list("services")
        self._namespaces = await self._list("namespaces")
        self._policies = await self._list("networkpolicies")
        self._check_policies(self._policies)
        await self._reconcile_deployments(deployments, pods)
        await self._reconcile_pods(pods)
        await self._reconcile_services(services)
        self._publish()

    async def _reconcile_deployments(self, deployments: list[dict[str, Any]], pods: list[dict[str, Any]]) -> None:
        for dep in deployments:
            meta = dep["metadata"]
            if meta.get("deletionTimestamp"):
                continue
            owned = [p for p in pods if owner_uid(p) == meta["uid"] and not p["metadata"].get("deletionTimestamp")]
            replicas = dep.get("spec", {}).get("replicas")
            wanted = 1 if replicas is None else int(replicas)
            for _ in range(wanted - len(owned)):
                await self._create_pod(dep)
                self._wake_soon()
            if len(owned) > wanted:
                ready_last = sorted(owned, key=lambda p: (self._is_ready(p), p["metadata"].get("creationTimestamp", "")))
                for extra in ready_last[: len(owned) - wanted]:
                    await self._delete(extra)
            status = deployment_status(dep, owned)
            if dep.get("status") != status:
                await self._patch_status("deployments", dep, status)

    def _is_ready(self, pod: Mapping[str, Any]) -> bool:
        local = self._pods.get(pod["metadata"]["uid"])
        return bool(local and local.last_ready)

    def _wake_soon(self) -> None:
        if self._wake is not None:
            self._wake.set()

    async def _create_pod(self, dep: Mapping[str, Any]) -> None:
        body = pod_for_deployment(dep)
        meta = dep["metadata"]
        pod = await kr8s.asyncio.objects.Pod(body, api=self.api)
        try:
            await pod.async_create()
            self.log.info("deployment %s/%s: created pod %s", meta["namespace"], meta["name"], body["metadata"]["name"])
        except kr8s.ServerError as exc:
            self._error(f"could not create a pod for deployment {meta['namespace']}/{meta['name']}: {exc}")

    async def _delete(self, pod: Mapping[str, Any], force: bool = False) -> None:
        obj = await kr8s.asyncio.objects.Pod(dict(pod), api=self.api)
        try:
            await obj.async_delete(force=force)
        except kr8s.NotFoundError:
            pass

    async def _patch_status(self, kind: str, obj: Mapping[str, Any], status: Mapping[str, Any]) -> None:
        cls = {
            "deployments": kr8s.asyncio.objects.Deployment,
            "pods": kr8s.asyncio.objects.Pod,
            "services": kr8s.asyncio.objects.Service,
        }[kind]
        target = await cls(dict(obj), api=self.api)
        try:
            await target.async_patch({"status": status_patch(obj.get("status"), status)}, subresource="status")
        except kr8s.NotFoundError:
            pass

    async def _reconcile_pods(self, pods: list[dict[str, Any]]) -> None:
        seen: set[str] = set()
        for pod in pods:
            meta = pod["metadata"]
            uid = meta["uid"]
            seen.add(uid)
            local = self._pods.get(uid)
            if meta.get("deletionTimestamp"):
                if local and not local.stopping:
                    self._begin_stop(local, finish_deletion=pod)
                elif local is None and not meta.get("finalizers"):
                    await self._delete(pod, force=True)
                continue
            if local is None:
                local = await self._admit(pod)
            elif local.labels != (meta.get("labels") or {}):
                local.labels = dict(meta.get("labels") or {})  # NetworkPolicy follows label changes
                self._publish()
            if local.stopping:
                continue
            await self._supervise(local)
            status = self._pod_status(local)
            if pod.get("status") != status:
                await self._patch_status("pods", pod, status)
        for uid, local in list(self._pods.items()):
            if uid not in seen and not local.stopping:
                self.log.info("pod %s/%s was deleted: stopping its processes", local.namespace, local.name)
                self._begin_stop(local)

    def _pod_status(self, pod: PodRun) -> dict[str, Any]:
        views = [c.view() for c in pod.containers]
        status = pod_status(
            views=views, restart_policy=pod.restart_policy, pod_ip=pod.ip, start_time=pod.start_time, transitions=pod.transitions
        )
        ready = status["conditions"][-1]["status"] == "True"
        if ready != pod.last_ready:
            now = time.time()
            pod.transitions.update(ContainersReady=now, Ready=now)
            pod.last_ready = ready
            status = pod_status(
                views=views, restart_policy=pod.restart_policy, pod_ip=pod.ip, start_time=pod.start_time, transitions=pod.transitions
            )
        return status

    async def _admit(self, pod: Mapping[str, Any]) -> PodRun:
        assert self._block is not None
        meta = pod["metadata"]
        spec = pod.get("spec", {})
        ip = self._block.allocate()
        pod_dir = self.workdir / "pods" / meta["namespace"] / meta["name"]
        (pod_dir / "tmp").mkdir(parents=True, exist_ok=True)
        containers = []
        sources = await volumes.read_sources(self.api, pod)  # ConfigMaps/Secrets of volumes and envFrom
        for cspec in spec.get("containers") or []:
            log_path = pod_dir / f"{cspec.get('name', 'container')}.log"
            try:
                env = {**volumes.env_from(cspec, sources), **container_env(cspec, pod, ip)}  # env wins
                volumes.mount_volumes(cspec, pod, sources, pod_dir, self.workdir)
                command = local_command(cspec, env, ip, self.bin_dir)
                containers.append(ContainerRun(cspec, command, self._process_env(pod, ip, pod_dir, env), log_path))
            except UnsupportedContainer as exc:
                self._error(f"pod {meta['namespace']}/{meta['name']}: {exc}")
                containers.append(ContainerRun(cspec, None, {}, log_path, error=str(exc)))
        local = PodRun(
            namespace=meta["namespace"],
            name=meta["name"],
            uid=meta["uid"],
            ip=ip,
            labels=dict(meta.get("labels") or {}),
            restart_policy=spec.get("restartPolicy", "Always"),
            grace=min(float(spec.get("terminationGracePeriodSeconds", 30)), GRACE_CAP_SECONDS),
            start_time=time.time(),
            containers=containers,
        )
        local.transitions.update(PodScheduled=local.start_time, Initialized=local.start_time)
        with self._lock:
            self._pods[local.uid] = local
        self._publish()  # the table knows the pod (address, labels, ports) before its containers start
        self.log.info("pod %s/%s admitted with address %s", local.namespace, local.name, ip)
        for c in containers:
            if c.command is not None and "readinessProbe" in c.spec:
                c.probe_task = asyncio.create_task(self._probe_loop(local, c))
        return local

    def _process_env(self, pod: Mapping[str, Any], ip: str, pod_dir: Path, declared: Mapping[str, str]) -> dict[str, str]:
        """A container's environment: a clean base (no test-process variables leak in), the pod's network
        view, then what the container declares."""
        meta = pod["metadata"]
        env = {
            "PATH": f"{self.bin_dir}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(pod_dir),
            "TMPDIR": str(pod_dir / "tmp"),
            "LANG": "C.UTF-8",
            "HOSTNAME": meta["name"],
            podnet.ENV_TABLE: str(self.dns_table_path),
            podnet.ENV_POD_IP: ip,
            podnet.ENV_NAMESPACE: meta["namespace"],
        }
        env.update(declared)
        python_path = [str(CHILD_SITE)] + ([declared["PYTHONPATH"]] if declared.get("PYTHONPATH") else [])
        env["PYTHONPATH"] = ":".join(python_path)
        return env

    async def _supervise(self, pod: PodRun) -> None:
        """Start containers that should run; notice exits and schedule restarts with back-off."""
        now = time.monotonic()
        for c in pod.containers:
            if c.command is None or c.done:
                continue
            if c.popen is not None:
                code = c.popen.poll()
                if code is None:
                    continue
                c.popen.wait()
                c.popen = None
                c.exit_code = code
                c.finished_at = time.time()
                c.ready = False
                restart = pod.restart_policy == "Always" or (pod.restart_policy == "OnFailure" and code != 0)
                if not restart:
                    c.done = True
                    self.log.info("pod %s/%s container %s exited with %s", pod.namespace, pod.name, c.name, code)
                    continue
                c.backoff = min(max(1.0, c.backoff * 2), BACKOFF_CAP_SECONDS)
                c.next_start = now + c.backoff
                self.log.warning(
                    "pod %s/%s container %s exited with code %s; restarting in %.0fs (log: %s)",
                    pod.namespace, pod.name, c.name, code, c.backoff, c.log_path,
                )
                continue
            if now >= c.next_start:
                await self._start_container(pod, c)

    async def _start_container(self, pod: PodRun, c: ContainerRun) -> None:
        assert c.command is not None
        if c.started_at is not None:
            c.restart_count += 1
        popen = await asyncio.to_thread(start_process, c.command.argv, c.env, self.workdir / "pods" / pod.namespace / pod.name, c.log_path)
        with self._lock:
            c.popen = popen
        c.started_at = time.time()
        c.ready = "readinessProbe" not in c.spec
        self.history.append(
            PodProcess(pod.namespace, pod.name, c.name, popen.pid, pod.ip, c.command.argv, dict(pod.labels), c.log_path)
        )
        self.log.info("pod %s/%s container %s started: pid %s: %s", pod.namespace, pod.name, c.name, popen.pid, " ".join(c.command.argv))

    async def _probe_loop(self, pod: PodRun, c: ContainerRun) -> None:
        probe = c.spec["readinessProbe"]
        delay, period, success_needed, failure_limit = probe_timing(probe)
        successes = failures = 0
        started_at = None
        last_posted: str | None = None
        while not pod.stopping:
            if c.popen is None or c.popen.poll() is not None:
                successes = failures = 0
                started_at = None
                await asyncio.sleep(0.1)
                continue
            if started_at != c.started_at:
                started_at = c.started_at
                await asyncio.sleep(delay)
                continue
            ok, why = await probe_once(probe, c.spec, pod.ip, self._session)
            if ok:
                successes, failures, last_posted = successes + 1, 0, None
                if not c.ready and successes >= success_needed:
                    c.ready = True
                    self.log.info("pod %s/%s container %s ready (%s)", pod.namespace, pod.name, c.name, why)
                    self._wake_soon()
            else:
                successes, failures = 0, failures + 1
                if why != last_posted:  # the kubelet's recorder folds repeats of one message into a count
                    last_posted = why
                    await self._post_event(pod, c, "Unhealthy", f"Readiness probe failed: {why}")
                if c.ready and failures >= failure_limit:
                    c.ready = False
                    self.log.info("pod %s/%s container %s not ready (%s)", pod.namespace, pod.name, c.name, why)
                    self._wake_soon()
            await asyncio.sleep(period)

    async def _post_event(self, pod: PodRun, c: ContainerRun, reason: str, message: str) -> None:
        """A Warning Event about a container, as the kubelet posts one (`kubectl get events` shows it)."""
        body = container_event(
            namespace=pod.namespace, pod=pod.name, pod_uid=pod.uid, container=c.name,
            reason=reason, message=message, now=time.time(),
        )
        try:
            event = await kr8s.asyncio.objects.Event(body, api=self.api)
            await event.async_create()
        except (kr8s.ServerError, kr8s.NotFoundError) as exc:
            self.log.info("could not post event %s for %s/%s: %s", reason, pod.namespace, pod.name, exc)

    def _begin_stop(self, pod: PodRun, finish_deletion: Mapping[str, Any] | None = None) -> None:
        pod.stopping = True
        task = asyncio.create_task(self._stop_pod(pod, finish_deletion))
        self._stop_tasks.add(task)
        task.add_done_callback(self._stop_tasks.discard)

    async def _stop_pod(self, pod: PodRun, finish_deletion: Mapping[str, Any] | None = None) -> None:
        pod.stopping = True
        for c in pod.containers:
            if c.probe_task:
                c.probe_task.cancel()
        running = [c for c in pod.containers if c.popen is not None]
        await asyncio.gather(*[asyncio.to_thread(stop_process, c.popen, pod.grace) for c in running if c.popen])
        with self._lock:
            for c in running:
                c.popen = None
            self._pods.pop(pod.uid, None)
        self.log.info("pod %s/%s stopped (%d processes)", pod.namespace, pod.name, len(running))
        if finish_deletion is not None and not self._stopping:
            # The kubelet's last word on a gracefully deleted pod: remove the object for good.
            await self._delete(finish_deletion, force=True)
        self._wake_soon()

    def _warn_port_mismatch(self, svc: Mapping[str, Any], pod: PodRun) -> None:
        """Service names resolve to pod addresses (no virtual IP), so a port mapping cannot be honoured: say so once."""
        meta = svc["metadata"]
        for port in svc.get("spec", {}).get("ports") or []:
            target = _container_port(port.get("targetPort", port.get("port")), pod)
            key = f"{meta['uid']}:{port.get('port')}"
            if target is not None and target != port.get("port") and key not in self._port_warnings:
                self._port_warnings.add(key)
                self._error(
                    f"Service {meta['namespace']}/{meta['name']} maps port {port.get('port')} to container port "
                    f"{target}; the local pod runner resolves Service names to pod addresses without a virtual "
                    f"IP, so clients must connect to {target}. Give the Service port the container's number."
                )

    async def _reconcile_services(self, services: list[dict[str, Any]]) -> None:
        assert self._block is not None
        with self._lock:
            pods = list(self._pods.values())
        table: dict[str, dict[str, list[str]]] = {}
        for svc in services:
            meta = svc["metadata"]
            spec = svc.get("spec", {})
            if "loadBalancer" not in (svc.get("status") or {}):
                await self._patch_status("services", svc, {**(svc.get("status") or {}), "loadBalancer": {}})
            selector = spec.get("selector")
            ready = [
                p for p in pods
                if p.namespace == meta["namespace"] and not p.stopping and p.last_ready and selector_matches(selector, p.labels)
            ]
            if ready:
                self._warn_port_mismatch(svc, ready[0])
            endpoints = [p.ip for p in ready]
            if not endpoints and spec.get("clusterIP") != "None":
                # Like a ClusterIP with no ready endpoints: the name resolves, connections are refused.
                if meta["uid"] not in self._service_ips:
                    self._service_ips[meta["uid"]] = self._block.allocate()
                endpoints = [self._service_ips[meta["uid"]]]
            table.setdefault(meta["namespace"], {})[meta["name"]] = sorted(endpoints)
        self._services = table


def _container_port(target: Any, pod: PodRun) -> int | None:
    if isinstance(target, int) or (isinstance(target, str) and target.isdigit()):
        return int(target)
    for c in pod.containers:
        for port in c.spec.get("ports") or []:
            if port.get("name") == target:
                return int(port["containerPort"])
    return None


def running_pids(processes: Iterable[PodProcess]) -> set[int]:
    """The PIDs among `processes` (and their descendants) that still run."""
    return {pid for p in processes for pid in p.tree() if is_alive(pid)}

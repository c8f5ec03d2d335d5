"""The Kubernetes Pod Security Standards (baseline and restricted, policy version "latest") as a pure
checker of a pod spec, following https://kubernetes.io/docs/concepts/security/pod-security-standards/
control by control. ``violations(spec, "restricted")`` lists what Pod Security Admission would refuse,
in its own words where it has them ("allowPrivilegeEscalation != false", ...).

Not covered: Windows-only fields beyond ``hostProcess``, and the version-specific exemptions of
older policy versions (only "latest" is implemented).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

BASELINE_CAPABILITIES = frozenset({
    "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE",
    "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
})
SAFE_SYSCTLS = frozenset({
    "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
})
SELINUX_TYPES = frozenset({"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"})
RESTRICTED_VOLUMES = frozenset({
    "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret",
})


def containers(spec: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for field in ("initContainers", "containers", "ephemeralContainers"):
        for c in spec.get(field) or ():
            yield f"{field}[{c.get('name')}]", c


def _baseline(spec: Mapping[str, Any]) -> Iterator[str]:
    pod_sc = spec.get("securityContext") or {}
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(field):
            yield f"host namespaces: {field}=true"
    if (pod_sc.get("windowsOptions") or {}).get("hostProcess"):
        yield "hostProcess: pod windowsOptions.hostProcess=true"
    for volume in spec.get("volumes") or ():
        if "hostPath" in volume:
            yield f"hostPath volumes: {volume.get('name')}"
    for sysctl in pod_sc.get("sysctls") or ():
        if sysctl.get("name") not in SAFE_SYSCTLS:
            yield f"sysctls: {sysctl.get('name')}"
    yield from _selinux("pod", pod_sc)
    yield from _seccomp_not_unconfined("pod", pod_sc)
    yield from _apparmor("pod", pod_sc)
    for where, c in containers(spec):
        sc = c.get("securityContext") or {}
        if sc.get("privileged"):
            yield f"privileged: {where}"
        if (sc.get("windowsOptions") or {}).get("hostProcess"):
            yield f"hostProcess: {where}"
        added = set((sc.get("capabilities") or {}).get("add") or ()) - BASELINE_CAPABILITIES
        if added:
            yield f"capabilities: {where} adds {sorted(added)}"
        for port in c.get("ports") or ():
            if port.get("hostPort"):
                yield f"hostPorts: {where} hostPort {port['hostPort']}"
        if sc.get("procMount", "Default") != "Default":
            yield f"procMount: {where}"
        yield from _selinux(where, sc)
        yield from _seccomp_not_unconfined(where, sc)
        yield from _apparmor(where, sc)


def _selinux(where: str, sc: Mapping[str, Any]) -> Iterator[str]:
    options = sc.get("seLinuxOptions") or {}
    if options.get("type", "") not in SELINUX_TYPES or options.get("user") or options.get("role"):
        yield f"seLinuxOptions: {where}"


def _seccomp_not_unconfined(where: str, sc: Mapping[str, Any]) -> Iterator[str]:
    if (sc.get("seccompProfile") or {}).get("type") == "Unconfined":
        yield f"seccompProfile: {where} is Unconfined"


def _apparmor(where: str, sc: Mapping[str, Any]) -> Iterator[str]:
    if (sc.get("appArmorProfile") or {}).get("type") == "Unconfined":
        yield f"appArmorProfile: {where} is Unconfined"


def _restricted(spec: Mapping[str, Any]) -> Iterator[str]:
    pod_sc = spec.get("securityContext") or {}
    for volume in spec.get("volumes") or ():
        kinds = set(volume) - {"name"}
        if not kinds <= RESTRICTED_VOLUMES:
            yield f"volume types: {volume.get('name')} is {sorted(kinds)}"
    if pod_sc.get("runAsUser") == 0:
        yield "runAsUser: pod runAsUser=0"
    pod_seccomp = (pod_sc.get("seccompProfile") or {}).get("type")
    for where, c in containers(spec):
        sc = c.get("securityContext") or {}
        if sc.get("allowPrivilegeEscalation") is not False:
            yield f"allowPrivilegeEscalation != false: {where}"
        non_root = sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot"))
        if non_root is not True:
            yield f"runAsNonRoot != true: {where}"
        if sc.get("runAsUser") == 0:
            yield f"runAsUser=0: {where}"
        seccomp = (sc.get("seccompProfile") or {}).get("type", pod_seccomp)
        if seccomp not in ("RuntimeDefault", "Localhost"):
            yield f"seccompProfile: {where} is {seccomp or 'unset'} (RuntimeDefault or Localhost required)"
        caps = sc.get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or ()):
            yield f"unrestricted capabilities: {where} does not drop ALL"
        extra = set(caps.get("add") or ()) - {"NET_BIND_SERVICE"}
        if extra:
            yield f"unrestricted capabilities: {where} adds {sorted(extra)}"


def violations(spec: Mapping[str, Any], level: str = "restricted") -> list[str]:
    """What a pod spec violates at ``level`` (``baseline`` or ``restricted``, which includes baseline)."""
    if level not in ("baseline", "restricted"):
        raise ValueError(f"unknown Pod Security Standard level {level!r}; use baseline or restricted")
    found = list(_baseline(spec))
    if level == "restricted":
        found += list(_restricted(spec))
    return found

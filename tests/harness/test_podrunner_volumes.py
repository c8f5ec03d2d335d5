"""The pod runner's volumes and envFrom (podrunner/volumes.py): what it materialises and what it refuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.harness.podrunner.commands import UnsupportedContainer
from tests.harness.podrunner.volumes import env_from, mount_volumes


def pod(volumes: list[dict], name: str = "p") -> dict:
    return {"metadata": {"namespace": "ns", "name": name}, "spec": {"volumes": volumes}}


SOURCES = {("configmaps", "cfg"): {"a.txt": "A", "b.txt": "B"}, ("secrets", "sec"): {"KEY": "v"},
           ("configmaps", "gone"): None}


def test_configmap_secret_claim_and_emptydir_become_directories_at_the_mount_path(tmp_path: Path) -> None:
    volumes = [{"name": "c", "configMap": {"name": "cfg", "items": [{"key": "a.txt", "path": "sub/a"}]}},
               {"name": "s", "secret": {"secretName": "sec"}},
               {"name": "claim", "persistentVolumeClaim": {"claimName": "rwx"}},
               {"name": "e", "emptyDir": {}}]
    mounts = [{"name": n, "mountPath": str(tmp_path / "mnt" / n)} for n in ("c", "s", "claim", "e")]
    for name in ("p1", "p2"):  # two pods: the claim's directory is shared
        mount_volumes({"volumeMounts": mounts[:3]}, pod(volumes, name), SOURCES, tmp_path / name, tmp_path)
    assert (tmp_path / "mnt/c/sub/a").read_text() == "A" and not (tmp_path / "mnt/c/b.txt").exists()
    assert (tmp_path / "mnt/s/KEY").read_text() == "v"
    (tmp_path / "mnt/claim/x").write_text("from p1")
    assert (tmp_path / "claims/ns/rwx/x").read_text() == "from p1"
    mount_volumes({"volumeMounts": mounts[3:]}, pod(volumes, "p1"), SOURCES, tmp_path / "p1", tmp_path)
    with pytest.raises(UnsupportedContainer, match="another pod already mounts a different volume"):
        mount_volumes({"volumeMounts": mounts[3:]}, pod(volumes, "p2"), SOURCES, tmp_path / "p2", tmp_path)


@pytest.mark.parametrize("volume, mount_path, message", [
    ({"name": "v", "emptyDir": {}}, "/etc/outside", "can only mount inside its work directory"),
    ({"name": "v", "hostPath": {"path": "/"}}, None, "source hostPath is not supported"),
    ({"name": "v", "configMap": {"name": "gone"}}, None, "configmap 'gone' does not exist"),
])
def test_what_cannot_be_done_locally_is_refused_with_the_reason(tmp_path: Path, volume, mount_path, message) -> None:
    mount = {"name": "v", "mountPath": mount_path or str(tmp_path / "m")}
    with pytest.raises(UnsupportedContainer, match=message):
        mount_volumes({"volumeMounts": [mount]}, pod([volume]), SOURCES, tmp_path / "p", tmp_path)


def test_an_optional_missing_configmap_is_an_empty_volume(tmp_path: Path) -> None:
    volume = {"name": "v", "configMap": {"name": "gone", "optional": True}}
    mount_volumes({"volumeMounts": [{"name": "v", "mountPath": str(tmp_path / "m")}]}, pod([volume]), SOURCES,
                  tmp_path / "p", tmp_path)
    assert list((tmp_path / "m").iterdir()) == []


def test_env_from_with_prefix_and_optional_refs() -> None:
    container = {"envFrom": [{"secretRef": {"name": "sec"}, "prefix": "S3_"},
                             {"configMapRef": {"name": "cfg"}},
                             {"configMapRef": {"name": "gone", "optional": True}}]}
    assert env_from(container, SOURCES) == {"S3_KEY": "v", "a.txt": "A", "b.txt": "B"}
    with pytest.raises(UnsupportedContainer, match="envFrom configMapRef 'gone'"):
        env_from({"envFrom": [{"configMapRef": {"name": "gone"}}]}, SOURCES)

"""deploy/operator/ is the pinned upstream chart, rendered for its default values: compare it with the chart.

No helm binary can be installed here, so the chart was translated once by hand (deploy/operator/README.md).
This test keeps that translation honest: the CRDs are byte-for-byte the chart's, every value the templates
take from values.yaml / Chart.yaml (RBAC rules, image, args, probe, security contexts, names, labels) is read
from the chart in the installed dask-kubernetes wheel and compared, and a digest of the chart's templates
and values fails the test on any chart change (a dask-kubernetes bump) until the rendering is redone.

Print the digest of the installed chart: ``.venv/bin/python -m tests.deploy.test_operator_chart``.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import dask_kubernetes
import yaml

REPO = Path(__file__).resolve().parents[2]
OPERATOR = REPO / "deploy" / "operator"
CHART = Path(dask_kubernetes.__file__).parent / "operator" / "deployment" / "helm" / "dask-kubernetes-operator"
RELEASE = "dask-kubernetes-operator"  # the release name the rendering used (README.md)
KUBECTL = Path(sys.executable).parent / "kubectl"


def chart_digest(chart: Path = CHART) -> str:
    """sha256 over Chart.yaml, values.yaml and templates/* (name and bytes, sorted)."""
    digest = hashlib.sha256()
    for path in [chart / "Chart.yaml", chart / "values.yaml", *sorted((chart / "templates").iterdir())]:
        digest.update(path.relative_to(chart).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def _untemplated(path: Path) -> dict:
    """A template with its ``{{ ... }}`` lines dropped: the literal YAML the chart always renders."""
    return yaml.safe_load("\n".join(line for line in path.read_text().splitlines() if "{{" not in line))


VALUES = _load(CHART / "values.yaml")
META = _load(CHART / "Chart.yaml")
RENDERED = [d for d in yaml.safe_load_all((OPERATOR / "dask-kubernetes-operator.yaml").read_text()) if d]


def _one(kind: str) -> dict:
    [obj] = [o for o in RENDERED if o["kind"] == kind]
    return obj


def test_the_rendering_is_for_the_installed_chart():
    recorded = re.search(r"chart digest \(sha256\): `([0-9a-f]{64})`", (OPERATOR / "README.md").read_text())
    assert recorded, "deploy/operator/README.md must record the chart digest it was rendered from"
    assert recorded[1] == chart_digest(), (
        f"the dask-kubernetes-operator chart in the installed wheel (dask-kubernetes {version('dask-kubernetes')}) "
        "is not the one deploy/operator/ was rendered from: re-render it as deploy/operator/README.md says, "
        "then record the new digest (python -m tests.deploy.test_operator_chart)")


def test_crds_are_the_charts_byte_for_byte():
    ours = sorted(p.name for p in (OPERATOR / "crds").glob("*.yaml"))
    assert ours == sorted(p.name for p in (CHART / "crds").glob("*.yaml"))
    for name in ours:
        assert (OPERATOR / "crds" / name).read_bytes() == (CHART / "crds" / name).read_bytes(), name
    kustomization = _load(OPERATOR / "kustomization.yaml")
    assert sorted(kustomization["resources"]) == sorted([*(f"crds/{n}" for n in ours), "dask-kubernetes-operator.yaml"])


def test_default_values_render_exactly_these_objects():
    assert VALUES["serviceAccount"]["create"] and VALUES["rbac"]["create"] and VALUES["rbac"]["cluster"]
    assert not VALUES["metrics"]["scheduler"]["enabled"] and not VALUES["metrics"]["worker"]["enabled"]
    assert sorted(o["kind"] for o in RENDERED) == ["ClusterRole", "ClusterRoleBinding", "Deployment", "ServiceAccount"]


def test_names_and_labels_follow_the_helpers():
    assert META["name"] in RELEASE and not VALUES["fullnameOverride"] and not VALUES["nameOverride"]
    fullname = RELEASE  # _helpers.tpl: the release name when it contains the chart name
    pinned = version("dask-kubernetes")
    labels = {"helm.sh/chart": f"{META['name']}-{pinned}", "app.kubernetes.io/name": META["name"],
              "app.kubernetes.io/instance": RELEASE, "app.kubernetes.io/version": str(META["appVersion"]),
              "app.kubernetes.io/managed-by": "Helm"}
    account, deployment = _one("ServiceAccount"), _one("Deployment")
    assert account["metadata"] == {"name": fullname, "labels": labels}
    assert deployment["metadata"] == {"name": fullname, "labels": labels}
    selector = {"app.kubernetes.io/name": META["name"], "app.kubernetes.io/instance": RELEASE}
    assert deployment["spec"]["selector"] == {"matchLabels": selector}
    assert deployment["spec"]["template"]["metadata"] == {"labels": selector}
    role, binding = _one("ClusterRole"), _one("ClusterRoleBinding")
    assert role["metadata"] == {"name": f"{fullname}-role-cluster"}
    assert binding["metadata"] == {"name": f"{fullname}-rolebinding-cluster"}
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                  "name": f"{fullname}-role-cluster"}
    assert [(s["kind"], s["name"]) for s in binding["subjects"]] == [("ServiceAccount", fullname)]


def test_rbac_rules_are_the_charts():
    assert _one("ClusterRole")["rules"] == _untemplated(CHART / "templates" / "clusterrole.yaml")["rules"]


def test_deployment_is_what_the_template_makes_of_the_default_values():
    template = (CHART / "templates" / "deployment.yaml").read_text()
    spec = _one("Deployment")["spec"]
    pod = spec["template"]["spec"]
    [container] = pod["containers"]
    assert spec["strategy"] == {"type": "Recreate"} and "type: Recreate" in template
    assert pod["serviceAccountName"] == RELEASE
    assert pod["securityContext"] == VALUES["podSecurityContext"]
    assert container["name"] == META["name"]
    # image.tag is "set-by-chartpress" in the wheel: the release tool sets it to the release, the pinned version.
    assert container["image"] == f"{VALUES['image']['name']}:{version('dask-kubernetes')}"
    assert container["imagePullPolicy"] == VALUES["image"]["pullPolicy"]
    assert container["securityContext"] == VALUES["securityContext"]
    assert container["resources"] == VALUES["resources"]
    literal_args = re.findall(r"^ {12}- (--\S+)$", template, re.MULTILINE)
    assert container["args"] == [*literal_args, *VALUES["kopfArgs"]]
    probe = re.search(r"livenessProbe:\n\s+httpGet:\n\s+path: (\S+)\n\s+port: (\d+)", template)
    assert container["livenessProbe"] == {"httpGet": {"path": probe[1], "port": int(probe[2])},
                                          "timeoutSeconds": VALUES["livenessProbe"]["timeoutSeconds"]}
    assert not VALUES["workerAllocation"]["size"] and not VALUES["workerAllocation"]["delay"] and not VALUES["extraEnv"]
    assert container.get("env") is None
    assert container["volumeMounts"] == VALUES["volumeMounts"] and pod["volumes"] == VALUES["volumes"]
    for absent in ("nodeSelector", "affinity", "tolerations", "priorityClassName", "imagePullSecrets"):
        assert not VALUES[absent] and absent not in pod


def test_kustomize_sets_the_release_namespace_everywhere():
    result = subprocess.run([str(KUBECTL), "kustomize", str(OPERATOR)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    objects = [o for o in yaml.safe_load_all(result.stdout) if o]
    for obj in objects:
        if obj["kind"] in ("ServiceAccount", "Deployment"):
            assert obj["metadata"]["namespace"] == "dask-operator"
    [binding] = [o for o in objects if o["kind"] == "ClusterRoleBinding"]
    assert binding["subjects"][0]["namespace"] == "dask-operator"


if __name__ == "__main__":
    print(chart_digest())

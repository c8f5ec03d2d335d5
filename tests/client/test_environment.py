"""Environment detection: where am I, which namespace, which cluster — from files and env only."""

from __future__ import annotations

from pathlib import Path

import pytest

from dask_kubeflow.client.environment import NAMESPACE_FILE_ENV, detect, namespace_from_nb_prefix


@pytest.fixture
def sa_file(tmp_path: Path) -> Path:
    path = tmp_path / "serviceaccount" / "namespace"
    path.parent.mkdir()
    path.write_text("kubeflow-alice\n")
    return path


@pytest.fixture
def kubeconfig(tmp_path: Path) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text("apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n")
    return path


def test_notebook_pod_reads_namespace_from_service_account_file(sa_file: Path) -> None:
    env = detect(environ={"NB_PREFIX": "/notebook/other-ns/nb1"}, namespace_file=sa_file)
    assert env.in_pod
    assert env.namespace == "kubeflow-alice"
    assert "service-account file" in env.namespace_source
    assert env.notebook == "nb1"
    assert env.should_use_kubernetes()
    assert "inside a pod" in env.explain() and "kubeflow-alice" in env.explain()


def test_namespace_file_path_can_come_from_env(sa_file: Path, tmp_path: Path) -> None:
    env = detect(environ={NAMESPACE_FILE_ENV: str(sa_file), "HOME": str(tmp_path)})
    assert env.in_pod and env.namespace == "kubeflow-alice"


def test_nb_prefix_is_second_choice(tmp_path: Path) -> None:
    env = detect(environ={"NB_PREFIX": "/notebook/team-a/my-notebook", "KUBERNETES_SERVICE_HOST": "10.0.0.1",
                          "DASK_KUBERNETES__NAMESPACE": "from-env"},
                 namespace_file=tmp_path / "missing")
    assert env.in_pod
    assert (env.namespace, env.namespace_source, env.notebook) == ("team-a", "NB_PREFIX", "my-notebook")


def test_poddefault_env_is_third_choice(tmp_path: Path) -> None:
    env = detect(environ={"DASK_KUBERNETES__NAMESPACE": "from-env", "KUBERNETES_SERVICE_HOST": "10.0.0.1"},
                 namespace_file=tmp_path / "missing")
    assert (env.namespace, env.namespace_source) == ("from-env", "$DASK_KUBERNETES__NAMESPACE")


def test_argument_beats_everything(sa_file: Path) -> None:
    env = detect("explicit", "my-cluster", environ={"DASK_KUBEFLOW_CLUSTER": "other"}, namespace_file=sa_file)
    assert (env.namespace, env.namespace_source) == ("explicit", "argument")
    assert (env.cluster_name, env.cluster_name_source) == ("my-cluster", "argument")


def test_cluster_name_tier_and_link_from_poddefault_env(sa_file: Path) -> None:
    env = detect(environ={"DASK_KUBEFLOW_CLUSTER": "big-cluster", "DASK_KUBEFLOW_TIER": "gold",
                          "DASK_DISTRIBUTED__DASHBOARD__LINK": "/dask/kubeflow-alice/big-cluster/status"},
                 namespace_file=sa_file)
    assert (env.cluster_name, env.cluster_name_source) == ("big-cluster", "$DASK_KUBEFLOW_CLUSTER")
    assert env.tier == "gold"
    assert env.dashboard_link == "/dask/kubeflow-alice/big-cluster/status"


def test_cluster_name_defaults_to_dask_cluster(sa_file: Path) -> None:
    env = detect(environ={}, namespace_file=sa_file)
    assert (env.cluster_name, env.cluster_name_source) == ("dask-cluster", "default")


def test_laptop_without_kubernetes_falls_back(tmp_path: Path) -> None:
    env = detect(environ={"HOME": str(tmp_path)}, namespace_file=tmp_path / "missing")
    assert not env.in_pod and env.kubeconfig is None and env.namespace is None
    assert not env.should_use_kubernetes()
    assert env.explain() == "no Kubernetes found (not in a pod, no kubeconfig/namespace)"


def test_kubeconfig_alone_is_not_enough(tmp_path: Path, kubeconfig: Path) -> None:
    env = detect(environ={"KUBECONFIG": str(kubeconfig)}, namespace_file=tmp_path / "missing")
    assert env.kubeconfig == str(kubeconfig)
    assert not env.should_use_kubernetes()
    assert "no namespace given" in env.explain()


@pytest.mark.parametrize("how", ["argument", "env"])
def test_kubeconfig_and_namespace_outside_a_pod_use_kubernetes(tmp_path: Path, kubeconfig: Path, how: str) -> None:
    environ = {"KUBECONFIG": f"{tmp_path / 'nope'}:{kubeconfig}"}
    if how == "env":
        environ["DASK_KUBERNETES__NAMESPACE"] = "team-b"
    env = detect("team-b" if how == "argument" else None, environ=environ, namespace_file=tmp_path / "missing")
    assert not env.in_pod
    assert env.kubeconfig == str(kubeconfig)  # the first existing file of a ':'-separated list
    assert env.should_use_kubernetes()
    assert "kubeconfig" in env.explain() and "team-b" in env.explain()


def test_default_kubeconfig_in_home(tmp_path: Path) -> None:
    (tmp_path / ".kube").mkdir()
    (tmp_path / ".kube" / "config").write_text("{}")
    env = detect("ns", environ={"HOME": str(tmp_path)}, namespace_file=tmp_path / "missing")
    assert env.kubeconfig == str(tmp_path / ".kube" / "config")


def test_namespace_given_without_any_credentials_is_explained(tmp_path: Path) -> None:
    env = detect("team-c", environ={"HOME": str(tmp_path)}, namespace_file=tmp_path / "missing")
    assert not env.should_use_kubernetes()
    assert "no kubeconfig" in env.explain()


def test_empty_namespace_file_is_ignored(tmp_path: Path) -> None:
    empty = tmp_path / "namespace"
    empty.write_text("  \n")
    env = detect(environ={"NB_PREFIX": "/notebook/team-d/nb"}, namespace_file=empty)
    assert (env.namespace, env.namespace_source) == ("team-d", "NB_PREFIX")


@pytest.mark.parametrize(
    "prefix, expected",
    [("/notebook/ns/name", ("ns", "name")), ("/notebook/ns/name/", ("ns", "name")),
     ("/tensorboard/ns/name", (None, None)), ("/notebook/ns", (None, None)), ("", (None, None)), (None, (None, None))],
)
def test_nb_prefix_parsing(prefix: str | None, expected: tuple[str | None, str | None]) -> None:
    assert namespace_from_nb_prefix(prefix) == expected


def _kubeconfig_with_context(path: Path, namespace: str | None) -> Path:
    context = {"cluster": "c", "user": "u", **({"namespace": namespace} if namespace else {})}
    path.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: work\n"
        "clusters: [{name: c, cluster: {server: 'https://api.example.com:6443'}}]\n"
        f"contexts: [{{name: other, context: {{cluster: c, namespace: wrong}}}}, {{name: work, context: {context}}}]\n"
        "users: [{name: u, user: {token: t}}]\n")
    return path


def test_kubeconfig_context_namespace_is_used_as_kubectl_does(tmp_path: Path) -> None:
    kubeconfig = _kubeconfig_with_context(tmp_path / "config", "team-e")
    env = detect(environ={"KUBECONFIG": str(kubeconfig)}, namespace_file=tmp_path / "missing")
    assert env.namespace == "team-e" and "current context of kubeconfig" in env.namespace_source
    assert env.should_use_kubernetes() and env.api_server == "https://api.example.com:6443"
    # Anything explicit still wins over the context.
    env = detect(environ={"KUBECONFIG": str(kubeconfig), "DASK_KUBERNETES__NAMESPACE": "from-env"},
                 namespace_file=tmp_path / "missing")
    assert env.namespace == "from-env"
    assert detect("arg", environ={"KUBECONFIG": str(kubeconfig)}, namespace_file=tmp_path / "missing").namespace == "arg"


def test_kubeconfig_context_without_namespace_or_unreadable(tmp_path: Path) -> None:
    kubeconfig = _kubeconfig_with_context(tmp_path / "config", None)
    assert detect(environ={"KUBECONFIG": str(kubeconfig)}, namespace_file=tmp_path / "missing").namespace is None
    (tmp_path / "broken").write_text("::: [ not yaml")
    env = detect(environ={"KUBECONFIG": str(tmp_path / "broken")}, namespace_file=tmp_path / "missing")
    assert env.namespace is None and env.kubeconfig == str(tmp_path / "broken")


def test_api_server_inside_a_pod_is_the_in_cluster_service(sa_file: Path) -> None:
    env = detect(environ={"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"},
                 namespace_file=sa_file)
    assert env.api_server == "https://10.96.0.1:443" and env.credentials == "the pod's service account"

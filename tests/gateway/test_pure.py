"""The gateway's pure core: trust boundary, upstream addressing, header filtering, page rows."""

from __future__ import annotations

import ipaddress

import pytest

from dask_kubeflow.gateway.clusters_page import SchedulerStats, cluster_rows, render_clusters_page
from dask_kubeflow.gateway.config import ConfigError, GatewayConfig, config_from_env
from dask_kubeflow.gateway.browser import normalise_origin, origin_refusal
from dask_kubeflow.gateway.headers import downstream_response_headers, upstream_request_headers
from dask_kubeflow.gateway.limits import ConnectionLimits, OverLimit
from dask_kubeflow.gateway.trust import identify, xfcc_peer_uris
from dask_kubeflow.gateway.upstream import dashboard_port, in_cluster_resolver, served_prefix
from dask_kubeflow.kube.names import is_dns_label

INGRESS = "spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account"


def daskcluster(name: str, *, prefix: str | None = "auto", managed: bool = False, replicas: int = 0,
                port: int | None = None, phase: str | None = "Running") -> dict:
    args = ["dask", "scheduler", "--host", "0.0.0.0"]
    if prefix == "auto":
        args += ["--dashboard-prefix", f"/dask/alice/{name}"]
    elif prefix is not None:
        args += [f"--dashboard-prefix={prefix}"]
    ports = [{"name": "tcp-comm", "port": 8786}]
    if port is not None:
        ports.append({"name": "http-dashboard", "port": port, "targetPort": "http-dashboard"})
    return {
        "metadata": {
            "name": name,
            "namespace": "alice",
            "labels": {"app.kubernetes.io/managed-by": "dask-kubeflow"} if managed else {},
        },
        "spec": {
            "worker": {"replicas": replicas},
            "scheduler": {
                "spec": {"containers": [{"name": "scheduler", "args": args}]},
                "service": {"ports": ports},
            },
        },
        "status": {"phase": phase} if phase else {},
    }


class TestTrust:
    def test_loopback_peer_is_trusted_and_prefix_is_stripped(self):
        config = GatewayConfig(userid_prefix="accounts.google.com:")
        identity = identify("127.0.0.6", {"kubeflow-userid": "accounts.google.com:alice@example.com"}, config)
        assert identity.trusted and identity.user == "alice@example.com"

    def test_header_from_untrusted_peer_is_ignored(self):
        identity = identify("10.1.2.3", {"kubeflow-userid": "alice@example.com"}, GatewayConfig())
        assert not identity.trusted and identity.user is None
        assert "10.1.2.3" in identity.reason and "127.0.0.0/8" in identity.reason

    def test_custom_header_name(self):
        config = GatewayConfig(userid_header="x-auth-user")
        assert identify("127.0.0.1", {"kubeflow-userid": "a@x.org"}, config).user is None
        assert identify("127.0.0.1", {"x-auth-user": "a@x.org"}, config).user == "a@x.org"

    def test_principal_required_when_configured(self):
        config = GatewayConfig(trusted_principals=(INGRESS,))
        headers = {"kubeflow-userid": "alice@example.com"}
        assert identify("127.0.0.6", headers, config).user is None
        other = "spiffe://cluster.local/ns/bob/sa/default-editor"
        spoofed = {**headers, "X-Forwarded-Client-Cert": f'By=spiffe://x;Hash=ab;Subject="";URI={other}'}
        verdict = identify("127.0.0.6", spoofed, config)
        assert verdict.user is None and other in verdict.reason
        good = {**headers, "X-Forwarded-Client-Cert": f'By=spiffe://x;Hash=ab;Subject="CN=a, O=b";URI={INGRESS}'}
        assert identify("127.0.0.6", good, config).user == "alice@example.com"

    def test_xfcc_uses_the_nearest_hop(self):
        header = f'URI=spiffe://first;By=x,By=y;Subject="a,b;c";URI={INGRESS}'
        assert xfcc_peer_uris(header) == (INGRESS,)
        assert xfcc_peer_uris("") == ()


class TestConfig:
    def test_kubeflow_env_names(self):
        config = config_from_env({"USERID_HEADER": "x-user", "USERID_PREFIX": "p:",
                                  "DASK_KUBEFLOW_GATEWAY_TRUSTED_PROXIES": "10.0.0.0/8, 127.0.0.1"})
        assert config.userid_header == "x-user" and config.userid_prefix == "p:"
        assert config.trusted_proxies == (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("127.0.0.1/32"))

    def test_origins_and_caps_from_the_environment(self):
        config = config_from_env({"DASK_KUBEFLOW_GATEWAY_ALLOWED_ORIGINS": "https://KF.example.com:443, http://x:8080",
                                  "DASK_KUBEFLOW_GATEWAY_MAX_CONNECTIONS_PER_USER": "8"})
        assert config.allowed_origins == ("https://kf.example.com", "http://x:8080")
        assert config.max_connections_per_user == 8
        with pytest.raises(ConfigError, match="must be a positive number"):
            GatewayConfig(max_message_to_browser=0)

    def test_bad_values_name_the_setting(self):
        with pytest.raises(ConfigError, match="TRUSTED_PROXIES: 'nope' is not an IP network"):
            config_from_env({"DASK_KUBEFLOW_GATEWAY_TRUSTED_PROXIES": "nope"})
        with pytest.raises(ConfigError, match="AUTH_CACHE_SECONDS='soon' is not a number"):
            config_from_env({"DASK_KUBEFLOW_GATEWAY_AUTH_CACHE_SECONDS": "soon"})
        with pytest.raises(ConfigError, match="userid header is empty"):
            config_from_env({"USERID_HEADER": " "})


class TestUpstream:
    def test_in_cluster_address_comes_from_namespace_and_name_only(self):
        resolve = in_cluster_resolver("cluster.local")
        # The manifest's own port is what its editor wrote: shown, never connected to.
        assert resolve("alice", "dask-cluster", daskcluster("dask-cluster", port=8788)) == (
            "http://dask-cluster-scheduler.alice.svc.cluster.local:8787"
        )
        assert dashboard_port(daskcluster("c", port=8788)) == 8788
        assert dashboard_port(daskcluster("c")) == 8787

    def test_served_prefix(self):
        assert served_prefix(daskcluster("c")) == "/dask/alice/c"
        assert served_prefix(daskcluster("c", prefix="/elsewhere")) == "/elsewhere"
        assert served_prefix(daskcluster("c", prefix=None)) == ""
        annotated = daskcluster("c", prefix=None)
        annotated["metadata"]["annotations"] = {"dask.kubeflow.org/dashboard-prefix": "/dask/alice/c"}
        assert served_prefix(annotated) == "/dask/alice/c"
        assert served_prefix({"metadata": {"name": "c"}, "spec": {}}) is None

    @pytest.mark.parametrize("name", ["", "UPPER", "a.b", "evil.com:80#", "-x", "x" * 64, "../x"])
    def test_names_that_are_not_dns_labels_are_refused(self, name):
        assert not is_dns_label(name)


class TestHeaders:
    def test_credentials_and_hop_by_hop_headers_do_not_reach_the_scheduler(self):
        headers = {
            "kubeflow-userid": "alice@example.com",
            "Cookie": "oauth2_proxy=secret",
            "Authorization": "Bearer secret",
            "X-Forwarded-Client-Cert": "URI=spiffe://x",
            "Connection": "keep-alive, X-Private",
            "X-Private": "1",
            "Keep-Alive": "timeout=5",
            "Host": "kubeflow.example.com",
            "Accept-Encoding": "gzip",
        }
        out = upstream_request_headers(headers, scheme="https", host="kubeflow.example.com")
        assert {k.lower() for k in out} == {"accept-encoding", "x-forwarded-proto", "x-forwarded-host"}
        assert out["X-Forwarded-Host"] == "kubeflow.example.com"
        ws = upstream_request_headers({**headers, "Origin": "https://evil.example"}, scheme="https",
                                      host="kubeflow.example.com", websocket=True)
        assert ws["Origin"] == "http://dask-kubeflow-gateway"

    def test_scheduler_cookies_are_dropped_and_redirects_made_relative(self):
        base = "http://c-scheduler.alice.svc.cluster.local:8787"
        out = downstream_response_headers(
            {"Set-Cookie": "a=b", "Location": f"{base}/dask/alice/c/status",
             "Transfer-Encoding": "chunked", "Content-Type": "text/html", "X-Frame-Options": "ALLOWALL"},
            base,
            {"X-Frame-Options": "SAMEORIGIN"},
        )
        assert dict(out) == {"Location": "/dask/alice/c/status", "Content-Type": "text/html",
                             "X-Frame-Options": "SAMEORIGIN"}
        for elsewhere in ("https://evil.example/x", "//evil.example/x", "javascript:alert(1)"):
            assert "Location" not in downstream_response_headers({"Location": elsewhere}, base, {})


class TestBrowser:
    @pytest.mark.parametrize("origin, normal", [
        ("https://Kubeflow.Example.com", "https://kubeflow.example.com"),
        ("https://kubeflow.example.com:443", "https://kubeflow.example.com"),
        ("http://kubeflow.example.com:8080", "http://kubeflow.example.com:8080"),
        ("null", None), ("https://a@kubeflow.example.com", None), ("https://kubeflow.example.com/x", None),
        ("ftp://kubeflow.example.com", None), ("", None), (" https://kubeflow.example.com", None),
    ])
    def test_origins_are_normalised_or_refused(self, origin, normal):
        assert normalise_origin(origin) == normal

    def test_same_host_by_default_configured_origins_otherwise(self):
        default, configured = GatewayConfig(), GatewayConfig(allowed_origins=("https://kubeflow.example.com",))
        assert origin_refusal("https://kubeflow.example.com", "kubeflow.example.com", default) is None
        assert origin_refusal("https://kubeflow.example.com", "kubeflow.example.com:443", default) is None
        assert "another site" in origin_refusal("https://kubeflow.example.com.evil.example", "kubeflow.example.com", default)
        assert "no Origin" in origin_refusal(None, "kubeflow.example.com", default)
        assert origin_refusal("https://kubeflow.example.com", "anything", configured) is None
        assert "not one of the allowed" in origin_refusal("https://other.example.com", "other.example.com", configured)

    def test_a_bad_allowed_origin_names_the_fix(self):
        with pytest.raises(ConfigError, match="scheme://host"):
            GatewayConfig(allowed_origins=("kubeflow.example.com",))


class TestLimits:
    def test_per_user_then_global_caps_and_release(self):
        limits = ConnectionLimits(per_user=2, total=3)
        with limits.slot("a"), limits.slot("a"):
            with pytest.raises(OverLimit) as mine:
                with limits.slot("a"):
                    pass
            assert mine.value.status == 429
            with limits.slot("b"):
                with pytest.raises(OverLimit) as everyone:
                    with limits.slot("c"):
                        pass
                assert everyone.value.status == 503
        assert limits.held() == 0 and limits.held("a") == 0


class TestClustersPage:
    def test_rows_from_clusters_autoscalers_and_stats(self):
        clusters = [
            daskcluster("zeta", prefix=None, replicas=2),
            daskcluster("dask-cluster", managed=True),
            daskcluster("adhoc", phase=None, replicas=1),
        ]
        autoscalers = [{"metadata": {"name": "dask-cluster"}, "spec": {"cluster": "dask-cluster", "minimum": 0, "maximum": 8}}]
        stats = {"dask-cluster": SchedulerStats(workers=3, cores=6, memory_bytes=3 * 2**30, tasks_in_flight=5),
                 "adhoc": None, "zeta": SchedulerStats(2, 2, 2**30, 0)}
        rows = cluster_rows("alice", clusters, autoscalers, stats)
        assert [r.name for r in rows] == ["dask-cluster", "adhoc", "zeta"]
        managed, adhoc, zeta = rows
        assert managed.managed and (managed.workers_now, managed.workers_min, managed.workers_max) == (3, 0, 8)
        assert (managed.cores, managed.memory, managed.tasks_in_flight) == (6, "3.00 GiB", 5)
        assert managed.dashboard_url == "/dask/alice/dask-cluster/status" and managed.note == ""
        assert not adhoc.managed and adhoc.phase == "Unknown" and adhoc.workers_now is None
        assert (adhoc.workers_min, adhoc.workers_max) == (1, 1)
        assert "not answering" in adhoc.note
        assert zeta.dashboard_url is None and "--dashboard-prefix /dask/alice/zeta" in zeta.note

    def test_page_escapes_what_it_shows(self):
        rows = cluster_rows("alice", [daskcluster("dask-cluster")], [], {"dask-cluster": None})
        html = render_clusters_page("alice", "<script>alert(1)</script>@x.org", rows)
        assert "<script>alert(1)" not in html and "&lt;script&gt;" in html
        assert 'href="/dask/alice/dask-cluster/status"' in html

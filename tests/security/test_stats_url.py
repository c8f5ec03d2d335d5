"""Issue 11 item 1 — confused deputy: the clusters page fetching URLs a namespace editor chose.

Mallory edits her own DaskCluster (annotation ``dask.kubeflow.org/dashboard-prefix`` or the
scheduler's ``--dashboard-prefix`` argument, both hers to write) so that the gateway — the one pod
every namespace admits — fetches alice's scheduler, or any URL, for her. Got through: alice's
scheduler saw a request, or mallory's page shows alice's numbers.
"""

from __future__ import annotations

from dask_kubeflow.kube.names import DASHBOARD_PREFIX_ANNOTATION
from dask_kubeflow.kube.resources import DaskCluster

from .conftest import ALICE_COUNTS, CLUSTER, MALLORY, as_user


async def _edit_mallorys_cluster(annotation: str | None = None, arg: str | None = None) -> None:
    cluster = await DaskCluster.get(CLUSTER, namespace="mallory")
    if annotation is not None:
        await cluster.patch({"metadata": {"annotations": {DASHBOARD_PREFIX_ANNOTATION: annotation}}})
    if arg is not None:
        container = cluster.raw["spec"]["scheduler"]["spec"]["containers"][0]
        args = [a for a in container["args"] if not a.startswith("/dask/") and a != "--dashboard-prefix"]
        container["args"] = [*args, f"--dashboard-prefix={arg}"]
        await cluster.patch({"spec": {"scheduler": {"spec": {"containers": [container]}}}})


def _shows_alices_numbers(page: str) -> bool:
    return f">{ALICE_COUNTS['cores']}<" in page.replace(" ", "")


async def test_clusters_page_fetches_only_the_clusters_own_scheduler(tenants, start_gateway, http, attack):
    alice, mallory = tenants["alice"], tenants["mallory"]
    gateway = await start_gateway()
    victim = alice.base.split("//", 1)[1]  # host:port of alice's scheduler
    target = f"{alice.prefix}/json/counts.json"
    attempts = {
        "annotation @host": {"annotation": f"@{victim}{alice.prefix}"},
        "annotation @host + ?": {"annotation": f"@{victim}{target}?"},
        "annotation @host + #": {"annotation": f"@{victim}{target}#"},
        "annotation ..": {"annotation": f"/dask/mallory/{CLUSTER}/../../alice/{CLUSTER}"},
        "arg @host": {"arg": f"@{victim}{alice.prefix}"},
        "arg @host + ?": {"arg": f"@{victim}{target}?"},
    }
    unflagged = []
    for label, edit in attempts.items():
        await _edit_mallorys_cluster(**edit)
        before = len(alice.requests)
        async with http.get(f"{gateway.url}/dask/?ns=mallory", headers=as_user(MALLORY)) as response:
            page = await response.text()
        attack.attempt(label, len(alice.requests) > before or _shows_alices_numbers(page))
        if response.status != 200 or "not served behind the gateway" not in page:
            unflagged.append(label)
    # A redirect from mallory's own scheduler (at the right prefix) to alice's is not followed.
    await _edit_mallorys_cluster(annotation=mallory.prefix, arg=mallory.prefix)
    mallory.redirect_counts_to = f"{alice.base}{target}"
    before = len(alice.requests)
    async with http.get(f"{gateway.url}/dask/?ns=mallory", headers=as_user(MALLORY)) as response:
        page = await response.text()
    attack.attempt("redirect to alice", len(alice.requests) > before or _shows_alices_numbers(page))
    attack.assert_none_got_through()
    assert not unflagged, f"these clusters were not shown as 'not served behind the gateway': {unflagged}"


async def test_a_cluster_serving_the_gateway_prefix_still_shows_its_numbers(tenants, start_gateway, http):
    gateway = await start_gateway()
    async with http.get(f"{gateway.url}/dask/?ns=alice", headers=as_user("alice@example.com")) as response:
        page = await response.text()
    assert response.status == 200 and _shows_alices_numbers(page), page

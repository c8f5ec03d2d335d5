"""Issue 11 item 6 — identity travelling upstream, and proxied pages that other sites can frame.

A scheduler runs code its namespace's users control: whatever the gateway forwards, a malicious
contributor reads. Got through: one of the browser's identity or credential headers reached the
scheduler, a scheduler's cookie/CORS/framing header reached the browser, or a proxied page lacks
the framing defences.
"""

from __future__ import annotations

from .conftest import ALICE, as_user

STATUS = "/dask/alice/dask-cluster/status"
SECRET = "s3cret-token-value"
CREDENTIALS = [
    "kubeflow-userid", "kubeflow-groups", "x-auth-request-email", "x-auth-request-user",
    "x-auth-request-groups", "x-auth-request-access-token", "x-auth-request-preferred-username",
    "authorization", "cookie", "proxy-authorization", "x-forwarded-client-cert",
    "x-forwarded-user", "x-forwarded-email", "x-forwarded-access-token", "x-remote-user",
    "x-remote-group", "x-id-token", "x-goog-iap-jwt-assertion", "x-amzn-oidc-data",
    "x-amzn-oidc-accesstoken", "cf-access-jwt-assertion", "x-csrf-token", "x-xsrf-token",
    "origin", "referer",
]


async def test_browser_credentials_never_reach_the_scheduler(tenants, start_gateway, http, attack):
    alice = tenants["alice"]
    gateway = await start_gateway()
    headers = {name: f"{SECRET}-{name}" for name in CREDENTIALS}
    headers["kubeflow-userid"] = ALICE
    async with http.get(gateway.url + STATUS, headers=headers) as response:
        assert response.status == 200
    seen = alice.requests[-1]["headers"]
    for name in CREDENTIALS:
        value = headers[name]
        attack.attempt(name, name in seen or any(value in v for v in seen.values()))
    attack.assert_none_got_through()


async def test_proxied_pages_cannot_be_framed_or_set_cookies(tenants, start_gateway, http, attack):
    gateway = await start_gateway(allowed_origins=("https://kubeflow.example.com",))
    async with http.get(gateway.url + STATUS, headers=as_user(ALICE)) as response:
        got = response.headers
    attack.attempt("Set-Cookie from the scheduler", "Set-Cookie" in got)
    attack.attempt("CORS from the scheduler", "Access-Control-Allow-Origin" in got)
    attack.attempt("scheduler's X-Frame-Options", got.getall("X-Frame-Options", []) != ["SAMEORIGIN"])
    csp = " ".join(got.getall("Content-Security-Policy", []))
    attack.attempt("no frame-ancestors", "frame-ancestors 'self' https://kubeflow.example.com" not in csp)
    attack.attempt("no nosniff", got.get("X-Content-Type-Options") != "nosniff")
    attack.assert_none_got_through()

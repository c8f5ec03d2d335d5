"""Structured access logs: one JSON object per request on logger ``dask_kubeflow.gateway.access``."""

from __future__ import annotations

import json
import time

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

ACCESS_LOGGER = "dask_kubeflow.gateway.access"
# What the handlers learnt about a request, for its log line (typed keys where aiohttp has them).
_Key = getattr(web, "RequestKey", None)
USER_KEY = _Key("user", object) if _Key else "dask_kubeflow.user"
TARGET_KEY = _Key("target", object) if _Key else "dask_kubeflow.target"


def access_record(request: web.BaseRequest, response: web.StreamResponse, duration: float) -> dict:
    """The fields of one access-log line (pure)."""
    record = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "remote": request.remote,
        "method": request.method,
        "path": request.path,
        "status": response.status,
        "duration_ms": round(duration * 1000, 3),
        "bytes": response.body_length,
        "user": request.get(USER_KEY),
        "user_agent": request.headers.get("User-Agent"),
    }
    target = request.get(TARGET_KEY)
    if target:
        record["namespace"], record["cluster"] = target
    if response.status == 101 or isinstance(response, web.WebSocketResponse):
        record["websocket"] = True
    return record


class JsonAccessLogger(AbstractAccessLogger):
    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info(json.dumps(access_record(request, response, time), separators=(",", ":")))

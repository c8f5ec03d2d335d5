"""Structured access logs: one JSON object per request on logger ``dask_kubeflow.gateway.access``."""

from __future__ import annotations

import json
import logging
import time

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

ACCESS_LOGGER = "dask_kubeflow.gateway.access"
USER_KEY = "dask_kubeflow.user"
TARGET_KEY = "dask_kubeflow.target"


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

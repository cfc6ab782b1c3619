"""Prometheus metrics of the two HTTP APIs: requests by route and status, and latency.

Here, at the bottom, because both APIs (the command API in ``producers``, the
query API in ``read_models``) serve them and neither may import the other.
Routes are labelled by their template (``/products/{sku}``), never the path, so
a scrape stays small whatever the catalog. The query API runs several processes
on one port; each then writes its values to files under
``PROMETHEUS_MULTIPROC_DIR`` (prometheus_client's multiprocess mode, set up by
:func:`share_between_processes` before the workers start), and ``/metrics``
adds them up, so a scrape that reaches any process sees them all.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["install", "share_between_processes"]

_MULTIPROCESS = "PROMETHEUS_MULTIPROC_DIR"

REQUESTS = Counter(
    "eventcart_http_requests_total",
    "HTTP requests answered, by API, method, route template and status",
    ["api", "method", "route", "status"],
)
SECONDS = Histogram(
    "eventcart_http_request_seconds",
    "Time to answer an HTTP request (a stream: until it ended), by API and route template",
    ["api", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)


def share_between_processes(folder: Path) -> None:
    """Before starting several processes of one API: their metrics go to files in
    ``folder`` (emptied: counts of processes gone would be added in)."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    os.environ[_MULTIPROCESS] = str(folder)


class _Measured:
    """Pure ASGI middleware (no per-request objects beyond a closure): count and time."""

    def __init__(self, app: ASGIApp, api: str) -> None:
        self.app, self.api = app, api

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            if route != "/metrics":
                REQUESTS.labels(self.api, scope["method"], route, str(status)).inc()
                SECONDS.labels(self.api, route).observe(time.perf_counter() - began)


def install(app: FastAPI, api: str) -> None:
    """Measure every request of ``app`` and serve ``GET /metrics`` (no token: like
    ``/healthz``, it is for the machines beside the API on its network)."""
    app.add_middleware(_Measured, api=api)

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        registry: Any = REGISTRY
        if os.environ.get(_MULTIPROCESS):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

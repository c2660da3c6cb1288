"""The app's outermost layer: load shedding, Prometheus metrics and JSON access logs.

``Observe`` sees every HTTP request the app answers, the fast path's included. A request the connection layer
marked for shedding (:mod:`.protocol`) is answered here ``503 {"error": "overloaded"}`` with ``Retry-After``,
without touching a model. Metrics use ``prometheus-client``; with several worker processes they are kept in its
multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``, which ``polymodal serve`` creates and removes), so ``/metrics``
from any worker reports the sum over all of them.

Metrics: ``polymodal_requests_total{endpoint,status}``, ``polymodal_request_seconds{endpoint,status}`` (a
histogram from 0.25 ms to 2.5 s; time from the request head's arrival to the last body byte handed to the server),
``polymodal_model_load_seconds{model}`` and ``polymodal_model_info{model,path,format,format_version}`` (value 1).
The endpoint label is the route (``other`` for unknown paths, so the label set stays small).

Access log (``--access-log``): one JSON object per line on stderr, ``{"ts", "client", "method", "path",
"query_bytes", "status", "ms", "bytes"}``; the query string itself is not logged (search queries are user data).
"""

from __future__ import annotations

import json
import logging
import os
import time
from datetime import UTC, datetime

from .protocol import ARRIVAL, SHED

ROUTES = frozenset({"/v1/search", "/v1/autocomplete", "/healthz", "/metrics", "/docs", "/openapi.json"})
BUCKETS = (0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


class Metrics:
    """The service's Prometheus metrics in their own registry (several apps can live in one test process)."""

    def __init__(self):
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.multiprocess = bool(os.environ.get(MULTIPROC_ENV))
        self.registry = CollectorRegistry()
        reg = None if self.multiprocess else self.registry  # multiprocess values live in files, collected below
        self.requests = Counter("polymodal_requests", "HTTP requests answered", ["endpoint", "status"], registry=reg)
        self.seconds = Histogram("polymodal_request_seconds", "time to answer an HTTP request",
                                 ["endpoint", "status"], buckets=BUCKETS, registry=reg)
        self.load_seconds = Gauge("polymodal_model_load_seconds", "seconds this process took to load a model",
                                  ["model"], registry=reg, multiprocess_mode="max")
        self.model_info = Gauge("polymodal_model_info", "the models served (value 1)",
                                ["model", "path", "format", "format_version"], registry=reg,
                                multiprocess_mode="max")
        if self.multiprocess:
            from prometheus_client import multiprocess

            multiprocess.MultiProcessCollector(self.registry)

    def observe(self, endpoint: str, status: int, seconds: float) -> None:
        code = str(status)
        self.requests.labels(endpoint, code).inc()
        self.seconds.labels(endpoint, code).observe(seconds)

    def models_loaded(self, models) -> None:
        for name, info in models.info.items():
            self.load_seconds.labels(name).set(info["load_seconds"])
            self.model_info.labels(name, info["path"], info["format"], str(info["format_version"])).set(1)

    def exposition(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST


def access_logger() -> logging.Logger:
    log = logging.getLogger("polymodal.access")
    if not log.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False
    return log


OVERLOADED = json.dumps({"error": "overloaded", "detail": "too many requests waiting; retry later"}).encode()


class Observe:
    """Pure ASGI middleware (a few microseconds per request)."""

    def __init__(self, app, metrics: Metrics | None = None, access_log: bool = False, retry_after: int = 1):
        self.app = app
        self.metrics = metrics
        self.log = access_logger() if access_log else None
        self.retry_after = str(retry_after).encode()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.get("state") or {}
        t0 = state.get(ARRIVAL) or time.perf_counter()  # arrival: the wait for the event loop counts too
        seen = {"status": 500, "bytes": 0}

        async def send_seen(message):
            if message["type"] == "http.response.start":
                seen["status"] = message["status"]
            elif message["type"] == "http.response.body":
                seen["bytes"] += len(message.get("body", b""))
            await send(message)

        try:
            if state.get(SHED):
                await send_seen({"type": "http.response.start", "status": 503,
                                 "headers": [(b"content-type", b"application/json"),
                                             (b"content-length", str(len(OVERLOADED)).encode()),
                                             (b"retry-after", self.retry_after)]})
                await send_seen({"type": "http.response.body", "body": OVERLOADED})
            else:
                await self.app(scope, receive, send_seen)
        finally:
            dt = time.perf_counter() - t0
            path = scope.get("path", "")
            if self.metrics is not None:
                self.metrics.observe(path if path in ROUTES else "other", seen["status"], dt)
            if self.log is not None:
                client = scope.get("client") or ("", 0)
                self.log.info(json.dumps({
                    "ts": datetime.now(UTC).isoformat(timespec="milliseconds"), "client": client[0],
                    "method": scope.get("method"), "path": path if path in ROUTES else "other",
                    "query_bytes": len(scope.get("query_string", b"")), "status": seen["status"],
                    "ms": round(dt * 1e3, 3), "bytes": seen["bytes"]}))

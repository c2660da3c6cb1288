"""FastAPI app: ``GET /v1/search``, ``GET /v1/autocomplete``, ``GET /healthz``, ``GET /metrics`` (Prometheus text
format); OpenAPI docs at ``/docs``.

Every error is JSON ``{"error": CODE, "detail": ...}`` with a 4xx status for a client mistake (422 bad
parameter, 413 text over 512 characters, 400 query string not UTF-8, 404/405 unknown route/method, 503 model not
loaded, 503 overloaded when the connection layer sheds load) and 500 ``internal_error`` (no stack trace) for a bug;
the connection layer (:mod:`.protocol`) answers protocol-level faults in the same JSON.
Endpoints are ``async``: a query takes well under
a millisecond of CPU, so running it on the event loop avoids a thread hop per request.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Annotated
from urllib.parse import parse_qs, unquote_to_bytes

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import __version__
from ..errors import InputError
from ..xmr.text2text import clean_text
from .models import ServedModels, load_from_env
from .observe import Metrics, Observe
from .protocol import process_limits

ACCESS_LOG_ENV = "POLYMODAL_ACCESS_LOG"

MAX_TEXT = 512
MAX_K = 100
log = logging.getLogger("polymodal.serve")

_CODES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "text_too_long",
          422: "invalid_request", 503: "model_not_loaded"}


class Item(BaseModel):
    item: str
    score: float


class SearchResponse(BaseModel):
    query: str
    results: list[Item]


class AutocompleteResponse(BaseModel):
    prev: str
    prefix: str
    suggestions: list[str]


class ErrorResponse(BaseModel):
    error: str
    detail: str | list | dict


def error(status: int, detail, code: str | None = None) -> JSONResponse:
    return JSONResponse({"error": code or _CODES.get(status, "error"), "detail": detail}, status_code=status)


class Utf8QueryMiddleware:
    """Reject a query string whose percent-decoded values are not UTF-8 (Starlette would silently turn the bad
    bytes into U+FFFD). Pure ASGI, so it costs a few microseconds per request."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope.get("query_string"):
            try:
                for part in scope["query_string"].split(b"&"):
                    unquote_to_bytes(part.replace(b"+", b" ")).decode("utf-8")
            except UnicodeDecodeError:
                resp = error(400, "query string parameters must be UTF-8 (percent-encoded)", "invalid_utf8")
                await resp(scope, receive, send)
                return
        await self.app(scope, receive, send)


class FastPath:
    """Answers a well-formed ``GET /v1/search`` or ``/v1/autocomplete`` without the framework's per-request
    machinery (parameter models, dependency solving, response classes: ~0.25 ms of CPU per request here, as much
    as the model itself). It only *accepts*: any request it has the slightest doubt about (bad or repeated
    parameter, text too long or empty, k not a plain integer in 1..100, not UTF-8, model missing, any exception)
    goes on to the FastAPI app, which owns validation, every error response and the OpenAPI docs. The answer body
    is built by the same function as the app's, so both paths return identical JSON."""

    def __init__(self, app, models: ServedModels):
        self.app = app
        self.models = models

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["method"] == "GET" and scope["path"] in _FAST:
            body = self.answer(scope["path"], scope["query_string"])
            if body is not None:
                await send({"type": "http.response.start", "status": 200,
                            "headers": [(b"content-type", b"application/json"),
                                        (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)

    def answer(self, path: str, query_string: bytes) -> bytes | None:
        try:
            params = parse_qs(query_string.decode("ascii"), keep_blank_values=True, errors="strict")
            if any(len(v) != 1 for v in params.values()):
                return None
            k = params.get("k", ["10"])[0]
            if not (k.isdigit() and k.isascii() and 1 <= int(k) <= MAX_K):
                return None
            k = int(k)
            if path == "/v1/search":
                q = params.get("q", [None])[0]
                if q is None or len(q) > MAX_TEXT or not clean_text(q) or self.models.search is None:
                    return None
                return search_body(self.models, q, k)
            prefix = params.get("prefix", [None])[0]
            prev = params.get("prev", [""])[0]
            if prefix is None or len(prefix) > MAX_TEXT or len(prev) > MAX_TEXT or self.models.autocomplete is None:
                return None
            return autocomplete_body(self.models, prev, prefix, k)
        except Exception:  # let the app produce the proper error response
            return None


_FAST = {"/v1/search", "/v1/autocomplete"}


def search_body(models: ServedModels, q: str, k: int) -> bytes:
    results = [{"item": s, "score": round(v, 6)} for s, v in models.search_items(q, k)]
    return json.dumps({"query": q, "results": results}, ensure_ascii=False).encode("utf-8")


def autocomplete_body(models: ServedModels, prev: str, prefix: str, k: int) -> bytes:
    return json.dumps({"prev": prev, "prefix": prefix, "suggestions": models.complete(prev, prefix, k)},
                      ensure_ascii=False).encode("utf-8")


def create_app(models: ServedModels | None = None, access_log: bool | None = None) -> FastAPI:
    """The app over already-loaded models (``None``: load from POLYMODAL_*_MODEL, for ``uvicorn --factory``);
    ``access_log`` None reads POLYMODAL_ACCESS_LOG."""
    models = models if models is not None else load_from_env()
    if access_log is None:
        access_log = os.environ.get(ACCESS_LOG_ENV) == "1"
    metrics = Metrics()
    metrics.models_loaded(models)
    err = {code: {"model": ErrorResponse} for code in (400, 413, 422, 503)}
    app = FastAPI(title="polymodal", version=__version__,
                  description="XR-Linear product search and session-aware query autocompletion.")
    app.state.models = models
    app.add_middleware(Utf8QueryMiddleware)
    app.add_middleware(FastPath, models=models)
    app.add_middleware(Observe, metrics=metrics, access_log=access_log,
                       retry_after=process_limits().retry_after)  # added last = outermost

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        errors = exc.errors()
        too_long = [e for e in errors if e.get("type") == "string_too_long"]
        if too_long:
            name = too_long[0]["loc"][-1]
            return error(413, f"{name}: at most {MAX_TEXT} characters")
        return error(422, [{"loc": list(e.get("loc", ())), "msg": e.get("msg", "")} for e in errors])

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        return error(exc.status_code, exc.detail)

    @app.exception_handler(InputError)
    async def _input(request: Request, exc: InputError):
        return error(422, str(exc))

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception):
        log.exception("internal error on %s", request.url.path)
        return error(500, "internal server error", "internal_error")

    @app.get("/healthz")
    async def healthz() -> dict:
        """Liveness and which models this process serves."""
        return {"status": "ok", "version": __version__,
                "models": {"search": models.search_path, "autocomplete": models.autocomplete_path}}

    @app.get("/metrics", response_class=Response)
    async def prometheus_metrics():
        """Request counts and latency histograms per endpoint and status, model load times and versions."""
        body, ctype = metrics.exposition()
        return Response(body, media_type=ctype)

    @app.get("/v1/search", response_model=SearchResponse, responses=err)
    async def search(
        q: Annotated[str, Query(max_length=MAX_TEXT, description="the search query")],
        k: Annotated[int, Query(ge=1, le=MAX_K, description="number of items")] = 10,
    ):
        """Top-k items for a query (XR-Linear beam search), best first."""
        if models.search is None:
            return error(503, "this server was started without --search-model")
        if not clean_text(q):  # blank, or only control and invisible characters
            return error(422, "q is empty")
        return Response(search_body(models, q, k), media_type="application/json")

    @app.get("/v1/autocomplete", response_model=AutocompleteResponse, responses=err)
    async def autocomplete(
        prefix: Annotated[str, Query(max_length=MAX_TEXT, description="what the user has typed so far")],
        prev: Annotated[str, Query(max_length=MAX_TEXT, description="the session's previous query")] = "",
        k: Annotated[int, Query(ge=1, le=MAX_K, description="number of suggestions")] = 10,
    ):
        """Up to k full queries that extend the prefix, best first (session-aware XR-Linear)."""
        if models.autocomplete is None:
            return error(503, "this server was started without --autocomplete-model")
        return Response(autocomplete_body(models, prev, prefix, k), media_type="application/json")

    return app

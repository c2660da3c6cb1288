"""``polymodal serve``: load the models once (a bad folder stops start-up with one clear line), then uvicorn with
the connection limits of :mod:`.protocol`."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from ..errors import InputError


def serve(
    search_model: Annotated[Path | None, typer.Option(help="XR-Linear retrieval model folder")] = None,
    autocomplete_model: Annotated[Path | None, typer.Option(help="autocomplete model folder")] = None,
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: Annotated[int, typer.Option(help="worker processes (each loads the models)")] = 1,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "warning",
    access_log: Annotated[bool, typer.Option(help="one JSON line per request on stderr")] = False,
    max_request_line: Annotated[int, typer.Option(help="bytes of the request line; longer: 414")] = 8192,
    max_header_bytes: Annotated[int, typer.Option(help="bytes of the request head; larger: 431")] = 16384,
    max_headers: Annotated[int, typer.Option(help="headers per request; more: 431")] = 100,
    header_timeout: Annotated[float, typer.Option(help="seconds to send a request head; slower: 408, closed")] = 10.0,
    keep_alive_timeout: Annotated[float, typer.Option(help="idle seconds before a kept-alive connection closes")] = 5.0,
    max_pending: Annotated[int, typer.Option(help="requests waiting per worker; beyond: 503 overloaded")] = 64,
    max_connections: Annotated[int, typer.Option(help="open connections per worker; beyond: 503, closed")] = 2048,
    retry_after: Annotated[int, typer.Option(help="Retry-After seconds sent with 503")] = 1,
    graceful_timeout: Annotated[float, typer.Option(help="seconds SIGTERM waits for requests in flight")] = 10.0,
) -> None:
    """Serve /v1/search, /v1/autocomplete, /healthz, /metrics and the OpenAPI docs at /docs."""
    try:
        import uvicorn

        from .app import ACCESS_LOG_ENV, create_app
        from .models import AUTOCOMPLETE_ENV, SEARCH_ENV, load_models
        from .observe import MULTIPROC_ENV
        from .protocol import LIMITS_ENV, LimitedHttpToolsProtocol, ServerLimits
    except ImportError as exc:
        raise InputError(f"the service needs the serve extra (pip install 'polymodal[serve]'): {exc}") from None
    if not 1 <= workers <= 256:
        raise InputError(f"--workers must lie in 1..256, got {workers}")
    if not 0 <= port <= 65535:
        raise InputError(f"--port must lie in 0..65535, got {port}")
    try:
        limits = ServerLimits(max_request_line, max_header_bytes, max_headers, header_timeout, keep_alive_timeout,
                              max_pending, max_connections, retry_after, graceful_timeout)
    except InputError as exc:  # "max_pending must be ..." -> "--max-pending must be ..."
        name, _, rest = str(exc).partition(" ")
        raise InputError(f"--{name.replace('_', '-')} {rest}") from None
    os.environ[LIMITS_ENV] = limits.to_env()  # read by the connection layer in this and every worker process
    os.environ[ACCESS_LOG_ENV] = "1" if access_log else "0"
    models = load_models(search_model, autocomplete_model)  # fails here, before binding, on a bad folder
    typer.echo(f"polymodal serving on http://{host}:{port} (search: {models.search_path}, "
               f"autocomplete: {models.autocomplete_path}, workers: {workers})", err=True)
    common = dict(host=host, port=port, log_level=log_level, access_log=False, http=LimitedHttpToolsProtocol,
                  timeout_keep_alive=limits.keep_alive_timeout, timeout_graceful_shutdown=limits.graceful_timeout)
    if workers == 1:
        uvicorn.run(create_app(models), **common)
        return
    # each worker process loads its own copy from the folders checked above; metrics are summed over workers
    os.environ[SEARCH_ENV] = str(search_model.resolve()) if search_model else ""
    os.environ[AUTOCOMPLETE_ENV] = str(autocomplete_model.resolve()) if autocomplete_model else ""
    del models
    metrics_dir = tempfile.mkdtemp(prefix="polymodal-metrics-")
    os.environ[MULTIPROC_ENV] = metrics_dir
    try:
        uvicorn.run("polymodal.serve.app:create_app", factory=True, workers=workers, **common)
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)

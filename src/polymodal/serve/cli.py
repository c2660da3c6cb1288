"""``polymodal serve``: load the models once (a bad folder stops start-up with one clear line), then uvicorn."""

from __future__ import annotations

import os
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
) -> None:
    """Serve /v1/search, /v1/autocomplete, /healthz and the OpenAPI docs at /docs."""
    try:
        import uvicorn

        from .app import create_app
        from .models import AUTOCOMPLETE_ENV, SEARCH_ENV, load_models
    except ImportError as exc:
        raise InputError(f"the service needs the serve extra (pip install 'polymodal[serve]'): {exc}") from None
    if workers < 1:
        raise InputError(f"--workers must be >= 1, got {workers}")
    if not 0 <= port <= 65535:
        raise InputError(f"--port must lie in 0..65535, got {port}")
    models = load_models(search_model, autocomplete_model)  # fails here, before binding, on a bad folder
    typer.echo(f"polymodal serving on http://{host}:{port} (search: {models.search_path}, "
               f"autocomplete: {models.autocomplete_path}, workers: {workers})", err=True)
    if workers == 1:
        uvicorn.run(create_app(models), host=host, port=port, log_level=log_level, access_log=False)
        return
    # each worker process loads its own copy from the folders checked above
    os.environ[SEARCH_ENV] = str(search_model.resolve()) if search_model else ""
    os.environ[AUTOCOMPLETE_ENV] = str(autocomplete_model.resolve()) if autocomplete_model else ""
    del models
    uvicorn.run("polymodal.serve.app:create_app", factory=True, host=host, port=port, workers=workers,
                log_level=log_level, access_log=False)

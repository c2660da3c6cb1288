"""The models one service process holds: loaded once at start-up, each behind a lock.

The XR-Linear single-query path reuses per-model scratch buffers (no allocation per request), so one model must
not run two queries at once. The endpoints are ``async`` and therefore run one at a time per worker on the event
loop; the lock keeps that true if a caller ever runs them from threads (an uncontended lock costs ~50 ns).
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ModelError

SEARCH_ENV = "POLYMODAL_SEARCH_MODEL"
AUTOCOMPLETE_ENV = "POLYMODAL_AUTOCOMPLETE_MODEL"


@dataclass
class ServedModels:
    search: object | None = None  # XRTextModel or XREnsemble
    autocomplete: object | None = None  # SessionAutocomplete
    search_path: str | None = None
    autocomplete_path: str | None = None
    info: dict = field(default_factory=dict)  # model name -> path, format, format_version, load_seconds
    lock: threading.Lock = field(default_factory=threading.Lock)

    def search_items(self, q: str, k: int) -> list[tuple[str, float]]:
        with self.lock:
            return self.search.suggest(q, k)

    def complete(self, prev: str, prefix: str, k: int) -> list[str]:
        with self.lock:
            return self.autocomplete.suggest(prev, prefix, k)


def load_models(search: str | os.PathLike | None, autocomplete: str | os.PathLike | None) -> ServedModels:
    """Load the given model folders; a missing or corrupt folder raises :class:`ModelError` naming it."""
    if search is None and autocomplete is None:
        raise ModelError("give at least one of --search-model and --autocomplete-model")
    out = ServedModels()
    if search is not None:
        from ..retrieval.ensemble import load_search_model

        t0 = time.perf_counter()
        out.search = load_search_model(search)
        out.search_path = str(Path(search))
        out.info["search"] = describe(search, time.perf_counter() - t0)
    if autocomplete is not None:
        from ..autocomplete.model import SessionAutocomplete

        t0 = time.perf_counter()
        out.autocomplete = SessionAutocomplete.load(autocomplete)
        out.autocomplete_path = str(Path(autocomplete))
        out.info["autocomplete"] = describe(autocomplete, time.perf_counter() - t0)
    return out


def describe(folder: str | os.PathLike, seconds: float) -> dict:
    """What /metrics says about a loaded model folder (its config.json was read successfully by the loader)."""
    cfg = json.loads((Path(folder) / "config.json").read_text(encoding="utf-8"))
    return {"path": str(Path(folder).resolve()), "format": str(cfg.get("format")),
            "format_version": cfg.get("format_version"), "load_seconds": seconds}


def load_from_env() -> ServedModels:
    return load_models(os.environ.get(SEARCH_ENV) or None, os.environ.get(AUTOCOMPLETE_ENV) or None)

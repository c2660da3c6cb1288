"""What every benchmark records with its figures (the commit the code was at) and how it writes them (JSON,
atomically). Imported by the benchmark scripts, which run with this folder on ``sys.path``."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _describe_head() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "src", "benchmarks"], cwd=ROOT, capture_output=True,
                               text=True)
        return out.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except OSError:
        return "unknown"


# Read once, when the benchmark starts: a run of several hours executes the code it imported then, so a commit
# made while it runs must not be credited with its later rows.
_AT_START = _describe_head()


def commit() -> str:
    """Short hash of HEAD when this benchmark started, "+dirty" when src/ or benchmarks/ (the code that measures)
    had uncommitted changes then."""
    return _AT_START


def write_json(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    os.replace(tmp, path)

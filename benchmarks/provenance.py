"""What every benchmark records with its figures (the commit the code was at) and how it writes them (JSON,
atomically). Imported by the benchmark scripts, which run with this folder on ``sys.path``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
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


def environment(packages: tuple[str, ...] = ("torch", "numpy", "tokenizers", "pillow", "scikit-learn")) -> dict:
    """What a figure may depend on besides the code: the CPU model, the thread count torch uses and the versions
    of the packages that compute it. A model re-trained with the same code and seeds on another CPU or with other
    package versions can differ (float rounding grows over training), so results record where they came from."""
    import platform
    from importlib import metadata

    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for p in packages:
        try:
            versions[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            versions[p] = None
    out = {"python": platform.python_version(), "cpu": cpu, "cores": os.cpu_count(), **versions}
    torch = sys.modules.get("torch")  # only when the benchmark uses it: a torch-free benchmark stays torch-free
    if torch is not None:
        out["torch_threads"] = torch.get_num_threads()
    return out

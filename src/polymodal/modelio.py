"""Model folders: ``config.json`` + arrays in ``.safetensors``, written atomically, loaded without pickle."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from .errors import ModelError

CONFIG = "config.json"


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; on success it replaces ``path``, on error it is removed,
    so a crash or a bad input never leaves a half-written model behind."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists() and not target.is_dir():
        raise ModelError(f"{target} exists and is not a folder")
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.tmp-"))
    try:
        yield tmp
        if target.exists():
            old = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.old-"))
            os.replace(target, old / "x")
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_config(folder: Path, config: dict) -> None:
    (folder / CONFIG).write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def read_config(folder: str | os.PathLike, expected_format: str, max_version: int) -> dict:
    folder = Path(folder)
    if not folder.is_dir():
        raise ModelError(f"model folder {folder} does not exist")
    cfg_path = folder / CONFIG
    if not cfg_path.is_file():
        raise ModelError(f"{folder} is not a model folder: {CONFIG} is missing")
    try:
        cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{cfg_path} is corrupt: {exc}") from None
    if not isinstance(cfg, dict) or cfg.get("format") != expected_format:
        raise ModelError(f"{cfg_path}: not a {expected_format} model (format={cfg.get('format')!r})")
    version = cfg.get("format_version")
    if not isinstance(version, int) or version > max_version:
        raise ModelError(f"{cfg_path}: format version {version!r} is not supported (max {max_version})")
    return cfg


def save_arrays(path: Path, arrays: dict[str, np.ndarray]) -> None:
    from safetensors.numpy import save_file

    save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, str(path))


def load_arrays(path: str | os.PathLike) -> dict[str, np.ndarray]:
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path} is missing")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelError(f"{path} is corrupt: {exc}") from None


def dataclass_from_dict(cls, d: dict, what: str):
    """``cls(**d)`` for a config dataclass, refusing keys it does not know (a newer or foreign config)."""
    from dataclasses import fields

    unknown = set(d) - {f.name for f in fields(cls)}
    if unknown:
        raise ModelError(f"unknown {what} config keys: {sorted(unknown)}")
    return cls(**d)


def folder_bytes(path: str | os.PathLike) -> int:
    """Size on disk of a model folder (every file under it)."""
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())

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


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


def remove_stale_temporaries(target: Path) -> list[Path]:
    """Remove the ``.NAME.tmp-PID-*`` / ``.NAME.old-PID-*`` folders that a killed save of ``target`` left behind.
    The writer's pid is in the name, so a folder whose process still runs (a concurrent save) is kept; a folder
    without a pid (written before pids were recorded) is removed once it is an hour old."""
    import re
    import time

    removed = []
    pat = re.compile(rf"^\.{re.escape(target.name)}\.(tmp|old)-(?:(\d+)-)?")
    with contextlib.suppress(OSError):
        for entry in target.parent.iterdir():
            m = pat.match(entry.name)
            if not m or not entry.is_dir():
                continue
            pid = m.group(2)
            stale = (not _alive(int(pid))) if pid else time.time() - entry.stat().st_mtime > 3600
            if stale and (pid is None or int(pid) != os.getpid()):
                shutil.rmtree(entry, ignore_errors=True)
                removed.append(entry)
    return removed


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; on success it replaces ``path``, on error it is removed,
    so a crash or a bad input never leaves a half-written model behind."""
    target = Path(path)
    for up in target.parents:
        if up.exists():
            if not up.is_dir():
                raise ModelError(f"cannot write {target}: {up} is a file, not a folder")
            break
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists() and not target.is_dir():
        raise ModelError(f"{target} exists and is not a folder")
    remove_stale_temporaries(target)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.tmp-{os.getpid()}-"))
    try:
        yield tmp
        if target.exists():
            old = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.old-{os.getpid()}-"))
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


def _read_json_object(folder: str | os.PathLike) -> tuple[Path, dict]:
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ModelError(f"{folder} is a file, not a model folder")
    if not folder.is_dir():
        raise ModelError(f"model folder {folder} does not exist")
    cfg_path = folder / CONFIG
    if not cfg_path.is_file():
        raise ModelError(f"{folder} is not a model folder: {CONFIG} is missing")
    try:
        cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{cfg_path} is corrupt: {exc}") from None
    if not isinstance(cfg, dict):
        raise ModelError(f"{cfg_path}: not a polymodal model (not a JSON object)")
    return cfg_path, cfg


def read_config(folder: str | os.PathLike, expected_format: str, max_version: int) -> dict:
    cfg_path, cfg = _read_json_object(folder)
    if cfg.get("format") != expected_format:
        raise ModelError(f"{cfg_path}: not a {expected_format} model (format={cfg.get('format')!r})")
    version = cfg.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= max_version:
        raise ModelError(f"{cfg_path}: format version {version!r} is not supported (max {max_version})")
    return cfg


def read_any_format(folder: str | os.PathLike) -> str:
    """The ``format`` string of a model folder's config.json (ModelError when there is none)."""
    cfg_path, cfg = _read_json_object(folder)
    if not isinstance(cfg.get("format"), str):
        raise ModelError(f"{cfg_path}: not a polymodal model (no format)")
    return cfg["format"]


def save_arrays(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write arrays as a ``.safetensors`` file, atomically (temporary name, then rename).

    Written here rather than with ``safetensors.numpy.save_file``, which first copies every tensor into a bytes
    object (the whole model twice in memory while saving). This streams each array's own buffer to the file.
    Tensors are laid out by descending item size after a header padded to 8 bytes, so every tensor starts at a
    multiple of its item size and :func:`map_arrays` maps it without a copy. The file is standard safetensors
    (the tests read it back with the ``safetensors`` package)."""
    codes = {np.dtype(v): k for k, v in _ST_DTYPES.items()}
    items = []
    for name, a in arrays.items():
        a = np.asarray(a)
        if a.dtype not in codes:
            raise ValueError(f"{name}: dtype {a.dtype} cannot be stored")
        items.append((name, np.ascontiguousarray(a)))
    items.sort(key=lambda kv: (-kv[1].dtype.itemsize, kv[0]))
    header, off = {}, 0
    for name, a in items:
        header[name] = {"dtype": codes[a.dtype], "shape": list(a.shape), "data_offsets": [off, off + a.nbytes]}
        off += a.nbytes
    blob = json.dumps(header, separators=(",", ":")).encode("utf-8")
    blob += b" " * (-len(blob) % 8)
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(len(blob).to_bytes(8, "little"))
            f.write(blob)
            for _, a in items:
                if a.nbytes:
                    f.write(memoryview(a.reshape(-1)).cast("B"))
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


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


_ST_DTYPES = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32,
              "I16": np.int16, "I8": np.int8, "U64": np.uint64, "U32": np.uint32, "U16": np.uint16, "U8": np.uint8,
              "BOOL": np.bool_}


def map_arrays(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Memory-map every tensor of a ``.safetensors`` file as a read-only numpy array, reading only the header.

    Written here, not taken from the ``safetensors`` package, because its numpy loader copies every tensor into
    memory (only its torch loader maps). The format is 8 bytes of little-endian header length, a JSON header
    ``{name: {"dtype", "shape", "data_offsets": [begin, end]}}`` and the data. Every header entry is checked
    against the file's size, so a truncated or corrupt file raises :class:`ModelError` here instead of failing on
    a page fault later. A tensor whose offset is not a multiple of its item size is copied, not mapped."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path} is missing")
    size = path.stat().st_size
    try:
        with open(path, "rb") as f:
            head = f.read(8)
            if len(head) < 8:
                raise ValueError("shorter than its 8-byte header length")
            n = int.from_bytes(head, "little")
            if n <= 0 or 8 + n > size:
                raise ValueError(f"header length {n} does not fit in a {size}-byte file")
            header = json.loads(f.read(n).decode("utf-8"))
        if not isinstance(header, dict):
            raise ValueError("header is not a JSON object")
        data_size = size - 8 - n
        buf = np.memmap(path, dtype=np.uint8, mode="r") if data_size else np.zeros(0, np.uint8)
        out: dict[str, np.ndarray] = {}
        for name, e in header.items():
            if name == "__metadata__":
                continue
            if not isinstance(e, dict) or e.get("dtype") not in _ST_DTYPES:
                raise ValueError(f"tensor {name!r}: unknown dtype {e.get('dtype') if isinstance(e, dict) else e!r}")
            dt = np.dtype(_ST_DTYPES[e["dtype"]])
            shape, offs = e.get("shape"), e.get("data_offsets")
            if (not isinstance(shape, list) or not all(isinstance(s, int) and s >= 0 for s in shape)
                    or not isinstance(offs, list) or len(offs) != 2 or not all(isinstance(o, int) for o in offs)):
                raise ValueError(f"tensor {name!r}: malformed shape or offsets")
            a, b = offs
            if not 0 <= a <= b <= data_size or b - a != int(np.prod(shape, dtype=np.int64)) * dt.itemsize:
                raise ValueError(f"tensor {name!r}: bytes {a}..{b} do not fit its shape {shape} or the file")
            start = 8 + n + a
            view = buf[start : start + (b - a)] if b > a else np.zeros(0, np.uint8)
            arr = view.view(dt).reshape(shape) if start % dt.itemsize == 0 or b == a else \
                np.frombuffer(bytes(view), dtype=dt).reshape(shape)
            out[name] = arr
        return out
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise ModelError(f"{path} is corrupt: {exc}") from None

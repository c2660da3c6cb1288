"""Atomic file writes: a file is written under a temporary name in its own folder and renamed into place, so a
crash or a bad input never leaves a half-written file at the target path. Stale temporaries of an earlier crash
(``.NAME.*.tmp``) are removed on the next write of the same file."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO


def _clean_stale(p: Path) -> None:
    for old in p.parent.glob(f".{p.name}.*.tmp"):
        with contextlib.suppress(OSError):
            old.unlink()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike, mode: str = "w") -> Iterator[IO]:
    """``with atomic_file(p) as f: f.write(...)``: ``p`` appears only when the block ends without an error."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    _clean_stale(p)
    fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.", suffix=".tmp")
    try:
        kwargs = {} if "b" in mode else {"encoding": "utf-8", "newline": "\n"}
        with os.fdopen(fd, mode, **kwargs) as f:
            yield f
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | os.PathLike, lines: Iterable[str]) -> None:
    """Write lines (each followed by a newline) atomically."""
    with atomic_file(path) as f:
        for line in lines:
            f.write(line)
            f.write("\n")

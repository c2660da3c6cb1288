"""The text2text file format (as PECOS): one example per line, ``l1,l2,...<TAB>text``, 0-based label ids into
``labels.txt`` (one label string per line). Readers validate every line and name the file and line of a fault."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from ..errors import InputError
from ..io import atomic_write_text

_WS = re.compile(r"\s+")


def clean_text(text: str) -> str:
    """Collapse every run of whitespace (tabs and newlines included) to one space."""
    return _WS.sub(" ", text).strip()


def _decode(raw: bytes, path: str, lineno: int) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"not valid UTF-8 (byte {exc.start})", path, lineno) from None


def _open_lines(path: str | os.PathLike) -> Iterable[tuple[int, str]]:
    p = Path(path)
    if not p.is_file():
        raise InputError("no such file", str(p))
    with open(p, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            yield lineno, _decode(raw.rstrip(b"\r\n"), str(p), lineno)


def parse_label_field(field: str, n_labels: int | None, path: str, lineno: int) -> list[int]:
    ids: list[int] = []
    for tok in field.split(","):
        tok = tok.strip()
        if not tok:
            continue
        if not tok.isdigit():
            raise InputError(f"label id {tok!r} is not a non-negative integer", path, lineno)
        lid = int(tok)
        if n_labels is not None and lid >= n_labels:
            raise InputError(f"label id {lid} out of range (labels.txt has {n_labels} labels)", path, lineno)
        ids.append(lid)
    if not ids:
        raise InputError("no label ids before the tab", path, lineno)
    return sorted(set(ids))


def read_text2text(path: str | os.PathLike, n_labels: int | None = None) -> tuple[list[str], list[list[int]]]:
    """Read a labelled text2text file; every malformed line is an :class:`InputError` naming file and line."""
    texts: list[str] = []
    labels: list[list[int]] = []
    spath = str(path)
    for lineno, line in _open_lines(path):
        if not line.strip():
            continue  # blank lines are tolerated (e.g. a trailing newline)
        if "\t" not in line:
            raise InputError("no tab: expected 'l1,l2,...<TAB>text'", spath, lineno)
        field, text = line.split("\t", 1)
        text = clean_text(text)
        if not text:
            raise InputError("empty text", spath, lineno)
        labels.append(parse_label_field(field, n_labels, spath, lineno))
        texts.append(text)
    if not texts:
        raise InputError("no examples (empty file)", spath)
    return texts, labels


def read_queries(path: str | os.PathLike) -> list[str]:
    """Read inputs for prediction: plain text per line, or text2text lines (the part after the tab)."""
    out: list[str] = []
    spath = str(path)
    for lineno, line in _open_lines(path):
        if not line.strip():
            continue
        text = clean_text(line.split("\t", 1)[1] if "\t" in line else line)
        if not text:
            raise InputError("empty text", spath, lineno)
        out.append(text)
    if not out:
        raise InputError("no inputs (empty file)", spath)
    return out


def read_labels(path: str | os.PathLike) -> list[str]:
    spath = str(path)
    out = [line for _, line in _open_lines(path)]
    while out and out[-1] == "":
        out.pop()
    if not out:
        raise InputError("no labels (empty file)", spath)
    return out


def write_text2text(path: str | os.PathLike, texts: Sequence[str], labels: Sequence[Sequence[int]]) -> None:
    if len(texts) != len(labels):
        raise ValueError("texts and labels differ in length")
    atomic_write_text(path, (",".join(map(str, ls)) + "\t" + clean_text(t) for t, ls in zip(texts, labels)))

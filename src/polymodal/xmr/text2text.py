"""The text2text file format (as PECOS): one example per line, ``l1,l2,...<TAB>text``, 0-based label ids into
``labels.txt`` (one label string per line). Readers validate every line and name the file and line of a fault."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import BinaryIO

from ..errors import InputError
from ..io import atomic_write_text

_WS = re.compile(r"\s+")
# control characters (Cc: C0, DEL, C1) become spaces; invisible format characters (Cf: zero-width space and
# joiners, bidirectional marks and isolates, soft hyphen, word joiner, BOM, ...) are removed, so a text made only
# of them is empty (the blank-query error) instead of ranking junk. Listed, not looked up per character with
# unicodedata, because this runs on every line of a training file.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_FORMAT = re.compile("[\u00ad\u0600-\u0605\u061c\u06dd\u070f\u180e\u200b-\u200f\u202a-\u202e"
                     "\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb]")
_LABEL_ID = re.compile(r"[0-9]+")  # ASCII digits only: str.isdigit() also accepts '²' and full-width '５'
STDIN = "<stdin>"


def clean_text(text: str) -> str:
    """Remove invisible format characters, turn control characters into spaces, collapse every run of
    whitespace (tabs and newlines included) to one space."""
    return _WS.sub(" ", _CONTROL.sub(" ", _FORMAT.sub("", text))).strip()


def _decode(raw: bytes, path: str, lineno: int) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"not valid UTF-8 (byte {exc.start})", path, lineno) from None


def _lines(f: BinaryIO, name: str) -> Iterable[tuple[int, str]]:
    for lineno, raw in enumerate(f, 1):
        raw = raw.rstrip(b"\n")
        if raw.endswith(b"\r"):
            raw = raw[:-1]  # Windows line ending
        if b"\r" in raw:
            raise InputError("carriage return inside a line (a file with old Mac CR-only line endings? convert "
                             "it to LF)", name, lineno)
        if lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]  # UTF-8 byte order mark
        yield lineno, _decode(raw, name, lineno)


def _open_lines(path: str | os.PathLike) -> Iterable[tuple[int, str]]:
    """(line number, text) of every line of a UTF-8 file, or of standard input when ``path`` is ``-``."""
    if str(path) == "-":
        yield from _lines(sys.stdin.buffer, STDIN)
        return
    p = Path(path)
    if p.is_dir():
        raise InputError("is a folder, not a file", str(p))
    if not p.is_file():
        raise InputError("no such file", str(p))
    with open(p, "rb") as f:
        yield from _lines(f, str(p))


def _display(path) -> str:
    return STDIN if str(path) == "-" else str(path)


def parse_label_field(field: str, n_labels: int | None, path: str, lineno: int) -> list[int]:
    ids: list[int] = []
    for tok in field.split(","):
        tok = tok.strip()
        if not tok:
            continue
        if not _LABEL_ID.fullmatch(tok):
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


def read_queries(path: str | os.PathLike, keep_empty: bool = False) -> list[str]:
    """Read inputs for prediction (``-`` reads standard input): plain text per line, or text2text lines (the
    part after the tab). ``keep_empty``: an empty or blank line is kept as ``""`` so outputs line up with the
    input lines; otherwise it is skipped."""
    out: list[str] = []
    spath = _display(path)
    for _, line in _open_lines(path):
        text = clean_text(line.split("\t", 1)[1] if "\t" in line else line)
        if text or keep_empty:
            out.append(text)
    if not any(out):
        raise InputError("no inputs (empty file)" if not out else "every input line is empty", spath)
    return out


def read_labels(path: str | os.PathLike) -> list[str]:
    """labels.txt: one name per line; an empty name or a name given twice is an error naming its line."""
    spath = str(path)
    out = [line for _, line in _open_lines(path)]
    while out and out[-1] == "":
        out.pop()
    if not out:
        raise InputError("no labels (empty file)", spath)
    seen: dict[str, int] = {}
    for lineno, name in enumerate(out, 1):
        if not name.strip():
            raise InputError("empty label name", spath, lineno)
        if name in seen:
            raise InputError(f"label {name!r} is also on line {seen[name]}", spath, lineno)
        seen[name] = lineno
    return out


def check_labels_used(names: Sequence[str], label_lists: Sequence[Sequence[int]], labels_path: str,
                      data_path: str) -> None:
    """labels.txt must name exactly the ids a training file can use: more lines than the largest id + 1 means
    the lines are shifted (e.g. a label name that had a newline inside) or belong to another file."""
    largest = max((max(ls) for ls in label_lists if ls), default=-1)
    if len(names) > largest + 1:
        raise InputError(f"{len(names)} label names but the largest label id in {data_path} is {largest}: "
                         f"line {largest + 2} onwards names no label id (a label name with a newline inside "
                         f"shifts every later line)", labels_path, largest + 2)


def read_training_set(path: str | os.PathLike, labels: str | os.PathLike | None = None,
                      no_label_names: bool = False) -> tuple[list[str], list[list[int]], list[str] | None]:
    """(texts, label id lists, label names) of a training file and its ``labels.txt`` (``labels`` or the one
    beside the file). A missing labels.txt is an error unless ``no_label_names`` (names are then the ids, and the
    ids must be dense: 0..N-1 with most of them used)."""
    p = Path(path)
    if not p.is_file():
        raise InputError("is a folder, not a file" if p.is_dir() else "no such file", str(p))
    lpath = Path(labels) if labels is not None else p.parent / "labels.txt"
    if no_label_names:
        texts, ys = read_text2text(path)
        used = len({i for ls in ys for i in ls})
        largest = max(max(ls) for ls in ys)
        if largest + 1 > 10 * used + 1000:
            raise InputError(f"label ids are sparse (largest {largest}, {used} distinct): without labels.txt the "
                             f"ids must be 0..N-1; give the label names with --labels", str(path))
        return texts, ys, None
    if labels is None and not lpath.is_file():
        raise InputError("no labels.txt beside the training file; give --labels FILE, or --no-label-names to "
                         "use the ids as names", str(path))
    names = read_labels(lpath)
    texts, ys = read_text2text(path, len(names))
    check_labels_used(names, ys, str(lpath), str(path))
    return texts, ys, names


def write_labels(path: str | os.PathLike, names: Sequence[str]) -> None:
    """Write labels.txt atomically, refusing names that would not read back as one line each."""
    for i, n in enumerate(names):
        if not n.strip() or any(c in n for c in "\r\n"):
            raise InputError(f"label {i} ({n!r}) is empty or holds a line break")
    atomic_write_text(path, names)


def write_text2text(path: str | os.PathLike, texts: Sequence[str], labels: Sequence[Sequence[int]]) -> None:
    if len(texts) != len(labels):
        raise ValueError("texts and labels differ in length")
    atomic_write_text(path, (",".join(map(str, ls)) + "\t" + clean_text(t) for t, ls in zip(texts, labels)))

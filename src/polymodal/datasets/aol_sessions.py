"""``aol-sessions``: session-aware query autocompletion examples from the AOL 2006 log.

Rules (Yadav et al., KDD 2021, as specified for polymodal):
- normalise a query: lower-case, split on whitespace and dots, strip non-word characters from each piece,
  drop empty pieces, join with one space;
- sessions: each user's queries in time order, cut where two queries are more than 30 minutes apart;
  consecutive duplicate (normalised) queries are dropped; sessions with fewer than 2 queries are dropped;
- one example per consecutive pair (previous query, next query); the typed prefix is the first m characters of
  the next query with m drawn uniformly from 1..len(next) (``numpy.random.default_rng(seed)``, in example order);
- split by the session's start time: train 2006-03-01..05-15, validation 05-16..05-23, test 05-24..05-31;
- labels: the distinct next-queries of the training examples (validation/test targets outside them stay, and
  count as misses for every method).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..io import atomic_write_text
from .aol import load_rows

GAP = timedelta(minutes=30)
SPLITS = {"train": ("2006-03-01", "2006-05-15"), "validation": ("2006-05-16", "2006-05-23"),
          "test": ("2006-05-24", "2006-05-31")}
_PIECES = re.compile(r"[\s.]+")
_NONWORD = re.compile(r"[^\w]+")


def normalize_query(q: str) -> str:
    pieces = (_NONWORD.sub("", p) for p in _PIECES.split(q.lower()))
    return " ".join(p for p in pieces if p)


@dataclass
class SessionExamples:
    prev: list[str] = field(default_factory=list)
    prefix: list[str] = field(default_factory=list)
    target: list[str] = field(default_factory=list)
    session: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.target)

    def add(self, prev: str, prefix: str, target: str, session: int) -> None:
        self.prev.append(prev)
        self.prefix.append(prefix)
        self.target.append(target)
        self.session.append(session)


def write_sessions_tsv(path: str | Path, ex: SessionExamples) -> None:
    """``previous<TAB>prefix<TAB>target`` lines (normalised queries hold no tabs or newlines), atomically."""
    atomic_write_text(Path(path), [f"{a}\t{b}\t{c}" for a, b, c in zip(ex.prev, ex.prefix, ex.target)])


def read_sessions_tsv(path: str | Path) -> SessionExamples:
    """Read ``previous<TAB>prefix<TAB>target`` lines; a clear DataError for a missing file or a bad line."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    ex = SessionExamples()
    with open(path, encoding="utf-8", errors="replace") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line:
                continue
            parts = line.split("\t")
            if len(parts) != 3 or not parts[2]:
                raise DataError(f"{path}:{n}: expected 'previous<TAB>prefix<TAB>target' with a non-empty target")
            ex.add(parts[0], parts[1], parts[2], -1)
    if not len(ex):
        raise DataError(f"{path}: no examples")
    return ex


@dataclass
class SessionDataset:
    splits: dict[str, SessionExamples]
    labels: list[str]
    label_counts: np.ndarray  # training frequency of each label (as a next query)
    meta: dict

    def save(self, out: str | Path) -> Path:
        """train.tsv, validation.tsv, test.tsv (previous, prefix, target) and meta.json, each atomically."""
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        for name, ex in self.splits.items():
            write_sessions_tsv(out / f"{name}.tsv", ex)
        atomic_write_text(out / "meta.json", [json.dumps(self.meta, indent=2)])
        return out

    def label_ids(self, split: str) -> np.ndarray:
        """Label id of each example's target, -1 when the target is not a training label."""
        index = {q: i for i, q in enumerate(self.labels)}
        return np.array([index.get(t, -1) for t in self.splits[split].target], dtype=np.int64)


def sessions_from_rows(rows) -> list[tuple[str, list[str]]]:
    """(start time, normalised queries) per session, in (user, time) order."""
    by_user: dict[str, list[tuple[str, str]]] = {}
    for anon, query, when, _ in rows:
        by_user.setdefault(anon, []).append((when, query))
    out = []
    for anon in sorted(by_user):
        events = sorted(by_user[anon])
        cur: list[str] = []
        start = last = None
        for when, query in events:
            t = datetime.strptime(when, "%Y-%m-%d %H:%M:%S")
            if last is not None and t - last > GAP:
                if len(cur) >= 2:
                    out.append((start, cur))
                cur, start = [], None
            last = t
            q = normalize_query(query)
            if not q or (cur and cur[-1] == q):
                continue
            if start is None:
                start = when
            cur.append(q)
        if len(cur) >= 2:
            out.append((start, cur))
    return out


def split_of(start: str) -> str | None:
    day = start[:10]
    for name, (lo, hi) in SPLITS.items():
        if lo <= day <= hi:
            return name
    return None


def build_sessions(seed: int = 0, rows=None) -> SessionDataset:
    rows = load_rows() if rows is None else rows
    sessions = sessions_from_rows(rows)
    rng = np.random.default_rng(seed)
    splits = {name: SessionExamples() for name in SPLITS}
    for sid, (start, queries) in enumerate(sessions):
        name = split_of(start)
        for prev, nxt in zip(queries[:-1], queries[1:]):
            m = int(rng.integers(1, len(nxt) + 1))  # drawn for every pair, so splits do not shift the stream
            if name is not None:
                splits[name].add(prev, nxt[:m], nxt, sid)
    counts = Counter(splits["train"].target)
    labels = sorted(counts, key=lambda q: (-counts[q], q))
    meta = {"sessions": len(sessions), **{f"n_{k}": len(v) for k, v in splits.items()},
            "n_labels": len(labels), "seed": seed,
            "test_targets_in_labels": float(np.mean([t in counts for t in splits["test"].target]))
            if len(splits["test"]) else 0.0}
    return SessionDataset(splits, labels, np.array([counts[q] for q in labels], dtype=np.int64), meta)

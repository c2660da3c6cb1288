"""The AOL 2006 query log (800 heavy users, queries that led to a click).

``aol-clicks``: query -> clicked URLs, one example per log row. Split by time: rows before
``2006-05-11 00:00:00`` are train, later rows are test, so every test query comes after every training query.
Labels are the URLs clicked in the training period (about 78k); test rows keep only those, and test rows left
with none are dropped (their URLs were never seen in training and cannot be ranked).

Research use only: the rows are real people's queries; never print more than a few example rows.
"""

from __future__ import annotations

import gzip

import numpy as np

from .home import fetch
from .xmc import TextXMCDataset, from_records

RELPATH = "aol/aol_queries.tsv.gz"
TEST_START = "2006-05-11 00:00:00"


def load_rows() -> list[tuple[str, str, str, list[str]]]:
    """(anon_id, query, time, clicked_urls) per row, in file order."""
    rows = []
    with gzip.open(fetch(RELPATH), "rt", encoding="utf-8") as f:
        header = f.readline()
        if not header.startswith("AnonID"):
            raise ValueError(f"{RELPATH}: unexpected header {header[:40]!r}")
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 4:
                continue
            rows.append((parts[0], parts[1], parts[2], parts[3].split()))
    return rows


def build_clicks(min_label_count: int = 1) -> TextXMCDataset:
    rows = load_rows()
    rows.sort(key=lambda r: (r[2], r[0]))  # stable time order
    is_train = np.array([r[2] < TEST_START for r in rows])
    meta = {"source": RELPATH, "rows": len(rows), "split": f"by time: train < {TEST_START} <= test"}
    return from_records(
        "aol-clicks", [r[1] for r in rows], [r[3] for r in rows], is_train, min_label_count, meta
    )

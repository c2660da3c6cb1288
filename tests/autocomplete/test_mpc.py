"""MPC against a brute-force count on a real sample of AOL queries."""

from __future__ import annotations

from collections import Counter

import pytest

from polymodal.autocomplete.mpc import MostPopularCompletion
from polymodal.datasets.aol import load_rows
from polymodal.datasets.aol_sessions import normalize_query


@pytest.fixture(scope="module")
def sample():
    rows = load_rows()[:20000]
    return [q for q in (normalize_query(r[1]) for r in rows) if q]


def _brute(counts: Counter, prefix: str, k: int):
    p = prefix
    while True:
        hits = [q for q in counts if q.startswith(p)]
        if hits:
            return sorted(hits, key=lambda q: (-counts[q], q))[:k]
        if not p:
            return []
        p = p[:-1]


def test_matches_brute_force(sample):
    counts = Counter(sample)
    mpc = MostPopularCompletion(k=10).fit(sample)
    prefixes = ["", "a", "go", "goo", "goog", "www", "ebay", "zzzzqx", "mapquest d", "b"]
    prefixes += [q[: max(1, len(q) // 2)] for q in list(counts)[:300:7]]
    for p in prefixes:
        assert mpc.suggest(p) == _brute(counts, p, 10), p


def test_every_suggestion_has_the_prefix_when_one_exists(sample):
    mpc = MostPopularCompletion(k=5).fit(sample)
    for q in sample[:500:10]:
        p = q[:3]
        out = mpc.suggest(p)
        assert out and all(s.startswith(p) for s in out)

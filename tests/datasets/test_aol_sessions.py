"""aol-sessions: each documented rule on hand-made rows, then the properties of the real build."""

from __future__ import annotations

import numpy as np
import pytest

from polymodal.datasets.aol_sessions import build_sessions, normalize_query, sessions_from_rows, split_of


def test_normalize_query():
    assert normalize_query("Www.Google.COM!!") == "www google com"
    assert normalize_query("  rose   of jericho's plant ") == "rose of jerichos plant"
    assert normalize_query("...!!!") == ""


def test_session_rules():
    rows = [
        ("1", "a b", "2006-03-01 10:00:00", []),
        ("1", "A.B", "2006-03-01 10:05:00", []),  # duplicate after normalisation: dropped
        ("1", "c", "2006-03-01 10:20:00", []),
        ("1", "d", "2006-03-01 11:00:01", []),  # 40 min gap: new session with one query, dropped
        ("2", "x", "2006-03-02 09:00:00", []),
        ("2", "y", "2006-03-02 09:30:00", []),  # exactly 30 min: same session
    ]
    sessions = sessions_from_rows(rows)
    assert sessions == [("2006-03-01 10:00:00", ["a b", "c"]), ("2006-03-02 09:00:00", ["x", "y"])]
    assert split_of("2006-05-15 23:59:59") == "train" and split_of("2006-05-16 00:00:00") == "validation"
    assert split_of("2006-05-24 00:00:00") == "test"


@pytest.fixture(scope="module")
def sessions():
    return build_sessions(seed=0)


def test_real_build_properties(sessions):
    ds = sessions
    assert len(ds.splits["train"]) > 50000 and len(ds.splits["test"]) > 5000 and len(ds.splits["validation"]) > 5000
    for ex in ds.splits.values():
        for prev, prefix, target in zip(ex.prev[:3000], ex.prefix[:3000], ex.target[:3000]):
            assert 1 <= len(prefix) <= len(target) and target.startswith(prefix)
            assert prev != target and prev and target
    assert set(ds.labels) == set(ds.splits["train"].target)
    assert np.all(np.diff(ds.label_counts) <= 0)
    ids = ds.label_ids("test")
    assert 0 < np.mean(ids >= 0) < 1
    # prefix lengths are uniform over 1..len(target): the mean fraction is about (n+1)/(2n) averaged
    ex = ds.splits["train"]
    frac = np.mean([len(p) / len(t) for p, t in zip(ex.prefix, ex.target)])
    expect = np.mean([(len(t) + 1) / (2 * len(t)) for t in ex.target])
    assert abs(frac - expect) < 0.01


def test_deterministic(sessions):
    again = build_sessions(seed=0)
    assert again.splits["test"].prefix[:200] == sessions.splits["test"].prefix[:200]

"""Autocompletion metrics against hand-computed values and sacrebleu's own sentence BLEU."""

from __future__ import annotations

import numpy as np
import pytest
from sacrebleu.metrics import BLEU

from polymodal.autocomplete.evaluate import (
    FREQ_BUCKETS,
    PREFIX_BUCKETS,
    freq_bucket,
    latency,
    paired_rr_difference,
    per_request,
    prefix_bucket,
    summarize,
)


def test_rank_metrics_by_hand():
    sugg = [["a b", "c"], ["x", "y", "z"], []]
    tgt = ["c", "q", "q"]
    r = per_request(sugg, tgt, k=10)
    assert np.allclose(r["rr"], [0.5, 0.0, 0.0])
    assert np.allclose(r["success@1"], [0, 0, 0]) and np.allclose(r["success@10"], [1, 0, 0])
    r = per_request([["c", "a"]], ["c"], k=2)
    assert r["rr"][0] == 1.0 and r["success@1"][0] == 1.0


def test_rank_weighted_bleu_against_sacrebleu():
    bleu = BLEU(effective_order=True)
    sugg = ["new york times", "new york", "newark airport"]
    t = "new york hotels"
    expect = sum(bleu.sentence_score(s, [t]).score / 100 / (j + 1) for j, s in enumerate(sugg))
    expect /= sum(1 / j for j in range(1, 11))
    assert per_request([sugg], [t])["bleu_rw"][0] == pytest.approx(expect)
    # an exact first suggestion alone earns 1 / H_10
    assert per_request([[t]], [t])["bleu_rw"][0] == pytest.approx(1 / sum(1 / j for j in range(1, 11)))


def test_buckets_and_summary():
    assert [prefix_bucket(n) for n in (1, 2, 3, 4, 6, 7, 40)] == ["1", "2", "3", "4-6", "4-6", "7+", "7+"]
    assert [freq_bucket(n) for n in (0, 1, 2, 5, 6, 20, 21)] == ["unseen", "1", "2-5", "2-5", "6-20", "6-20", "21+"]
    arrays = {"rr": np.array([1.0, 0.5, 0.0, 0.25])}
    g = np.array(["1", "1", "7+", "7+"])
    out = summarize(arrays, {"prefix_length": (g, [b[0] for b in PREFIX_BUCKETS])})
    assert out["MRR@10"] == pytest.approx(0.4375) and out["n"] == 4
    assert out["by_prefix_length"]["1"]["MRR@10"] == pytest.approx(0.75)
    assert out["by_prefix_length"]["7+"]["MRR@10"] == pytest.approx(0.125)
    assert out["by_prefix_length"]["2"]["n"] == 0
    assert freq_bucket(10**9) == "21+" and [b[0] for b in FREQ_BUCKETS][-1] == "21+"


def test_autocomplete_latency_passes_prev_and_prefix_in_order():
    calls = []
    res = latency(lambda a, b: calls.append((a, b)), ["p1", "p2"], ["x", "y"], n=4, warmup=1)
    assert calls == [("p1", "x"), ("p1", "x"), ("p2", "y"), ("p1", "x"), ("p2", "y")]
    assert res["requests"] == 4 and res["p99_ms"] >= res["p50_ms"] >= 0


def test_paired_rr_difference_per_bucket_by_hand():
    ours = np.array([1.0, 0.5, 0.0, 1 / 3, 1.0, 0.0])
    mpc = np.array([0.5, 0.5, 1.0, 1 / 3, 0.0, 0.0])
    buckets = np.array(["1", "1", "7+", "7+", "7+", "2"])
    targets = ["a", "b", "c", "c", "d", "e"]
    r = paired_rr_difference(ours, mpc, buckets, targets)
    assert set(r) == {"all", "1", "2", "7+"}  # empty buckets are left out
    assert r["all"]["diff"] == pytest.approx(100 * (0.5 - 1.0 + 1.0) / 6, abs=1e-3)
    assert r["7+"]["diff"] == pytest.approx(0.0, abs=1e-3) and r["7+"]["groups"] == 2  # "c" resampled as one
    assert (r["7+"]["xr_better"], r["7+"]["mpc_better"], r["7+"]["n"]) == (1, 1, 3)
    assert r["2"]["ci95"] == [0, 0] and r["1"]["xr_better"] == 1


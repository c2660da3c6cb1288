"""SessionAutocomplete end to end on a slice of the real AOL sessions."""

from __future__ import annotations

import numpy as np
import pytest

from polymodal.autocomplete.model import MAX_CHARS, SessionAutocomplete, mrr_at_k, normalize_prefix
from polymodal.datasets.aol_sessions import build_sessions
from polymodal.errors import ModelError


@pytest.fixture(scope="module")
def data():
    ds = build_sessions(seed=0)
    tr, te = ds.splits["train"], ds.splits["test"]
    n = 30000
    return (tr.prev[:n], tr.prefix[:n], tr.target[:n]), (te.prev[:1500], te.prefix[:1500], te.target[:1500])


@pytest.fixture(scope="module")
def model(data):
    (p, x, t), _ = data
    return SessionAutocomplete(index="hybrid", trie_depth=1, max_leaf_size=50).fit(p, x, t)


def test_suggestions_extend_the_prefix(model, data):
    _, (p, x, t) = data
    for prev, prefix in zip(p[:300], x[:300]):
        out = model.suggest(prev, prefix)
        assert len(out) <= 10 and len(set(out)) == len(out)
        assert all(s.startswith(normalize_prefix(prefix)) for s in out)


def test_beats_chance_and_is_comparable_to_mpc(model, data):
    _, (p, x, t) = data
    ours = mrr_at_k(model.suggest_batch(p, x), t)
    mpc = mrr_at_k([model.mpc_.suggest(normalize_prefix(s)) for s in x], t)
    assert ours > 0.05 and mpc > 0.05
    assert ours > 0.7 * mpc  # the full comparison (bars) lives in benchmarks/


def test_edge_inputs(model):
    assert model.suggest("anything", "") == model.mpc_.suggest("", 10)
    assert model.suggest("", "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzqq") == []
    long = "a" * 10000
    assert normalize_prefix(long) == "a" * MAX_CHARS
    assert isinstance(model.suggest(long, long), list)
    out = model.suggest("weather\x00\x07", "goo\x1b\tgle ")
    assert all(s.startswith("goo gle ") for s in out)
    assert isinstance(model.suggest("\udcff broken", "ca\ufffd"), list)
    with pytest.raises(Exception, match="positive"):
        model.suggest("a", "b", k=0)


@pytest.mark.parametrize("index", ["trie", "kmeans-text", "kmeans-pifa"])
def test_every_index_trains_and_filters(data, index):
    (p, x, t), (tp, tx, tt) = data
    m = SessionAutocomplete(index=index, trie_depth=2, max_leaf_size=50).fit(p[:8000], x[:8000], t[:8000])
    for prev, prefix in zip(tp[:100], tx[:100]):
        assert all(s.startswith(normalize_prefix(prefix)) for s in m.suggest(prev, prefix))


def test_constrained_decoding_matches_exhaustive_prefix_ranking(model, data):
    """Constrained beam search (full beam) returns the best-scoring labels among exactly those with the prefix:
    checked against exhaustive path scores of every label, filtered by brute-force startswith."""
    _, (p, x, t) = data
    xr = model.xr_
    full = max(xr.tree_.level_size(j) for j in range(xr.tree_.depth + 1))
    for prev, prefix in list(zip(p, x))[:40]:
        q, pre = normalize_prefix(prev).strip(), normalize_prefix(prefix)
        allowed = model.matching_labels(pre)
        assert sorted(allowed.tolist()) == [i for i, s in enumerate(model.labels_) if s.startswith(pre)]
        idx, val = model.vectorizer_.transform_one(q, pre)
        ids, sc = xr.predict_one(idx, val, k=10, beam_size=full, allowed=allowed)
        row = model.vectorizer_.transform([q], [pre])
        S = xr.decision_function_exhaustive(row)[0]
        ref = np.sort(S[allowed])[::-1][:10]
        assert np.allclose(sc, ref, rtol=1e-4, atol=1e-6)


def test_save_load_round_trip(model, data, tmp_path):
    _, (p, x, t) = data
    folder = model.save(tmp_path / "ac")
    back = SessionAutocomplete.load(folder)
    assert back.config == model.config and back.labels_ == model.labels_
    for prev, prefix in list(zip(p, x))[:200]:
        assert back.suggest(prev, prefix) == model.suggest(prev, prefix)
    assert back.suggest("", "") == model.suggest("", "")


def test_corrupt_or_missing_model_is_a_clear_error(model, tmp_path):
    with pytest.raises(ModelError):
        SessionAutocomplete.load(tmp_path / "nothing")
    folder = model.save(tmp_path / "ac")
    (folder / "autocomplete.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ModelError):
        SessionAutocomplete.load(folder)
    with pytest.raises(ModelError, match="not fitted"):
        SessionAutocomplete().save(tmp_path / "x")
    assert not (tmp_path / "x").exists()

"""Position-weighted character TF against a hand-computed example; the session vectoriser's paths agree."""

from __future__ import annotations

import math

import numpy as np
import pytest

from polymodal.autocomplete.features import PositionWeightedCharTfidf, SessionVectorizer, position_weighted_ngrams


def test_position_weights_by_hand():
    got = position_weighted_ngrams("abab", 1, 2)
    assert got == pytest.approx({"a": 1 + 1 / 3, "b": 1 / 2 + 1 / 4, "ab": 1 + 1 / 3, "ba": 1 / 2})
    got3 = position_weighted_ngrams("go", 1, 3)
    assert got3 == pytest.approx({"g": 1.0, "go": 1.0, "o": 0.5})


def test_tfidf_values_by_hand():
    corpus = ["ab", "b", "abc"]
    v = PositionWeightedCharTfidf((1, 1)).fit(corpus)
    n = len(corpus)
    idf = {g: math.log((1 + n) / (1 + df)) + 1 for g, df in {"a": 2, "b": 3, "c": 1}.items()}
    row = v.transform(["ab"]).toarray()[0]
    raw = {"a": 1.0 * idf["a"], "b": 0.5 * idf["b"]}
    norm = math.sqrt(sum(x * x for x in raw.values()))
    for g, x in raw.items():
        assert row[v.vocab_[g]] == pytest.approx(x / norm, rel=1e-6)
    assert row[v.vocab_["c"]] == 0


def test_session_vectorizer_one_equals_batch():
    prev = ["cheap flights", "ebay", "weather boston", "google"]
    prefix = ["ch", "ebay mo", "w", "g"]
    sv = SessionVectorizer().fit(prev, prefix)
    X = sv.transform(prev, prefix)
    for i in range(len(prev)):
        c, v = sv.transform_one(prev[i], prefix[i])
        assert np.array_equal(c, X[i].indices)
        assert np.allclose(v, X[i].data, atol=1e-6)
    norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())
    assert np.allclose(norms, 1.0, atol=1e-5)

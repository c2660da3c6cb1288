"""The vectoriser reproduces scikit-learn's TF-IDF blocks exactly, and its one-query path equals the batch path."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize

from polymodal.xmr.features import BlockConfig, TextVectorizer, VectorizerConfig, char_wb_ngrams, word_ngrams


@pytest.fixture(scope="module")
def texts(debian_depends):
    return debian_depends.train_texts[:3000], debian_depends.test_texts[:500]


def _sk(kind, ngram, min_df):
    pattern = {"token_pattern": r"(?u)\b\w+\b"} if kind == "word" else {}
    return TfidfVectorizer(analyzer=kind, ngram_range=ngram, min_df=min_df, sublinear_tf=True,
                           dtype=np.float32, **pattern)


def test_analyzers_match_sklearn(texts):
    w = _sk("word", (1, 3), 1).build_analyzer()
    c = _sk("char_wb", (1, 5), 1).build_analyzer()
    for t in texts[0][:300] + ["a", "ab cd", "x  y\tz", "C++ g++ 3.14"]:
        assert word_ngrams(t.lower(), 1, 3) == w(t)
        assert char_wb_ngrams(t.lower(), 1, 5) == c(t)


def test_stacked_blocks_equal_sklearn(texts):
    train, test = texts
    cfg = VectorizerConfig([BlockConfig("word", (1, 2), 1), BlockConfig("char_wb", (2, 4), 2)])
    ours = TextVectorizer(cfg)
    X = ours.fit_transform(train)
    Xt = ours.transform(test)
    a, b = _sk("word", (1, 2), 1), _sk("char_wb", (2, 4), 2)
    ref = normalize(sp.hstack([a.fit_transform(train), b.fit_transform(train)]).tocsr())
    ref_t = normalize(sp.hstack([a.transform(test), b.transform(test)]).tocsr())
    perm = np.array([a.vocabulary_[s] for s in ours.blocks_[0].strings]
                    + [len(a.vocabulary_) + b.vocabulary_[s] for s in ours.blocks_[1].strings])
    assert X.shape == ref.shape and X.dtype == np.float32
    assert abs(ref[:, perm] - X).max() < 1e-6
    assert abs(ref_t[:, perm] - Xt).max() < 1e-6
    norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())
    assert np.allclose(norms[norms > 0], 1.0, atol=1e-5)


def test_transform_one_equals_batch(texts):
    vec = TextVectorizer().fit(texts[0])
    for t in texts[1][:200] + ["zzzzqqq unseenword"]:
        cols, vals = vec.transform_one(t)
        row = vec.transform([t])
        assert np.array_equal(cols, row.indices)
        assert np.allclose(vals, row.data, atol=1e-6)


def test_unknown_text_gives_empty_row(texts):
    vec = TextVectorizer().fit(texts[0])
    cols, vals = vec.transform_one("\u4e2d\u6587")
    assert len(cols) == 0 and len(vals) == 0
    assert vec.transform(["\u4e2d\u6587"]).nnz == 0


def test_state_round_trip(texts):
    vec = TextVectorizer().fit(texts[0])
    back = TextVectorizer.from_state(vec.config, vec.state())
    assert abs(back.transform(texts[1]) - vec.transform(texts[1])).max() == 0


def test_transform_one_equals_batch_with_mixed_block_settings(texts):
    cfg = VectorizerConfig([BlockConfig("word", (1, 3), 1, sublinear_tf=False, use_idf=False),
                            BlockConfig("char_wb", (3, 3), 1, sublinear_tf=True),
                            BlockConfig("word", (1, 1), 2, sublinear_tf=False)])
    vec = TextVectorizer(cfg).fit(texts[0])
    for t in texts[1][:100] + ["aaa aaa aaa bbb", "zzzzqqq", "x"]:
        cols, vals = vec.transform_one(t)
        row = vec.transform([t])
        assert np.array_equal(cols, row.indices)
        assert np.allclose(vals, row.data, atol=1e-6)


def test_batch_whose_last_texts_have_no_known_feature(texts):
    """A batch ending in texts with no known n-gram (in a block or in all) gives empty rows, not a crash; the
    other rows equal their one-at-a-time vectors."""
    vec = TextVectorizer().fit(texts[0])
    batch = [texts[1][0], "\u4e00\u4e01", texts[1][1], "\u4e00\u4e01", "\u4e01\u4e01\u4e01"]
    M = vec.transform(batch)
    assert [M[i].nnz for i in (1, 3, 4)] == [0, 0, 0]
    for i in (0, 2):
        idx, val = vec.transform_one(batch[i])
        assert np.array_equal(M[i].indices, idx) and np.allclose(M[i].data, val)
        assert np.isclose(np.linalg.norm(M[i].data), 1.0)

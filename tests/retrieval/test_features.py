"""The paper's feature sets: each block equals scikit-learn's (Count/Tfidf) vectoriser with the same settings."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize

from polymodal.errors import InputError
from polymodal.retrieval.features import FEATURE_SETS, feature_config
from polymodal.xmr.features import TextVectorizer


@pytest.fixture(scope="module")
def toys():
    from polymodal.datasets import build_text_dataset

    ds = build_text_dataset("amazon-toys-category")
    return ds.train_texts[:2000], ds.test_texts[:300]


def _reference(name):
    word = {"token_pattern": r"(?u)\b\w+\b"}
    return {
        "word": [TfidfVectorizer(ngram_range=(1, 3), use_idf=False, sublinear_tf=True, **word)],
        "char": [TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 3), use_idf=False, sublinear_tf=True)],
        "tfidf": [TfidfVectorizer(ngram_range=(1, 1), use_idf=True, sublinear_tf=True, **word)],
    }[name]


@pytest.mark.parametrize("name", ["word", "char", "tfidf", "all"])
def test_feature_sets_equal_sklearn(toys, name):
    train, test = toys
    ours = TextVectorizer(feature_config(name))
    X, Xt = ours.fit_transform(train), ours.transform(test)
    refs = [r for part in (["word", "char", "tfidf"] if name == "all" else [name]) for r in _reference(part)]
    ref = normalize(sp.hstack([r.fit_transform(train) for r in refs]).tocsr())
    ref_t = normalize(sp.hstack([r.transform(test) for r in refs]).tocsr())
    offsets = np.cumsum([0] + [len(r.vocabulary_) for r in refs])
    perm = np.concatenate([[off + r.vocabulary_[s] for s in b.strings]
                           for r, b, off in zip(refs, ours.blocks_, offsets)])
    assert X.shape == ref.shape
    assert abs(ref[:, perm] - X).max() < 1e-5
    assert abs(ref_t[:, perm] - Xt).max() < 1e-5


def test_word_and_char_blocks_have_no_idf(toys):
    vec = TextVectorizer(feature_config("word")).fit(toys[0])
    assert np.all(vec.blocks_[0].idf == 1.0)
    vec = TextVectorizer(feature_config("tfidf")).fit(toys[0])
    assert vec.blocks_[0].idf.min() >= 1.0 and vec.blocks_[0].idf.max() > 2.0


def test_unknown_feature_set_is_an_input_error():
    with pytest.raises(InputError, match="unknown feature set"):
        feature_config("bigram")
    assert set(FEATURE_SETS) == {"word", "char", "tfidf", "all", "default"}


def test_feature_config_is_a_copy():
    cfg = feature_config("all")
    cfg.blocks[0].min_df = 5
    assert FEATURE_SETS["all"][0].min_df == 1

"""Baselines against brute force: popularity, BM25 (Lucene formula), dense kNN voting, helpers."""

from __future__ import annotations

import math
import zlib
from collections import Counter

import numpy as np
import pytest
import scipy.sparse as sp

from polymodal.errors import InputError
from polymodal.retrieval.base import distinct_query_clicks
from polymodal.retrieval.bm25 import BM25Retriever, tokenize
from polymodal.retrieval.dense import DenseRetriever
from polymodal.retrieval.popularity import PopularityRetriever
from polymodal.xmr.metrics import topk_with_scores


@pytest.fixture(scope="module")
def clicks():
    """A real slice of aol-clicks: 6000 training rows, 300 test rows, items re-indexed."""
    from polymodal.datasets import build_text_dataset

    ds = build_text_dataset("aol-clicks")
    tr_t, tr_y = ds.train_texts[:6000], ds.train_labels[:6000]
    used = sorted({c for ls in tr_y for c in ls})
    remap = {c: i for i, c in enumerate(used)}
    tr_y = [[remap[c] for c in ls] for ls in tr_y]
    te = [(t, [remap[c] for c in ls if c in remap]) for t, ls in zip(ds.test_texts, ds.test_labels)]
    te = [x for x in te if x[1]][:300]
    return tr_t, tr_y, [t for t, _ in te], [y for _, y in te], len(used)


def test_popularity_is_the_click_count_order(clicks):
    tr_t, tr_y, te_t, _, n = clicks
    counts = Counter(c for ls in tr_y for c in ls)
    ids, scores = PopularityRetriever().fit(tr_t, tr_y, n).predict(te_t[:3], k=20)
    expect = sorted(counts, key=lambda c: (-counts[c], c))[:20]
    assert (ids == np.array(expect)).all()
    assert scores[0].tolist() == [counts[c] for c in expect]


def test_distinct_query_clicks_counts_by_brute_force(clicks):
    tr_t, tr_y, _, _, n = clicks
    queries, C = distinct_query_clicks(tr_t, tr_y, n)
    assert len(queries) == len(set(tr_t)) and C.shape == (len(queries), n)
    pos = {q: i for i, q in enumerate(queries)}
    expect = Counter((pos[t], c) for t, ls in zip(tr_t, tr_y) for c in ls)
    Cc = C.tocoo()
    assert dict(zip(zip(Cc.row.tolist(), Cc.col.tolist()), Cc.data.tolist())) == expect


def test_topk_with_scores_matches_a_dense_sort():
    rng = np.random.default_rng(0)
    S = sp.random(50, 40, density=0.2, format="csr", random_state=rng)
    ids, scores = topk_with_scores(S, 7)
    D = S.toarray()
    for i in range(50):
        nz = np.flatnonzero(D[i])
        order = nz[np.lexsort((nz, -D[i, nz]))][:7]
        assert ids[i, : len(order)].tolist() == order.tolist()
        assert (ids[i, len(order):] == -1).all()
        assert np.allclose(scores[i, : len(order)], D[i, order])


def _bm25_brute(docs, query, k1=1.5, b=0.75):
    """Lucene's BM25 (since Lucene 8 without the constant (k1 + 1) numerator factor, which ranks the same)."""
    N = len(docs)
    avgdl = sum(len(d) for d in docs) / N
    df = Counter(t for d in docs for t in set(d))
    out = np.zeros(N)
    for j, d in enumerate(docs):
        tf = Counter(d)
        for t in set(query):  # bm25s scores each distinct query token once
            if tf[t]:
                idf = math.log(1 + (N - df[t] + 0.5) / (df[t] + 0.5))
                out[j] += idf * tf[t] / (tf[t] + k1 * (1 - b + b * len(d) / avgdl))
    return out


def test_bm25_equals_the_lucene_formula(clicks):
    tr_t, tr_y, te_t, _, n = clicks
    docs = [[] for _ in range(n)]
    for t, ls in zip(tr_t, tr_y):
        for c in ls:
            docs[c].extend(tokenize(t))
    bm = BM25Retriever().fit(tr_t, tr_y, n)
    ids, scores = bm.predict(te_t[:40], k=5)
    for q, row, sc in zip(te_t[:40], ids, scores):
        ref = _bm25_brute(docs, tokenize(q))
        top = np.sort(ref)[::-1][:5]
        kept = row >= 0
        assert np.allclose(sc[kept], top[: kept.sum()], rtol=1e-4)
        assert np.allclose(ref[row[kept]], sc[kept], rtol=1e-4)
        assert (top[kept.sum():] == 0).all()  # -1 only where nothing else matched


class CharEncoder:
    """A deterministic stand-in for MiniLM: L2-normalised character-trigram counts (hashed to 64 dims)."""

    def encode(self, texts, **_):
        E = np.zeros((len(texts), 64), np.float32)
        for i, t in enumerate(texts):
            for j in range(len(t) - 2):
                E[i, zlib.crc32(t[j : j + 3].encode()) % 64] += 1
            E[i] /= max(np.linalg.norm(E[i]), 1e-9)
        return E


def test_dense_knn_vote_equals_brute_force(clicks):
    tr_t, tr_y, te_t, _, n = clicks
    enc = CharEncoder()
    d = DenseRetriever(neighbours=8, encoder=enc).fit(tr_t, tr_y, n)
    queries, C = distinct_query_clicks(tr_t, tr_y, n)
    E = enc.encode(queries)
    ids, scores = d.predict(te_t[:20], k=5)
    chosen, _ = d.neighbours_of(enc.encode(te_t[:20]))
    for q, row, sc, nb in zip(te_t[:20], ids, scores, chosen):
        s = E @ enc.encode([q])[0]
        # the chosen neighbours are a top-8 by brute force (ties at the boundary may pick either query)
        assert np.allclose(np.sort(s[nb])[::-1], np.sort(s)[::-1][:8], atol=1e-6)
        vote = np.zeros(n)
        for j in nb:
            vote[C[j].indices] += max(s[j], 0)
        kept = row >= 0
        assert np.allclose(sc[kept], np.sort(vote)[::-1][: kept.sum()], atol=1e-5)
        assert np.allclose(vote[row[kept]], sc[kept], atol=1e-5)


def test_dense_hnsw_finds_the_exact_neighbours_on_a_small_set(clicks):
    pytest.importorskip("hnswlib")
    tr_t, tr_y, te_t, _, n = clicks
    exact = DenseRetriever(neighbours=10, encoder=CharEncoder()).fit(tr_t, tr_y, n)
    approx = DenseRetriever(neighbours=10, search="hnsw", encoder=CharEncoder()).fit(tr_t, tr_y, n)
    Q = CharEncoder().encode(te_t[:100])
    a, _ = exact.neighbours_of(Q)
    b, _ = approx.neighbours_of(Q)
    overlap = np.mean([len(set(x) & set(y)) / 10 for x, y in zip(a, b)])
    assert overlap > 0.95


def test_minilm_embeddings_are_semantic():
    pytest.importorskip("sentence_transformers")
    from polymodal.retrieval.dense import load_minilm

    E = DenseRetriever(encoder=load_minilm()).encode(["cheap flights to paris", "low cost airfare paris",
                                                      "chocolate cake recipe"])
    assert E.shape == (3, 384) and np.allclose(np.linalg.norm(E, axis=1), 1, atol=1e-5)
    assert E[0] @ E[1] > 0.5 > E[0] @ E[2]


def test_bad_training_input():
    with pytest.raises(InputError):
        PopularityRetriever().fit(["a", "b"], [[0]])
    with pytest.raises(InputError):
        BM25Retriever().fit([], [])
    with pytest.raises(InputError):
        PopularityRetriever().fit(["a"], [[5]], n_items=3)
    with pytest.raises(InputError):
        DenseRetriever(search="ivf")

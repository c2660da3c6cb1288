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

import bisect
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .. import __version__
from ..checks import MAX_BEAM, MAX_K, MAX_THREADS, check_float, check_int
from ..errors import InputError, ModelError
from ..modelio import atomic_dir, dataclass_from_dict, load_arrays, read_config, save_arrays, write_config
from ..xmr.metrics import labels_to_csr
from ..xmr.model import ARRAYS_FILE, XRLinear, XRLinearConfig
from ..xmr.strings import decode_strings, encode_strings
from .features import SessionFeatureConfig, SessionVectorizer
from .indexers import hybrid_tree, trie_tree
from .mpc import MostPopularCompletion

INDEXES = ("kmeans-pifa", "kmeans-text", "trie", "hybrid")
DECODES = ("constrained", "filter")
FORMAT = "polymodal.autocomplete"
FORMAT_VERSION = 1
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
    decode: str = "constrained"

    def __post_init__(self):
        if self.index not in INDEXES:
            raise InputError(f"index must be one of {INDEXES}, got {self.index!r}")
        if self.decode not in DECODES:
            raise InputError(f"decode must be one of {DECODES}, got {self.decode!r}")
        check_int("trie_depth", self.trie_depth, 1, 64)
        check_int("pool", self.pool, 1, MAX_K)
        check_int("beam_size", self.beam_size, 1, MAX_BEAM)
        check_int("nr_splits", self.nr_splits, 2, 2**16)
        check_int("max_leaf_size", self.max_leaf_size, 1, 2**31 - 1)
        check_float("threshold", self.threshold, 0.0, 1e6)
        check_int("seed", self.seed, 0, 2**32 - 1)
        check_int("threads", self.threads, 0, MAX_THREADS)
        if not isinstance(self.use_prev, bool):
            raise InputError(f"use_prev must be true or false, got {self.use_prev!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> AutocompleteConfig:
        return dataclass_from_dict(cls, d, "autocomplete")


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
        counts = Counter(targets)
        self.labels_ = sorted(counts, key=lambda q: (-counts[q], q))
        self.label_counts_ = np.array([counts[q] for q in self.labels_], dtype=np.int64)
        index = {q: i for i, q in enumerate(self.labels_)}
        self.vectorizer_ = SessionVectorizer(SessionFeatureConfig(use_prev=cfg.use_prev)).fit(prev, prefix)
        X = self.vectorizer_.transform(prev, prefix)
        Y = labels_to_csr([[index[t]] for t in targets], len(self.labels_))
        xr_cfg = XRLinearConfig(nr_splits=cfg.nr_splits, max_leaf_size=cfg.max_leaf_size, threshold=cfg.threshold,
                                beam_size=cfg.beam_size, seed=cfg.seed, threads=cfg.threads)
        tree = self._tree(xr_cfg)
        self.xr_ = XRLinear(xr_cfg).fit(X, Y, tree=tree, progress=progress)
        self._index_labels()
        return self

    def _index_labels(self):
        self.mpc_ = MostPopularCompletion(k=10).fit(self.labels_, self.label_counts_)
        order = sorted(range(len(self.labels_)), key=self.labels_.__getitem__)
        self._sorted = [self.labels_[i] for i in order]  # a list: a numpy str array would pad every label
        self._sorted_ids = np.array(order, dtype=np.int64)

    def matching_labels(self, prefix: str) -> np.ndarray:
        """Ids of the labels that start with ``prefix`` (a contiguous range of the sorted labels)."""
        lo = bisect.bisect_left(self._sorted, prefix)
        hi = bisect.bisect_left(self._sorted, prefix + "\U0010ffff", lo)
        return self._sorted_ids[lo:hi]

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
        if self.config.decode == "constrained":
            ids, _ = self.xr_.predict_one(idx, val, k=k, beam_size=self.config.beam_size,
                                          allowed=self.matching_labels(prefix))
            return [self.labels_[i] for i in ids]
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


    # ------------------------------------------------------------------ persistence
    def save(self, folder: str | Path) -> Path:
        if not hasattr(self, "xr_"):
            raise ModelError("this autocomplete model is not fitted")
        with atomic_dir(folder) as tmp:
            write_config(tmp, {
                "format": FORMAT, "format_version": FORMAT_VERSION, "polymodal_version": __version__,
                "autocomplete": self.config.to_dict(), "features": self.vectorizer_.config.to_dict(),
                "xr_linear": self.xr_._config_dict(),
            })
            save_arrays(tmp / ARRAYS_FILE, self.xr_.arrays())
            data, offsets = encode_strings(self.labels_)
            save_arrays(tmp / "autocomplete.safetensors", {
                **self.vectorizer_.state(), "labels.bytes": data, "labels.offsets": offsets,
                "labels.counts": self.label_counts_})
        return Path(folder)

    @classmethod
    def load(cls, folder: str | Path) -> SessionAutocomplete:
        cfg = read_config(folder, FORMAT, FORMAT_VERSION)
        folder = Path(folder)
        try:
            self = cls(AutocompleteConfig.from_dict(cfg["autocomplete"]))
            self.xr_ = XRLinear._from_parts(cfg["xr_linear"], folder / ARRAYS_FILE, folder)
            arrays = load_arrays(folder / "autocomplete.safetensors")
            self.vectorizer_ = SessionVectorizer.from_state(SessionFeatureConfig.from_dict(cfg["features"]), arrays)
            self.labels_ = decode_strings(arrays["labels.bytes"], arrays["labels.offsets"])
            self.label_counts_ = np.asarray(arrays["labels.counts"], dtype=np.int64)
        except ModelError:
            raise
        except (KeyError, ValueError, TypeError, UnicodeDecodeError, InputError) as exc:
            raise ModelError(f"{folder}: invalid autocomplete model: {exc}") from None
        if self.vectorizer_.n_features_ != self.xr_.n_features_in_:
            raise ModelError(f"{folder}: vectoriser has {self.vectorizer_.n_features_} features, "
                             f"matcher expects {self.xr_.n_features_in_}")
        if not (len(self.labels_) == len(self.label_counts_) == self.xr_.n_labels_):
            raise ModelError(f"{folder}: {len(self.labels_)} labels / {len(self.label_counts_)} counts for "
                             f"{self.xr_.n_labels_} matcher labels")
        self._index_labels()
        return self


def mrr_at_k(suggestions: Sequence[Sequence[str]], targets: Sequence[str], k: int = 10) -> float:
    """Mean reciprocal rank of the exact target among the first k suggestions (0 when absent)."""
    rr = []
    for sug, t in zip(suggestions, targets):
        r = next((j for j, s in enumerate(sug[:k]) if s == t), None)
        rr.append(0.0 if r is None else 1.0 / (r + 1))
    return float(np.mean(rr)) if rr else 0.0

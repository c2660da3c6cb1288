"""``XRLinear``: the XR-Linear extreme multi-label ranker as a scikit-learn-style estimator.

``fit(X, Y)`` indexes labels (PIFA + balanced hierarchical k-means, or a given :class:`ClusterTree`), then trains
one level of one-vs-rest linear classifiers per tree level (see :mod:`.trainer`); ``predict(X, k)`` runs beam
search (see :mod:`.beam`). Fitted attributes end in ``_``. Defaults follow PECOS's XR-Linear.
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from .. import __version__
from ..checks import MAX_BEAM, MAX_K, MAX_THREADS, check_choice, check_float, check_int
from ..errors import InputError, ModelError
from ..modelio import atomic_dir, dataclass_from_dict, load_arrays, map_arrays, read_config, save_arrays, write_config
from . import beam as _beam
from .chunked import LAYOUTS, ChunkedWeights, LevelPart, assemble, tree_child_type
from .indexer import IndexerConfig, hierarchical_kmeans, pifa
from .parallel import resolve_threads, thread_map
from .solver import LOSSES
from .trainer import train_level
from .tree import ClusterTree

FORMAT = "polymodal.xr-linear"
FORMAT_VERSION = 1
ARRAYS_FILE = "xr_linear.safetensors"
NEGATIVES = ("tfn", "man", "tfn+man")


@dataclass
class XRLinearConfig:
    # label indexing
    nr_splits: int = 16
    max_leaf_size: int = 100
    kmeans_max_iter: int = 20
    seed: int = 0
    # matchers/rankers
    loss: str = "squared-hinge"
    Cp: float = 1.0
    Cn: float = 1.0
    bias: float = 1.0
    eps: float = 0.1
    max_iter: int = 100
    threshold: float = 0.1
    negatives: str = "tfn"
    # inference
    beam_size: int = 10
    topk: int = 10
    post_processor: str = "l3-hinge"
    threads: int = 0  # 0 = all cores

    def __post_init__(self):
        check_choice("loss", self.loss, sorted(LOSSES))
        check_choice("negatives", self.negatives, NEGATIVES)
        check_choice("post_processor", self.post_processor, sorted(_beam.POST))
        for name in ("Cp", "Cn"):
            check_float(name, getattr(self, name), 0.0, 1e6, lo_open=True)
        check_float("eps", self.eps, 0.0, 1e3, lo_open=True)
        check_float("threshold", self.threshold, 0.0, 1e6)
        check_float("bias", self.bias, 0.0, 1e6)
        check_int("beam_size", self.beam_size, 1, MAX_BEAM)
        check_int("topk", self.topk, 1, MAX_K)
        check_int("max_iter", self.max_iter, 1, 1_000_000)
        check_int("kmeans_max_iter", self.kmeans_max_iter, 0, 100_000)
        check_int("max_leaf_size", self.max_leaf_size, 1, 2**31 - 1)
        check_int("nr_splits", self.nr_splits, 2, 2**16)
        check_int("seed", self.seed, 0, 2**32 - 1)
        check_int("threads", self.threads, 0, MAX_THREADS)
        try:
            self.indexer_config()
        except ValueError as exc:
            raise InputError(str(exc)) from None

    def indexer_config(self) -> IndexerConfig:
        return IndexerConfig(self.nr_splits, self.max_leaf_size, self.kmeans_max_iter, self.seed)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> XRLinearConfig:
        return dataclass_from_dict(cls, d, "XR-Linear")


def as_features(X, n_features: int | None = None, name: str = "X") -> sp.csr_matrix:
    """float32 CSR with sorted indices; dense or float64 input is converted, not rejected."""
    if sp.issparse(X):
        X = sp.csr_matrix(X, dtype=np.float32)
    else:
        X = np.asarray(X)
        if X.ndim != 2:
            raise InputError(f"{name} must be 2-D, got shape {X.shape}")
        X = sp.csr_matrix(X.astype(np.float32, copy=False))
    if not X.has_sorted_indices:
        X = X.copy()
        X.sort_indices()
    if X.nnz and not np.all(np.isfinite(X.data)):
        raise InputError(f"{name} has NaN or infinite values")
    if n_features is not None and X.shape[1] != n_features:
        raise InputError(f"{name} has {X.shape[1]} features, the model expects {n_features}")
    return X


def as_labels(Y, n_rows: int) -> sp.csr_matrix:
    if isinstance(Y, list | tuple) and (len(Y) == 0 or not np.isscalar(Y[0])):
        if len(Y) != n_rows:
            raise InputError(f"{len(Y)} label lists for {n_rows} rows")
        lens = [len(y) for y in Y]
        cols = np.fromiter((c for y in Y for c in y), dtype=np.int64, count=sum(lens))
        if len(cols) and cols.min() < 0:
            raise InputError("label ids must be >= 0")
        n_labels = int(cols.max()) + 1 if len(cols) else 0
        rows = np.repeat(np.arange(n_rows), lens)
        Y = sp.csr_matrix((np.ones(len(cols), np.float32), (rows, cols)), shape=(n_rows, n_labels))
    Y = sp.csr_matrix(Y, dtype=np.float32)
    if Y.shape[0] != n_rows:
        raise InputError(f"Y has {Y.shape[0]} rows, X has {n_rows}")
    Y.sum_duplicates()
    Y.data[:] = 1.0
    Y.eliminate_zeros()
    return Y


_NO_MASK = np.zeros(0, np.uint8)
_NO_OFFSETS = np.zeros(1, np.int64)


class XRLinear:
    """XR-Linear extreme multi-label ranker. ``XRLinear(beam_size=20)`` overrides config fields."""

    def __init__(self, config: XRLinearConfig | None = None, **overrides):
        base = asdict(config) if config is not None else {}
        base.update(overrides)
        self.config = XRLinearConfig(**base)

    # ------------------------------------------------------------------ training
    def fit(self, X, Y, tree: ClusterTree | None = None, progress: bool = False) -> XRLinear:
        cfg = self.config
        X = as_features(X)
        Y = as_labels(Y, X.shape[0])
        if X.shape[0] == 0:
            raise InputError("no training examples")
        if Y.shape[1] == 0:
            raise InputError("no labels")
        threads = resolve_threads(cfg.threads)
        if tree is None:
            tree = hierarchical_kmeans(pifa(X, Y), cfg.indexer_config(), threads)
        elif tree.n_labels != Y.shape[1]:
            raise InputError(f"tree has {tree.n_labels} labels, Y has {Y.shape[1]}")
        n, d = X.shape
        # label matrices per level in slot order: Ys[t] is n x K_t (t = 1..depth), CSC
        Ys: list[sp.csc_matrix | None] = [None] * (tree.depth + 1)
        Ys[tree.depth] = sp.csc_matrix(Y[:, tree.label_perm])
        for t in range(tree.depth - 1, 0, -1):
            par = tree.parents(t + 1)
            M = sp.csr_matrix((np.ones(len(par), np.float32), (np.arange(len(par)), par)),
                              shape=(len(par), tree.level_size(t)))
            Yt = sp.csc_matrix(Ys[t + 1] @ M)
            Yt.data[:] = 1.0
            Ys[t] = Yt
        parts: list[LevelPart] = []  # each parent is packed for beam search as soon as it is trained
        child_type = tree_child_type(tree)
        total = sum(tree.level_size(t) for t in range(1, tree.depth + 1))
        with _progress_bar(progress, "training", total) as advance:
            for t in range(1, tree.depth + 1):
                active = self._active_sets(X, Ys[t - 1], parts, t, threads)
                Ys[t - 1] = None
                parts.append(train_level(
                    X, Ys[t], active, tree.ptrs[t - 1], bias=cfg.bias, Cp=cfg.Cp, Cn=cfg.Cn,
                    loss=LOSSES[cfg.loss], eps=cfg.eps, max_iter=cfg.max_iter, threshold=cfg.threshold,
                    seed=cfg.seed, threads=threads, child_type=child_type, progress=advance,
                ))
                del active
        del Ys
        self.tree_ = tree
        self.weights_ = assemble(parts)
        del parts
        self.n_features_in_ = d
        self.n_labels_ = Y.shape[1]
        self.n_train_ = n
        self.label_counts_ = np.bincount(Y.indices, minlength=Y.shape[1]).astype(np.int64)
        self._max_children = self.weights_.max_children()
        self._anc = None
        return self

    def _active_sets(self, X, Yprev, parts, t: int, threads: int) -> list[np.ndarray]:
        n = X.shape[0]
        if t == 1:
            return [np.arange(n, dtype=np.int64)]
        K = Yprev.shape[1]
        mats = []
        if self.config.negatives in ("tfn", "tfn+man"):
            mats.append(sp.csc_matrix(Yprev))
        if self.config.negatives in ("man", "tfn+man"):
            partial = assemble(parts, consume=False)  # the levels stay for the final model
            nodes, _ = self._search(X, partial, t - 1, self.config.beam_size, threads, self.config.beam_size)
            rows = np.repeat(np.arange(n), nodes.shape[1])
            keep = nodes.ravel() >= 0
            mats.append(sp.csc_matrix((np.ones(keep.sum(), np.float32), (rows[keep], nodes.ravel()[keep])),
                                      shape=(n, K)))
        A = mats[0] if len(mats) == 1 else sp.csc_matrix(mats[0] + mats[1])
        A.sum_duplicates()
        A.sort_indices()
        return [A.indices[A.indptr[p] : A.indptr[p + 1]].astype(np.int64) for p in range(K)]

    # ------------------------------------------------------------------ inference
    def _check_fitted(self):
        if not hasattr(self, "weights_"):
            raise ModelError("this XRLinear model is not fitted")

    def _search(self, X, weights: ChunkedWeights, n_levels, beam, threads, keep_last, post=None):
        post_code = _beam.POST[post or self.config.post_processor]
        n = X.shape[0]
        nodes = np.empty((n, keep_last), dtype=np.int64)
        scores = np.empty((n, keep_last), dtype=np.float32)
        max_children = weights.max_children() if weights is not getattr(self, "weights_", None) \
            else self._max_children
        indptr = X.indptr.astype(np.int64, copy=False)
        w = weights

        def run(rng, _):
            _beam.search_block(indptr, X.indices, X.data, rng[0], rng[1], X.shape[1], self.config.bias,
                               w.coff, w.chunk_ent, w.hash_off, w.hash_mask, w.hash_slots,
                               w.ent_child, w.ent_val, w.child_ptr, n_levels, beam, keep_last,
                               post_code, max_children, w.scratch_width(max_children), nodes, scores)

        # blocks of queries that share chunks in cache; candidate buffers capped near 64 MB per block
        cap = max(16, int(2**26 // (16 * max(beam, keep_last) * max_children)))
        step = max(1, min(512, cap, -(-n // threads)))
        thread_map(run, [(a, min(a + step, n)) for a in range(0, n, step)], threads)
        return nodes, scores

    def _resolve(self, k, beam_size):
        k = self.config.topk if k is None else k
        beam_size = self.config.beam_size if beam_size is None else beam_size
        return check_int("k", k, 1, MAX_K), check_int("beam_size", beam_size, 1, MAX_BEAM)

    def predict(self, X, k: int | None = None, beam_size: int | None = None,
                post_processor: str | None = None, threads: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-k label ids (n x k, -1 where fewer than k labels were reached) and their scores."""
        self._check_fitted()
        k, beam_size = self._resolve(k, beam_size)
        if post_processor is not None and post_processor not in _beam.POST:
            raise InputError(f"post_processor must be one of {sorted(_beam.POST)}")
        X = as_features(X, self.n_features_in_)
        threads = resolve_threads(self.config.threads if threads is None else threads)
        nodes, scores = self._search(X, self.weights_, self.tree_.depth, beam_size, threads, k, post_processor)
        ids = np.where(nodes >= 0, self.tree_.label_perm[np.maximum(nodes, 0)], -1)
        self._check_scores(scores[nodes >= 0])
        return ids, scores

    def predict_one(self, indices: np.ndarray, values: np.ndarray, k: int | None = None,
                    beam_size: int | None = None, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Fast path for one query given as sorted feature ids and values (no scipy, no threads).

        ``allowed``: optional label ids; the beam then only enters nodes with at least one allowed label below
        them, so every result is allowed (constrained beam search, e.g. labels extending a typed prefix)."""
        self._check_fitted()
        k, beam_size = self._resolve(k, beam_size)
        if allowed is None:
            return self._search_one(indices, values, k, beam_size, _NO_MASK, _NO_OFFSETS)
        allowed = np.asarray(allowed, dtype=np.int64)
        if len(allowed) == 0:
            return np.empty(0, np.int64), np.empty(0, np.float32)
        if allowed.min() < 0 or allowed.max() >= self.tree_.n_labels:
            raise InputError(f"allowed label ids must lie in 0..{self.tree_.n_labels - 1}")
        if getattr(self, "_anc", None) is None:
            self._anc, self._aoff = self.tree_.ancestors()
            self._mask = np.zeros(int(self._aoff[-1]), np.uint8)
        nodes = self._anc[:, allowed].ravel()
        self._mask[nodes] = 1
        try:
            return self._search_one(indices, values, k, beam_size, self._mask, self._aoff)
        finally:
            self._mask[nodes] = 0  # the mask buffer is reused: leave it all-zero

    def _search_one(self, indices, values, k, beam_size, allow, aoff):
        nq = len(indices)
        buf = self._one_buffers(k, beam_size)
        if len(buf["q_idx"]) < nq + 1:
            buf["q_idx"] = np.empty(2 * nq + 2, np.int64)
            buf["q_val"] = np.empty(2 * nq + 2, np.float32)
        q_idx, q_val = buf["q_idx"], buf["q_val"]
        q_idx[:nq] = indices
        q_val[:nq] = values
        m = nq
        if self.config.bias > 0:
            q_idx[m] = self.n_features_in_
            q_val[m] = self.config.bias
            m += 1
        w = self.weights_
        cnt = _beam.search_one(q_idx[:m], q_val[:m], w.coff, w.chunk_ent, w.hash_off, w.hash_mask, w.hash_slots,
                               w.ent_child, w.ent_val, w.child_ptr, self.tree_.depth,
                               beam_size, k,
                               _beam.POST[self.config.post_processor], buf["tmp"], buf["cur_n"], buf["cur_s"],
                               buf["flat_n"], buf["flat_s"], allow, aoff)
        scores = buf["cur_s"][:cnt].astype(np.float32)
        self._check_scores(scores)
        return self.tree_.label_perm[buf["cur_n"][:cnt]], scores

    def _check_scores(self, scores: np.ndarray) -> None:
        """A memory-mapped model's weights are not read at load (that is its point), so non-finite weights are
        caught where they would surface: in a score (an in-memory model was checked at load)."""
        if self.weights_.mapped and not np.isfinite(scores).all():
            raise ModelError("the model's weights hold NaN or infinite values (corrupt file?)")

    def _one_buffers(self, k: int, beam_size: int) -> dict:
        width = max(k, beam_size)
        buf = getattr(self, "_buf", None)
        if buf is None or len(buf["cur_n"]) < width:
            buf = {
                "tmp": np.empty(self.weights_.scratch_width(self._max_children), np.float32),
                "cur_n": np.empty(width, np.int64), "cur_s": np.empty(width, np.float64),
                "flat_n": np.empty(width * self._max_children, np.int64),
                "flat_s": np.empty(width * self._max_children, np.float64),
                "q_idx": np.empty(256, np.int64), "q_val": np.empty(256, np.float32),
            }
            self._buf = buf
        return buf

    def decision_function_exhaustive(self, X, post_processor: str | None = None) -> np.ndarray:
        """Dense (n x L) path scores of every label, computed level by level with scipy (for testing and small
        problems): the reference that beam search with an all-covering beam must reproduce."""
        self._check_fitted()
        X = as_features(X, self.n_features_in_)
        post = post_processor or self.config.post_processor
        Xb = sp.hstack([X, sp.csr_matrix(np.full((X.shape[0], 1), self.config.bias, np.float32))]).tocsr()
        parent = np.ones((X.shape[0], 1))
        for t in range(self.tree_.depth):
            s = np.asarray((Xb @ self.weights_.level_matrix(t, self.n_features_in_)).todense(), dtype=np.float64)
            par = parent[:, self.tree_.parents(t + 1)]
            if post == "l3-hinge":
                parent = par * np.exp(-np.maximum(0.0, 1.0 - s) ** 3)
            elif post == "sigmoid":
                parent = par / (1.0 + np.exp(-s))
            else:
                parent = s
        out = np.empty_like(parent)
        out[:, self.tree_.label_perm] = parent
        return out

    # ------------------------------------------------------------------ persistence
    def save(self, folder: str | Path, layout: str = "compact") -> Path:
        """Write the model folder. ``layout="mmap"`` stores the serving arrays (hash tables included) so that
        :meth:`load` memory-maps them: load time and memory no longer grow with the model (a larger file)."""
        self._check_fitted()
        with atomic_dir(folder) as tmp:
            write_config(tmp, self._config_dict(layout))
            save_arrays(tmp / ARRAYS_FILE, self.arrays(layout))
        return Path(folder)

    def arrays(self, layout: str = "compact") -> dict[str, np.ndarray]:
        if layout not in LAYOUTS:
            raise InputError(f"layout must be one of {LAYOUTS}, got {layout!r}")
        out = {**self.tree_.to_arrays(), **self.weights_.to_arrays(layout)}
        if getattr(self, "label_counts_", None) is not None:
            out["labels.train_count"] = self.label_counts_
        return out

    def inverse_propensity(self, A: float = 0.55, B: float = 1.5) -> np.ndarray | None:
        """Jain et al.'s inverse propensity of every label from its training frequency (None for a model saved
        before training counts were kept)."""
        from .metrics import inverse_propensity

        if getattr(self, "label_counts_", None) is None:
            return None
        return inverse_propensity(self.label_counts_, self.n_train_, A, B)

    def _config_dict(self, layout: str = "compact") -> dict:
        return {
            "format": FORMAT, "format_version": FORMAT_VERSION, "polymodal_version": __version__, "layout": layout,
            "config": self.config.to_dict(), "n_features": int(self.n_features_in_),
            "n_labels": int(self.n_labels_), "depth": int(self.tree_.depth), "nnz": int(self.weights_.nnz),
            **({"n_train": int(self.n_train_)} if getattr(self, "n_train_", None) is not None else {}),
        }

    @classmethod
    def load(cls, folder: str | Path, mmap: bool | None = None) -> XRLinear:
        """Load a model folder. A model saved with ``layout="mmap"`` is memory-mapped (``mmap=None`` or True;
        ``mmap=False`` reads it into memory); ``mmap=True`` on a compact model is an error."""
        cfg = read_config(folder, FORMAT, FORMAT_VERSION)
        return cls._from_parts(cfg, Path(folder) / ARRAYS_FILE, folder, mmap)

    @classmethod
    def _from_parts(cls, cfg: dict, arrays_path: Path, folder, mmap: bool | None = None) -> XRLinear:
        layout = cfg.get("layout", "compact")
        if layout not in LAYOUTS:
            raise ModelError(f"{folder}: unknown weight layout {layout!r}")
        if mmap and layout != "mmap":
            raise ModelError(f"{folder}: saved in the compact layout, which cannot be memory-mapped; rewrite it "
                             f"with `polymodal xmr mmap -m {folder}`")
        mapped = layout == "mmap" and mmap is not False
        try:
            self = cls(XRLinearConfig.from_dict(cfg["config"]))
            if mapped:
                arrays = map_arrays(arrays_path)
            elif layout == "mmap":
                arrays = {k: np.array(v) for k, v in map_arrays(arrays_path).items()}
            else:
                arrays = load_arrays(arrays_path)
            self.tree_ = ClusterTree.from_arrays(arrays)
            self.weights_ = ChunkedWeights.from_arrays(arrays)
            self.n_features_in_ = int(cfg["n_features"])
            self.n_labels_ = int(cfg["n_labels"])
            self.n_train_ = int(cfg["n_train"]) if "n_train" in cfg else None
            counts = arrays.get("labels.train_count")
            if counts is not None and (counts.shape != (self.n_labels_,) or self.n_train_ is None):
                raise ValueError("training label counts do not match the labels")
            self.label_counts_ = None if counts is None else np.asarray(counts, dtype=np.int64)
            if self.tree_.n_labels != self.n_labels_:
                raise ValueError("tree and config disagree on the number of labels")
            self.weights_.validate(self.n_features_in_, self.tree_, full=not mapped)
            self._max_children = self.weights_.max_children()
            self._anc = None
        except ModelError:
            raise
        except (KeyError, ValueError, TypeError, InputError) as exc:
            raise ModelError(f"{folder}: invalid model: {exc}") from None
        return self


@contextlib.contextmanager
def _progress_bar(enabled: bool, label: str, total: int):
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=Console(stderr=True), transient=False) as bar:
        task = bar.add_task(label, total=total)
        yield lambda k: bar.advance(task, k)

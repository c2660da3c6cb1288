"""GENERATED extreme multi-label data for scale tests: seeded, sharded, shaped like real XMC data.

Nothing this module writes is real data; every folder it writes says so in ``meta.json`` (``"generated": true``)
and its label names start with ``synth-``. Use it to measure how training and serving grow with the number of
labels and rows; report accuracy only on the real sets.

The model (``docs/xmr.md``, "Generated data"):

1. **Label frequencies** follow a power law in rank: label r (0-based, ids are ranks, as the real builders assign
   ids by descending frequency) occurs ``c_r = max(1, round(C (r + 1)^-a))`` times in the training split, C solved
   so that the counts add up to ``rows x labels_per_row``. The default ``a = 0.88`` is the mean of the exponents
   measured with :func:`rank_frequency_exponent` on aol-clicks (0.81) and debian-depends (0.96)
   (``benchmarks/label_powerlaw.py``). Every label occurs at least once in training.
2. **Latent hierarchy**: labels are dealt at random into topics of ``topic_size`` labels, topics into super-topics
   of ``branching`` topics. A row's labels come from one topic (its occurrences are spread over the topic's rows
   so a label rarely repeats within a row), and a share ``mix`` of all occurrences is then swapped at random
   across rows, so labels co-occur mostly, not only, within their topic.
3. **Feature signatures**: each super-topic, topic and label owns a set of feature ids drawn from a Zipfian
   vocabulary (exponent ``vocab_exponent`` over ``features`` ids), of sizes ``super_words``, ``topic_words`` and
   ``label_words``.
4. **Rows**: every label of a row contributes ``tokens_per_label`` tokens, each from the label's own words, its
   topic's or its super-topic's with probabilities ``p_own``, ``p_topic`` and the rest; plus Poisson(``noise``)
   noise tokens from the whole Zipfian vocabulary. The sparse row is TF-IDF, ``(1 + ln count) * idf`` per
   feature with scikit-learn's smoothed idf of the training rows (a first pass counts document frequencies),
   L2-normalised; the text row is the tokens as pseudo-words (feature id -> syllables, e.g. ``kavobe``).

Test rows draw their label occurrences from the training frequencies (multinomial) through the same steps.
The label sets of all rows are built in memory (4 bytes per label occurrence); features and text are produced
and written one shard of ``shard_rows`` rows at a time, each shard from its own seeded stream, so the rows never
sit in memory together and the output does not depend on how many shards have been written before.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from ..errors import InputError
from ..io import atomic_file, atomic_write_text
from ..modelio import map_arrays, save_arrays

SIZES: dict[str, dict] = {
    "tiny": {"labels": 10_000, "rows": 40_000, "test_rows": 4_000, "features": 30_000},
    "S": {"labels": 100_000, "rows": 500_000, "test_rows": 20_000, "features": 200_000},
    "M": {"labels": 1_000_000, "rows": 1_000_000, "test_rows": 20_000, "features": 1_000_000},
    "L": {"labels": 3_000_000, "rows": 5_000_000, "test_rows": 20_000, "features": 2_000_000},
    # the short bag-of-words regime: few features, many labels per row (Delicious-like shape). Its label law is
    # flatter (a = 0.5): at a = 0.88 with 19 labels per row the head labels sit in every row and P@1 is ~97 for any
    # model; topics of 100 labels (a row holds a fifth of its topic) and mix 0.3 put P@1 in the 40-80 band
    "bow": {"labels": 1_000, "rows": 13_000, "test_rows": 3_000, "features": 500, "labels_per_row": 19.0,
            "exponent": 0.5, "topic_size": 100, "mix": 0.3, "label_words": 4, "topic_words": 8, "super_words": 12,
            "tokens_per_label": 2, "noise": 4.0},
}
# the same regime five times bigger, where the runtime's fixed memory no longer dominates the peak
SIZES["bow-M"] = {**SIZES["bow"], "labels": 5_000, "rows": 65_000, "test_rows": 5_000}

_CONSONANTS = "bdfghjklmnprstvz"
_VOWELS = "aeiou"


@dataclass(frozen=True)
class SynthConfig:
    labels: int = 10_000
    rows: int = 40_000
    test_rows: int = 4_000
    features: int = 30_000
    seed: int = 0
    exponent: float = 0.88
    labels_per_row: float = 3.0
    topic_size: int = 50
    branching: int = 16
    mix: float = 0.1
    vocab_exponent: float = 1.0
    super_words: int = 40
    topic_words: int = 20
    label_words: int = 8
    tokens_per_label: int = 3
    p_own: float = 0.3
    p_topic: float = 0.35
    noise: float = 12.0
    shard_rows: int = 100_000

    def __post_init__(self):
        for name in ("labels", "rows", "features", "topic_size", "branching", "super_words", "topic_words",
                     "label_words", "tokens_per_label", "shard_rows"):
            if int(getattr(self, name)) < 1:
                raise InputError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.test_rows < 0:
            raise InputError(f"test_rows must be >= 0, got {self.test_rows}")
        if self.rows < self.labels / max(self.labels_per_row, 1.0):
            raise InputError(f"{self.rows} rows cannot hold {self.labels} labels at {self.labels_per_row} per row")
        if not self.labels_per_row >= 1:
            raise InputError(f"labels_per_row must be >= 1, got {self.labels_per_row}")
        if not 0 <= self.mix <= 1 or not 0 <= self.p_own <= 1 or not 0 <= self.p_topic <= 1 - self.p_own:
            raise InputError("mix, p_own and p_topic must be probabilities with p_own + p_topic <= 1")
        if not self.exponent > 0 or not self.vocab_exponent >= 0 or not self.noise >= 0:
            raise InputError("exponent must be > 0, vocab_exponent and noise >= 0")
        if self.features > 2**31 - 2 or self.labels > 2**31 - 1:
            raise InputError("features and labels must fit in 32-bit ids")

    @classmethod
    def named(cls, size: str, **overrides) -> SynthConfig:
        if size not in SIZES:
            raise InputError(f"unknown size {size!r}; choose from {sorted(SIZES)}")
        return cls(**{**SIZES[size], **overrides})


# ---------------------------------------------------------------------------------------------- measurements
def rank_frequency_exponent(counts: np.ndarray, min_count: int = 3) -> float:
    """The power-law exponent a of ``count ~ rank^-a``: least-squares slope of log(count) on log(rank) over the
    labels occurring at least ``min_count`` times (below that the integer floor flattens every real set)."""
    c = np.sort(np.asarray(counts))[::-1]
    r = np.arange(1, len(c) + 1)
    keep = c >= min_count
    if keep.sum() < 3:
        raise InputError(f"fewer than 3 labels occur {min_count} or more times")
    return float(-np.polyfit(np.log(r[keep]), np.log(c[keep]), 1)[0])


# ---------------------------------------------------------------------------------------------- label sets
def label_counts(labels: int, total: int, exponent: float) -> np.ndarray:
    """``max(1, round(C (r+1)^-a))`` for r < labels, with C found by bisection so the sum is ``total``
    (at least ``labels``)."""
    base = np.arange(1, labels + 1, dtype=np.float64) ** -exponent
    total = max(total, labels)

    def s(C):
        return int(np.maximum(1, np.rint(C * base)).sum())

    lo, hi = 0.0, float(total)
    while s(hi) < total:
        hi *= 2
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        if s(mid) < total:
            lo = mid
        else:
            hi = mid
    return np.maximum(1, np.rint(hi * base)).astype(np.int64)


@dataclass
class LabelModel:
    """The label side of the generator: topics, super-topics and each one's feature signature."""

    topic: np.ndarray  # (L,) topic of each label
    super_words: np.ndarray  # (S, super_words)
    topic_words: np.ndarray  # (G, topic_words)
    label_words: np.ndarray  # (L, label_words)
    vocab_cdf: np.ndarray  # (D,) cumulative Zipf probabilities for noise tokens

    @property
    def n_topics(self) -> int:
        return len(self.topic_words)


def _zipf_cdf(n: int, exponent: float) -> np.ndarray:
    p = np.arange(1, n + 1, dtype=np.float64) ** -exponent
    cdf = np.cumsum(p)
    return cdf / cdf[-1]


def _draw(rng, cdf: np.ndarray, size) -> np.ndarray:
    return np.minimum(np.searchsorted(cdf, rng.random(size), side="right"), len(cdf) - 1).astype(np.int32)


def label_model(cfg: SynthConfig) -> LabelModel:
    rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 1]))
    L = cfg.labels
    G = -(-L // cfg.topic_size)
    S = -(-G // cfg.branching)
    topic = (rng.permutation(L) // cfg.topic_size).astype(np.int32)
    # signature words: a Zipfian vocabulary whose ids are shuffled, so frequent words are not the low ids
    wcdf = _zipf_cdf(cfg.features, cfg.vocab_exponent)
    word_id = rng.permutation(cfg.features).astype(np.int32)
    sw = word_id[_draw(rng, wcdf, (S, cfg.super_words))]
    tw = word_id[_draw(rng, wcdf, (G, cfg.topic_words))]
    lw = word_id[_draw(rng, wcdf, (L, cfg.label_words))]
    return LabelModel(topic, sw, tw, lw, _zipf_cdf(cfg.features, 1.0))


def _rows_from_occurrences(lab: np.ndarray, topic: np.ndarray, n_rows: int, cfg: SynthConfig, rng) -> sp.csr_matrix:
    """Deal label occurrences ``lab`` (grouped by topic) into ``n_rows`` rows: each topic gets rows in proportion
    to its occurrences (largest remainders), each of its rows one occurrence first, then the rest spread over its
    rows by a low-discrepancy sequence weighted by a Gamma(1.5) row size; finally a share ``mix`` of occurrences
    is swapped across all rows, an occurrence that repeats a label within its row moves to a random row, and the
    rows are shuffled."""
    G = int(topic.max()) + 1 if len(topic) else 1
    order = np.lexsort((lab, topic[lab]))
    lab = lab[order]
    g_of = topic[lab]
    T_g = np.bincount(g_of, minlength=G)
    quota = T_g * (n_rows / max(len(lab), 1))
    R_g = np.floor(quota).astype(np.int64)
    short = n_rows - int(R_g.sum())
    if short > 0:
        R_g[np.argsort(-(quota - R_g), kind="stable")[:short]] += 1
    R_g = np.minimum(R_g, T_g)
    R_g[(T_g > 0) & (R_g == 0)] = 1
    while R_g.sum() > n_rows:  # one row per topic at least can overshoot: take rows back from the biggest topics
        big = int(np.argmax(R_g))
        if R_g[big] <= 1:  # more topics occur than there are rows: neighbouring topics share rows (below)
            break
        R_g[big] -= min(R_g[big] - 1, int(R_g.sum()) - n_rows)
    row_base = np.concatenate([[0], np.cumsum(R_g)])
    occ_base = np.concatenate([[0], np.cumsum(T_g)])
    j = np.arange(len(lab)) - occ_base[g_of]  # position of the occurrence within its topic
    first = j < R_g[g_of]
    rows = np.empty(len(lab), dtype=np.int64)
    rows[first] = row_base[g_of[first]] + j[first]
    rest = ~first
    if rest.any():
        w = rng.gamma(1.5, size=int(row_base[-1]))
        cum = np.cumsum(w)
        start = np.concatenate([[0.0], cum])[row_base[:-1]]
        width = np.concatenate([[0.0], cum])[row_base[1:]] - start
        golden = (math.sqrt(5) - 1) / 2
        u = np.mod(j[rest] * golden + rng.random(G)[g_of[rest]], 1.0)
        r = np.searchsorted(cum, start[g_of[rest]] + u * width[g_of[rest]], side="right")
        rows[rest] = np.minimum(r, row_base[g_of[rest] + 1] - 1)
    if row_base[-1] > n_rows:  # fold: consecutive topics (mostly of one super-topic) share a row
        rows = rows * n_rows // int(row_base[-1])
        row_base = np.minimum(row_base, n_rows)
        row_base[-1] = n_rows
    n_mix = int(round(cfg.mix * len(lab)))
    if n_mix > 1:
        pos = rng.choice(len(lab), n_mix, replace=False)
        lab[pos] = lab[rng.permutation(pos)]
    n_out = int(row_base[-1])
    for _ in range(40):  # a label with more occurrences than its topic has rows repeats: move repeats elsewhere
        key = rows * len(topic) + lab
        order = np.argsort(key, kind="stable")
        dup = np.zeros(len(key), dtype=bool)
        dup[order[1:]] = key[order[1:]] == key[order[:-1]]
        if not dup.any():
            break
        rows[dup] = rng.integers(0, n_out, int(dup.sum()))
    Y = sp.csr_matrix((np.ones(len(lab), np.float32), (rows, lab)), shape=(n_out, len(topic)))
    Y.sum_duplicates()
    Y.data[:] = 1.0
    Y = Y[rng.permutation(Y.shape[0])]
    Y.sort_indices()
    Y.indices = Y.indices.astype(np.int32)
    return Y


def label_sets(cfg: SynthConfig, model: LabelModel) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Binary (rows x labels) training and test label matrices."""
    rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 2]))
    counts = label_counts(cfg.labels, int(round(cfg.rows * cfg.labels_per_row)), cfg.exponent)
    train = _rows_from_occurrences(np.repeat(np.arange(cfg.labels), counts), model.topic, cfg.rows, cfg, rng)
    if cfg.test_rows == 0:
        return train, sp.csr_matrix((0, cfg.labels), dtype=np.float32)
    test_total = int(round(cfg.test_rows * cfg.labels_per_row))
    test_counts = rng.multinomial(test_total, counts / counts.sum())
    test = _rows_from_occurrences(np.repeat(np.arange(cfg.labels), test_counts), model.topic, cfg.test_rows,
                                  cfg, rng)
    return train, test


# ---------------------------------------------------------------------------------------------- features
def shard_tokens(Y: sp.csr_matrix, model: LabelModel, cfg: SynthConfig, rng) -> tuple[np.ndarray, np.ndarray]:
    """Token (row, feature id) pairs for the rows of Y, in a random order within each row."""
    n = Y.shape[0]
    occ_row = np.repeat(np.arange(n), np.diff(Y.indptr))
    occ_lab = Y.indices.astype(np.int64)
    k = cfg.tokens_per_label
    t_row = np.repeat(occ_row, k)
    t_lab = np.repeat(occ_lab, k)
    u = rng.random(len(t_lab))
    feat = np.empty(len(t_lab), dtype=np.int32)
    own = u < cfg.p_own
    top = (u >= cfg.p_own) & (u < cfg.p_own + cfg.p_topic)
    sup = ~(own | top)
    feat[own] = model.label_words[t_lab[own], rng.integers(0, cfg.label_words, own.sum())]
    g = model.topic[t_lab]
    feat[top] = model.topic_words[g[top], rng.integers(0, cfg.topic_words, top.sum())]
    feat[sup] = model.super_words[g[sup] // cfg.branching, rng.integers(0, cfg.super_words, sup.sum())]
    n_noise = rng.poisson(cfg.noise, n) if cfg.noise > 0 else np.zeros(n, np.int64)
    noise_row = np.repeat(np.arange(n), n_noise)
    noise_feat = _draw(rng, model.vocab_cdf, len(noise_row))
    rows = np.concatenate([t_row, noise_row])
    feats = np.concatenate([feat, noise_feat])
    order = np.lexsort((rng.random(len(rows)), rows))
    return rows[order], feats[order]


def tokens_to_features(rows: np.ndarray, feats: np.ndarray, n_rows: int, idf: np.ndarray) -> sp.csr_matrix:
    """``(1 + ln count) * idf`` per (row, feature), rows L2-normalised; float32 CSR, sorted indices."""
    X = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, feats)), shape=(n_rows, len(idf)))
    X.sum_duplicates()
    X.data = ((1.0 + np.log(X.data)) * idf[X.indices]).astype(np.float32)
    lens = np.diff(X.indptr)
    sq = np.bincount(np.repeat(np.arange(n_rows), lens), weights=X.data.astype(np.float64) ** 2, minlength=n_rows)
    scale = np.divide(1.0, np.sqrt(sq), out=np.zeros(n_rows), where=sq > 0)
    X.data = (X.data * np.repeat(scale, lens)).astype(np.float32)
    X.indices = X.indices.astype(np.int32)
    return X


def _shard_rng(cfg: SynthConfig, split_code: int, s: int):
    return np.random.default_rng(np.random.SeedSequence([cfg.seed, 3, split_code, s]))


def train_idf(cfg: SynthConfig, model: LabelModel, Y: sp.csr_matrix) -> np.ndarray:
    """Smoothed idf of the training rows, ``ln((1 + n) / (1 + df)) + 1`` (scikit-learn's), from a first pass
    over the training shards (their token streams are regenerated, not kept)."""
    df = np.zeros(cfg.features, dtype=np.int64)
    for s in range(-(-Y.shape[0] // cfg.shard_rows)):
        a, b = s * cfg.shard_rows, min((s + 1) * cfg.shard_rows, Y.shape[0])
        rows, feats = shard_tokens(Y[a:b], model, cfg, _shard_rng(cfg, 0, s))
        pairs = np.unique(rows.astype(np.int64) * cfg.features + feats)
        df += np.bincount(pairs % cfg.features, minlength=cfg.features)
    return (np.log((1.0 + Y.shape[0]) / (1.0 + df)) + 1.0).astype(np.float64)


def pseudo_words(n: int) -> np.ndarray:
    """A distinct lower-case pseudo-word for each feature id 0..n-1 (syllables of consonant + vowel)."""
    base = len(_CONSONANTS) * len(_VOWELS)
    syll = np.array([c + v for c in _CONSONANTS for v in _VOWELS])
    length = max(2, math.ceil(math.log(max(n, 2), base)))
    ids = np.arange(n, dtype=np.int64)
    out = np.full(n, "", dtype=f"<U{2 * length}")
    for _ in range(length):
        out = np.char.add(syll[ids % base], out)
        ids //= base
    return out


# ---------------------------------------------------------------------------------------------- writing
def _shard_path(out: Path, split: str, s: int) -> Path:
    return out / "shards" / f"{split}-{s:05d}.safetensors"


def write_synth(cfg: SynthConfig, out: str | Path, text: bool = True,
                progress: Callable[[int], None] | None = None) -> dict:
    """Write ``labels.txt``, ``train.tsv``/``test.tsv`` (text2text, when ``text``), ``shards/SPLIT-NNNNN``
    (X and Y of ``shard_rows`` rows each as safetensors CSR arrays) and ``meta.json``; returns the meta dict.
    ``progress(k)`` is called after every k rows written."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out} exists and is not a folder")
    (out / "shards").mkdir(parents=True, exist_ok=True)
    for old in (out / "shards").glob("*.safetensors"):
        old.unlink()
    model = label_model(cfg)
    Ytr, Yte = label_sets(cfg, model)
    words = pseudo_words(cfg.features) if text else None
    idf = train_idf(cfg, model, Ytr)
    width = len(str(cfg.labels - 1))
    atomic_write_text(out / "labels.txt", (f"synth-{i:0{width}d}" for i in range(cfg.labels)))
    stats = {}
    for split_code, (split, Y) in enumerate((("train", Ytr), ("test", Yte))):
        n_shards = -(-Y.shape[0] // cfg.shard_rows)
        nnz = 0
        with atomic_file(out / f"{split}.tsv") if text else contextlib.nullcontext() as f:
            for s in range(n_shards):
                a, b = s * cfg.shard_rows, min((s + 1) * cfg.shard_rows, Y.shape[0])
                Ys = Y[a:b]
                rows, feats = shard_tokens(Ys, model, cfg, _shard_rng(cfg, split_code, s))
                X = tokens_to_features(rows, feats, b - a, idf)
                nnz += X.nnz
                save_arrays(_shard_path(out, split, s), {
                    "X.indptr": X.indptr.astype(np.int64), "X.indices": X.indices, "X.data": X.data,
                    "Y.indptr": Ys.indptr.astype(np.int64), "Y.indices": Ys.indices.astype(np.int32)})
                if text:
                    bounds = np.searchsorted(rows, np.arange(b - a + 1))
                    toks = words[feats]
                    for i in range(b - a):
                        labs = ",".join(map(str, Ys.indices[Ys.indptr[i] : Ys.indptr[i + 1]]))
                        f.write(labs + "\t" + " ".join(toks[bounds[i] : bounds[i + 1]]) + "\n")
                if progress is not None:
                    progress(b - a)
        stats[split] = {"rows": int(Y.shape[0]), "shards": n_shards, "label_nnz": int(Y.nnz),
                        "feature_nnz": int(nnz)}
    counts = np.bincount(Ytr.indices, minlength=cfg.labels)
    meta = {
        "generated": True,
        "what": "GENERATED data (polymodal.datasets.synth_xmc), not a real data set",
        "config": asdict(cfg),
        "n_labels": cfg.labels, "n_features": cfg.features, **{f"n_{k}": v["rows"] for k, v in stats.items()},
        "splits": stats,
        "labels_per_train_row": float(Ytr.nnz / max(Ytr.shape[0], 1)),
        "exponent_measured": rank_frequency_exponent(counts),
        "labels_unused_in_train": int((counts == 0).sum()),
    }
    atomic_write_text(out / "meta.json", [json.dumps(meta, indent=2)])
    save_arrays(out / "shards" / "idf.safetensors", {"idf": idf})
    return meta


def read_meta(folder: str | Path) -> dict:
    p = Path(folder) / "meta.json"
    if not p.is_file():
        raise InputError("no meta.json: not a folder written by synth-xmc", str(folder))
    try:
        meta = json.loads(p.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"corrupt: {exc}", str(p)) from None
    if not isinstance(meta, dict) or not meta.get("generated"):
        raise InputError("not a generated data set", str(p))
    return meta


def load_shards(folder: str | Path, split: str = "train", mmap: bool = False) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """X (float32 CSR, n x features) and Y (binary float32 CSR, n x labels) of one split, concatenated from its
    shards. With ``mmap`` each shard is memory-mapped while it is copied in (one shard's pages at a time)."""
    meta = read_meta(folder)
    n_shards = meta["splits"][split]["shards"]
    Xs, Ys = [], []
    for s in range(n_shards):
        a = map_arrays(_shard_path(Path(folder), split, s))
        if not mmap:
            a = {k: np.array(v) for k, v in a.items()}
        n = len(a["X.indptr"]) - 1
        Xs.append(sp.csr_matrix((a["X.data"], a["X.indices"], a["X.indptr"]), shape=(n, meta["n_features"])))
        ones = np.ones(len(a["Y.indices"]), np.float32)
        Ys.append(sp.csr_matrix((ones, a["Y.indices"], a["Y.indptr"]), shape=(n, meta["n_labels"])))
    if not Xs:
        return (sp.csr_matrix((0, meta["n_features"]), dtype=np.float32),
                sp.csr_matrix((0, meta["n_labels"]), dtype=np.float32))
    X = sp.vstack(Xs, format="csr", dtype=np.float32)
    Y = sp.vstack(Ys, format="csr", dtype=np.float32)
    return X, Y


def config_for(size: str | None, **given) -> SynthConfig:
    """A named size with the given (non-None) fields overriding it, or the defaults with them."""
    given = {k: v for k, v in given.items() if v is not None}
    cfg = SynthConfig.named(size) if size else SynthConfig()
    return replace(cfg, **given)

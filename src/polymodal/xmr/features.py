"""Text features of the product-search paper: word n-gram TF-IDF + word-boundary-aware character n-gram TF-IDF.

Each block is TF-IDF weighted (smooth idf ``ln((1+n)/(1+df)) + 1``, or idf = 1 with ``use_idf=False``; optional
sublinear tf ``1 + ln tf``) and
L2-normalised; the blocks are stacked side by side and the row is L2-normalised again. Output: float32 CSR.

Why not scikit-learn's ``TfidfVectorizer``: we need (1) the vocabulary as plain strings for a pickle-free model
file, (2) a single-query path that skips scipy matrix construction (sklearn spends ~0.3 ms per block on one
query), and (3) a lean counting loop: ids are appended to one flat array and duplicates summed by scipy in C,
instead of a Python dict per document. The analysers produce the same n-grams as sklearn's ``word``/``char_wb``
analysers with ``token_pattern=r"(?u)\\b\\w+\\b"``, which the tests check.
"""

from __future__ import annotations

import math
import re
from array import array
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import scipy.sparse as sp

_TOKEN = re.compile(r"(?u)\b\w+\b")


@dataclass
class BlockConfig:
    kind: str = "word"  # "word" or "char_wb"
    ngram_range: tuple[int, int] = (1, 2)
    min_df: int = 1
    sublinear_tf: bool = True
    use_idf: bool = True  # False: plain (sublinear) term frequencies, idf fixed at 1

    def __post_init__(self):
        self.ngram_range = tuple(int(x) for x in self.ngram_range)
        if self.kind not in ("word", "char_wb"):
            raise ValueError(f"unknown feature kind {self.kind!r} (word, char_wb)")
        lo, hi = self.ngram_range
        if not 1 <= lo <= hi:
            raise ValueError(f"bad ngram_range {self.ngram_range}")
        if self.min_df < 1:
            raise ValueError("min_df must be >= 1")


def _default_blocks() -> list[BlockConfig]:
    return [BlockConfig("word", (1, 2), 1), BlockConfig("char_wb", (2, 4), 2)]


@dataclass
class VectorizerConfig:
    blocks: list[BlockConfig] = field(default_factory=_default_blocks)
    lowercase: bool = True

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> VectorizerConfig:
        return cls(blocks=[BlockConfig(**b) for b in d["blocks"]], lowercase=bool(d.get("lowercase", True)))


def word_ngrams(text: str, lo: int, hi: int) -> list[str]:
    toks = _TOKEN.findall(text)
    if lo == 1:
        out = list(toks)
        lo = 2
    else:
        out = []
    n_tok = len(toks)
    for n in range(lo, min(hi, n_tok) + 1):
        out.extend(" ".join(toks[i : i + n]) for i in range(n_tok - n + 1))
    return out


def char_wb_ngrams(text: str, lo: int, hi: int) -> list[str]:
    """Character n-grams inside each whitespace-separated word padded with one space on each side."""
    out: list[str] = []
    ext = out.extend
    for w in text.split():
        w = " " + w + " "
        lw = len(w)
        for n in range(lo, hi + 1):
            if n >= lw:  # as sklearn's char_wb: a padded word no longer than n counts once, whole
                out.append(w)
                break
            ext([w[i : i + n] for i in range(lw - n + 1)])
    return out


class _Block:
    """One TF-IDF block: vocabulary (string -> column), idf, analyser."""

    def __init__(self, cfg: BlockConfig):
        self.cfg = cfg
        lo, hi = cfg.ngram_range
        fn = word_ngrams if cfg.kind == "word" else char_wb_ngrams
        self.analyze = lambda text: fn(text, lo, hi)
        self.vocab: dict[str, int] = {}
        self.idf = np.zeros(0, dtype=np.float32)

    def counts(self, texts: Sequence[str], grow: bool) -> sp.csr_matrix:
        """Raw term counts; with ``grow`` new n-grams are added to the vocabulary."""
        vocab = self.vocab
        ids = array("i")
        indptr = array("q", [0])
        analyze = self.analyze
        if grow:
            get = vocab.setdefault
            for text in texts:
                for g in analyze(text):
                    ids.append(get(g, len(vocab)))
                indptr.append(len(ids))
        else:
            get = vocab.get
            for text in texts:
                ids.extend([i for i in map(get, analyze(text)) if i is not None])
                indptr.append(len(ids))
        col = np.frombuffer(ids, dtype=np.int32)
        ptr = np.frombuffer(indptr, dtype=np.int64)
        m = sp.csr_matrix((np.ones(len(col), np.float32), col, ptr), shape=(len(texts), len(vocab)))
        m.sum_duplicates()  # also sorts indices
        return m

    def fit_counts(self, texts: Sequence[str]) -> sp.csr_matrix:
        self.vocab = {}
        m = self.counts(texts, grow=True)
        df = np.bincount(m.indices, minlength=m.shape[1])
        if self.cfg.min_df > 1:
            keep = np.flatnonzero(df >= self.cfg.min_df)
            strings = list(self.vocab)
            self.vocab = {strings[j]: i for i, j in enumerate(keep)}
            m = m[:, keep]
            df = df[keep]
        n = len(texts)
        if self.cfg.use_idf:
            self.idf = (np.log((1.0 + n) / (1.0 + df)) + 1.0).astype(np.float32)
        else:
            self.idf = np.ones(len(df), np.float32)
        return m

    def weight(self, m: sp.csr_matrix) -> sp.csr_matrix:
        if self.cfg.sublinear_tf:
            np.log(m.data, out=m.data)
            m.data += 1.0
        m.data *= self.idf[m.indices]
        _l2_normalize_rows(m)
        return m

    def count_one(self, text: str) -> dict[int, int]:
        """Column -> raw count of one text's known n-grams (a plain dict: for one short query, Python beats
        numpy's per-call overhead)."""
        get = self.vocab.get
        counts: dict[int, int] = {}
        for g in self.analyze(text):
            c = get(g)
            if c is not None:
                counts[c] = counts.get(c, 0) + 1
        return counts

    @property
    def strings(self) -> list[str]:
        return list(self.vocab)  # insertion order == column order


def _l2_normalize_rows(m: sp.csr_matrix) -> None:
    # bincount over row ids, not add.reduceat over indptr: reduceat fails when trailing rows are empty
    lens = np.diff(m.indptr)
    sq = np.bincount(np.repeat(np.arange(m.shape[0]), lens), weights=m.data.astype(np.float64) ** 2,
                     minlength=m.shape[0])
    norms = np.sqrt(sq)
    norms[norms == 0] = 1.0
    m.data /= np.repeat(norms, np.diff(m.indptr)).astype(m.data.dtype)


class TextVectorizer:
    """Stacked, normalised TF-IDF blocks (scikit-learn transformer contract)."""

    def __init__(self, config: VectorizerConfig | None = None):
        self.config = config or VectorizerConfig()

    def _prep(self, texts: Sequence[str]) -> list[str]:
        if isinstance(texts, str):
            raise TypeError("expected a sequence of texts, got one string")
        return [t.lower() for t in texts] if self.config.lowercase else list(texts)

    def fit(self, texts: Sequence[str], y=None) -> TextVectorizer:
        self.fit_transform(texts)
        return self

    def fit_transform(self, texts: Sequence[str], y=None) -> sp.csr_matrix:
        texts = self._prep(texts)
        self.blocks_ = [_Block(c) for c in self.config.blocks]
        mats = [b.weight(b.fit_counts(texts)) for b in self.blocks_]
        self._set_offsets()
        return self._stack(mats)

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        texts = self._prep(texts)
        return self._stack([b.weight(b.counts(texts, grow=False)) for b in self.blocks_])

    def transform_one(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """Fast path for one query: (sorted int32 column ids, float32 values), equal to ``transform([text])``.
        Counts in Python per block, then weights and normalises every block in one set of numpy calls."""
        if self.config.lowercase:
            text = text.lower()
        cols: list[int] = []
        tfs: list[int] = []
        lens: list[int] = []
        for b, off in zip(self.blocks_, self._offsets_list):
            counts = b.count_one(text)
            if counts:
                keys = sorted(counts)
                cols.extend([k + off for k in keys])
                tfs.extend([counts[k] for k in keys])
                lens.append(len(keys))
        if not cols:
            return np.empty(0, np.int32), np.empty(0, np.float32)
        idx = np.array(cols, dtype=np.int32)
        tf = np.array(tfs, dtype=np.float32)
        if self._all_sublinear:
            tf = np.log(tf) + np.float32(1.0)
        elif self._any_sublinear:
            sub = self._sublinear_cols[idx]
            tf[sub] = np.log(tf[sub]) + np.float32(1.0)
        v = tf * self._idf_all[idx]
        if len(lens) == 1:
            v /= np.float32(math.sqrt(float(np.dot(v, v))))
            return idx, v
        seg = np.repeat(np.arange(len(lens)), lens)
        norms = np.sqrt(np.bincount(seg, weights=(v * v).astype(np.float64))).astype(np.float32)
        v /= norms[seg] * np.float32(math.sqrt(len(lens)))
        return idx, v

    def _set_offsets(self) -> None:
        self.offsets_ = np.cumsum([0] + [len(b.vocab) for b in self.blocks_]).astype(np.int64)
        # single-query path caches: offsets as ints, every block's idf side by side, sublinear flags per column
        self._offsets_list = [int(x) for x in self.offsets_[:-1]]
        self._idf_all = np.concatenate([b.idf for b in self.blocks_]).astype(np.float32) if self.blocks_ \
            else np.zeros(0, np.float32)
        flags = [b.cfg.sublinear_tf for b in self.blocks_]
        self._all_sublinear = all(flags)
        self._any_sublinear = any(flags)
        self._sublinear_cols = np.repeat(np.array(flags, dtype=bool), [len(b.vocab) for b in self.blocks_])

    @property
    def n_features_(self) -> int:
        return int(self.offsets_[-1])

    def _stack(self, mats: list[sp.csr_matrix]) -> sp.csr_matrix:
        X = sp.hstack(mats, format="csr", dtype=np.float32)
        _l2_normalize_rows(X)  # each non-empty block has norm 1, so this divides by sqrt(#non-empty blocks)
        X.sort_indices()
        return X

    # -- persistence (plain arrays, no pickle) --
    def state(self) -> dict[str, np.ndarray]:
        from .strings import encode_strings

        out: dict[str, np.ndarray] = {}
        for i, b in enumerate(self.blocks_):
            data, offsets = encode_strings(b.strings)
            out[f"block{i}.vocab_bytes"] = data
            out[f"block{i}.vocab_offsets"] = offsets
            out[f"block{i}.idf"] = b.idf
        return out

    @classmethod
    def from_state(cls, config: VectorizerConfig, arrays: dict[str, np.ndarray]) -> TextVectorizer:
        from .strings import decode_strings

        self = cls(config)
        self.blocks_ = []
        for i, c in enumerate(config.blocks):
            b = _Block(c)
            strings = decode_strings(arrays[f"block{i}.vocab_bytes"], arrays[f"block{i}.vocab_offsets"])
            b.vocab = {s: j for j, s in enumerate(strings)}
            b.idf = np.asarray(arrays[f"block{i}.idf"], dtype=np.float32)
            if len(b.idf) != len(b.vocab):
                raise ValueError(f"block {i}: {len(b.vocab)} strings but {len(b.idf)} idf values")
            self.blocks_.append(b)
        self._set_offsets()
        return self

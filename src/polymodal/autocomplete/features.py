"""Features for session-aware autocompletion (Yadav et al., KDD 2021).

x = normalize([ word-TF-IDF(previous query) ; position-weighted char-TF-IDF(prefix) ])

Position-weighted character TF: every character n-gram (n in ``ngram_range``, default 1..3) of the prefix that
starts at character position i (0-based) adds ``1 / (i + 1)`` to its term frequency, so n-grams at the start of
the string dominate, as the trie's string-extension logic does (a label sharing the first characters of the
prefix is close to it). The block value is tf * idf (smooth idf, ``ln((1+n)/(1+df)) + 1``, df counted over the
training prefixes), L2-normalised. Each block is L2-normalised before stacking and the row again after.

Example: prefix "abab", n in 1..2 -> "a": 1/1 + 1/3, "b": 1/2 + 1/4, "ab": 1/1 + 1/3, "ba": 1/2.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import scipy.sparse as sp

from ..xmr.features import BlockConfig, TextVectorizer, VectorizerConfig, _l2_normalize_rows
from ..xmr.strings import decode_strings, encode_strings


def position_weighted_ngrams(text: str, lo: int, hi: int) -> dict[str, float]:
    """n-gram -> summed weight 1/(i+1) over its start positions i."""
    out: dict[str, float] = {}
    L = len(text)
    for i in range(L):
        w = 1.0 / (i + 1)
        for n in range(lo, hi + 1):
            if i + n > L:
                break
            g = text[i : i + n]
            out[g] = out.get(g, 0.0) + w
    return out


class PositionWeightedCharTfidf:
    """Char n-gram TF-IDF with position-weighted term frequencies (fit/transform, float32 CSR)."""

    def __init__(self, ngram_range: tuple[int, int] = (1, 3), min_df: int = 1):
        self.ngram_range = tuple(ngram_range)
        self.min_df = min_df

    def _rows(self, texts: Sequence[str], grow: bool):
        lo, hi = self.ngram_range
        vocab = self.vocab_
        indptr, cols, vals = [0], [], []
        for t in texts:
            for g, w in position_weighted_ngrams(t, lo, hi).items():
                j = vocab.get(g)
                if j is None:
                    if not grow:
                        continue
                    j = vocab[g] = len(vocab)
                cols.append(j)
                vals.append(w)
            indptr.append(len(cols))
        return sp.csr_matrix((np.array(vals, np.float32), np.array(cols, np.int64), np.array(indptr)),
                             shape=(len(texts), len(vocab)))

    def fit(self, texts: Sequence[str]) -> PositionWeightedCharTfidf:
        self.vocab_: dict[str, int] = {}
        m = self._rows(texts, grow=True)
        df = np.bincount(m.indices, minlength=m.shape[1])
        if self.min_df > 1:
            keep = np.flatnonzero(df >= self.min_df)
            strings = list(self.vocab_)
            self.vocab_ = {strings[j]: i for i, j in enumerate(keep)}
            df = df[keep]
        self.idf_ = (np.log((1.0 + len(texts)) / (1.0 + df)) + 1.0).astype(np.float32)
        return self

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        m = self._rows(texts, grow=False)
        m.data *= self.idf_[m.indices]
        m.sum_duplicates()
        _l2_normalize_rows(m)
        return m

    def state(self, prefix: str) -> dict[str, np.ndarray]:
        data, offsets = encode_strings(list(self.vocab_))
        return {f"{prefix}.vocab_bytes": data, f"{prefix}.vocab_offsets": offsets, f"{prefix}.idf": self.idf_}

    @classmethod
    def from_state(cls, ngram_range, arrays: dict[str, np.ndarray], prefix: str) -> PositionWeightedCharTfidf:
        self = cls(tuple(ngram_range))
        strings = decode_strings(arrays[f"{prefix}.vocab_bytes"], arrays[f"{prefix}.vocab_offsets"])
        self.vocab_ = {g: j for j, g in enumerate(strings)}
        self.idf_ = np.asarray(arrays[f"{prefix}.idf"], dtype=np.float32)
        if len(self.idf_) != len(self.vocab_):
            raise ValueError(f"{len(self.vocab_)} prefix n-grams but {len(self.idf_)} idf values")
        return self

    def transform_one(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = self.ngram_range
        get = self.vocab_.get
        items = [(j, w) for g, w in position_weighted_ngrams(text, lo, hi).items() if (j := get(g)) is not None]
        if not items:
            return np.empty(0, np.int32), np.empty(0, np.float32)
        items.sort()
        cols = np.fromiter((j for j, _ in items), np.int32, len(items))
        vals = np.fromiter((w for _, w in items), np.float32, len(items)) * self.idf_[cols]
        vals /= np.sqrt(np.dot(vals, vals))
        return cols, vals


@dataclass
class SessionFeatureConfig:
    prev_word_ngrams: tuple[int, int] = (1, 1)
    prefix_char_ngrams: tuple[int, int] = (1, 3)
    use_prev: bool = True

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> SessionFeatureConfig:
        return cls(prev_word_ngrams=tuple(d["prev_word_ngrams"]), prefix_char_ngrams=tuple(d["prefix_char_ngrams"]),
                   use_prev=bool(d["use_prev"]))


@dataclass
class SessionVectorizer:
    """[word TF-IDF(previous query) ; position-weighted char TF-IDF(prefix)], row L2-normalised."""

    config: SessionFeatureConfig = field(default_factory=SessionFeatureConfig)

    def fit(self, prev: Sequence[str], prefix: Sequence[str]) -> SessionVectorizer:
        c = self.config
        self.prev_ = TextVectorizer(self._prev_config())
        self.prev_.fit(list(prev))
        self.prefix_ = PositionWeightedCharTfidf(c.prefix_char_ngrams).fit(list(prefix))
        return self

    def _prev_config(self) -> VectorizerConfig:
        return VectorizerConfig([BlockConfig("word", self.config.prev_word_ngrams, 1)])

    def state(self) -> dict[str, np.ndarray]:
        return {**{f"prev.{k}": v for k, v in self.prev_.state().items()}, **self.prefix_.state("prefix")}

    @classmethod
    def from_state(cls, config: SessionFeatureConfig, arrays: dict[str, np.ndarray]) -> SessionVectorizer:
        self = cls(config)
        prev = {k[5:]: v for k, v in arrays.items() if k.startswith("prev.")}
        self.prev_ = TextVectorizer.from_state(self._prev_config(), prev)
        self.prefix_ = PositionWeightedCharTfidf.from_state(config.prefix_char_ngrams, arrays, "prefix")
        return self

    @property
    def n_features_(self) -> int:
        return self.prev_.n_features_ + len(self.prefix_.vocab_)

    def transform(self, prev: Sequence[str], prefix: Sequence[str]) -> sp.csr_matrix:
        blocks = [self.prefix_.transform(list(prefix))]
        if self.config.use_prev:
            blocks.insert(0, self.prev_.transform(list(prev)))
        else:
            blocks.insert(0, sp.csr_matrix((len(prefix), self.prev_.n_features_), dtype=np.float32))
        X = sp.hstack(blocks, format="csr", dtype=np.float32)
        _l2_normalize_rows(X)
        X.sort_indices()
        return X

    def transform_one(self, prev: str, prefix: str) -> tuple[np.ndarray, np.ndarray]:
        pc, pv = self.prefix_.transform_one(prefix)
        parts_c, parts_v = [pc + self.prev_.n_features_], [pv]
        if self.config.use_prev and prev:
            wc, wv = self.prev_.transform_one(prev)
            parts_c.insert(0, wc)
            parts_v.insert(0, wv)
        cols = np.concatenate(parts_c).astype(np.int32)
        vals = np.concatenate(parts_v).astype(np.float32)
        nrm = np.sqrt(np.dot(vals, vals))
        if nrm > 0:
            vals /= nrm
        return cols, vals

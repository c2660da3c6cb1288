"""The product-search paper's feature sets, one by one and combined.

- ``word``: word 1-3-gram counts (sublinear tf, no idf): phrases such as "echo with screen".
- ``char``: character trigrams inside word boundaries (each word padded with a space), counts, no idf: robust
  to typos and word variants.
- ``tfidf``: word-unigram TF-IDF.
- ``all``: the three blocks side by side, each L2-normalised, the row renormalised (the paper's best).
- ``default``: polymodal's general-purpose text features (word 1-2-gram + char 2-4-gram TF-IDF).
"""

from __future__ import annotations

from ..errors import InputError
from ..xmr.features import BlockConfig, VectorizerConfig

_WORD = BlockConfig("word", (1, 3), min_df=1, sublinear_tf=True, use_idf=False)
_CHAR = BlockConfig("char_wb", (3, 3), min_df=1, sublinear_tf=True, use_idf=False)
_TFIDF = BlockConfig("word", (1, 1), min_df=1, sublinear_tf=True, use_idf=True)

FEATURE_SETS: dict[str, list[BlockConfig]] = {
    "word": [_WORD],
    "char": [_CHAR],
    "tfidf": [_TFIDF],
    "all": [_WORD, _CHAR, _TFIDF],
    "default": VectorizerConfig().blocks,
}


def feature_config(name: str) -> VectorizerConfig:
    if name not in FEATURE_SETS:
        raise InputError(f"unknown feature set {name!r}; choose from {sorted(FEATURE_SETS)}")
    return VectorizerConfig(blocks=[BlockConfig(**vars(b)) for b in FEATURE_SETS[name]])

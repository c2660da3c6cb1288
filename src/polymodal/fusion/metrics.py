"""Task metrics: categorization accuracy, multi-label precision / recall / F1, and caption BLEU-4 / CIDEr-D.

BLEU-4 is sacrebleu's corpus BLEU (13a tokenisation). CIDEr-D follows Vedantam et al. (2015) as implemented in
the COCO caption toolkit: per n (1..4), tf-idf vectors of n-gram counts with document frequencies over the
evaluated set's references, candidate weights clipped to the reference's, cosine-style similarity times a
Gaussian length penalty (sigma 6), averaged over n and references, times 10. It is written here because the
toolkit's package (pycocoevalcap) is a 100 MB download that wants Java for its tokenizer.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

import numpy as np

from ..errors import InputError


def accuracy(y_true, y_pred) -> float:
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape or y_true.size == 0:
        raise InputError("accuracy needs two non-empty label arrays of the same shape")
    return float((y_true == y_pred).mean())


def multilabel_prf(y_true, y_pred) -> dict:
    """Micro- and macro-averaged precision, recall and F1 (macro over labels with a positive in ``y_true``)."""
    from sklearn.metrics import precision_recall_fscore_support

    y_true, y_pred = np.asarray(y_true, bool), np.asarray(y_pred, bool)
    if y_true.shape != y_pred.shape or y_true.ndim != 2:
        raise InputError("multi-label metrics need two (items, labels) arrays of the same shape")
    p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, average="micro", zero_division=0)
    present = y_true.any(0)
    _, _, fm, _ = precision_recall_fscore_support(y_true[:, present], y_pred[:, present], average="macro",
                                                  zero_division=0)
    return {"precision": float(p), "recall": float(r), "f1": float(f), "macro_f1": float(fm)}


def _refs_by_stream(refs: Sequence[Sequence[str]]) -> list[list[str]]:
    counts = {len(r) for r in refs}
    if len(counts) != 1 or 0 in counts:
        raise InputError("every caption needs the same non-zero number of references")
    return [[r[i] for r in refs] for i in range(counts.pop())]


def bleu4(hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> float:
    """Corpus BLEU-4 (0..100)."""
    import sacrebleu

    if len(hypotheses) != len(references) or not hypotheses:
        raise InputError("BLEU needs one list of references per hypothesis")
    return float(sacrebleu.corpus_bleu(list(hypotheses), _refs_by_stream(references)).score)


def caption_tokens(text: str) -> list[str]:
    """Lower-case words; punctuation removed."""
    return re.findall(r"[a-z0-9]+(?:'[a-z]+)?", text.lower())


def _ngrams(words: list[str], n_max: int = 4) -> Counter:
    return Counter(tuple(words[i : i + n]) for n in range(1, n_max + 1) for i in range(len(words) - n + 1))


def cider_d(hypotheses: Sequence[str], references: Sequence[Sequence[str]], sigma: float = 6.0) -> float:
    """Corpus CIDEr-D (the mean over items; 10 = every candidate equals all its references)."""
    if len(hypotheses) != len(references) or not hypotheses:
        raise InputError("CIDEr needs one list of references per hypothesis")
    hyp = [_ngrams(caption_tokens(h)) for h in hypotheses]
    refs = [[_ngrams(caption_tokens(r)) for r in rs] for rs in references]
    df: Counter = Counter()
    for rs in refs:
        df.update(set().union(*rs))
    log_n = math.log(float(len(hyp)))

    def vec(counts: Counter):
        v = [{} for _ in range(4)]
        norm = [0.0] * 4
        for g, tf in counts.items():
            w = tf * (log_n - math.log(max(1.0, df[g])))
            v[len(g) - 1][g] = w
            norm[len(g) - 1] += w * w
        length = sum(tf for g, tf in counts.items() if len(g) == 2)  # the toolkit measures length in bigrams
        return v, [math.sqrt(x) for x in norm], length

    scores = []
    for h, rs in zip(hyp, refs, strict=True):
        vh, nh, lh = vec(h)
        total = 0.0
        for r in rs:
            vr, nr, lr = vec(r)
            penalty = math.exp(-((lh - lr) ** 2) / (2 * sigma**2))
            for n in range(4):
                dot = sum(min(w, vr[n][g]) * vr[n][g] for g, w in vh[n].items() if g in vr[n])
                if nh[n] and nr[n]:
                    total += dot / (nh[n] * nr[n]) * penalty / 4
        scores.append(10.0 * total / len(rs))
    return float(np.mean(scores))

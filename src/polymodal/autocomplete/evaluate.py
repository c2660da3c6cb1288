"""Autocompletion metrics: MRR@k, success@1/k, rank-weighted BLEU, by prefix length and label frequency, latency.

For one request with suggestions s_1..s_k and true query t:
- reciprocal rank: 1/j for the first j with s_j == t, else 0 (MRR@k is its mean);
- success@n: 1 when t is among s_1..s_n;
- rank-weighted BLEU: sum_j BLEU(s_j, t) / j over the suggestions, divided by sum_{j=1..k} 1/j (missing
  suggestions count 0), with sacrebleu's sentence BLEU (effective order, exp smoothing) on a 0..1 scale, so a
  near-miss ranked first earns partial credit where exact-match metrics give none.
Targets that are not training labels stay in every mean and count as misses for every method.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ..timing import latency as timed
from ..xmr.metrics import paired_difference_ci

PREFIX_BUCKETS = (("1", 1, 1), ("2", 2, 2), ("3", 3, 3), ("4-6", 4, 6), ("7+", 7, 10**9))
FREQ_BUCKETS = (("unseen", 0, 0), ("1", 1, 1), ("2-5", 2, 5), ("6-20", 6, 20), ("21+", 21, 10**12))


def prefix_bucket(n: int) -> str:
    return next(name for name, lo, hi in PREFIX_BUCKETS if lo <= n <= hi)


def freq_bucket(n: int) -> str:
    return next(name for name, lo, hi in FREQ_BUCKETS if lo <= n <= hi)


class _Bleu:
    """Sentence BLEU on a 0..1 scale, memoised (the same (suggestion, target) pairs recur often)."""

    def __init__(self):
        from sacrebleu.metrics import BLEU

        self._bleu = BLEU(effective_order=True)
        self._cache: dict[tuple[str, str], float] = {}

    def __call__(self, hyp: str, ref: str) -> float:
        key = (hyp, ref)
        v = self._cache.get(key)
        if v is None:
            v = 1.0 if hyp == ref else self._bleu.sentence_score(hyp, [ref]).score / 100.0
            self._cache[key] = v
        return v


def per_request(suggestions: Sequence[Sequence[str]], targets: Sequence[str], k: int = 10) -> dict[str, np.ndarray]:
    """Per-request arrays ``rr``, ``success@1``, ``success@k``, ``bleu_rw``."""
    bleu = _Bleu()
    norm = sum(1.0 / j for j in range(1, k + 1))
    rr = np.zeros(len(targets))
    s1 = np.zeros(len(targets))
    sk = np.zeros(len(targets))
    bw = np.zeros(len(targets))
    for i, (sug, t) in enumerate(zip(suggestions, targets)):
        sug = list(sug)[:k]
        for j, s in enumerate(sug):
            if s == t:
                rr[i] = 1.0 / (j + 1)
                sk[i] = 1.0
                s1[i] = float(j == 0)
                break
        bw[i] = sum(bleu(s, t) / (j + 1) for j, s in enumerate(sug)) / norm
    return {"rr": rr, "success@1": s1, f"success@{k}": sk, "bleu_rw": bw}


def summarize(arrays: dict[str, np.ndarray], groups: dict[str, tuple[np.ndarray, Sequence[str]]],
              k: int = 10) -> dict:
    """Means overall and per group value: {"MRR@k": .., "success@1": .., ..., "by_<group>": {value: {...}}};
    ``groups`` maps a group name to (value per request, the values in reporting order)."""
    names = {"rr": f"MRR@{k}"}

    def means(mask):
        return {names.get(key, key): float(v[mask].mean()) if mask.any() else 0.0 for key, v in arrays.items()} | {
            "n": int(mask.sum())}

    n = len(next(iter(arrays.values())))
    out = means(np.ones(n, dtype=bool))
    for gname, (values, order) in groups.items():
        out[f"by_{gname}"] = {v: means(values == v) for v in order}
    return out


def evaluate(model, prev: Sequence[str], prefix: Sequence[str], targets: Sequence[str], k: int = 10,
             latency_requests: int = 10_000, progress: Callable | None = None) -> dict:
    """XR suggestions and the model's MPC baseline on the same requests: metrics overall, by prefix length and by
    the target's training frequency, plus end-to-end latency of ``model.suggest`` (raw text in, k strings out)."""
    from .model import normalize_prefix

    freq = dict(zip(model.labels_, model.label_counts_.tolist()))
    plen = np.array([prefix_bucket(max(1, len(normalize_prefix(p)))) for p in prefix])
    fb = np.array([freq_bucket(freq.get(t, 0)) for t in targets])
    groups = {"prefix_length": (plen, [b[0] for b in PREFIX_BUCKETS]),
              "label_frequency": (fb, [b[0] for b in FREQ_BUCKETS])}
    wrap = progress or (lambda it, **_: it)
    ours = [model.suggest(a, b, k) for a, b in wrap(list(zip(prev, prefix)), desc="suggest")]
    mpc = [model.mpc_.suggest(normalize_prefix(b), k) for b in prefix]
    ours_r, mpc_r = per_request(ours, targets, k), per_request(mpc, targets, k)
    out = {"xr": summarize(ours_r, groups, k), "mpc": summarize(mpc_r, groups, k),
           "xr_minus_mpc": paired_rr_difference(ours_r["rr"], mpc_r["rr"], plen, targets)}
    if latency_requests:
        out["latency"] = latency(lambda a, b: model.suggest(a, b, k), prev, prefix, latency_requests)
    return out


def paired_rr_difference(ours: np.ndarray, mpc: np.ndarray, buckets: np.ndarray, targets: Sequence[str]) -> dict:
    """XR minus MPC reciprocal rank (MRR x 100), overall and per prefix-length bucket, with a 95 % bootstrap
    interval that resamples all requests for one target query together; ``xr_better`` / ``mpc_better`` count the
    requests where the two rank the target differently."""
    targets = np.asarray(targets, dtype=object)
    out = {}
    for name, sel in [("all", np.ones(len(ours), dtype=bool))] + [(b[0], buckets == b[0]) for b in PREFIX_BUCKETS]:
        if sel.any():
            d = ours[sel] - mpc[sel]
            out[name] = {**paired_difference_ci(ours[sel], mpc[sel], targets[sel]),
                         "xr_better": int((d > 0).sum()), "mpc_better": int((d < 0).sum()), "n": int(sel.sum())}
    return out


def headline(result: dict, k: int = 10) -> dict:
    """The flat summary the CLI prints last: MRR@k (ours and MPC), latency, per-prefix-length MRR."""
    key = f"MRR@{k}"
    xr, mpc = result["xr"], result["mpc"]
    out = {key: round(xr[key], 5), f"{key}_mpc": round(mpc[key], 5),
           "success@1": round(xr["success@1"], 5), f"success@{k}": round(xr[f"success@{k}"], 5),
           "bleu_rw": round(xr["bleu_rw"], 5), "bleu_rw_mpc": round(mpc["bleu_rw"], 5)}
    if "latency" in result:
        out["p50_ms"] = round(result["latency"]["p50_ms"], 4)
        out["p99_ms"] = round(result["latency"]["p99_ms"], 4)
    out[f"{key}_by_prefix_length"] = {b: round(v[key], 5) for b, v in xr["by_prefix_length"].items()}
    out[f"{key}_mpc_by_prefix_length"] = {b: round(v[key], 5) for b, v in mpc["by_prefix_length"].items()}
    out["n"] = xr["n"]
    return out


def latency(fn: Callable[[str, str], object], prev: Sequence[str], prefix: Sequence[str], n: int = 10_000,
            warmup: int = 500) -> dict[str, float]:
    """p50/p99/mean milliseconds of ``fn(prev, prefix)`` over n requests (cycling the inputs) after warm-up."""
    return timed(fn, list(zip(prev, prefix)), n, warmup)

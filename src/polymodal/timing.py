"""Per-request latency percentiles: one place for how every system in polymodal times single requests."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np


def latency(fn: Callable[..., object], inputs: Sequence[tuple], n: int = 10_000, warmup: int = 500) -> dict:
    """p50/p99/mean milliseconds of ``fn(*inputs[i % len(inputs)])`` over n timed requests after ``warmup``
    untimed ones (cycling the inputs)."""
    m = len(inputs)
    if not m:
        raise ValueError("no inputs to time")
    for i in range(min(warmup, n)):
        fn(*inputs[i % m])
    times = np.empty(n)
    clock = time.perf_counter
    for i in range(n):
        args = inputs[i % m]
        t0 = clock()
        fn(*args)
        times[i] = clock() - t0
    times *= 1e3
    return {"p50_ms": float(np.percentile(times, 50)), "p99_ms": float(np.percentile(times, 99)),
            "mean_ms": float(times.mean()), "requests": n}

import numpy as np
import pytest

from polymodal import timing
from polymodal.timing import latency


def test_latency_percentiles_from_the_clock(monkeypatch):
    """With a fake clock where timed request i (1-based) takes i ms, p50/p99/mean are those of 1..n ms."""
    ticks = iter(np.cumsum([0.0] + [x for i in range(1, 51) for x in (i / 1000, 0.0)]))
    monkeypatch.setattr(timing.time, "perf_counter", lambda: float(next(ticks)))
    calls = []
    res = latency(lambda a: calls.append(a), [("x",), ("y",)], n=50, warmup=5)
    durations = np.arange(1, 51, dtype=float)
    assert len(calls) == 55 and calls[:3] == ["x", "y", "x"]
    assert res["p50_ms"] == pytest.approx(np.percentile(durations, 50))
    assert res["p99_ms"] == pytest.approx(np.percentile(durations, 99))
    assert res["mean_ms"] == pytest.approx(25.5)


def test_latency_needs_inputs():
    with pytest.raises(ValueError):
        latency(lambda: None, [], n=3)

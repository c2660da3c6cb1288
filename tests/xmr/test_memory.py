"""Freed heap memory goes back to the OS (glibc): the resident set drops after release_free_memory()."""

from __future__ import annotations

import ctypes
import ctypes.util
from pathlib import Path

import numpy as np

from polymodal.xmr.memory import TrimEvery, release_free_memory


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS in /proc/self/status")


def test_freed_heap_blocks_are_returned():
    # CI and every supported machine run Linux with glibc: no skip, a missing malloc_trim is a failure
    assert hasattr(ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6"), "malloc_trim")
    big = np.ones(16 * 2**20 // 8)  # freeing a 16 MB mmap raises glibc's mmap threshold: 1 MB blocks now
    del big                          # come from the heap and stay resident after free
    blocks = [np.ones(2**20 // 8) for _ in range(300)]
    keep = blocks[-1]  # the last block stays: the heap's top is in use, so only a whole-heap trim helps
    del blocks
    before = _rss_mb()
    assert release_free_memory()
    after = _rss_mb()
    assert before - after > 150, (before, after)
    assert keep.sum() == 2**20 // 8


def test_trim_every_counts_bytes(monkeypatch):
    calls = []
    monkeypatch.setattr("polymodal.xmr.memory.release_free_memory", lambda: calls.append(1) or True)
    t = TrimEvery(100)
    for _ in range(9):
        t.freed(30)
    assert len(calls) == 2  # at 120 and at 240 bytes freed; 30 pending
    assert t.pending == 30

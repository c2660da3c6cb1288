"""Run numba ``nogil`` kernels on several threads.

We use a plain thread pool instead of numba's ``prange`` because the work items (tree nodes, training jobs,
query ranges) have very uneven costs: dynamic assignment from a queue keeps both cores busy, and each thread can
own scratch buffers that kernels reset after use instead of reallocating them.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def default_threads() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - non-Linux
        return max(1, os.cpu_count() or 1)


def resolve_threads(threads: int | None) -> int:
    if threads is None or threads <= 0:
        return default_threads()
    return int(threads)


def thread_map(
    fn: Callable[[T, dict], R],
    items: Sequence[T] | Iterable[T],
    threads: int,
    make_scratch: Callable[[], dict] | None = None,
    on_done: Callable[[R], None] | None = None,
) -> list[R]:
    """``[fn(item, scratch) for item in items]`` on ``threads`` threads, results in input order.

    ``scratch`` is a per-thread dict created once by ``make_scratch``; ``on_done`` is called (from the worker
    thread, under a lock) after each item, e.g. to advance a progress bar."""
    items = list(items)
    local = threading.local()
    lock = threading.Lock()

    def run(item: T) -> R:
        scratch = getattr(local, "scratch", None)
        if scratch is None:
            scratch = local.scratch = make_scratch() if make_scratch else {}
        out = fn(item, scratch)
        if on_done is not None:
            with lock:
                on_done(out)
        return out

    if threads <= 1 or len(items) <= 1:
        return [run(it) for it in items]
    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(run, items))

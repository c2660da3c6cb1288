"""Give freed heap memory back to the operating system.

Training frees many medium-sized arrays (a parent's job outputs, then its packed arrays once they are copied into
the model). glibc keeps such blocks in its heap after ``free`` (its mmap threshold rises to the size of the
largest block freed, so later blocks of that size come from the heap), and the resident set keeps them too while
the model's big arrays (fresh mmaps) grow beside them: measured on the GENERATED ``M`` set, the final
concatenation peaked at 3.3 GB for a 1.75 GB model. ``malloc_trim(0)`` returns the free pages (the whole heap,
not only its top) at a cost of a few milliseconds; elsewhere (not glibc) this is a no-op.
"""

from __future__ import annotations

import ctypes
import ctypes.util

_LIBC = None


def _libc():
    global _LIBC
    if _LIBC is None:
        try:
            lib = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            _LIBC = lib if hasattr(lib, "malloc_trim") else False
        except OSError:
            _LIBC = False
    return _LIBC


def release_free_memory() -> bool:
    """Return the heap's free pages to the OS; True if glibc's ``malloc_trim`` ran."""
    lib = _libc()
    if not lib:
        return False
    lib.malloc_trim(0)
    return True


class TrimEvery:
    """Call :func:`release_free_memory` once every ``nbytes`` freed (reported with :meth:`freed`)."""

    def __init__(self, nbytes: int = 256 * 2**20):
        self.nbytes = nbytes
        self.pending = 0

    def freed(self, n: int) -> None:
        self.pending += n
        if self.pending >= self.nbytes:
            release_free_memory()
            self.pending = 0

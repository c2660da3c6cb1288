"""Validation of numeric hyperparameters, shared by every config: type, finiteness and a sane range.

A value from a command line, a ``--params`` file or a model's ``config.json`` goes through these before it
reaches an allocation or a kernel, so ``beam_size=1e9``, ``Cp=inf``, ``threshold=nan`` or ``threads=-5`` are
refused with one line naming the field instead of failing later (or never)."""

from __future__ import annotations

import math
import numbers

from .errors import InputError

# upper bounds no real run needs to exceed; they stop a typo or a hostile config from allocating without limit
MAX_BEAM = 100_000
MAX_K = 100_000
MAX_THREADS = 4096


def check_int(name: str, value, lo: int, hi: int) -> int:
    """``value`` as an int in ``[lo, hi]``; bools, strings and non-integral numbers are refused."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        if isinstance(value, float) and value.is_integer() and lo <= value <= hi:
            return int(value)
        raise InputError(f"{name} must be an integer, got {value!r}")
    if not lo <= value <= hi:
        raise InputError(f"{name} must be between {lo} and {hi}, got {value}")
    return int(value)


def check_float(name: str, value, lo: float, hi: float, lo_open: bool = False) -> float:
    """``value`` as a finite float in ``[lo, hi]`` (``(lo, hi]`` with ``lo_open``); NaN and inf are refused."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InputError(f"{name} must be a number, got {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise InputError(f"{name} must be a finite number, got {value!r}")
    if v < lo or (lo_open and v == lo) or v > hi:
        raise InputError(f"{name} must be {'>' if lo_open else '>='} {lo:g} and <= {hi:g}, got {value!r}")
    return v


def check_choice(name: str, value, choices) -> str:
    if value not in choices:
        raise InputError(f"{name} must be one of {', '.join(map(str, choices))}, got {value!r}")
    return value

"""Lists of strings as two numpy arrays (UTF-8 bytes + offsets), so they can live in safetensors files."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def encode_strings(strings: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    encoded = [s.encode("utf-8") for s in strings]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(e) for e in encoded], out=offsets[1:])
    data = np.frombuffer(b"".join(encoded), dtype=np.uint8).copy()
    if data.size == 0:
        data = np.zeros(0, dtype=np.uint8)
    return data, offsets


def decode_strings(data: np.ndarray, offsets: np.ndarray) -> list[str]:
    offsets = np.asarray(offsets, dtype=np.int64)
    if offsets.ndim != 1 or len(offsets) == 0 or offsets[0] != 0 or offsets[-1] != len(data):
        raise ValueError("string offsets do not match the byte buffer")
    if np.any(np.diff(offsets) < 0):
        raise ValueError("string offsets are not monotone")
    raw = np.asarray(data, dtype=np.uint8).tobytes()
    return [raw[a:b].decode("utf-8") for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist())]

"""``XREnsemble``: several XR-Linear text models over the same items, scores summed with weights.

PECOS ensembles XR models built on different features (the XR-Transformer papers average 3-9 of them). Here each
member retrieves its top ``candidates`` items; an item's ensemble score is the weighted sum of its member scores
(0 from a member that did not retrieve it), and the top k by that sum are returned. Members differ in feature set
(word + char + TF-IDF, or character trigrams alone), so their label trees and rankers make different errors.

A folder holds ``config.json`` and one XRTextModel folder per member. :func:`load_search_model` opens either kind.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .. import __version__
from ..checks import MAX_K, check_float, check_int
from ..errors import InputError, ModelError
from ..modelio import atomic_dir, read_config, write_config
from ..xmr.text_model import XRTextModel

FORMAT = "polymodal.xr-ensemble"
FORMAT_VERSION = 1


class XREnsemble:
    def __init__(self, members: Sequence[XRTextModel], weights: Sequence[float] | None = None,
                 candidates: int = 100):
        if not members:
            raise InputError("an ensemble needs at least one member")
        weights = [1.0] * len(members) if weights is None else \
            [check_float(f"ensemble weight {j}", w, 0.0, 1e6, lo_open=True) for j, w in enumerate(weights)]
        if len(weights) != len(members):
            raise InputError(f"{len(weights)} weights for {len(members)} members")
        if any(not np.isfinite(w) or w <= 0 for w in weights):
            raise InputError(f"ensemble weights must be positive, got {weights}")
        check_int("candidates", candidates, 1, MAX_K)
        self.members, self.weights, self.candidates = list(members), weights, int(candidates)

    def fit(self, texts: Sequence[str], label_lists: Sequence[Sequence[int]], labels: Sequence[str] | None = None,
            progress: bool = False) -> XREnsemble:
        for m in self.members:
            m.fit(texts, label_lists, labels, progress=progress)
        return self

    @property
    def labels_(self) -> list[str]:
        return self.members[0].labels_

    @property
    def n_labels_(self) -> int:
        return self.members[0].xr.n_labels_

    def predict(self, texts: Sequence[str], k: int = 10, beam_size: int | None = None):
        """(ids n x k, scores n x k), -1 / 0 padded, best first, ties by item id."""
        if k < 1:
            raise InputError(f"k must be >= 1, got {k}")
        pool = max(k, self.candidates)
        parts = [m.predict(texts, k=pool, beam_size=beam_size) for m in self.members]
        n = len(texts)
        ids_out = np.full((n, k), -1, np.int64)
        sc_out = np.zeros((n, k), np.float32)
        for i in range(n):
            ids, sc = self._merge([(p[0][i], p[1][i]) for p in parts], k)
            ids_out[i, : len(ids)], sc_out[i, : len(ids)] = ids, sc
        return ids_out, sc_out

    def predict_one(self, text: str, k: int = 10, beam_size: int | None = None):
        pool = max(k, self.candidates)
        return self._merge([m.predict_one(text, k=pool, beam_size=beam_size) for m in self.members], k)

    def suggest(self, text: str, k: int = 10, beam_size: int | None = None) -> list[tuple[str, float]]:
        ids, scores = self.predict_one(text, k, beam_size)
        return [(self.labels_[i], float(s)) for i, s in zip(ids, scores)]

    def _merge(self, parts, k: int):
        total: dict[int, float] = {}
        for (ids, sc), w in zip(parts, self.weights):
            for i, s in zip(np.asarray(ids).tolist(), np.asarray(sc).tolist()):
                if i >= 0:
                    total[i] = total.get(i, 0.0) + w * s
        best = sorted(total.items(), key=lambda t: (-t[1], t[0]))[:k]
        return (np.array([i for i, _ in best], np.int64), np.array([s for _, s in best], np.float32))

    def save(self, folder: str | Path) -> Path:
        with atomic_dir(folder) as tmp:
            write_config(tmp, {"format": FORMAT, "format_version": FORMAT_VERSION, "polymodal_version": __version__,
                               "weights": self.weights, "candidates": self.candidates,
                               "members": [f"member{j}" for j in range(len(self.members))]})
            for j, m in enumerate(self.members):
                m.save(tmp / f"member{j}")
        return Path(folder)

    @classmethod
    def load(cls, folder: str | Path) -> XREnsemble:
        cfg = read_config(folder, FORMAT, FORMAT_VERSION)
        try:
            names, weights, candidates = list(cfg["members"]), list(cfg["weights"]), cfg["candidates"]
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"{folder}: invalid ensemble config: {exc}") from None
        if any(not isinstance(n, str) or "/" in n or n.startswith(".") for n in names):
            raise ModelError(f"{folder}: invalid member names {names}")
        members = [XRTextModel.load(Path(folder) / n) for n in names]
        if any(m.labels_ != members[0].labels_ for m in members[1:]):
            raise ModelError(f"{folder}: the members rank different item lists")
        try:
            return cls(members, weights, candidates)
        except InputError as exc:
            raise ModelError(f"{folder}: {exc}") from None


def load_search_model(folder: str | Path) -> XRTextModel | XREnsemble:
    """An XRTextModel or XREnsemble folder, by the format its config.json names."""
    import json

    path = Path(folder) / "config.json"
    try:
        fmt = json.loads(path.read_text(encoding="utf-8")).get("format")
    except (OSError, ValueError, AttributeError):
        fmt = None  # let the loader below give its own clear error
    return XREnsemble.load(folder) if fmt == FORMAT else XRTextModel.load(folder)


__all__ = ["XREnsemble", "load_search_model"]

"""``XRTextModel``: raw text in, ranked label strings out (vectoriser + XR-Linear + label names, one folder)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .. import __version__
from ..errors import InputError, ModelError
from ..modelio import atomic_dir, load_arrays, read_config, save_arrays, write_config
from .features import TextVectorizer, VectorizerConfig
from .model import ARRAYS_FILE, XRLinear, XRLinearConfig
from .strings import decode_strings, encode_strings
from .text2text import clean_text

FORMAT = "polymodal.xr-text"
FORMAT_VERSION = 1


class XRTextModel:
    def __init__(self, config: XRLinearConfig | None = None, vectorizer: VectorizerConfig | None = None,
                 **overrides):
        self.xr = XRLinear(config, **overrides)
        self.vectorizer = TextVectorizer(vectorizer)

    @property
    def config(self) -> XRLinearConfig:
        return self.xr.config

    @property
    def n_labels_(self) -> int:
        return self.xr.n_labels_

    def fit(self, texts: Sequence[str], label_lists: Sequence[Sequence[int]], labels: Sequence[str] | None = None,
            progress: bool = False) -> XRTextModel:
        if len(texts) != len(label_lists):
            raise InputError(f"{len(texts)} texts but {len(label_lists)} label lists")
        if not len(texts):
            raise InputError("no training examples")
        texts = [_check_text(t, i) for i, t in enumerate(texts)]
        X = self.vectorizer.fit_transform(texts)
        n_labels = max((max(x) for x in label_lists if len(x)), default=-1) + 1
        if labels is not None:
            if n_labels > len(labels):
                raise InputError(f"label id {n_labels - 1} out of range ({len(labels)} labels)")
            n_labels = len(labels)
        from .metrics import labels_to_csr

        self.xr.fit(X, labels_to_csr(label_lists, n_labels), progress=progress)
        self.labels_ = list(labels) if labels is not None else [str(i) for i in range(n_labels)]
        return self

    def transform(self, texts: Sequence[str]):
        return self.vectorizer.transform([_check_text(t, i) for i, t in enumerate(texts)])

    def predict(self, texts: Sequence[str], k: int | None = None, beam_size: int | None = None):
        """(ids n x k, scores n x k) for a batch of texts."""
        return self.xr.predict(self.transform(texts), k=k, beam_size=beam_size)

    def predict_one(self, text: str, k: int | None = None, beam_size: int | None = None):
        """(ids, scores) for one text through the no-scipy fast path."""
        idx, val = self.vectorizer.transform_one(_check_text(text, 0))
        return self.xr.predict_one(idx, val, k=k, beam_size=beam_size)

    def suggest(self, text: str, k: int | None = None, beam_size: int | None = None) -> list[tuple[str, float]]:
        """(label string, score) pairs for one text, best first."""
        ids, scores = self.predict_one(text, k, beam_size)
        return [(self.labels_[i], float(s)) for i, s in zip(ids, scores)]

    def save(self, folder: str | Path, layout: str = "compact") -> Path:
        """Write the folder; ``layout="mmap"`` stores the matcher for memory-mapped loading (see XRLinear.save)."""
        with atomic_dir(folder) as tmp:
            write_config(tmp, {
                "format": FORMAT, "format_version": FORMAT_VERSION, "polymodal_version": __version__,
                "vectorizer": self.vectorizer.config.to_dict(), "xr_linear": self.xr._config_dict(layout),
            })
            save_arrays(tmp / ARRAYS_FILE, self.xr.arrays(layout))
            data, offsets = encode_strings(self.labels_)
            save_arrays(tmp / "text.safetensors",
                        {**self.vectorizer.state(), "labels.bytes": data, "labels.offsets": offsets})
        return Path(folder)

    @property
    def layout(self) -> str:
        return "mmap" if self.xr.weights_.mapped else "compact"

    @classmethod
    def load(cls, folder: str | Path, mmap: bool | None = None) -> XRTextModel:
        """Load the folder; the matcher is memory-mapped when it was saved with ``layout="mmap"`` (see
        XRLinear.load for ``mmap``)."""
        cfg = read_config(folder, FORMAT, FORMAT_VERSION)
        folder = Path(folder)
        try:
            self = cls.__new__(cls)
            if not isinstance(cfg.get("xr_linear"), dict):
                raise ValueError("config.json has no xr_linear section")
            self.xr = XRLinear._from_parts(cfg["xr_linear"], folder / ARRAYS_FILE, folder, mmap)
            arrays = load_arrays(folder / "text.safetensors")
            vcfg = VectorizerConfig.from_dict(cfg["vectorizer"])
            self.vectorizer = TextVectorizer.from_state(vcfg, arrays)
            self.labels_ = decode_strings(arrays["labels.bytes"], arrays["labels.offsets"])
        except ModelError:
            raise
        except (KeyError, ValueError, TypeError, UnicodeDecodeError) as exc:
            raise ModelError(f"{folder}: invalid model: {exc}") from None
        if self.vectorizer.n_features_ != self.xr.n_features_in_:
            raise ModelError(f"{folder}: vectoriser has {self.vectorizer.n_features_} features, "
                             f"matcher expects {self.xr.n_features_in_}")
        if len(self.labels_) != self.xr.n_labels_:
            raise ModelError(f"{folder}: {len(self.labels_)} label names for {self.xr.n_labels_} labels")
        return self


def _check_text(text, i: int) -> str:
    if not isinstance(text, str):
        raise InputError(f"input {i} is not a string")
    t = clean_text(text)
    if not t:
        raise InputError(f"input {i} is empty")
    return t


__all__ = ["XRTextModel"]

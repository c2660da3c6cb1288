"""Loaders for the real image sets: ETH-80 (multi-view objects with masks), Fashion-MNIST (IDX files), Flickr8k
(captions for 8k images, pixels for 1000), ISBI 2012 (EM slices + membrane labels). Arrays only, no torch.

Every file goes through :func:`fetch` (checksum against MANIFEST.sha256). ISBI's PNGs are verbatim copies of
zhixuhao/unet and download when missing; the others are converted files and need the data folder.
"""

from __future__ import annotations

import gzip
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataError
from .home import data_home, fetch, read_manifest

FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot")


@dataclass
class ETH80:
    images: np.ndarray  # uint8 (3280, 128, 128, 3)
    masks: np.ndarray  # uint8 {0, 1} (3280, 128, 128)
    label: np.ndarray  # category id per view
    object_id: np.ndarray  # 0..79: 10 objects per category; split by this, never by image
    elev: np.ndarray
    azim: np.ndarray
    category_names: list[str]

    def views_of(self, obj: int) -> np.ndarray:
        return np.flatnonzero(self.object_id == obj)


def load_eth80() -> ETH80:
    path = fetch("eth80/eth80_128.npz")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in ("images", "masks", "label", "object_id", "elev", "azim", "category_names")}
    except (KeyError, ValueError, OSError) as exc:
        raise DataError(f"{path}: not the expected ETH-80 archive ({exc})") from None
    names = [str(s) for s in arrays.pop("category_names")]
    return ETH80(**{k: v if k in ("images", "masks") else v.astype(np.int64) for k, v in arrays.items()},
                 category_names=names)


def _read_idx(relpath: str, magic: int, ndim: int) -> np.ndarray:
    with gzip.open(fetch(relpath), "rb") as f:
        data = f.read()
    if len(data) < 4 + 4 * ndim or int.from_bytes(data[:4], "big") != magic:
        raise DataError(f"{relpath}: not an IDX file with magic {magic:#x}")
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(dims)):
        raise DataError(f"{relpath}: {body.size} bytes of data for shape {dims}")
    return body.reshape(dims)


def load_fashion_mnist(split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (N, 28, 28), labels int64 (N,)) for split ``train`` (60,000) or ``test`` (10,000)."""
    prefix = {"train": "train", "test": "t10k"}.get(split)
    if prefix is None:
        raise DataError(f"Fashion-MNIST split must be train or test, got {split!r}")
    x = _read_idx(f"fashion_mnist/{prefix}-images-idx3-ubyte.gz", 0x803, 3)
    y = _read_idx(f"fashion_mnist/{prefix}-labels-idx1-ubyte.gz", 0x801, 1).astype(np.int64)
    if len(x) != len(y):
        raise DataError(f"Fashion-MNIST {split}: {len(x)} images but {len(y)} labels")
    return x, y


@dataclass
class Flickr8k:
    captions: dict[str, list[str]]  # image file name -> its 5 human captions
    splits: dict[str, list[str]]  # train / dev / test -> image file names (the official 6000/1000/1000)
    with_pixels: set[str]  # the 1000 images whose JPEG is in the data folder

    def image_path(self, name: str) -> Path:
        return fetch(f"flickr8k/images/{name}")

    def available(self, split: str) -> list[str]:
        return [n for n in self.splits[split] if n in self.with_pixels]


def load_flickr8k() -> Flickr8k:
    captions: dict[str, list[str]] = {}
    with open(fetch("flickr8k/Flickr8k.token.txt"), encoding="utf-8") as f:
        for line in f:
            key, _, text = line.rstrip("\n").partition("\t")
            # one line of the original file names "2258277193_586949ec62.jpg.1": a typo for that image's
            # fifth caption (it has four others); fold it back so every image has its 5 captions
            name = re.sub(r"\.jpg\.\d+$", ".jpg", key.split("#")[0])
            if name and text:
                captions.setdefault(name, []).append(text.strip())
    splits = {}
    for split, fname in (("train", "trainImages"), ("dev", "devImages"), ("test", "testImages")):
        with open(fetch(f"flickr8k/Flickr_8k.{fname}.txt"), encoding="utf-8") as f:
            splits[split] = [s.strip() for s in f if s.strip()]
    manifest = read_manifest(data_home())
    pixels = {p.split("/", 2)[2] for p in manifest if p.startswith("flickr8k/images/")}
    return Flickr8k(captions, splits, pixels)


def _png(relpath: str) -> np.ndarray:
    from PIL import Image

    with Image.open(fetch(relpath)) as im:
        return np.asarray(im.convert("L"), dtype=np.uint8)


def load_isbi(split: str = "train") -> tuple[np.ndarray, np.ndarray | None]:
    """``train``: (images uint8 (30, 512, 512), labels bool (30, 512, 512), True = cell, False = membrane);
    ``test``: (images, None)."""
    if split not in ("train", "test"):
        raise DataError(f"ISBI split must be train or test, got {split!r}")
    manifest = read_manifest(data_home())
    folder = "isbi2012/train/image/" if split == "train" else "isbi2012/test/"
    names = [p[len(folder):] for p in manifest if p.startswith(folder)]
    names = sorted((n for n in names if re.fullmatch(r"\d+\.png", n)), key=lambda s: int(s.split(".")[0]))
    if not names:
        raise DataError(f"no ISBI {split} images listed in the manifest")
    images = np.stack([_png(folder + n) for n in names])
    if split == "test":
        return images, None
    labels = np.stack([_png("isbi2012/train/label/" + n) > 127 for n in names])
    return images, labels

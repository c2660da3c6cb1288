"""Loaders and builders for the real datasets (see ``home`` for the data folder and checksums)."""

from __future__ import annotations

from collections.abc import Callable

from ..errors import DataError
from . import amazon, aol, debian
from .home import data_home, fetch
from .mulan import MAT_SETS, load_mat
from .xmc import TextXMCDataset

TEXT_BUILDERS: dict[str, Callable[[], TextXMCDataset]] = {
    "debian-depends": debian.build_depends,
    "debian-debtags": debian.build_debtags,
    "aol-clicks": aol.build_clicks,
    "amazon-toys-category": amazon.build_category,
}


def build_text_dataset(name: str) -> TextXMCDataset:
    if name not in TEXT_BUILDERS:
        raise DataError(f"unknown dataset {name!r}; choose from {sorted(TEXT_BUILDERS)}")
    return TEXT_BUILDERS[name]()


__all__ = ["MAT_SETS", "TEXT_BUILDERS", "TextXMCDataset", "build_text_dataset", "data_home", "fetch", "load_mat"]

"""Extreme multi-label sets built from the Debian 12 ``Packages`` index (RFC 822 stanzas).

- ``debian-depends``: text = package name (dashes to spaces) + short and long description; labels = the
  ``Depends`` package names (first alternative of each clause, version and architecture qualifiers stripped).
- ``debian-debtags``: same text; labels = the ``Tag`` values (debtags such as ``role::program``).

Both count label uses over all records, keep labels used at least twice, drop records left with no label,
then split the rest 80/20 by a seeded shuffle
(``numpy.random.default_rng(0).permutation``) over the records in file order.
"""

from __future__ import annotations

import lzma
import re

from .home import fetch
from .xmc import TextXMCDataset, from_records

RELPATH = "debian/bookworm_main_amd64_Packages.xz"
_QUALIFIER = re.compile(r"\s*(\(.*?\)|\[.*?\]|<.*?>)")


def parse_stanzas(text: str) -> list[dict[str, str]]:
    """Parse RFC 822 stanzas; continuation lines are joined with newlines (leading space removed)."""
    records: list[dict[str, str]] = []
    for block in text.split("\n\n"):
        rec: dict[str, str] = {}
        key = None
        for line in block.split("\n"):
            if not line:
                continue
            if line[0] in " \t" and key is not None:
                rec[key] += "\n" + line[1:]
            elif ":" in line:
                key, value = line.split(":", 1)
                rec[key] = value.strip()
        if rec:
            records.append(rec)
    return records


def description_text(rec: dict[str, str]) -> str:
    """Package name with dashes as spaces, then the description; paragraph-break lines (``.``) removed."""
    lines = [ln for ln in rec.get("Description", "").split("\n") if ln.strip() != "."]
    return rec["Package"].replace("-", " ") + " " + " ".join(ln.strip() for ln in lines)


def depends_names(field: str) -> list[str]:
    """First alternative of each comma-separated clause, without version/arch qualifiers (``pkg:any`` -> pkg)."""
    out = []
    for clause in field.split(","):
        first = _QUALIFIER.sub("", clause.split("|")[0]).strip()
        first = first.split(":")[0]
        if first:
            out.append(first)
    return out


def tag_names(field: str) -> list[str]:
    return [t.strip() for t in field.replace("\n", " ").split(",") if t.strip()]


def load_records() -> list[dict[str, str]]:
    with lzma.open(fetch(RELPATH), "rt", encoding="utf-8") as f:
        return [r for r in parse_stanzas(f.read()) if "Package" in r]


def _build(name: str, key: str, extract, seed: int = 0) -> TextXMCDataset:
    recs = load_records()
    texts = [description_text(r) for r in recs]
    labels = [extract(r.get(key, "")) for r in recs]
    meta = {"source": RELPATH, "records": len(recs), "split": f"80/20 seeded shuffle, seed {seed}"}
    return from_records(name, texts, labels, None, min_label_count=2, meta=meta, seed=seed)


def build_depends(seed: int = 0) -> TextXMCDataset:
    return _build("debian-depends", "Depends", depends_names, seed)


def build_debtags(seed: int = 0) -> TextXMCDataset:
    return _build("debian-debtags", "Tag", tag_names, seed)

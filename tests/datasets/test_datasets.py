"""Data home checksums, offline download errors, and the builders' documented rules on the real files."""

from __future__ import annotations

import shutil
import urllib.error

import pytest

from polymodal.datasets import build_text_dataset, home
from polymodal.datasets.debian import depends_names, parse_stanzas, tag_names
from polymodal.errors import DataError


def test_manifest_verification_detects_corruption(tmp_path, monkeypatch):
    real = home.data_home()
    rel = "amazon_uk_toys/amazon_co-ecommerce_sample.csv.gz"
    (tmp_path / "amazon_uk_toys").mkdir()
    shutil.copy(real / rel, tmp_path / rel)
    (tmp_path / "MANIFEST.sha256").write_text((real / "MANIFEST.sha256").read_text())
    monkeypatch.setenv("POLYMODAL_DATA", str(tmp_path))
    assert home.fetch(rel) == tmp_path / rel
    with open(tmp_path / rel, "r+b") as f:
        f.seek(100)
        f.write(b"\x00\x00")
    home._verified.discard(tmp_path / rel)
    with pytest.raises(DataError, match="checksum mismatch"):
        home.fetch(rel)


def test_missing_data_home_and_offline_download(tmp_path, monkeypatch):
    monkeypatch.delenv("POLYMODAL_DATA", raising=False)
    with pytest.raises(DataError, match="POLYMODAL_DATA is not set"):
        home.data_home()
    (tmp_path / "MANIFEST.sha256").write_text("0" * 64 + "  multilabel/enron.mat\n" + "1" * 64 + "  aol/x.gz\n")
    monkeypatch.setenv("POLYMODAL_DATA", str(tmp_path))

    def offline(*a, **k):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(home.urllib.request, "urlopen", offline)
    with pytest.raises(DataError, match="could not download"):
        home.fetch("multilabel/enron.mat")
    assert not (tmp_path / "multilabel" / "enron.mat").exists()
    with pytest.raises(DataError, match="cannot be downloaded verbatim"):
        home.fetch("aol/x.gz")
    assert home.canonical_url("multilabel/enron.mat").endswith("/enron.mat")


def test_debian_field_rules():
    assert depends_names("libc6 (>= 2.34), python3:any, foo | bar (>= 1), libx [amd64] <!nocheck>") == [
        "libc6", "python3", "foo", "libx"]
    assert tag_names("role::program,\n use::gameplaying, x11::application") == [
        "role::program", "use::gameplaying", "x11::application"]
    recs = parse_stanzas("Package: a\nDescription: short\n long line\n .\n more\n\nPackage: b\n")
    assert recs[0]["Description"] == "short\nlong line\n.\nmore" and recs[1]["Package"] == "b"


def test_debian_depends_build(debian_depends):
    s = debian_depends.summary()
    assert 17000 < s["n_labels"] < 18500  # labels used at least twice
    total = s["n_train"] + s["n_test"]
    assert 53000 < total < 55500 and abs(s["n_train"] / total - 0.8) < 0.001
    counts = {}
    for ys in debian_depends.train_labels + debian_depends.test_labels:
        assert ys
        for y in ys:
            counts[y] = counts.get(y, 0) + 1
    assert min(counts.values()) >= 2 and len(counts) == s["n_labels"]
    again = build_text_dataset("debian-depends")
    assert again.train_texts[:50] == debian_depends.train_texts[:50]  # deterministic split


def test_aol_clicks_split_by_time():
    from polymodal.datasets import aol

    ds = aol.build_clicks()
    s = ds.summary()
    assert 70000 < s["n_labels"] < 100000
    assert s["n_train"] > 150000 and s["n_test"] > 30000
    rows = aol.load_rows()
    assert max(r[2] for r in rows if r[2] < aol.TEST_START) < min(r[2] for r in rows if r[2] >= aol.TEST_START)


def test_amazon_category_prefixes(tmp_path):
    ds = build_text_dataset("amazon-toys-category")
    for ys in ds.train_labels[:200]:
        names = [ds.labels[y] for y in ys]
        for n in names:  # every kept label's parents are labels of the same product when kept
            parent = n.rsplit(" > ", 1)[0]
            if " > " in n and parent in ds.labels:
                assert parent in names
    out = ds.save(tmp_path / "toys")
    assert {p.name for p in out.iterdir()} == {"train.tsv", "test.tsv", "labels.txt", "meta.json"}


def test_mat_benchmark_shapes():
    from polymodal.datasets import load_mat

    Xtr, Ytr, Xte, Yte = load_mat("bibtex")
    assert Xtr.shape[0] + Xte.shape[0] == 7395 and Xtr.shape[1] == 1836 and Ytr.shape[1] == 159
    assert set(Ytr.data.tolist()) == {1.0} and Xtr.dtype.name == "float32"
    with pytest.raises(DataError):
        load_mat("nope")


def test_top_category_keeps_categories_with_enough_titles():
    import csv
    import gzip
    from collections import Counter

    from polymodal.datasets.amazon import RELPATH, build_top_category

    with gzip.open(home.fetch(RELPATH), "rt", encoding="utf-8", newline="") as f:
        rows = [r for r in csv.reader(f) if len(r) >= 3 and r[2].strip()]
    counts = Counter(r[2].split(">")[0].strip() for r in rows)
    tr_x, tr_y, te_x, te_y, names = build_top_category(min_count=40)
    assert names == sorted(c for c, n in counts.items() if n >= 40)
    assert len(tr_x) + len(te_x) == sum(n for n in counts.values() if n >= 40)
    assert abs(len(te_x) - 0.2 * (len(tr_x) + len(te_x))) <= 1
    got = Counter(names[y] for y in tr_y + te_y)
    assert got == Counter({c: n for c, n in counts.items() if n >= 40})
    pairs = Counter((r[1], r[2].split(">")[0].strip()) for r in rows)
    assert Counter((t, names[y]) for t, y in zip(tr_x + te_x, tr_y + te_y, strict=True)) == Counter(
        {(t, c): n for (t, c), n in pairs.items() if counts[c] >= 40})

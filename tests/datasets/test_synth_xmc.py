"""The GENERATED XMC data: determinism, the power law it is asked for, hierarchy, shards against the text files."""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter

import numpy as np
import pytest
import scipy.sparse as sp

from polymodal.cli import main
from polymodal.datasets.synth_xmc import (
    SynthConfig,
    label_counts,
    label_model,
    label_sets,
    load_shards,
    pseudo_words,
    rank_frequency_exponent,
    write_synth,
)
from polymodal.errors import InputError

SMALL = dict(labels=3000, rows=12_000, test_rows=1500, features=8000, shard_rows=5000)


def _digest(folder) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    cfg = SynthConfig(**SMALL)
    meta = write_synth(cfg, out)
    return cfg, out, meta


def test_seeded_determinism(small, tmp_path):
    cfg, out, _ = small
    write_synth(cfg, tmp_path / "again")
    assert _digest(out) == _digest(tmp_path / "again")
    write_synth(SynthConfig(**{**SMALL, "seed": 1}), tmp_path / "other")
    other = _digest(tmp_path / "other")
    assert other["train.tsv"] != _digest(out)["train.tsv"]


@pytest.mark.parametrize("a", [0.7, 0.88, 1.05])
def test_power_law_exponent_is_the_requested_one(a):
    cfg = SynthConfig(**{**SMALL, "exponent": a, "labels": 5000, "rows": 30_000})
    Y, _ = label_sets(cfg, label_model(cfg))
    counts = np.bincount(Y.indices, minlength=cfg.labels)
    assert abs(rank_frequency_exponent(counts) - a) < 0.03
    assert counts.min() >= 1  # every label occurs in training
    # occurrences are only moved, never dropped: the realised counts are the power-law counts
    assert np.array_equal(np.sort(counts), np.sort(label_counts(cfg.labels, cfg.rows * 3, a)))


def test_exponent_estimator_recovers_a_clean_power_law():
    r = np.arange(1, 20001)
    counts = np.floor(1e6 * r ** -0.9)
    assert rank_frequency_exponent(counts, min_count=50) == pytest.approx(0.9, abs=2e-3)


def test_shards_concatenate_to_the_text_files(small):
    cfg, out, meta = small
    X, Y = load_shards(out, "train")
    assert X.shape == (cfg.rows, cfg.features) and Y.shape == (cfg.rows, cfg.labels)
    assert meta["splits"]["train"]["shards"] == math.ceil(cfg.rows / cfg.shard_rows)
    # rebuild X from the tokens of train.tsv: (1 + ln count) * idf, idf from the document frequencies, rows
    # L2-normalised
    index = {w: i for i, w in enumerate(pseudo_words(cfg.features))}
    lines = (out / "train.tsv").read_text().splitlines()
    assert len(lines) == cfg.rows
    rows, cols, vals, ylabs = [], [], [], []
    for i, line in enumerate(lines):
        labs, text = line.split("\t")
        ylabs.append(sorted(map(int, labs.split(","))))
        for f, c in Counter(index[w] for w in text.split()).items():
            rows.append(i)
            cols.append(f)
            vals.append(1 + math.log(c))
    R = sp.csr_matrix((vals, (rows, cols)), shape=X.shape)
    df = np.bincount(R.indices, minlength=cfg.features)
    R = R @ sp.diags(np.log((1 + cfg.rows) / (1 + df)) + 1)
    R = sp.diags(1 / np.sqrt(np.asarray(R.multiply(R).sum(1)).ravel())) @ R
    assert abs(R - X).max() < 1e-6
    assert [Y.indices[Y.indptr[i]:Y.indptr[i + 1]].tolist() for i in range(cfg.rows)] == ylabs
    assert np.allclose(np.sqrt(np.asarray(X.multiply(X).sum(1)).ravel()), 1.0, atol=1e-5)
    assert abs(meta["labels_per_train_row"] - cfg.labels_per_row) < 0.01


def test_memory_mapped_shards_equal_copied_ones(small):
    _, out, _ = small
    X, Y = load_shards(out, "test")
    Xm, Ym = load_shards(out, "test", mmap=True)
    assert (X != Xm).nnz == 0 and (Y != Ym).nnz == 0


def test_labels_co_occur_within_their_topic(small):
    cfg, out, _ = small
    model = label_model(cfg)
    _, Y = load_shards(out, "train")
    same, pairs = 0, 0
    for i in range(Y.shape[0]):
        t = model.topic[Y.indices[Y.indptr[i]:Y.indptr[i + 1]]]
        for a in range(len(t)):
            for b in range(a + 1, len(t)):
                pairs += 1
                same += t[a] == t[b]
    chance = 1 / model.n_topics
    share = same / pairs
    assert share > 0.5 and share > 20 * chance  # mostly within the topic ...
    assert share < 0.95  # ... but mix moves a share across topics


def test_rows_of_a_label_share_its_signature(small):
    """Clustering must matter: a label's rows are closer to its topic-mates' rows than to other topics' rows."""
    cfg, out, _ = small
    model = label_model(cfg)
    X, Y = load_shards(out, "train")
    Yc = sp.csc_matrix(Y)
    emb = sp.csr_matrix(Yc.T @ X)  # PIFA before normalisation
    emb = sp.diags(1 / np.maximum(np.sqrt(np.asarray(emb.multiply(emb).sum(1)).ravel()), 1e-12)) @ emb
    rng = np.random.default_rng(0)
    a = rng.integers(0, cfg.labels, 400)
    mates = np.array([rng.choice(np.flatnonzero(model.topic == model.topic[x])) for x in a])
    others = rng.integers(0, cfg.labels, 400)
    sim = lambda u, v: np.asarray(emb[u].multiply(emb[v]).sum(1)).ravel()  # noqa: E731
    keep = mates != a
    assert sim(a[keep], mates[keep]).mean() > 2 * sim(a, others).mean()


def test_pseudo_words_are_distinct_and_tokenise_as_one_word():
    import re

    w = pseudo_words(70_000)
    assert len(set(w)) == len(w)
    assert all(re.fullmatch(r"[a-z]+", x) for x in w[::997])


def test_named_sizes_and_bad_config():
    assert SynthConfig.named("M").labels == 1_000_000
    assert SynthConfig.named("bow").features == 500
    with pytest.raises(InputError):
        SynthConfig.named("XL")
    with pytest.raises(InputError):
        SynthConfig(labels=0)
    with pytest.raises(InputError):
        SynthConfig(labels=1000, rows=10, labels_per_row=3)


def test_cli_writes_and_rejects(tmp_path, capsys):
    rc = main(["datasets", "synth-xmc", "--size", "tiny", "--labels", "500", "--rows", "2000", "--test-rows", "100",
               "--features", "3000", "--out", str(tmp_path / "d")])
    assert rc == 0
    meta = json.loads((tmp_path / "d" / "meta.json").read_text())
    assert meta["generated"] is True and meta["n_labels"] == 500 and meta["n_train"] == 2000
    assert (tmp_path / "d" / "labels.txt").read_text().splitlines()[0].startswith("synth-")
    capsys.readouterr()
    rc = main(["datasets", "synth-xmc", "--labels", "0", "--out", str(tmp_path / "bad")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("error: labels must be >= 1")
    assert not (tmp_path / "bad" / "meta.json").exists()


def test_more_topics_than_rows_still_deals_every_occurrence():
    """L's test split has more occurring topics (60,000) than rows (20,000): neighbouring topics then share rows
    instead of the dealing loop never ending; every row gets labels, no label repeats within a row."""
    cfg = SynthConfig(labels=6000, rows=2000, test_rows=150, features=3000, topic_size=10, seed=3)
    train, test = label_sets(cfg, label_model(cfg))
    for Y, n in ((train, 2000), (test, 150)):
        assert Y.shape == (n, 6000)
        assert np.all(np.diff(Y.indptr) >= 1)
        assert np.all(Y.data == 1.0)
    # 150 test rows x 3 labels = 450 occurrences over up to 600 topics: the fold must have happened
    topics_per_row = [len(set(label_model(cfg).topic[test.indices[a:b]])) for a, b in
                      zip(test.indptr[:-1], test.indptr[1:])]
    assert max(topics_per_row) >= 2
    assert abs(test.nnz - 450) <= 450 * 0.05  # repeats within a row merge; nearly all occurrences kept

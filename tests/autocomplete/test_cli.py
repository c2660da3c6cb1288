"""``polymodal autocomplete`` end to end on a slice of the real AOL sessions, and its bad inputs."""

from __future__ import annotations

import json

import pytest

from polymodal.autocomplete.model import SessionAutocomplete, normalize_prefix
from polymodal.cli import main
from polymodal.datasets.aol_sessions import SessionExamples, build_sessions, write_sessions_tsv


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    ds = build_sessions(seed=0)
    d = tmp_path_factory.mktemp("ac")
    tr, te = ds.splits["train"], ds.splits["test"]
    small_tr, small_te = SessionExamples(), SessionExamples()
    for i in range(12000):
        small_tr.add(tr.prev[i], tr.prefix[i], tr.target[i], tr.session[i])
    for i in range(600):
        small_te.add(te.prev[i], te.prefix[i], te.target[i], te.session[i])
    write_sessions_tsv(d / "train.tsv", small_tr)
    write_sessions_tsv(d / "test.tsv", small_te)
    return d, small_tr, small_te


@pytest.fixture(scope="module")
def model_dir(files):
    d, _, _ = files
    assert main(["autocomplete", "train", "-m", str(d / "m"), "-i", str(d / "train.tsv"), "--index", "hybrid",
                 "--trie-depth", "2", "--max-leaf-size", "50", "--quiet"]) == 0
    return d / "m"


def test_train_suggest_evaluate(files, model_dir, capsys):
    d, tr, te = files
    m = SessionAutocomplete.load(model_dir)
    assert m.config.index == "hybrid" and m.config.trie_depth == 2
    capsys.readouterr()
    assert main(["autocomplete", "suggest", "-m", str(model_dir), "--prev", te.prev[0], "--prefix",
                 te.prefix[0]]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == m.suggest(te.prev[0], te.prefix[0])
    assert all(s.startswith(te.prefix[0]) for s in lines)
    assert main(["autocomplete", "evaluate", "-m", str(model_dir), "-i", str(d / "test.tsv"),
                 "--latency-requests", "300", "--quiet"]) == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for key in ("MRR@10", "MRR@10_mpc", "p50_ms", "p99_ms", "MRR@10_by_prefix_length"):
        assert key in res
    assert set(res["MRR@10_by_prefix_length"]) == {"1", "2", "3", "4-6", "7+"}
    # MRR recomputed independently from the model's suggestions
    rr = []
    for a, b, t in zip(te.prev, te.prefix, te.target):
        s = m.suggest(a, b)
        rr.append(1 / (s.index(t) + 1) if t in s else 0.0)
    assert res["MRR@10"] == pytest.approx(sum(rr) / len(rr), abs=1e-5)
    assert res["n"] == len(te)


@pytest.mark.parametrize("args, message", [
    (["--index", "bogus"], "index must be one of"),
    (["--decode", "bogus"], "decode must be one of"),
    (["--trie-depth", "0"], "trie_depth"),
    (["--beam-size", "0"], "beam-size"),
])
def test_bad_training_options(files, tmp_path, capsys, args, message):
    d, _, _ = files
    out = tmp_path / "m"
    assert main(["autocomplete", "train", "-m", str(out), "-i", str(d / "train.tsv"), "--quiet", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and not out.exists()


def test_bad_files(files, model_dir, tmp_path, capsys):
    bad = tmp_path / "bad.tsv"
    bad.write_text("only two\tcolumns\n")
    assert main(["autocomplete", "train", "-m", str(tmp_path / "m"), "-i", str(bad), "--quiet"]) == 2
    assert "expected 'previous<TAB>prefix<TAB>target'" in capsys.readouterr().err
    assert main(["autocomplete", "train", "-m", str(tmp_path / "m"), "-i", str(tmp_path / "none.tsv")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()
    assert main(["autocomplete", "suggest", "-m", str(tmp_path / "none"), "--prefix", "a"]) == 2
    assert "error:" in capsys.readouterr().err
    assert main(["autocomplete", "suggest", "-m", str(model_dir), "--prefix", "a", "-k", "0"]) == 2
    assert "positive" in capsys.readouterr().err
    assert main(["autocomplete", "evaluate", "-m", str(model_dir), "--split", "nope"]) == 2
    assert "--split" in capsys.readouterr().err


def test_suggest_odd_inputs_do_not_crash(model_dir, capsys):
    m = SessionAutocomplete.load(model_dir)
    for prefix in ["", "\x00\x1b", "é" * 5000, "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzq", "new\udcff "]:
        assert main(["autocomplete", "suggest", "-m", str(model_dir), "--prefix", prefix]) == 0
        lines = capsys.readouterr().out.splitlines()
        norm = normalize_prefix(prefix)
        assert lines == m.suggest("", prefix)
        assert all(s.startswith(norm) for s in lines)
        if not norm:  # empty after normalisation: the most popular queries
            assert lines == m.mpc_.suggest("", 10) and len(lines) == 10
    assert normalize_prefix("new\udcff ") == "new "

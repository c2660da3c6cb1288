"""``polymodal retrieval`` end to end on the real Amazon UK toys set (title -> category), and its bad inputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from polymodal.cli import main
from polymodal.retrieval.evaluate import recall_metrics
from polymodal.xmr.text_model import XRTextModel


@pytest.fixture(scope="module")
def toys(tmp_path_factory):
    from polymodal.datasets import build_text_dataset

    ds = build_text_dataset("amazon-toys-category")
    d = ds.save(tmp_path_factory.mktemp("toys"))
    return ds, d


@pytest.fixture(scope="module")
def model_dir(toys):
    _, d = toys
    assert main(["retrieval", "train", "-m", str(d / "m"), "-i", str(d / "train.tsv"), "--features", "tfidf",
                 "--quiet"]) == 0
    return d / "m"


def test_evaluate_reports_the_model_recall(toys, model_dir, capsys):
    ds, d = toys
    capsys.readouterr()
    assert main(["retrieval", "evaluate", "-m", str(model_dir), "-i", str(d / "test.tsv"),
                 "--latency-requests", "200"]) == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    m = XRTextModel.load(model_dir)
    ids, _ = m.predict(ds.test_texts, k=100)
    assert res["R@10"] == pytest.approx(recall_metrics(ds.test_labels, ids, len(ds.labels))["R@10"], abs=1e-3)
    assert res["R@10"] > 60 and res["R@100"] >= res["R@10"]
    assert res["p99_ms"] >= res["p50_ms"] > 0 and res["model_mb"] > 0 and res["n"] == len(ds.test_texts)


def test_search_prints_the_models_items(model_dir, capsys):
    capsys.readouterr()
    assert main(["retrieval", "search", "-m", str(model_dir), "-k", "3", "lego star wars", "barbie doll"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.strip().splitlines()]
    m = XRTextModel.load(model_dir)
    assert [x["query"] for x in lines] == ["lego star wars", "barbie doll"]
    for x in lines:
        assert x["items"] == [s for s, _ in m.suggest(x["query"], 3)]


def test_retrieval_metrics_by_hand():
    import numpy as np

    ids = np.array([[3, 1, -1], [0, 2, 4]])
    r = recall_metrics([[1], [4, 9]], ids, 10)
    assert r["P@1"] == pytest.approx(0.0)
    assert r["R@10"] == pytest.approx(100 * (1.0 + 0.5) / 2)
    assert r["MRR"] == pytest.approx(100 * (1 / 2 + 1 / 3) / 2)


@pytest.mark.parametrize("args, msg", [
    (["retrieval", "train", "-m", "X"], "exactly one of --dataset and --input"),
    (["retrieval", "train", "-m", "X", "--dataset", "nope"], "--dataset must be one of"),
    (["retrieval", "train", "-m", "X", "--dataset", "aol-clicks", "--features", "bigram"], "unknown feature set"),
    (["retrieval", "search", "-m", "MODEL", "-k", "0", "x"], "-k must be between 1 and"),
    (["retrieval", "search", "-m", "/nonexistent", "x"], "does not exist"),
    (["retrieval", "evaluate", "-m", "MODEL", "--latency-requests", "-1", "--dataset", "aol-clicks"],
     "--latency-requests must be >= 0"),
])
def test_bad_inputs_exit_2_with_one_line(model_dir, capsys, args, msg):
    args = [str(model_dir) if a == "MODEL" else a for a in args]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and msg in err and "Traceback" not in err
    assert not Path("X").exists()


def test_missing_input_file(tmp_path, capsys):
    assert main(["retrieval", "train", "-m", str(tmp_path / "m"), "-i", str(tmp_path / "none.tsv")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()

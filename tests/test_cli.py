"""CLI end to end on a slice of real data, and every bad input: one-line error, exit code 2, no partial model."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from polymodal.cli import main
from polymodal.xmr.text2text import write_text2text


@pytest.fixture(scope="module")
def slice_dir(tmp_path_factory, small_xmc):
    d = tmp_path_factory.mktemp("slice")
    write_text2text(d / "train.tsv", small_xmc["texts"], small_xmc["labels"])
    keep = [i for i, ys in enumerate(small_xmc["test_labels"]) if ys]
    write_text2text(d / "test.tsv", [small_xmc["test_texts"][i] for i in keep],
                    [small_xmc["test_labels"][i] for i in keep])
    (d / "labels.txt").write_text("\n".join(small_xmc["names"]) + "\n")
    return d


@pytest.fixture(scope="module")
def model_dir(slice_dir):
    m = slice_dir / "model"
    assert main(["xmr", "train", "-i", str(slice_dir / "train.tsv"), "-m", str(m), "--quiet",
                 "--max-leaf-size", "50"]) == 0
    return m


def test_train_evaluate_predict(model_dir, slice_dir, capsys):
    capsys.readouterr()
    assert main(["xmr", "evaluate", "-m", str(model_dir), "-i", str(slice_dir / "test.tsv"), "-k", "5"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    res = json.loads(out[-1])
    for key in ("P@1", "P@3", "P@5", "R@10", "nDCG@5", "n"):
        assert key in res
    assert res["n"] > 700 and res["P@1"] > 50  # dependencies of real packages are predictable
    q = slice_dir / "q.txt"
    q.write_text("python3 library for parsing yaml files\nlibrary for the gtk graphical toolkit\n")
    assert main(["xmr", "predict", "-m", str(model_dir), "-i", str(q), "-k", "3"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.strip().splitlines()]
    assert len(lines) == 2 and all(len(x["labels"]) == 3 for x in lines)
    assert "python3" in lines[0]["labels"]


def test_console_script_exit_code(tmp_path):
    r = subprocess.run([sys.executable, "-m", "polymodal", "xmr", "predict", "-m", str(tmp_path / "none"),
                        "-i", "-"], input=b"x\n", capture_output=True)
    assert r.returncode == 2
    err = r.stderr.decode().strip()
    assert err.startswith("error:") and len(err.splitlines()) == 1 and "Traceback" not in err


BAD_TRAIN = {  # content, message, line
    "empty text": (b"0\t   \n", "empty text", 1),
    "no tab": (b"0\tok\n1 no tab here\n", "no tab", 2),
    "label out of range": (b"0\tok\n99999\tfine text\n", "out of range", 2),
    "label not integer": (b"0,x\tok\n", "not a non-negative integer", 1),
    "negative label": (b"-1\tok\n", "not a non-negative integer", 1),
    "empty file": (b"", "empty file", None),
    "non utf8": (b"0\tok\n0\tbad \xff\xfe bytes\n", "UTF-8", 2),
    "CR-only line endings": (b"0\tpython3 yaml\r1\tgtk theme\r", "carriage return", 1),
    "superscript digit": ("\u00b2\tpython3 yaml\n".encode(), "not a non-negative integer", 1),
    "full-width digit": ("\uff15\tpython3 yaml\n".encode(), "not a non-negative integer", 1),
    "only zero-width text": ("0\t\u200b\u200d\u2060\n".encode(), "empty text", 1),
    "only control characters": (b"0\t\x01\x02\x7f\n", "empty text", 1),
}


@pytest.mark.parametrize("case", sorted(BAD_TRAIN))
def test_bad_training_input(case, tmp_path, slice_dir, capsys):
    content, msg, line = BAD_TRAIN[case]
    f = tmp_path / "train.tsv"
    f.write_bytes(content)
    model = tmp_path / "model"
    rc = main(["xmr", "train", "-i", str(f), "-m", str(model), "--labels", str(slice_dir / "labels.txt"),
               "--quiet"])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert msg in err and len(err.splitlines()) == 1
    if line is not None:
        assert f"{f}:{line}:" in err
    assert not model.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".model")]


def test_bad_model_and_k(model_dir, slice_dir, tmp_path, capsys):
    test = str(slice_dir / "test.tsv")
    assert main(["xmr", "evaluate", "-m", str(model_dir), "-i", test, "-k", "0"]) == 2
    assert main(["xmr", "evaluate", "-m", str(model_dir), "-i", test, "-k", "-3"]) == 2
    assert main(["xmr", "evaluate", "-m", str(tmp_path / "missing"), "-i", test]) == 2
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    assert main(["xmr", "predict", "-m", str(broken), "-i", test]) == 2
    err = capsys.readouterr().err
    assert "between 1 and" in err and "does not exist" in err and "corrupt" in err
    assert "Traceback" not in err


def test_failed_training_keeps_previous_model(model_dir, slice_dir, tmp_path):
    """Overwriting a model with a failing run leaves the old model intact."""
    f = tmp_path / "bad.tsv"
    f.write_bytes(b"0\tok\nbroken line\n")
    before = sorted(p.name for p in model_dir.iterdir())
    assert main(["xmr", "train", "-i", str(f), "-m", str(model_dir), "--labels",
                 str(slice_dir / "labels.txt"), "--quiet"]) == 2
    assert sorted(p.name for p in model_dir.iterdir()) == before


def test_model_path_under_a_regular_file_is_one_error_line(tmp_path, capsys):
    train = tmp_path / "train.tsv"
    train.write_text("0\tpython3 yaml\n1\tgtk theme\n0\tpython3 json\n1\tgtk icons\n")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    rc = main(["xmr", "train", "-i", str(train), "-m", str(blocker / "sub"), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "is a file" in err[0]
    assert blocker.read_text() == "x"

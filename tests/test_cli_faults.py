"""Issue 34's CLI and model-file faults, each through the real command: one ``error:`` line naming the file (and
line), exit code 2, nothing half-written; and the silent surprises made explicit (line-aligned predict output,
the k the beam can reach, labels.txt required)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from polymodal.cli import main
from polymodal.modelio import load_arrays, remove_stale_temporaries, save_arrays
from polymodal.xmr.text2text import clean_text, read_labels, write_text2text

TRAIN = ["python3 yaml parser", "gtk theme engine", "python3 json library", "gtk icon theme",
         "python3 yaml emitter", "gtk widget toolkit", "python3 http client", "gtk file chooser"] * 4
LABELS = [[0], [1], [0], [1], [0], [1], [0, 2], [1]] * 4


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("faults")
    write_text2text(d / "train.tsv", TRAIN, LABELS)
    (d / "labels.txt").write_text("python3\ngtk\nweb\n")
    return d


@pytest.fixture(scope="module")
def model(data):
    m = data / "model"
    assert main(["xmr", "train", "-i", str(data / "train.tsv"), "-m", str(m), "--quiet", "--threads", "1"]) == 0
    return m


def one_error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


def test_byte_order_mark_and_crlf_are_read(tmp_path):
    from polymodal.xmr.text2text import read_text2text

    f = tmp_path / "t.tsv"
    f.write_bytes(b"\xef\xbb\xbf1\tgtk theme\r\n0,2\tpython3 yaml\r\n")
    assert read_text2text(f) == (["gtk theme", "python3 yaml"], [[1], [0, 2]])


def test_clean_text_drops_invisible_characters():
    assert clean_text("py\u200bthon\u00ad3 \x00 yaml\u202e") == "python3 yaml"
    assert clean_text("\u200b\ufeff\x07") == ""


LABEL_FILES = {  # labels.txt content, message, line
    "duplicate name": ("python3\ngtk\npython3\n", "also on line 1", 3),
    "newline inside a name shifts the rest": ("python3\ngtk\nweb\nserver\n", "names no label id", 4),
    "empty name": ("python3\n\nweb\n", "empty label name", 2),
}


@pytest.mark.parametrize("case", sorted(LABEL_FILES))
def test_bad_labels_file(case, data, tmp_path, capsys):
    content, msg, line = LABEL_FILES[case]
    lab = tmp_path / "labels.txt"
    lab.write_text(content)
    rc = main(["xmr", "train", "-i", str(data / "train.tsv"), "-m", str(tmp_path / "m"), "--labels", str(lab),
               "--quiet"])
    err = one_error(capsys)
    assert rc == 2 and msg in err and f"{lab}:{line}:" in err


def test_missing_labels_file_needs_no_label_names(data, tmp_path, capsys):
    f = tmp_path / "train.tsv"
    f.write_bytes((data / "train.tsv").read_bytes())
    assert main(["xmr", "train", "-i", str(f), "-m", str(tmp_path / "m"), "--quiet"]) == 2
    assert "no labels.txt" in one_error(capsys)
    assert main(["xmr", "train", "-i", str(f), "-m", str(tmp_path / "m"), "--quiet", "--no-label-names"]) == 0
    from polymodal.xmr.text_model import XRTextModel

    assert XRTextModel.load(tmp_path / "m").labels_ == ["0", "1", "2"]
    capsys.readouterr()
    # a huge id with no names is refused before anything is allocated for it
    f.write_text("2000000000\tpython3 yaml\n")
    assert main(["xmr", "train", "-i", str(f), "-m", str(tmp_path / "m2"), "--quiet", "--no-label-names"]) == 2
    assert "sparse" in one_error(capsys)


@pytest.mark.parametrize("flag,value,msg", [
    ("--Cp", "inf", "finite"), ("--Cn", "nan", "finite"), ("--threshold", "nan", "finite"),
    ("--threads", "-5", "between 0 and"), ("--beam-size", "1000000000", "between 1 and"),
    ("--Cp", "0", "> 0"),
])
def test_bad_numeric_option(flag, value, msg, data, tmp_path, capsys):
    rc = main(["xmr", "train", "-i", str(data / "train.tsv"), "-m", str(tmp_path / "m"), flag, value, "--quiet"])
    err = one_error(capsys)
    assert rc == 2 and msg in err
    assert not (tmp_path / "m").exists()


def run_cli(*args, stdin: bytes = b""):
    return subprocess.run([sys.executable, "-m", "polymodal", *args], input=stdin, capture_output=True,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})


def test_predict_writes_one_line_per_input_line(model):
    r = run_cli("xmr", "predict", "-m", str(model), "-i", "-", "-k", "2",
                stdin="python3 yaml\n\n\u200b\ngtk theme\n".encode())
    assert r.returncode == 0, r.stderr
    lines = [json.loads(x) for x in r.stdout.decode().splitlines()]
    assert len(lines) == 4
    assert lines[1] == lines[2] == {"labels": [], "ids": [], "scores": []}
    assert lines[0]["labels"][0] == "python3" and lines[3]["labels"][0] == "gtk"


def test_predict_input_faults_name_the_input(model, tmp_path):
    r = run_cli("xmr", "predict", "-m", str(model), "-i", "-")
    assert r.returncode == 2 and r.stderr.decode().strip() == "error: <stdin>: no inputs (empty file)"
    r = run_cli("xmr", "predict", "-m", str(model), "-i", str(tmp_path))
    assert r.returncode == 2 and "is a folder, not a file" in r.stderr.decode()
    f = tmp_path / "q.txt"
    f.write_text("python3\n")
    r = run_cli("xmr", "predict", "-m", str(f), "-i", str(f))
    assert r.returncode == 2 and "is a file, not a model folder" in r.stderr.decode()
    r = run_cli("xmr", "predict", "-m", str(model), "-i", str(f), "-k", "1000000000")
    err = r.stderr.decode().strip()
    assert r.returncode == 2 and err.startswith("error:") and len(err.splitlines()) == 1


def test_k_above_the_beam_reach_is_said(model):
    from polymodal.xmr.text_model import XRTextModel

    xr = XRTextModel.load(model).xr
    r = run_cli("xmr", "predict", "-m", str(model), "-i", "-", "-k", "50", "--beam-size", "1",
                stdin=b"python3 yaml\n")
    assert r.returncode == 0
    reach = xr.tree_.reach(1)
    assert f"can reach ({reach} labels)" in r.stderr.decode()
    assert len(json.loads(r.stdout)["ids"]) <= reach


def test_tree_reach_is_the_largest_parents(model):
    from polymodal.xmr.tree import ClusterTree

    tree = ClusterTree([np.array([0, 3]), np.array([0, 1, 5, 7])], np.arange(7))
    # brute force: the beam holds `b` of the 3 parents; the most labels it can return
    from itertools import combinations
    kids = np.diff(tree.ptrs[-1])
    for b in (1, 2, 3, 5):
        best = max(sum(kids[list(c)]) for c in combinations(range(3), min(b, 3)))
        assert tree.reach(b) == best


def test_evaluate_title_is_one_line_when_piped(model, data):
    r = run_cli("xmr", "evaluate", "-m", str(model), "-i", str(data / "train.tsv"), "-k", "2")
    assert r.returncode == 0, r.stderr
    first = r.stdout.decode().splitlines()[0]
    assert first == f"{data / 'train.tsv'} ({len(TRAIN)} examples)"


def test_stale_temporary_folders_are_removed_by_the_next_save(model, data, tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True)
    pid = int(dead.stdout)  # a process that has exited
    stale = tmp_path / f".m.tmp-{pid}-abc"
    stale.mkdir()
    (stale / "xr_linear.safetensors").write_bytes(b"x" * 1000)
    live = tmp_path / f".m.tmp-{os.getppid()}-def"  # a live process's save in progress is kept
    live.mkdir()
    other = tmp_path / f".other.tmp-{pid}-ghi"  # another model's temporaries are not ours to judge
    other.mkdir()
    assert main(["xmr", "train", "-i", str(data / "train.tsv"), "-m", str(tmp_path / "m"), "--labels",
                 str(data / "labels.txt"), "--quiet", "--threads", "1"]) == 0
    assert not stale.exists() and live.exists() and other.exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".m.")) == [live.name]
    assert remove_stale_temporaries(tmp_path / "other") == [other]


def test_save_labels_refuses_names_that_do_not_read_back(tmp_path):
    from polymodal.errors import InputError
    from polymodal.xmr.text2text import write_labels

    with pytest.raises(InputError):
        write_labels(tmp_path / "labels.txt", ["a", "b\nc"])
    write_labels(tmp_path / "labels.txt", ["a", "b"])
    assert read_labels(tmp_path / "labels.txt") == ["a", "b"]


# ---------------------------------------------------------------------------------------------- model files
def xr_folder(model: Path) -> tuple[Path, Path]:
    """(folder holding the XR-Linear config and arrays, the arrays file) inside a text-model folder."""
    files = sorted(model.rglob("xr_linear.safetensors"))
    assert files
    return files[0].parent, files[0]


def corrupt_copy(model: Path, tmp_path: Path, edit) -> Path:
    import shutil

    dest = tmp_path / "bad"
    shutil.copytree(model, dest)
    _, arrays_file = xr_folder(dest)
    arrays = {k: np.array(v) for k, v in load_arrays(arrays_file).items()}
    edit(arrays)
    save_arrays(arrays_file, arrays)
    return dest


def nan_weight(a):
    a["weights.ent_val"][len(a["weights.ent_val"]) // 2] = np.nan


def child_out_of_range(a):
    # the first parent's first entry points one child past that parent's children
    kids = np.diff(a["weights.child_ptr"])
    c = a["weights.ent_child"]
    c[0] = kids[0]


@pytest.mark.parametrize("edit,msg", [(nan_weight, "NaN"), (child_out_of_range, "child")])
def test_corrupt_model_arrays_are_refused_at_load(edit, msg, model, tmp_path):
    bad = corrupt_copy(model, tmp_path, edit)
    r = run_cli("xmr", "predict", "-m", str(bad), "-i", "-", stdin=b"python3 yaml\n")
    err = r.stderr.decode().strip()
    assert r.returncode == 2 and err.startswith("error:") and len(err.splitlines()) == 1 and msg in err, err


def test_nan_weights_in_a_mapped_model_are_an_error_not_a_nan_score(model, tmp_path):
    from polymodal.errors import ModelError
    from polymodal.xmr.text_model import XRTextModel

    m = XRTextModel.load(model)
    m.save(tmp_path / "mm", layout="mmap")
    _, arrays_file = xr_folder(tmp_path / "mm")
    arrays = {k: np.array(v) for k, v in load_arrays(arrays_file).items()}
    arrays["weights.ent_val"][:] = np.nan
    save_arrays(arrays_file, arrays)
    mm = XRTextModel.load(tmp_path / "mm")
    assert mm.xr.weights_.mapped
    with pytest.raises(ModelError, match="NaN"):
        mm.predict(["python3 yaml"], k=2)


@pytest.mark.parametrize("field,value", [("format_version", 0), ("format_version", -5), ("format_version", True),
                                         ("beam_size", 10**9), ("beam_size", "10"), ("threshold", None)])
def test_bad_config_values_are_refused_at_load(field, value, model, tmp_path):
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(model, bad)
    cfg_path = bad / "config.json"
    cfg = json.loads(cfg_path.read_text())
    if field == "format_version":
        cfg[field] = value
    else:
        cfg["xr_linear"]["config"][field] = value
    cfg_path.write_text(json.dumps(cfg))
    r = run_cli("xmr", "predict", "-m", str(bad), "-i", "-", stdin=b"python3 yaml\n")
    err = r.stderr.decode().strip()
    assert r.returncode == 2 and err.startswith("error:") and len(err.splitlines()) == 1, err
    assert str(bad) in err and (field in err or "version" in err)


TEXTS = st.lists(st.one_of(st.sampled_from(["python3 yaml", "gtk theme", "", " ", "\u4e00\u4e01", "\u200b"]),
                           st.text(max_size=30)), min_size=1, max_size=12)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=TEXTS)
def test_any_batch_of_strings_predicts_like_one_at_a_time(model, batch):
    """The out-of-vocabulary batch crash as a property: any batch (unknown scripts, control characters, known
    words, in any order) predicts without error, and every row equals that text predicted alone; a batch holding a
    blank text (nothing left after clean_text) is refused with an InputError naming the first one."""
    from polymodal.errors import InputError
    from polymodal.xmr.text_model import XRTextModel

    m = _loaded(model, XRTextModel)
    blank = [i for i, t in enumerate(batch) if not clean_text(t)]
    if blank:
        with pytest.raises(InputError, match=f"input {blank[0]} is empty"):
            m.predict(batch, k=3)
        return
    ids, scores = m.predict(batch, k=3)
    for i, t in enumerate(batch):
        one_ids, one_scores = m.predict_one(t, k=3)
        assert list(ids[i][: len(one_ids)]) == list(one_ids)
        assert np.allclose(scores[i][: len(one_scores)], one_scores, atol=1e-5)
        assert np.all(np.isfinite(scores[i]))


_CACHE: dict = {}


def _loaded(folder, cls):
    if folder not in _CACHE:
        _CACHE[folder] = cls.load(folder)
    return _CACHE[folder]

"""``polymodal distill``: teacher -> student -> evaluate -> predict on the real text task (a few batches), and user
mistakes as one-line errors with exit code 2 that write nothing."""

from __future__ import annotations

import io
import json

import pytest

torch = pytest.importorskip("torch")

from polymodal.cli import main  # noqa: E402
from polymodal.datasets.amazon import build_top_category  # noqa: E402
from polymodal.distill.cli import FORMAT, _build  # noqa: E402
from polymodal.training import load_module  # noqa: E402


def last_json(capsys) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    folder = tmp_path_factory.mktemp("distill") / "teacher"
    assert main(["distill", "teacher", "-o", str(folder), "--epochs", "1", "--limit", "2", "--no-progress",
                 "--threads", "2"]) == 0
    return folder


def test_teacher_student_evaluate_predict(teacher, tmp_path, capsys):
    model, cfg = load_module(teacher, FORMAT, _build)
    assert cfg["classes"] == list(build_top_category()[4])
    assert (model.encoder.config.layers, model.encoder.config.heads) == (6, 12)

    student_dir = tmp_path / "student"
    assert main(["distill", "student", "-t", str(teacher), "-o", str(student_dir), "--heads", "2", "--layers", "3",
                 "--method", "amad-kl", "--epochs", "1", "--limit", "2", "--no-progress"]) == 0
    report = last_json(capsys)
    student, scfg = load_module(student_dir, FORMAT, _build)
    assert (student.encoder.config.layers, student.encoder.config.heads, student.encoder.config.hidden) == (3, 2, 64)
    assert report["params"] == sum(p.numel() for p in student.parameters())
    assert scfg["info"]["method"] == "amad-kl" and scfg["classes"] == cfg["classes"]

    # the saved folders reproduce the accuracy the training command measured in memory
    assert main(["distill", "evaluate", "-m", str(student_dir), "--limit", "2"]) == 0
    assert last_json(capsys)["accuracy"] == pytest.approx(report["accuracy"], abs=1e-12)
    assert main(["distill", "evaluate", "-m", str(teacher), "--limit", "2"]) == 0
    assert last_json(capsys)["accuracy"] == pytest.approx(report["teacher_accuracy"], abs=1e-12)

    # a title's scores do not depend on the padding its batch needs for a longer title
    short, long_ = "lego city fire truck", "wooden railway set with bridge, tunnel, three trains and forty pieces"
    assert main(["distill", "predict", "-m", str(student_dir), "-k", "14", short]) == 0
    alone = last_json(capsys)
    assert main(["distill", "predict", "-m", str(student_dir), "-k", "14", short, long_]) == 0
    together = [json.loads(x) for x in capsys.readouterr().out.strip().splitlines()]
    assert [r["text"] for r in together] == [short, long_]
    assert together[0]["categories"] == alone["categories"]
    assert together[0]["scores"] == pytest.approx(alone["scores"], abs=1e-5)
    assert sorted(alone["categories"]) == sorted(cfg["classes"])
    assert sum(alone["scores"]) == pytest.approx(1.0, abs=1e-5)
    assert alone["scores"] == sorted(alone["scores"], reverse=True)


def test_user_mistakes_write_nothing(teacher, tmp_path, capsys, monkeypatch):
    out = tmp_path / "s"
    cases = [
        (["--method", "tinybert"], "--method must be one of"),
        (["--layers", "7"], "student layers"),
        (["--heads", "16"], "must not be wider than the teacher"),
        (["--tau", "0"], "--tau and --kd-temperature must be > 0"),
    ]
    for extra, message in cases:
        assert main(["distill", "student", "-t", str(teacher), "-o", str(out), "--limit", "1", *extra]) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err
        assert not out.exists()
    assert main(["distill", "student", "-t", str(tmp_path / "none"), "-o", str(out)]) == 2
    assert "no model here" in capsys.readouterr().err and not out.exists()
    assert main(["distill", "evaluate", "-m", str(tmp_path)]) == 2
    assert "no model here" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO("\n  \n"))
    assert main(["distill", "predict", "-m", str(teacher)]) == 2
    assert "no titles given" in capsys.readouterr().err

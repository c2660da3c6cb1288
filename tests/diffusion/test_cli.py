"""``polymodal diffusion``: train writes a loadable model folder, sample and reconstruct write sheets and JSON,
and user mistakes are one-line errors with exit code 2."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")
from PIL import Image  # noqa: E402

from polymodal.cli import main  # noqa: E402
from polymodal.datasets.images import FASHION_CLASSES  # noqa: E402
from polymodal.diffusion.model import load_mt  # noqa: E402


def lines(capsys) -> list[dict]:
    return [json.loads(x) for x in capsys.readouterr().out.strip().splitlines()]


def test_train_then_sample(tmp_path, capsys):
    folder = tmp_path / "fm"
    assert main(["diffusion", "train", "--task", "fmnist", "--out", str(folder), "--steps", "2", "--batch-size",
                 "8", "--device", "cpu", "--schedule", "shift", "--gamma", "2", "--label-reader", "subtract",
                 "--class-dropout", "0.2", "--teacher-forcing", "0.5"]) == 0
    report = lines(capsys)[-1]
    assert report["steps"] == 2 and report["task"] == "fmnist"
    model = load_mt(folder)
    assert model.config.class_names == list(FASHION_CLASSES) and not model.config.class_conditional
    assert model.config.process.weight_schedule == "shift" and model.config.process.gammas == [2.0]
    assert model.config.label_reader and model.config.reader_subtract and model.config.class_dropout == 0.2
    assert model.config.teacher_forcing == 0.5
    png = tmp_path / "s.png"
    assert main(["diffusion", "sample", "--model", str(folder), "--out", str(png), "--n", "3", "--steps", "2",
                 "--guidance", "2"]) == 0
    items = lines(capsys)
    assert [i["index"] for i in items] == [0, 1, 2] and all(i["label"] in FASHION_CLASSES for i in items)
    with Image.open(png) as im:
        assert im.size[1] == 28 + 4  # one row of 28 px samples with 2 px borders
    assert main(["diffusion", "reconstruct", "--model", str(folder), "--out", str(png), str(png)]) == 2
    assert "use `polymodal diffusion sample`" in capsys.readouterr().err


def test_sample_stratify_starts_every_class_equally_often(tmp_path, capsys, monkeypatch):
    """``sample --stratify`` hands generate() start labels with 2 of each of the 10 classes (20 items); without
    it the chains start from i.i.d. draws (no start labels)."""
    from polymodal.diffusion.model import MTDiffusion

    folder = tmp_path / "fm"
    assert main(["diffusion", "train", "--task", "fmnist", "--out", str(folder), "--steps", "1", "--batch-size",
                 "4", "--device", "cpu", "--schedule", "shift", "--label-reader", "subtract"]) == 0
    seen, real = [], MTDiffusion.generate

    def spy(self, n, *a, **kw):
        seen.append(kw.get("start"))
        return real(self, n, *a, **kw)

    monkeypatch.setattr(MTDiffusion, "generate", spy)
    for flag in ("--stratify", "--no-stratify"):
        assert main(["diffusion", "sample", "--model", str(folder), "--out", str(tmp_path / "s.png"), "--n", "20",
                     "--steps", "1", flag]) == 0
    assert torch.bincount(seen[0]["label"], minlength=10).tolist() == [2] * 10
    assert seen[1] is None


def test_reconstruct_fills_squares_of_real_image_files(tmp_path, capsys):
    from polymodal.datasets.home import fetch

    folder = tmp_path / "isbi"
    assert main(["diffusion", "train", "--task", "isbi-masked", "--baseline", "--out", str(folder), "--steps", "1",
                 "--batch-size", "4", "--device", "cpu"]) == 0
    capsys.readouterr()
    assert load_mt(folder).config.objective == "reconstruction"
    files = [str(fetch(f"isbi2012/test/{i}.png")) for i in (0, 1)]
    png = tmp_path / "r.png"
    assert main(["diffusion", "reconstruct", "--model", str(folder), "--out", str(png), *files]) == 0
    rows = lines(capsys)
    assert [r["image"] for r in rows] == files and all(r["psnr_db"] > 0 for r in rows)
    with Image.open(png) as im:
        assert im.size[1] == 3 * (64 + 2) + 2  # original, masked, filled
    assert main(["diffusion", "sample", "--model", str(folder), "--out", str(png)]) == 2
    assert "use `polymodal diffusion reconstruct`" in capsys.readouterr().err
    assert main(["diffusion", "train", "--task", "isbi-masked", "--out", str(tmp_path / "y"), "--steps", "1",
                 "--class-dropout", "0.1"]) == 2
    assert "class dropout (for guidance) needs a class-conditioned fmnist model" in capsys.readouterr().err


def test_user_mistakes(tmp_path, capsys):
    assert main(["diffusion", "train", "--task", "cifar", "--out", str(tmp_path / "x")]) == 2
    assert "--task must be one of" in capsys.readouterr().err
    assert main(["diffusion", "train", "--task", "fmnist", "--out", str(tmp_path / "x"), "--schedule", "ramp"]) == 2
    assert "weight schedule must be one of" in capsys.readouterr().err
    assert main(["diffusion", "train", "--task", "fmnist", "--out", str(tmp_path / "x"), "--label-reader", "x"]) == 2
    assert "the label reader must be one of none, condition, subtract" in capsys.readouterr().err
    assert main(["diffusion", "train", "--task", "eth80-mask", "--out", str(tmp_path / "x"), "--label-reader",
                 "subtract"]) == 2
    assert "label reader belongs to the fmnist" in capsys.readouterr().err
    assert main(["diffusion", "train", "--task", "fmnist", "--out", str(tmp_path / "x"), "--teacher-forcing",
                 "1"]) == 2
    assert "teacher forcing needs a label reader" in capsys.readouterr().err
    assert main(["diffusion", "sample", "--model", str(tmp_path / "missing"), "--out", str(tmp_path / "a.png")]) == 2
    assert capsys.readouterr().err.startswith("error:")
    assert not (tmp_path / "x").exists() and not (tmp_path / "a.png").exists()
    mask = tmp_path / "mask"
    assert main(["diffusion", "train", "--task", "eth80-mask", "--out", str(mask), "--steps", "1", "--batch-size", "2",
                 "--device", "cpu"]) == 0
    capsys.readouterr()
    assert main(["diffusion", "sample", "--model", str(mask), "--out", str(tmp_path / "a.png"), "--stratify"]) == 2
    assert "--stratify balances generated labels: this model generates none" in capsys.readouterr().err
    assert not (tmp_path / "a.png").exists()

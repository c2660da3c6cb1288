"""The shared loop: learns a real task, is reproducible, follows the documented schedule, stops early and restores
the best weights, and round-trips weights through safetensors."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from polymodal.errors import InputError, ModelError  # noqa: E402
from polymodal.training import TrainConfig, fit, load_module, save_module, seed_everything  # noqa: E402
from polymodal.training.loop import lr_factor  # noqa: E402


@pytest.fixture(scope="module")
def fashion():
    from polymodal.datasets.images import load_fashion_mnist

    x, y = load_fashion_mnist("train")
    xt, yt = load_fashion_mnist("test")
    f = lambda a: torch.from_numpy(a[:, ::2, ::2].reshape(len(a), -1).astype(np.float32) / 255)  # noqa: E731
    return f(x[:8000]), torch.from_numpy(y[:8000]), f(xt[:1000]), torch.from_numpy(yt[:1000])


def loaders(data, seed):
    x, y, xt, yt = data
    g = seed_everything(seed)
    dl = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=64, shuffle=True, generator=g)
    return dl


def step(model, batch):
    x, y = batch
    return nn.functional.cross_entropy(model(x), y)


def test_learns_fashion_mnist_and_is_reproducible(fashion, tmp_path):
    x, y, xt, yt = fashion

    def acc(model):
        return {"val_acc": float((model(xt).argmax(1) == yt).float().mean())}

    def run(out):
        dl = loaders(fashion, 7)
        model = nn.Sequential(nn.Linear(196, 64), nn.ReLU(), nn.Linear(64, 10))
        res = fit(model, dl, step, TrainConfig(epochs=4, lr=3e-3, seed=7, progress=False), evaluate=acc, out=out)
        return model, res

    m1, r1 = run(tmp_path / "a")
    m2, r2 = run(None)
    assert r1.history[-1]["val_acc"] > 0.75  # chance is 0.10
    assert r1.history[0]["train_loss"] > r1.history[-1]["train_loss"]
    for p, q in zip(m1.parameters(), m2.parameters()):
        assert torch.equal(p, q)
    saved = json.loads((tmp_path / "a" / "metrics.json").read_text())
    assert [h["epoch"] for h in saved["history"]] == [1, 2, 3, 4] and saved["config"]["lr"] == 3e-3


def test_schedule_is_warmup_then_cosine():
    total, warm = 100, 10
    assert lr_factor(0, total, warm, 0.0) == pytest.approx(0.1)
    assert lr_factor(9, total, warm, 0.0) == pytest.approx(1.0)
    assert lr_factor(10, total, warm, 0.0) == pytest.approx(1.0)
    mid = 10 + 45
    assert lr_factor(mid, total, warm, 0.0) == pytest.approx(0.5)
    assert lr_factor(99, total, warm, 0.1) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 89 / 90)))


def test_early_stopping_restores_the_best_epoch():
    """Validation values 5, 3, 4, 4, 4, ...: best at epoch 2, patience 2 -> stops after epoch 4, weights of epoch 2."""
    torch.manual_seed(0)
    model = nn.Linear(3, 1)
    data = [(torch.randn(8, 3), torch.randn(8, 1)) for _ in range(4)]
    values = iter([5.0, 3.0, 4.0, 4.0, 4.0, 4.0])
    snapshots = []

    def evaluate(m):
        snapshots.append(m.weight.detach().clone())
        return {"val": next(values)}

    res = fit(model, data, lambda m, b: nn.functional.mse_loss(m(b[0]), b[1]),
              TrainConfig(epochs=6, monitor="val", patience=2, progress=False), evaluate=evaluate)
    assert len(res.history) == 4 and res.stopped_early and res.best_epoch == 2 and res.best == 3.0
    assert torch.equal(model.weight, snapshots[1])


def test_save_load_round_trip(tmp_path):
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(4, 5), nn.BatchNorm1d(5), nn.Linear(5, 2)).eval()
    cfg = {"hidden": 5}

    def build(c):
        return nn.Sequential(nn.Linear(4, c["hidden"]), nn.BatchNorm1d(c["hidden"]), nn.Linear(c["hidden"], 2))

    save_module(tmp_path / "m", model, cfg, "test.mlp")
    loaded, c = load_module(tmp_path / "m", "test.mlp", build)
    x = torch.randn(3, 4)
    assert c == cfg and torch.equal(loaded(x), model(x))
    with pytest.raises(ModelError, match="not a other.kind"):
        load_module(tmp_path / "m", "other.kind", build)
    with pytest.raises(ModelError, match="invalid model"):
        load_module(tmp_path / "m", "test.mlp", lambda c: nn.Linear(4, 2))
    (tmp_path / "m" / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(ModelError, match="invalid model"):
        load_module(tmp_path / "m", "test.mlp", build)


def test_bad_configs():
    with pytest.raises(InputError):
        TrainConfig(epochs=0)
    with pytest.raises(InputError):
        TrainConfig(mode="up")
    with pytest.raises(InputError, match="no training batches"):
        fit(nn.Linear(2, 1), [], lambda m, b: None, TrainConfig(progress=False))
    with pytest.raises(InputError, match="monitor"):
        fit(nn.Linear(2, 1), [torch.zeros(1, 2)], lambda m, b: m(b).sum(),
            TrainConfig(epochs=1, monitor="val", progress=False), evaluate=lambda m: {"x": 1.0})

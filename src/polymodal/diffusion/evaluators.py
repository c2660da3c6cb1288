"""The independent judges of generated samples, trained on real images only: a small CNN classifier (its
penultimate features also give the Frechet distance) and a small fully convolutional segmenter."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..training import TrainConfig, fit
from .train import batches


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class Classifier(nn.Module):
    """conv 32-32 / pool / conv 64-64 / pool / conv 128 / global pool -> 128-d features -> classes."""

    def __init__(self, in_channels: int, classes: int, width: int = 32):
        super().__init__()
        w = width
        self.body = nn.Sequential(_block(in_channels, w), _block(w, w), nn.MaxPool2d(2), _block(w, 2 * w),
                                  _block(2 * w, 2 * w), nn.MaxPool2d(2), _block(2 * w, 4 * w))
        self.head = nn.Linear(4 * w, classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class Segmenter(nn.Module):
    """A small encoder-decoder (two poolings, skip connections) -> per-pixel foreground logits (N, 1, H, W)."""

    def __init__(self, in_channels: int = 3, width: int = 16):
        super().__init__()
        w = width
        self.e1, self.e2, self.e3 = _block(in_channels, w), _block(w, 2 * w), _block(2 * w, 4 * w)
        self.d2, self.d1 = _block(6 * w, 2 * w), _block(3 * w, w)
        self.out = nn.Conv2d(w, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h1 = self.e1(x)
        h2 = self.e2(F.max_pool2d(h1, 2))
        h3 = self.e3(F.max_pool2d(h2, 2))
        u2 = self.d2(torch.cat([F.interpolate(h3, scale_factor=2.0), h2], 1))
        u1 = self.d1(torch.cat([F.interpolate(u2, scale_factor=2.0), h1], 1))
        return self.out(u1)


def train_classifier(images: torch.Tensor, labels: torch.Tensor, classes: int, epochs: int = 3, seed: int = 0,
                     progress: bool = True) -> Classifier:
    torch.manual_seed(seed)
    model = Classifier(images.shape[1], classes)
    fit(model, batches({"x": images, "y": labels}, 128, seed),
        lambda m, b: F.cross_entropy(m(b["x"]), b["y"]),
        TrainConfig(epochs=epochs, lr=2e-3, seed=seed, device="cpu", progress=progress))
    return model.eval()


def train_segmenter(images: torch.Tensor, masks: torch.Tensor, epochs: int = 8, seed: int = 0,
                    progress: bool = True) -> Segmenter:
    torch.manual_seed(seed)
    model = Segmenter(images.shape[1])
    fit(model, batches({"x": images, "y": masks.float()}, 32, seed),
        lambda m, b: F.binary_cross_entropy_with_logits(m(b["x"]), b["y"]),
        TrainConfig(epochs=epochs, lr=2e-3, seed=seed, device="cpu", progress=progress))
    return model.eval()


@torch.no_grad()
def predict(model: nn.Module, images: torch.Tensor, batch: int = 256, fn=None) -> torch.Tensor:
    """Concatenated outputs of ``fn(model, chunk)`` (default: the model's forward) over chunks of images."""
    model.eval()
    fn = fn or (lambda m, x: m(x))
    return torch.cat([fn(model, images[i: i + batch]) for i in range(0, len(images), batch)])

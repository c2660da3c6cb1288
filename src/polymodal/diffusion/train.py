"""Training MT-Diffusion models (and the reconstruction-only baseline) on the shared loop, for a fixed number of
optimiser steps, with an exponential moving average of the weights that sampling uses: ``diffusers``' ``EMAModel``,
whose decay warms up, d_n = min(decay, (1 + n) / (10 + n)) after n updates. With a fixed 0.999 a 3,000-step run
keeps 5% of the random initial weights (0.999^3000) and most of the weight on the first, poorly trained thousand
steps, which washed the samples out to grey."""

from __future__ import annotations

import torch

from ..training import TrainConfig, fit
from ..training.loop import resolve_device
from .data import hide, square_masks
from .model import MTDiffusion


def batches(tensors: dict, batch_size: int, seed: int = 0, shuffle: bool = True, steps: int | None = None):
    """A re-iterable of dict batches over equally long tensors, reshuffled (seeded) every pass; with ``steps``,
    exactly that many batches per pass, drawn without replacement as long as the data lasts."""
    from torch.utils.data import DataLoader, RandomSampler, StackDataset

    ds = StackDataset(**tensors)
    g = torch.Generator().manual_seed(seed)
    if steps is None:
        return DataLoader(ds, batch_size=batch_size, shuffle=shuffle, generator=g)
    sampler = RandomSampler(ds, replacement=False, num_samples=steps * batch_size, generator=g)
    return DataLoader(ds, batch_size=batch_size, sampler=sampler, drop_last=True)


def with_hidden_squares(batch: dict, squares: int, side: int, generator: torch.Generator) -> dict:
    """Adds fresh random hidden squares (``hidden``) and the masked image (``masked_image``) to a batch."""
    img = batch["image"]
    hidden = square_masks(len(img), img.shape[-1], squares, side, generator).to(img)
    return {**batch, "hidden": hidden, "masked_image": hide(img, hidden)}


def reconstruction_only_loss(model: MTDiffusion, batch: dict) -> torch.Tensor:
    """The baseline: the same network maps the masked image (at t = 0, in both its input slots) straight to the
    image; MSE on the hidden squares."""
    t = torch.zeros(len(batch["image"]), dtype=torch.long, device=batch["image"].device)
    rec = model(batch["masked_image"], t, masked_image=batch["masked_image"])["reconstruction"]
    hidden = batch["hidden"]
    return ((rec - batch["image"]) ** 2 * hidden).sum() / hidden.expand_as(rec).sum().clamp_min(1)


@torch.no_grad()
def reconstruct_directly(model: MTDiffusion, masked: torch.Tensor, batch: int = 128) -> torch.Tensor:
    model.eval()
    out = []
    for i in range(0, len(masked), batch):
        x = masked[i: i + batch]
        out.append(model(x, torch.zeros(len(x), dtype=torch.long), masked_image=x)["reconstruction"].clamp(-1, 1))
    return torch.cat(out)


def weight_average(model: MTDiffusion, decay: float):
    """The EMA of ``model``'s parameters, starting from their current values; its first ``step`` keeps them, the
    n-th after that mixes in the new ones with decay min(decay, (1 + n) / (10 + n))."""
    from diffusers.training_utils import EMAModel

    return EMAModel(model.parameters(), decay=decay, foreach=True)


def train(model: MTDiffusion, tensors: dict, steps: int, batch_size: int = 64, lr: float = 2e-4, seed: int = 0,
          objective: str | None = None, squares: int = 0, side: int = 16, ema: float = 0.999,
          progress: bool = True, device: str = "cpu") -> dict:
    """Train for ``steps`` optimiser steps. ``objective``: "mt" (the weighted L0..L3) or "reconstruction" (the
    baseline); by default the model config's. ``squares`` > 0 hides that many squares per image (masked-image
    modality). The EMA weights are loaded into the model at the end. Returns the loop's timing and the mean of
    each loss term."""
    g = torch.Generator().manual_seed(seed + 1)
    objective = objective or model.config.objective
    model.to(resolve_device(device))  # before the EMA copies the weights: its shadow lives where they do
    averaged = weight_average(model, ema) if ema else None
    sums: dict = {}

    def step(m, b):
        if averaged is not None:
            averaged.step(m.parameters())  # the weights after the previous optimiser step
        if squares:
            b = with_hidden_squares(b, squares, side, g)
        if objective == "reconstruction":
            loss = reconstruction_only_loss(m, b)
            terms = {"reconstruction": loss}
        else:
            terms = m.losses(b, generator=g)
            loss = terms["total"]
        for k, v in terms.items():
            sums[k] = sums.get(k, 0.0) + float(v.detach())
        return loss

    res = fit(model, batches(tensors, batch_size, seed, steps=steps), step,
              TrainConfig(epochs=1, lr=lr, seed=seed, device=device, progress=progress, warmup=0.02))
    if averaged is not None:
        averaged.step(model.parameters())
        averaged.copy_to(model.parameters())
    return {"seconds": res.seconds, "steps": steps, "steps_per_second": steps / res.seconds,
            "mean_terms": {k: v / steps for k, v in sums.items()}}

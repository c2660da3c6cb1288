"""Training and prediction of the MIVC model on cached encoder outputs.

A :class:`BagSet` is the training or test data: per-image encoder outputs (``feats``, n_images x ...), bags of
indices into them (padded with -1) and per-bag targets (category id, attribute vector, caption pieces). The loss
is the sum of the heads' losses: cross-entropy (category), binary cross-entropy (attributes), next-piece
cross-entropy (caption, padding ignored).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..errors import InputError
from ..training import TrainConfig, fit
from .caption import PAD
from .pipeline import MIVCModel, pad_bags


@dataclass
class BagSet:
    feats: np.ndarray  # (n_images, C[, H, W]) encoder outputs
    bags: np.ndarray  # (n_bags, N) indices into feats, -1 = padding
    category: np.ndarray | None = None  # (n_bags,)
    attributes: np.ndarray | None = None  # (n_bags, A) {0, 1}
    captions: torch.Tensor | None = None  # (n_bags, L) pieces, [BOS] ... [EOS] [PAD]...

    def __post_init__(self):
        self.bags = np.asarray(self.bags)
        if self.bags.ndim != 2 or len(self.bags) == 0:
            raise InputError("bags must be a non-empty (bags, images) index array")
        if not (self.bags >= 0).any(1).all():
            raise InputError("a bag has no images")
        if self.bags.max() >= len(self.feats):
            raise InputError("a bag points past the encoder outputs")
        for name in ("category", "attributes", "captions"):
            v = getattr(self, name)
            if v is not None and len(v) != len(self.bags):
                raise InputError(f"{len(v)} {name} targets for {len(self.bags)} bags")

    @classmethod
    def of_items(cls, feats: np.ndarray, bags: np.ndarray, owner: np.ndarray, category: np.ndarray | None = None,
                 attributes: np.ndarray | None = None, captions: torch.Tensor | None = None) -> BagSet:
        """Bags of images of items, ``owner`` = the item of each bag; the per-item targets are looked up by owner."""
        owner = np.asarray(owner)
        return cls(feats, bags, None if category is None else category[owner],
                   None if attributes is None else attributes[owner].astype(np.float32),
                   None if captions is None else captions[torch.as_tensor(owner)])

    def __len__(self) -> int:
        return len(self.bags)

    def batch(self, idx: np.ndarray) -> dict:
        x, mask = pad_bags(self.feats, self.bags[idx])
        out = {"feats": x, "mask": mask}
        if self.category is not None:
            out["category"] = torch.as_tensor(self.category[idx], dtype=torch.long)
        if self.attributes is not None:
            out["attributes"] = torch.as_tensor(self.attributes[idx], dtype=torch.float32)
        if self.captions is not None:
            caps = self.captions[torch.as_tensor(idx)]
            longest = int((caps != PAD).sum(1).max())
            out["captions"] = caps[:, :longest]  # no step is spent on columns that are padding in every row
        return out


class _Batches:
    """Shuffled mini-batches, reshuffled every epoch from a seeded generator."""

    def __init__(self, data: BagSet, batch_size: int, seed: int):
        self.data, self.batch_size = data, batch_size
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return -(-len(self.data) // self.batch_size)

    def __iter__(self):
        order = self.rng.permutation(len(self.data))
        for i in range(0, len(order), self.batch_size):
            yield self.data.batch(order[i : i + self.batch_size])


def loss_of(model: MIVCModel, batch: dict, caption_weight: float = 1.0) -> torch.Tensor:
    captions = batch.get("captions")
    out = model(batch["feats"], batch["mask"], captions[:, :-1] if captions is not None else None)
    loss = batch["feats"].new_zeros(())
    if "category" in batch and "category" in out:
        loss = loss + nn.functional.cross_entropy(out["category"], batch["category"])
    if "attributes" in batch and "attributes" in out:
        loss = loss + nn.functional.binary_cross_entropy_with_logits(out["attributes"], batch["attributes"])
    if captions is not None:
        logits = out["caption"]
        loss = loss + caption_weight * nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), captions[:, 1:].reshape(-1), ignore_index=PAD)
    return loss


def train_mivc(model: MIVCModel, data: BagSet, config: TrainConfig, batch_size: int = 32,
               out: str | os.PathLike | None = None, evaluate=None):
    """Fit ``model`` on ``data`` with the shared loop; returns the loop's result."""
    torch.manual_seed(config.seed)
    batches = _Batches(data, batch_size, config.seed)
    return fit(model, batches, loss_of, config, evaluate=evaluate, out=out)


@torch.no_grad()
def predict(model: MIVCModel, data: BagSet, batch_size: int = 64, beam_size: int = 0) -> dict:
    """Category ids, attribute probabilities, per-image weights (padded, zeros on padding) and, when
    ``beam_size`` > 0 and the model captions, the decoded pieces (1 = greedy)."""
    model.eval()
    device = next(model.parameters()).device
    cats, attrs, weights, pieces = [], [], [], []
    for i in range(0, len(data), batch_size):
        b = data.batch(np.arange(i, min(i + batch_size, len(data))))
        out = model(b["feats"].to(device), b["mask"].to(device))
        weights.append(out["weights"].cpu())
        if "category" in out:
            cats.append(out["category"].argmax(-1).cpu())
        if "attributes" in out:
            attrs.append(torch.sigmoid(out["attributes"]).cpu())
        if beam_size > 0 and model.decoder is not None:
            pieces += model.decoder.decode(out["tokens"], beam_size)
    res = {"weights": torch.cat(weights).numpy()}
    if cats:
        res["category"] = torch.cat(cats).numpy()
    if attrs:
        res["attributes"] = torch.cat(attrs).numpy()
    if pieces:
        res["pieces"] = pieces
    return res

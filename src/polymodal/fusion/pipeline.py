"""The MIVC vision-language pipeline:

    images of one item --EfficientNet-Lite0--> per-image feature maps (C=1280, 7x7)
        [--query generator--> T query embeddings per image]          (optional, ``query_generator=True``)
        --MIVC fusion over the bag--> one embedding (or T tokens) per item
        --projection--> visual tokens (d_model) --> heads:
              category (softmax over the mean visual token), attributes (independent sigmoids),
              caption (transformer decoder cross-attending to the visual tokens).

The encoder is frozen (the trained part starts at the query generator / fusion), so training runs on cached
encoder outputs; :class:`MIVCPipeline` puts the encoder in front for inference on image files.
The concatenation baseline is the same model fed one tiled image per item (``grid.tile_grid``), a bag of one.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import nn

from ..errors import InputError
from ..modelio import dataclass_from_dict
from ..training.checkpoint import load_module, save_module
from .caption import CaptionDecoder, WordPieceVocab
from .pooling import FUSIONS, check_bag, create_fusion
from .query_generator import QueryGenerator

FORMAT = "polymodal-mivc"


@dataclass
class MIVCConfig:
    fusion: str = "attention"
    query_generator: bool = False
    in_channels: int = 1280
    qg_dim: int = 256
    num_queries: int = 8
    qg_layers: int = 2
    qg_heads: int = 4
    attn_hidden: int = 128
    d_model: int = 256
    dropout: float = 0.1
    categories: list[str] = field(default_factory=list)
    attributes: list[str] = field(default_factory=list)
    caption: bool = False
    dec_layers: int = 2
    dec_heads: int = 4
    max_len: int = 32
    image_size: int = 224

    def __post_init__(self):
        if self.fusion not in FUSIONS:
            raise InputError(f"unknown fusion {self.fusion!r}; choose from {sorted(FUSIONS)}")
        if not (self.categories or self.attributes or self.caption):
            raise InputError("the pipeline needs at least one head: categories, attributes or caption")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> MIVCConfig:
        return dataclass_from_dict(cls, d, "MIVC")


class MIVCModel(nn.Module):
    """Everything after the frozen encoder. Input: a padded bag of encoder outputs, (B, N, C, H, W) feature maps
    or (B, N, C) pooled embeddings (only without the query generator), and the mask (B, N) of real images."""

    def __init__(self, config: MIVCConfig, vocab_size: int = 0):
        super().__init__()
        self.config = config
        if config.query_generator:
            self.qg = QueryGenerator(config.in_channels, config.qg_dim, config.num_queries, config.qg_layers,
                                     config.qg_heads)
            dim = config.qg_dim
        else:
            self.qg = None
            dim = config.in_channels
        self.fusion = create_fusion(config.fusion, dim=dim, hidden=config.attn_hidden)
        self.proj = nn.Sequential(nn.Linear(dim, config.d_model), nn.LayerNorm(config.d_model),
                                  nn.Dropout(config.dropout))
        self.category_head = nn.Linear(config.d_model, len(config.categories)) if config.categories else None
        self.attribute_head = nn.Linear(config.d_model, len(config.attributes)) if config.attributes else None
        if config.caption:
            if vocab_size <= 4:
                raise InputError("a caption head needs a vocabulary")
            self.decoder = CaptionDecoder(vocab_size, config.d_model, config.dec_layers, config.dec_heads,
                                          config.max_len, config.dropout)
        else:
            self.decoder = None

    def per_image(self, feats: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Encoder outputs -> what the fusion sees: (B, N, C) pooled, or (B, N, T, qg_dim) query embeddings."""
        if feats.dim() not in (3, 5) or (feats.dim() == 3 and self.qg is not None):
            want = "(batch, images, C, H, W)" if self.qg is not None else "(batch, images, C[, H, W])"
            raise InputError(f"expected encoder outputs {want}, got shape {tuple(feats.shape)}")
        if feats.shape[2] != self.config.in_channels:
            raise InputError(f"encoder outputs have {feats.shape[2]} channels, the model expects "
                             f"{self.config.in_channels}")
        if self.qg is None:
            return feats.mean(dim=(3, 4)) if feats.dim() == 5 else feats
        b, n = mask.shape
        out = feats.new_zeros(b, n, self.config.num_queries, self.config.qg_dim)
        out[mask] = self.qg(feats[mask])  # the generator runs on real images only
        return out

    def visual(self, feats: torch.Tensor, mask: torch.Tensor | None = None):
        """-> visual tokens (B, T, d_model) (T = 1 without the query generator) and per-image weights (B, N)."""
        if feats.dim() < 3:
            raise InputError(f"expected a batch of bags, got shape {tuple(feats.shape)}")
        mask = check_bag(feats[:, :, :1, ...].flatten(2), mask)
        fused, weights = self.fusion(self.per_image(feats, mask), mask)
        tokens = self.proj(fused)
        return (tokens if tokens.dim() == 3 else tokens.unsqueeze(1)), weights

    def forward(self, feats: torch.Tensor, mask: torch.Tensor | None = None, captions: torch.Tensor | None = None):
        tokens, weights = self.visual(feats, mask)
        pooled = tokens.mean(1)
        out = {"tokens": tokens, "weights": weights}
        if self.category_head is not None:
            out["category"] = self.category_head(pooled)
        if self.attribute_head is not None:
            out["attributes"] = self.attribute_head(pooled)
        if captions is not None:
            if self.decoder is None:
                raise InputError("this model has no caption head")
            out["caption"] = self.decoder(captions, tokens)
        return out


def save_mivc(folder: str | os.PathLike, model: MIVCModel, vocab: WordPieceVocab | None = None):
    extra = {"mivc": model.config.to_dict(), "vocab": vocab.to_json() if vocab is not None else None}
    return save_module(folder, model, extra, FORMAT)


def load_mivc(folder: str | os.PathLike, device: str = "cpu") -> tuple[MIVCModel, WordPieceVocab | None]:
    holder = {}

    def build(cfg: dict) -> MIVCModel:
        vocab = WordPieceVocab.from_json(cfg["vocab"]) if cfg.get("vocab") else None
        holder["vocab"] = vocab
        return MIVCModel(MIVCConfig.from_dict(cfg["mivc"]), len(vocab) if vocab is not None else 0)

    model, _ = load_module(folder, FORMAT, build, device=device)
    return model, holder["vocab"]


class MIVCPipeline:
    """Encoder + trained MIVC model, for bags of raw images (arrays or PIL images of any size / colour mode)."""

    def __init__(self, model: MIVCModel, vocab: WordPieceVocab | None = None, encoder: nn.Module | None = None):
        from ..vision import EfficientNetLite0

        self.model = model.eval()
        self.vocab = vocab
        self.encoder = encoder if encoder is not None else EfficientNetLite0.pretrained()

    @torch.no_grad()
    def encode(self, bags: list[list]) -> tuple[torch.Tensor, torch.Tensor]:
        """Bags of images -> padded feature maps (B, N, C, H, W) and the mask (B, N)."""
        from ..vision.preprocess import to_tensor

        if not bags or any(len(b) == 0 for b in bags):
            raise InputError("every item needs at least one image")
        flat = [im for bag in bags for im in bag]
        maps = self.encoder.features(to_tensor(flat, self.model.config.image_size))
        n = max(len(b) for b in bags)
        out = maps.new_zeros(len(bags), n, *maps.shape[1:])
        mask = torch.zeros(len(bags), n, dtype=torch.bool)
        i = 0
        for row, bag in enumerate(bags):
            out[row, : len(bag)] = maps[i : i + len(bag)]
            mask[row, : len(bag)] = True
            i += len(bag)
        return out, mask

    @torch.no_grad()
    def predict(self, bags: list[list], beam_size: int = 3) -> list[dict]:
        feats, mask = self.encode(bags)
        out = self.model(feats, mask)
        cfg = self.model.config
        results = []
        for i in range(len(bags)):
            n = int(mask[i].sum())
            r: dict = {"weights": out["weights"][i, :n].tolist()}
            if "category" in out:
                p = torch.softmax(out["category"][i], -1)
                r["category"] = cfg.categories[int(p.argmax())]
                r["category_probability"] = float(p.max())
            if "attributes" in out:
                p = torch.sigmoid(out["attributes"][i])
                r["attributes"] = [a for a, q in zip(cfg.attributes, p.tolist(), strict=True) if q >= 0.5]
            results.append(r)
        if self.model.decoder is not None and self.vocab is not None:
            for r, p in zip(results, self.model.decoder.decode(out["tokens"], beam_size), strict=True):
                r["caption"] = self.vocab.decode(p)
        return results


def pad_bags(feats: np.ndarray, bags: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Cached per-image encoder outputs (n_images, ...) and bags of indices (B, N) padded with -1 -> the padded
    float tensor (B, N, ...) and the mask."""
    bags = np.asarray(bags)
    mask = bags >= 0
    x = np.zeros((*bags.shape, *feats.shape[1:]), dtype=np.float32)
    x[mask] = feats[bags[mask]]  # gathers (and converts) the real images only
    return torch.from_numpy(x), torch.from_numpy(mask)

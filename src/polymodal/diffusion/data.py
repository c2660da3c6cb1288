"""Image tensors for the diffusion experiments (from the real datasets' loaders) and the square masks of the
masked-reconstruction task. Images are float (N, C, H, W) in [-1, 1]."""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

from ..errors import InputError


def to_unit(x: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 images -> float in [-1, 1]."""
    return torch.as_tensor(np.array(x, dtype=np.float32)).div(127.5).sub(1.0)


def fashion_mnist(split: str = "train", size: int = 28) -> tuple[torch.Tensor, torch.Tensor]:
    """Fashion-MNIST images (N, 1, size, size) in [-1, 1], labels (N,); ``size`` 28 (native) or larger (padded
    with the background value -1, e.g. 32)."""
    from ..datasets.images import load_fashion_mnist

    if size < 28 or (size - 28) % 2:
        raise InputError(f"Fashion-MNIST size must be 28 + an even padding, got {size}")
    x, y = load_fashion_mnist(split)
    p = (size - 28) // 2
    return F.pad(to_unit(x)[:, None], (p, p, p, p), value=-1.0), torch.as_tensor(y)


def eth80(size: int = 64) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """ETH-80 at ``size`` px: images (3280, 3, size, size), masks (3280, 1, size, size) in {0, 1}, category and
    object ids (split by object, never by view)."""
    from ..datasets.images import load_eth80

    e = load_eth80()
    img = to_unit(e.images).permute(0, 3, 1, 2)
    mask = torch.as_tensor(e.masks).float()[:, None]
    if size != img.shape[-1]:
        img = F.interpolate(img, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        mask = (F.interpolate(mask, size=(size, size), mode="bilinear", antialias=True, align_corners=False) > 0.5)
    return img.clamp(-1, 1), mask.long(), torch.as_tensor(e.label), torch.as_tensor(e.object_id)


def isbi_crops(size: int = 64, per_image: int = 64, split: str = "train", seed: int = 0) -> torch.Tensor:
    """Random ``size`` px crops of the ISBI 2012 EM slices, 1 channel: (n_images * per_image, 1, size, size)."""
    from ..datasets.images import load_isbi

    images, _ = load_isbi(split)
    rng = np.random.default_rng(seed)
    h, w = images.shape[1:]
    crops = []
    for im in images:
        for _ in range(per_image):
            r, c = rng.integers(0, h - size + 1), rng.integers(0, w - size + 1)
            crops.append(im[r: r + size, c: c + size])
    return to_unit(np.stack(crops))[:, None]


def square_masks(n: int, size: int, squares: int = 3, side: int = 16, generator: torch.Generator | None = None):
    """(n, 1, size, size) float: 1 on ``squares`` random side x side squares (they may overlap), 0 elsewhere."""
    if not 1 <= side <= size:
        raise InputError(f"square side {side} must be in 1..{size}")
    hidden = torch.zeros(n, 1, size, size)
    pos = torch.randint(0, size - side + 1, (n, squares, 2), generator=generator)
    for i in range(n):
        for r, c in pos[i].tolist():
            hidden[i, 0, r: r + side, c: c + side] = 1
    return hidden


def hide(images: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
    """The masked image: hidden pixels set to 0 (mid-grey in [-1, 1])."""
    return images * (1 - hidden)

"""The four experiment set-ups as data + model configuration, shared by ``polymodal diffusion`` and
``benchmarks/diffusion.py``.

    fmnist        Fashion-MNIST 28 px, image + label (``baseline``: class-conditional, label given)
    eth80-mask    ETH-80 64 px, image + segmentation mask
    eth80-masked  ETH-80 64 px, masked-image reconstruction (hidden squares; ``baseline``: reconstruction only)
    isbi-masked   ISBI 2012 64 px crops, masked-image reconstruction
ETH-80 trains on 64 of the 80 objects; the other 16 (every fifth) are held out for evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import InputError
from .model import LossWeights, MTConfig
from .process import ProcessConfig

TASKS = ("fmnist", "eth80-mask", "eth80-masked", "isbi-masked")
READERS = ("none", "condition", "subtract")  # the fmnist label reader (MTConfig.label_reader / reader_subtract)


@dataclass
class TaskData:
    train: dict  # tensors for training: image (+ label / mask)
    test: dict  # held-out tensors
    squares: int = 0  # hidden squares per image (masked tasks)


def heldout_objects(object_id: torch.Tensor) -> torch.Tensor:
    """True for the views of the 16 held-out ETH-80 objects (ids divisible by 5: 2 per category)."""
    return object_id % 5 == 0


def task_data(task: str, squares: int = 3) -> TaskData:
    if task == "fmnist":
        from .data import fashion_mnist

        x, y = fashion_mnist("train")
        xt, yt = fashion_mnist("test")
        return TaskData({"image": x, "label": y}, {"image": xt, "label": yt})
    if task in ("eth80-mask", "eth80-masked"):
        from .data import eth80

        img, mask, _, obj = eth80(64)
        held = heldout_objects(obj)
        if task == "eth80-mask":
            return TaskData({"image": img[~held], "mask": mask[~held]}, {"image": img[held], "mask": mask[held]})
        return TaskData({"image": img[~held]}, {"image": img[held]}, squares)
    if task == "isbi-masked":
        from .data import isbi_crops

        train, test = isbi_crops(64, 96, "train", seed=0), isbi_crops(64, 8, "test", seed=1)
        return TaskData({"image": train}, {"image": test}, squares)
    raise InputError(f"task must be one of {TASKS}, got {task!r}")


def task_config(task: str, channels: list[int] | None = None, gamma: float = 1.0, weights: LossWeights | None = None,
                baseline: bool = False, schedule: str = "bump", reader: str = "none",
                class_dropout: float = 0.0, teacher_forcing: float = 0.0) -> MTConfig:
    """The model for a task; ``channels`` are the 28 px widths (64 px tasks add one level of the last width);
    ``gamma`` and ``schedule`` set the modality weight schedule (``process.lam_schedule``); ``reader`` (fmnist):
    ``condition`` conditions the U-Net on its own reading of the label (``MTConfig.label_reader``), ``subtract``
    also removes that reading's share of the mean from the U-Net's input (``MTConfig.reader_subtract``);
    ``class_dropout`` (fmnist, a class-conditioned model: the baseline or a reader): the share of training examples
    given the null conditioning, so that sampling can use classifier-free guidance; ``teacher_forcing`` (a label
    reader): the share of training examples conditioned on the true label instead of the reader's reading."""
    from ..datasets.images import FASHION_CLASSES

    if reader not in READERS:
        raise InputError(f"the label reader must be one of {', '.join(READERS)}, got {reader!r}")
    if reader != "none" and (task != "fmnist" or baseline):
        raise InputError("the label reader belongs to the fmnist MT-Diffusion model (not the baseline)")
    if class_dropout and (task != "fmnist" or not (baseline or reader != "none")):
        raise InputError("class dropout (for guidance) needs a class-conditioned fmnist model: the baseline, or a "
                         "label reader")
    if teacher_forcing and reader == "none":
        raise InputError("teacher forcing needs a label reader (condition or subtract)")
    ch = list(channels or [16, 32, 64])
    weights = weights or LossWeights()
    process = ProcessConfig(gammas=[gamma], weight_schedule=schedule)
    if task == "fmnist":
        if baseline:
            return MTConfig(image_channels=1, image_size=28, classes=10, class_conditional=True, channels=ch,
                            class_names=list(FASHION_CLASSES), class_dropout=class_dropout)
        return MTConfig(image_channels=1, image_size=28, classes=10, channels=ch, class_names=list(FASHION_CLASSES),
                        process=process, weights=weights, label_reader=reader != "none",
                        reader_subtract=reader == "subtract", class_dropout=class_dropout,
                        teacher_forcing=teacher_forcing)
    ch64 = ch + [ch[-1]]
    if task == "eth80-mask":
        return MTConfig(image_channels=3, image_size=64, mask=True, channels=ch64,
                        process=process, weights=weights)
    if task in ("eth80-masked", "isbi-masked"):
        return MTConfig(image_channels=3 if task == "eth80-masked" else 1, image_size=64, masked_image=True,
                        channels=ch64, process=process, weights=weights,
                        objective="reconstruction" if baseline else "mt")
    raise InputError(f"task must be one of {TASKS}, got {task!r}")

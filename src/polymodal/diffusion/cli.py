"""``polymodal diffusion``: train an MT-Diffusion model on one of the real-data tasks, sample from it, or fill
hidden squares of image files with it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ..errors import InputError

app = typer.Typer(no_args_is_help=True, help="MT-Diffusion multimodal multitask diffusion (needs the torch extra).")


def _need_torch():
    try:
        import diffusers  # noqa: F401
        import torch  # noqa: F401
    except ImportError:
        raise InputError("the diffusion commands need the torch extra: pip install 'polymodal[torch]'") from None


def _load(folder: Path, masked: bool):
    """A saved model of the kind the command needs (masked-image reconstruction or joint generation)."""
    from .model import load_mt

    m = load_mt(folder)
    if m.config.masked_image and not masked:
        raise InputError("this model reconstructs masked images: use `polymodal diffusion reconstruct`")
    if masked and not m.config.masked_image:
        raise InputError("this model does not reconstruct masked images: use `polymodal diffusion sample`")
    return m


@app.command("train")
def train_cmd(
    task: Annotated[str, typer.Option(help="fmnist | eth80-mask | eth80-masked | isbi-masked")],
    out: Annotated[Path, typer.Option("--out", "-o", help="model folder to write")],
    steps: Annotated[int, typer.Option(min=1)] = 3000,
    batch_size: Annotated[int, typer.Option(min=1)] = 64,
    lr: Annotated[float, typer.Option(min=0.0)] = 1e-3,
    baseline: Annotated[bool, typer.Option(help="the single-task baseline: class-conditional (fmnist) or "
                                           "reconstruction only (masked tasks)")] = False,
    seed: int = 0,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda")] = "auto",
    schedule: Annotated[str, typer.Option(help="modality weight schedule: bump | shift")] = "bump",
    gamma: Annotated[float, typer.Option(min=0.0, help="modality scale of the weight schedule")] = 1.0,
    label_reader: Annotated[str, typer.Option(
        help="fmnist: none | condition (the U-Net is conditioned on its own reading of the label from z_t) | "
             "subtract (also fed z_t minus that reading's encoding)")] = "none",
    class_dropout: Annotated[float, typer.Option(
        min=0.0, max=0.99, help="fmnist, the baseline or a label reader: share of training examples given the null "
                                "class conditioning, so that `sample --guidance` can be used")] = 0.0,
    teacher_forcing: Annotated[float, typer.Option(
        min=0.0, max=1.0, help="fmnist, a label reader: share of training examples whose U-Net is conditioned on "
                               "the true label instead of the reader's reading")] = 0.0,
) -> None:
    """Train on the task's training split (written atomically as config.json + model.safetensors)."""
    _need_torch()
    import torch

    from .model import MTDiffusion, save_mt
    from .tasks import TASKS, task_config, task_data
    from .train import train

    if task not in TASKS:
        raise InputError(f"--task must be one of {', '.join(TASKS)}, got {task!r}")
    if baseline and task == "eth80-mask":
        raise InputError("eth80-mask has no baseline model")
    # bad options fail before loading
    cfg = task_config(task, gamma=gamma, baseline=baseline, schedule=schedule, reader=label_reader,
                      class_dropout=class_dropout, teacher_forcing=teacher_forcing)
    data = task_data(task)
    torch.manual_seed(seed)
    model = MTDiffusion(cfg)
    info = train(model, data.train, steps, batch_size, lr, seed=seed, squares=data.squares, device=device)
    save_mt(out, model.cpu())
    typer.echo(json.dumps({"model": str(out), "task": task, "baseline": baseline, **info}))


@app.command("sample")
def sample_cmd(
    model: Annotated[Path, typer.Option("--model", "-m", help="a folder written by `polymodal diffusion train`")],
    out: Annotated[Path, typer.Option("--out", "-o", help="PNG contact sheet to write")],
    n: Annotated[int, typer.Option(min=1, max=4096)] = 16,
    sampler: Annotated[str, typer.Option(help="ddim | ddpm")] = "ddim",
    steps: Annotated[int, typer.Option(min=1)] = 50,
    seed: int = 0,
    guidance: Annotated[float, typer.Option(
        min=0.0, help="classifier-free guidance scale (1: none); needs a model trained with --class-dropout")] = 1.0,
    stratify: Annotated[bool, typer.Option(
        help="start the chains of a generated label in balanced class numbers (default: i.i.d. uniform draws)")]
        = False,
) -> None:
    """Generate n items jointly (image + label or image + mask); prints one JSON line per item."""
    _need_torch()
    import torch

    from .sheet import contact_sheet

    m = _load(model, masked=False)
    c = m.config
    label = torch.arange(n) % c.classes if c.class_conditional else None
    generator = torch.Generator().manual_seed(seed)
    start = None
    if stratify and "label" not in c.modalities and not c.class_conditional:
        raise InputError("--stratify balances generated labels: this model generates none")
    if stratify and not c.class_conditional:  # the baseline's labels are already arange(n) % classes
        from .model import stratified_labels

        start = {"label": stratified_labels(n, c.classes, generator)}
    gen = m.generate(n, sampler, steps, generator=generator, label=label, guidance=guidance, start=start)
    labels = gen.get("label", label)
    rows = [gen["image"]] + ([gen["mask"]] if "mask" in gen else [])
    contact_sheet(rows, out)
    for i in range(n):
        item = {"index": i}
        if labels is not None:
            k = int(labels[i])
            item["label"] = c.class_names[k] if c.class_names else k
            if "label_probs" in gen:
                item["probability"] = round(float(gen["label_probs"][i, k]), 4)
        if "mask" in gen:
            item["mask_share"] = round(float(gen["mask"][i].float().mean()), 4)
        typer.echo(json.dumps(item))


@app.command("reconstruct")
def reconstruct_cmd(
    model: Annotated[Path, typer.Option("--model", "-m", help="a masked-image model from `train`")],
    images: Annotated[list[Path], typer.Argument(help="image files")],
    out: Annotated[Path, typer.Option("--out", "-o", help="PNG sheet: originals, masked, filled")],
    squares: Annotated[int, typer.Option(min=1)] = 3,
    side: Annotated[int, typer.Option(min=1)] = 16,
    steps: Annotated[int, typer.Option(min=1)] = 50,
    seed: int = 0,
) -> None:
    """Hide random squares of each image and fill them with the model; prints PSNR of each filled image."""
    _need_torch()
    import torch

    from ..vision.preprocess import load_image, to_tensor
    from .data import hide, square_masks
    from .metrics import psnr
    from .sheet import contact_sheet

    m = _load(model, masked=True)
    c = m.config
    x = to_tensor([load_image(p) for p in images], c.image_size) * 2 - 1
    if c.image_channels == 1:
        x = x.mean(1, keepdim=True)
    g = torch.Generator().manual_seed(seed)
    hidden = square_masks(len(x), c.image_size, squares, side, g)
    masked = hide(x, hidden)
    # a model trained with the full objective samples given the masked image; the baseline maps it directly
    if c.objective == "mt":
        pred = m.generate(len(x), "ddim", steps, generator=g, given={"masked_image": masked})["image"]
    else:
        from .train import reconstruct_directly

        pred = reconstruct_directly(m, masked)
    filled = masked + hidden * pred
    contact_sheet([x, masked, filled], out, ["original", "masked", "filled"])
    for p, v in zip(images, psnr(filled, x).tolist(), strict=True):
        typer.echo(json.dumps({"image": str(p), "psnr_db": round(v, 2)}))


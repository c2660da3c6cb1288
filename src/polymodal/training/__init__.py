"""The shared torch training loop (extra ``torch``): seeded, AdamW + warm-up/cosine schedule, progress bar,
early stopping on a validation metric, metrics to JSON, weights as safetensors + config.json."""

from .checkpoint import load_module, save_module
from .loop import TrainConfig, TrainResult, fit, seed_everything

__all__ = ["TrainConfig", "TrainResult", "fit", "load_module", "save_module", "seed_everything"]

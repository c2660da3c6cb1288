"""Vision encoders (extra ``torch``): EfficientNet-Lite0 with the shipped ImageNet weights, image preprocessing."""

from .efficientnet import EMBED_DIM, EfficientNetLite0

__all__ = ["EMBED_DIM", "EfficientNetLite0"]

"""polymodal: XR-Linear extreme multi-label ranking and multimodal learning systems."""

__version__ = "0.1.0"

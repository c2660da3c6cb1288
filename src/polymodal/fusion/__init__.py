"""MIVC: multiple-instance visual component (fusing the embeddings of several images of one item).

The names below need the torch extra and are imported on first use, so that ``polymodal fusion --help`` (and the
rest of the command line) works without torch."""

from importlib import import_module

_WHERE = {"FUSIONS": "pooling", "AttentionPool": "pooling", "GatedAttentionPool": "pooling", "MaxPool": "pooling",
          "MeanPool": "pooling", "create_fusion": "pooling", "QueryGenerator": "query_generator",
          "MIVCConfig": "pipeline", "MIVCModel": "pipeline", "MIVCPipeline": "pipeline", "load_mivc": "pipeline",
          "save_mivc": "pipeline"}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module 'polymodal.fusion' has no attribute {name!r}")
    return getattr(import_module(f".{_WHERE[name]}", __name__), name)

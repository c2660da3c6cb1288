"""MIVC: multiple-instance visual component (fusing the embeddings of several images of one item)."""

from .pipeline import MIVCConfig, MIVCModel, MIVCPipeline, load_mivc, save_mivc
from .pooling import FUSIONS, AttentionPool, GatedAttentionPool, MaxPool, MeanPool, create_fusion
from .query_generator import QueryGenerator

__all__ = ["FUSIONS", "AttentionPool", "GatedAttentionPool", "MIVCConfig", "MIVCModel", "MIVCPipeline", "MaxPool",
           "MeanPool", "QueryGenerator", "create_fusion", "load_mivc", "save_mivc"]

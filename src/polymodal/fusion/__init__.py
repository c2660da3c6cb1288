"""MIVC: multiple-instance visual component (fusing the embeddings of several images of one item)."""

from .pooling import FUSIONS, AttentionPool, GatedAttentionPool, MaxPool, MeanPool, create_fusion
from .query_generator import QueryGenerator

__all__ = ["FUSIONS", "AttentionPool", "GatedAttentionPool", "MaxPool", "MeanPool", "QueryGenerator", "create_fusion"]

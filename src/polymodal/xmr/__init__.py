"""XR-Linear extreme multi-label ranking: features, label indexing, training, beam search, metrics."""

from .features import TextVectorizer, VectorizerConfig
from .indexer import IndexerConfig, hierarchical_kmeans, pifa
from .metrics import ranking_metrics
from .model import XRLinear, XRLinearConfig
from .text_model import XRTextModel
from .tree import ClusterTree

__all__ = [
    "ClusterTree", "IndexerConfig", "TextVectorizer", "VectorizerConfig", "XRLinear", "XRLinearConfig",
    "XRTextModel", "hierarchical_kmeans", "pifa", "ranking_metrics",
]

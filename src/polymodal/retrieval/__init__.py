"""Query -> item retrieval with XR-Linear (the product-search paper), and the baselines it is judged against."""

from .features import FEATURE_SETS, feature_config
from .popularity import PopularityRetriever

__all__ = ["FEATURE_SETS", "PopularityRetriever", "feature_config"]

"""Session-aware query autocompletion built on XR-Linear, and the most-popular-completion baseline."""

from .mpc import MostPopularCompletion

__all__ = ["MostPopularCompletion"]

"""Weight decay as a feature threshold (Wang, Chen, Du & Tian 2021): a feature survives iff its
augmentation variance is below tau^2/(4 eta) - 1. ``model`` (the bound, the mode ODE and
linear-network SGD with a per-feature variance, its sympy identities), ``predictions``,
``figures`` (``feature_threshold_survivors``).
"""

from dynamics.verify.papers import Paper

PAPER = Paper("feature_threshold", "Wang, Chen, Du & Tian",
              "Towards demystifying representation learning with non-contrastive self-supervision",
              "arXiv 2021", 2021, "2110.04947")

__all__ = ["PAPER"]

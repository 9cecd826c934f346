"""Eigenmode dynamics of non-contrastive SSL with a closed-form predictor under the Euclidean loss,
IsoLoss and the cosine loss (Halvagal, Laborieux & Zenke, NeurIPS 2023). ``model`` (the mode
ODEs, fixed points, SGD of the linear network), ``symbolic``, ``predictions``, ``figures``
(``isoloss_modes``). The training engine's IsoLoss is :mod:`dynamics.predictors.isoloss`.
"""

from dynamics.verify.papers import Paper

PAPER = Paper("isoloss", "Halvagal, Laborieux & Zenke",
              "Implicit variance regularization in non-contrastive SSL",
              "NeurIPS 2023", 2023, "2212.04858")

__all__ = ["PAPER"]

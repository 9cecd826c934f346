"""Stepwise learning in linear Barlow Twins (Simon, Knutins, Ziyin, Geisz, Fetterman & Albrecht,
ICML 2023): eigenvalues learned one at a time from a small start. ``model`` (the logistic modes,
step times, the whitened limit, GD on sampled pairs), ``symbolic`` (the derivation in sympy),
``predictions``, ``figures`` (``stepwise_staircase``).
"""

from dynamics.verify.papers import Paper

PAPER = Paper("stepwise", "Simon, Knutins, Ziyin, Geisz, Fetterman & Albrecht",
              "On the stepwise nature of self-supervised learning",
              "ICML 2023", 2023, "2303.15438")

__all__ = ["PAPER"]

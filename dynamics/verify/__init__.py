"""Verification of the theories against simulation and training: a prediction's parts
(:mod:`~dynamics.verify.prediction`: :class:`Prediction`, :class:`Outcome`, :class:`RunSpec`,
:class:`Context`, the statistics), the registry of every prediction
(:mod:`~dynamics.verify.registry`), the papers and how their theory packages are found
(:mod:`~dynamics.verify.papers`), the runs shared by several theories
(:mod:`~dynamics.verify.recipes`), reading finished runs (:mod:`~dynamics.verify.run_data`),
``ssl-dynamics verify`` (:mod:`~dynamics.verify.runner`) and its report
(:mod:`~dynamics.verify.report`).

>>> from dynamics.verify import PREDICTIONS
>>> PREDICTIONS["directpred.theorem1_invariant"].claim        # doctest: +SKIP
"""

from dynamics.verify.papers import PAPERS, Paper
from dynamics.verify.prediction import (
    CONFIRMED,
    KINDS,
    NOT_RUN,
    OUTCOMES,
    REFUTED,
    TIERS,
    Context,
    Outcome,
    Prediction,
    RunSpec,
    compare_means,
    mean_std,
    spearman,
)
from dynamics.verify.registry import PREDICTIONS, prediction

__all__ = ["CONFIRMED", "KINDS", "NOT_RUN", "OUTCOMES", "PAPERS", "PREDICTIONS", "REFUTED",
           "TIERS", "Context", "Outcome", "Paper", "Prediction", "RunSpec", "compare_means",
           "mean_std", "prediction", "spearman"]

"""Every testable prediction of the theories, stated once: the registry :data:`PREDICTIONS`
and ``ssl-dynamics verify`` (:mod:`.runner`), which computes what the theory says, runs (or
reuses) the training that measures it and judges each claim in one report.

A prediction is registered with :func:`prediction` on its ``evaluate(ctx) -> Outcome``
function (see :mod:`.base` for :class:`Prediction`, :class:`Outcome`, :class:`RunSpec`,
:class:`Context` and the statistics). Every module of this package is imported, so adding a
prediction is one new file (or one function in the file of its paper):

* :mod:`.directpred_theory` (+ ``_flows``, ``_modes``, ``_phase``, ``_validity``) -- Tian,
  Chen & Ganguli 2021, simulation predictions 1-12 and the SGD / integrator checks;
* :mod:`.directpred_training`, :mod:`.directpred_ablations` -- the same paper's real-network
  predictions 13-22;
* :mod:`.bridge` -- the linear bridge: the training engine on the theory's data model against
  the ODE;
* :mod:`.contrastive`, :mod:`.contrastive_metrics`, :mod:`.contrastive_training` -- covariance
  operator, linear PCA, HLTM, alignment/uniformity, RankMe, DCL.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable

from dynamics.predictions.base import (
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
from dynamics.registry import Registry

#: Every prediction by id (``<paper>.<claim>``), in registration order.
PREDICTIONS = Registry("prediction", field="only")


def prediction(id: str, claim: str, source: str, kind: str, *,
               tiers: tuple[str, ...] = TIERS,
               runs: Callable[[str], list[RunSpec]] | None = None,
               why_not: str = "") -> Callable[[Callable[[Context], Outcome]],
                                              Callable[[Context], Outcome]]:
    """Decorator registering ``evaluate(ctx) -> Outcome`` as the prediction ``id``."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")

    def register(evaluate: Callable[[Context], Outcome]) -> Callable[[Context], Outcome]:
        PREDICTIONS.register(id, Prediction(id, claim, source, kind, evaluate, tuple(tiers),
                                            runs, why_not),
                             doc=claim, source=source, kind=kind)
        return evaluate

    return register


def _load() -> None:
    for mod in sorted(m.name for m in pkgutil.iter_modules(__path__)):
        if mod not in ("base", "runner", "report", "plotting", "run_data"):
            importlib.import_module(f"{__name__}.{mod}")


_load()

__all__ = ["CONFIRMED", "KINDS", "NOT_RUN", "OUTCOMES", "PREDICTIONS", "REFUTED", "TIERS",
           "Context", "Outcome", "Prediction", "RunSpec", "compare_means", "mean_std",
           "prediction", "spearman"]

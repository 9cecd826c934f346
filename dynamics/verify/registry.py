"""Every testable prediction of the theories, stated once: the registry :data:`PREDICTIONS`.

A prediction is registered with :func:`prediction` on its ``evaluate(ctx) -> Outcome``
function (see :mod:`dynamics.verify.prediction` for :class:`Prediction`, :class:`Outcome`,
:class:`RunSpec`, :class:`Context` and the statistics), in the ``predictions`` module (or
package) of its theory, ``dynamics.theories.<key>``; its id is ``<key>.<claim>``. Nothing
else lists it: the registry imports every theory's predictions the first time it is read
(:func:`dynamics.verify.papers.theory_modules`), so adding a prediction is one function in the
file of its theory, and adding a theory is one package.
"""

from __future__ import annotations

from collections.abc import Callable

from dynamics.registry import Registry
from dynamics.verify.papers import theory_modules, theory_of
from dynamics.verify.prediction import (
    DEFAULT_TIERS,
    KINDS,
    Context,
    Outcome,
    Prediction,
    RunSpec,
)


def _load() -> None:
    theory_modules("predictions")


#: Every prediction by id (``<theory>.<claim>``), theories in the order of
#: :data:`~dynamics.verify.papers.PAPERS`, then in registration order.
PREDICTIONS = Registry("prediction", field="only", loader=_load)


def prediction(id: str, claim: str, source: str, kind: str, *,
               tiers: tuple[str, ...] = DEFAULT_TIERS,
               runs: Callable[[str], list[RunSpec]] | None = None,
               why_not: str = "") -> Callable[[Callable[[Context], Outcome]],
                                              Callable[[Context], Outcome]]:
    """Decorator registering ``evaluate(ctx) -> Outcome`` as the prediction ``id``.

    ``id`` must start with the key of the theory package that defines ``evaluate``
    (``isoloss.equal_rates`` in ``dynamics.theories.isoloss``): one name per theory.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")

    def register(evaluate: Callable[[Context], Outcome]) -> Callable[[Context], Outcome]:
        try:
            key = theory_of(evaluate.__module__)
        except ValueError:
            key = None
        if key is not None and not id.startswith(key + "."):
            raise ValueError(f"prediction {id!r} is defined in theory {key!r}: its id must "
                             f"start with {key + '.'!r}")
        PREDICTIONS.register(id, Prediction(id, claim, source, kind, evaluate, tuple(tiers),
                                            runs, why_not),
                             doc=claim, source=source, kind=kind)
        return evaluate

    return register


__all__ = ["PREDICTIONS", "prediction"]

"""How the predictor Wp evolves: the update-rule interface shared by the theory and training.

Tian, Chen & Ganguli (2021) study four ways of handling the linear predictor Wp of the model
J = 1/2 E||Wp W x1 - StopGrad(Wa x2)||^2 (Eq. 1):

=========== ========================================================================
learned     Wp follows the loss gradient (Eq. 2: dWp/dt = alpha_p G W^T - eta Wp)
identity    no predictor: Wp = I, fixed (Sec. 3, "without predictor")
symmetric   learned, kept symmetric (assumption A3): the flow / step is symmetrised
spectral    Wp is *set* from the running F = E[f f^T] by a DirectPred-family rule
            (Eq. 18 and variants, :data:`~dynamics.predictors.spectral.PREDICTOR_RULES`)
=========== ========================================================================

An :class:`UpdateRule` is one small object per kind with the hooks every solver calls:

- ``start(Wp0)``: the initial predictor (identity: I; symmetric: (Wp0 + Wp0^T)/2);
- ``used(Wp, eye)``: the matrix the forward pass uses (identity: I);
- ``flow(dWp)``: the continuous-time velocity of Wp given the gradient-flow one of Eq. 2
  (identity: 0; symmetric: its symmetric part); rules without a flow raise ConfigError;
- ``observe(f, f_a)``: this step's detached predictor inputs f (B, d) and paired target
  outputs f_a (B, d), before the forward (spectral: accumulate F; others: nothing);
- ``after_step(Wp)``: after the optimizer step (symmetric: symmetrise; spectral: rewrite Wp
  from F every ``freq`` steps, in place).

The ODE (:func:`dynamics.theories.directpred.matrix_flow.flow_rhs`), the minibatch SGD of the
linear model (:func:`dynamics.theories.directpred.sgd.simulate_sgd`) and the PyTorch predictors
of training (:mod:`dynamics.train.models.predictors`, each holding its rule object as
``predictor.rule``) call the same objects: a training step is ``rule.observe`` before the
forward and ``rule.after_step`` after the optimizer step, exactly as in the SGD simulation. The
hooks use only ``+``, ``.T``, ``*`` and in-place copies, so they work on numpy arrays, torch
tensors and (``flow``) sympy matrices.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from dynamics.errors import ConfigError
from dynamics.predictors.estimators import SpectralPredictorState
from dynamics.registry import Registry


def symmetrize(M: Any) -> Any:
    """(M + M^T) / 2 (assumption A3 of Tian et al. 2021)."""
    return (M + M.T) / 2


class UpdateRule:
    """Base rule: a learned predictor that follows the loss gradient (Eq. 2).

    Class attributes: ``name`` (registry key), ``doc`` (one line), ``learned`` (True if the
    gradient step of Wp applies), ``has_flow`` (True if the rule has a continuous-time flow),
    ``theorem1`` (True if Theorem 1's invariant W W^T - Wp^T Wp / alpha_p = e^{-2 eta t} C
    holds for it).
    """

    name = "learned"
    doc = "Wp follows the loss gradient (Eq. 2)"
    learned = True
    has_flow = True
    theorem1 = True

    def start(self, Wp0: Any) -> Any:
        """The initial predictor given the requested ``Wp0``."""
        return Wp0

    def used(self, Wp: Any, eye: Any) -> Any:
        """The predictor matrix the forward pass uses (``eye``: I in the caller's type)."""
        return Wp

    def flow(self, dWp: Any) -> Any:
        """dWp/dt of this rule given the gradient-flow velocity ``dWp`` of Eq. 2."""
        return dWp

    def observe(self, f: Any, f_a: Any) -> None:
        """This step's predictor inputs f (B, d) and paired target outputs f_a (B, d)."""

    def after_step(self, Wp: Any) -> Any:
        """Wp after the optimizer step (returns the new Wp; may modify it in place)."""
        return Wp

    def record(self) -> dict[str, Any]:
        """Extra state saved with each stored time point of a simulation (default none)."""
        return {}

    def describe(self) -> dict[str, Any]:
        """The rule's settings, for trajectories' metadata."""
        return {"update_rule": self.name}


class LearnedRule(UpdateRule):
    """Wp learned by gradient descent (Eq. 2); the base behaviour."""


class IdentityRule(UpdateRule):
    """No predictor: Wp = I and dWp = 0."""

    name = "identity"
    doc = "no predictor: Wp = I, fixed"
    learned = False
    theorem1 = False

    def start(self, Wp0: Any) -> Any:
        """I of Wp0's size (numpy)."""
        return np.eye(Wp0.shape[0])

    def used(self, Wp: Any, eye: Any) -> Any:
        """Always I."""
        return eye

    def flow(self, dWp: Any) -> Any:
        """Zero (kept in the caller's type)."""
        return 0 * dWp


class SymmetricRule(UpdateRule):
    """Learned predictor kept symmetric (A3): symmetric start, flow and steps."""

    name = "symmetric"
    doc = "learned, kept symmetric (A3)"
    theorem1 = False

    def start(self, Wp0: Any) -> Any:
        """(Wp0 + Wp0^T)/2."""
        return symmetrize(Wp0)

    def flow(self, dWp: Any) -> Any:
        """The symmetric part of dWp."""
        return symmetrize(dWp)

    def after_step(self, Wp: Any) -> Any:
        """(Wp + Wp^T)/2 after each step."""
        return symmetrize(Wp)


class SpectralRule(UpdateRule):
    """Wp set from the running F by a DirectPred-family rule (Eq. 18 and variants).

    Holds one :class:`~dynamics.predictors.estimators.SpectralPredictorState` (``rule``,
    ``rule_kwargs``, ``rho``, ``freq``, ``centered`` as there) for the whole run: the SGD
    simulation and the training predictor ``ClosedFormPredictor`` step this object and
    checkpoint its :attr:`state`. ``train_predictor=True`` also applies the gradient step
    between rewrites, as the official code does. Discrete time only: it has no flow.
    ``rewrote``: whether the latest :meth:`after_step` rewrote Wp.
    """

    name = "spectral"
    doc = "Wp set from the running F (Eq. 18 and variants); discrete steps only"
    has_flow = False
    theorem1 = False

    def __init__(self, dim: int, rule: str = "directpred", *, rho: float = 0.3, freq: int = 1,
                 centered: bool = False, rule_kwargs: Mapping[str, Any] | None = None,
                 train_predictor: bool = False):
        if not isinstance(train_predictor, bool):
            raise ConfigError("train_predictor", f"must be true or false, got "
                                                 f"{train_predictor!r}")
        self.state = SpectralPredictorState(dim, rule, rho=rho, freq=freq, centered=centered,
                                            rule_kwargs=rule_kwargs)
        self.learned = train_predictor
        self.rewrote = False

    def flow(self, dWp: Any) -> Any:
        """Not defined: the rule rewrites Wp at discrete steps."""
        raise ConfigError("predictor", "the spectral rule has no continuous-time flow; use "
                                       "the SGD simulation")

    def observe(self, f: Any, f_a: Any) -> None:
        """Fold f (and f_a, for rules that need the cross-correlation) into F."""
        self.state.accumulate(f, f_a)

    def after_step(self, Wp: Any) -> Any:
        """Rewrite Wp in place every ``freq`` steps (numpy arrays through a shared view)."""
        self.rewrote = self.state.maybe_update(torch.from_numpy(Wp) if isinstance(Wp, np.ndarray)
                                               else Wp)
        return Wp

    def record(self) -> dict[str, Any]:
        """``F_hat``: the running estimate of F (NaN before the first batch)."""
        st = self.state
        return {"F_hat": np.asarray(st.F) if st.corr.n_updates
                else np.full((st.dim, st.dim), np.nan)}

    def describe(self) -> dict[str, Any]:
        """Rule name, its keywords, rho and freq."""
        st = self.state
        return {"update_rule": self.name, "rule": st.rule.name,
                "rule_kwargs": dict(st.rule_kwargs), "rho": st.rho, "freq": st.freq}


#: The update rules by name (a :class:`~dynamics.registry.Registry`); stateless ones are shared
#: instances, ``spectral`` is a class (it holds F) built by :func:`make_update_rule`.
UPDATE_RULES = Registry("update rule", field="predictor")
for _rule in (LearnedRule(), IdentityRule(), SymmetricRule(), SpectralRule):
    UPDATE_RULES.register(_rule.name, _rule, doc=_rule.doc, source="Tian, Chen & Ganguli 2021",
                          flow=_rule.has_flow)


def flow_rules() -> tuple[str, ...]:
    """Names of the rules with a continuous-time flow (the ODE's predictor choices)."""
    return tuple(k for k, r in UPDATE_RULES.items() if r.has_flow)


def make_update_rule(name: str, **options: Any) -> UpdateRule:
    """The rule called ``name`` (ConfigError naming the allowed values otherwise); ``options``
    go to stateful rules (``spectral``: dim, rule, rho, freq, ...)."""
    entry = UPDATE_RULES.get(name)
    if isinstance(entry, type):
        return entry(**options)
    if options:
        raise ConfigError("predictor", f"rule {name!r} takes no options, got "
                                       f"{sorted(options)}")
    return entry


#: The shared symmetric rule (also used by the training ``symmetric`` predictor).
SYMMETRIC_RULE = UPDATE_RULES["symmetric"]

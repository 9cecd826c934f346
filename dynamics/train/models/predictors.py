"""Predictor modules (the kinds, their options and builders are registered in
:mod:`dynamics.train.models.predictor_kinds`).

Every predictor is a :class:`Predictor` (an ``nn.Module`` mapping (B, d) -> (B, d)) with the
hooks a method and the trainer use:

- ``observe(online, target)`` -- called by the method every training step, *before* the
  predictor forward, with the detached predictor inputs of both views ``online`` (2B, d) =
  cat(f(v1), f(v2)) and the paired target outputs ``target`` (2B, d) = cat(f_a(v2), f_a(v1))
  (row i of ``target`` is the target-branch output of the *other* view of row i's sample).
  Closed-form predictors fold them into their running estimates; the others ignore them.
- ``after_optimizer_step(step)`` -- after ``optimizer.step()``: symmetrise / rewrite the weight.
- ``matrix()`` -- the linear predictor's weight Wp (d x d, detached) or None.
- ``correlation()`` -- the running F = E[f f^T] (float64) where kept, else None.
- ``sqrt_matrix()`` -- Wp^{1/2} of the (symmetrised, PSD-clamped) current weight, for the cosine
  IsoLoss; None means Wp = I.
- ``all_reduce`` -- a hook attribute (``Callable | None``); under DDP the trainer sets it to an
  *averaging* all-reduce, applied to every batch statistic before it is folded into F (and into
  the ridge rule's cross-correlation), so every process eigendecomposes the same matrix.

Kinds (Tian, Chen & Ganguli 2021; official luckmatters ``byol_trainer.py``):

=========== =========================================================================
none        ``nn.Identity`` (Wp = I, fixed)
linear      ``nn.Linear(d, d, bias=predictor.bias)``, learned by SGD
mlp         Linear(d, hidden) -> BN(affine=False) -> ReLU -> Linear(hidden, d) (official
            ``MLPHead``; ``bias`` applies to both Linears), learned
symmetric   linear, symmetrised W <- (W + W^T)/2 at construction and after every optimizer step
            (``predictor_reg=symmetric``). Linear only: the official code's tied two-layer
            variant (W1 = W0^T) is not implemented.
directpred  linear whose weight is *set* to U diag(p) U^T from the running F every ``freq``
directcopy  steps (SGD in between), through the ``spectral`` update rule (its
directset   :class:`dynamics.predictors.SpectralPredictorState`) in the official order
threshold   (accumulate F before the forward, rewrite after the optimizer step). Each kind's
ridge       options are its rule's keywords with the rule's defaults
            (:data:`dynamics.predictors.PREDICTOR_RULES`); ridge (Table 1) needs the
            target-online cross-correlation, its ``ridge`` is the official ``dyn_reg``
=========== =========================================================================

**One interface with the theory.** Every predictor holds its update rule as ``self.rule``, an
object of :data:`dynamics.predictors.update_rules.UPDATE_RULES` (the one the ODE and the
linear-model SGD step): :meth:`Predictor.observe` is ``rule.observe`` and
:meth:`Predictor.after_optimizer_step` is ``rule.after_step`` on the weight. A closed-form
predictor keeps its rule (and the running F inside it) for the whole run: nothing is rebuilt or
copied per step.

Checkpoints: the rule's state (the running F, the ridge cross statistics, the step counter)
is the module's extra state (``get_extra_state``), so ``state_dict`` / ``load_state_dict``
resume a run exactly; it follows the module across devices.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from dynamics.predictors import predictor_from_spectrum, sym_eigh64
from dynamics.predictors.update_rules import SpectralRule, UpdateRule, make_update_rule
from dynamics.train.models.heads import mlp_head

AllReduce = Callable[[Tensor], Any]


def _psd_sqrt(weight: Tensor) -> Tensor:
    """(S_+)^{1/2} of S = (W + W^T)/2 (negative eigenvalues clamped to 0), in W's dtype."""
    s, u = sym_eigh64(weight.detach())
    return predictor_from_spectrum(u, s.clamp(min=0).sqrt()).to(weight.dtype)


class Predictor(nn.Module):
    """Base class. ``rule`` is the predictor's update rule (an object of
    :data:`dynamics.predictors.update_rules.UPDATE_RULES`, named by ``update_rule``): the
    same object type the theory's simulations step. ``closed_form`` marks predictors whose
    weight is not learned by the loss gradient (required by IsoLoss); ``needs_target`` those
    that read ``target`` in :meth:`observe`."""

    kind: str = "base"
    update_rule: str = "learned"
    closed_form: bool = False
    needs_target: bool = False

    def __init__(self, dim: int, rule: UpdateRule | None = None):
        super().__init__()
        self.dim = int(dim)
        self.rule: UpdateRule = rule if rule is not None else make_update_rule(self.update_rule)
        self.all_reduce: AllReduce | None = None

    @torch.compiler.disable  # running statistics: plain eager code inside a compiled step
    def observe(self, online: Tensor, target: Tensor | None = None) -> None:
        """This step's detached predictor inputs (and paired targets), before the forward:
        ``rule.observe`` (the spectral rule folds them into F; the others ignore them)."""
        self.rule.observe(online.detach(), None if target is None else target.detach())

    @torch.no_grad()
    def after_optimizer_step(self, step: int) -> bool:
        """Post-``optimizer.step()`` hook; returns True if the weight was changed."""
        return False

    def matrix(self) -> Tensor | None:
        """The linear predictor's weight Wp (d x d, detached), or None."""
        return None

    def correlation(self) -> Tensor | None:
        """The running F = E[f f^T] (Eq. 19, float64) where kept, else None."""
        return None

    def sqrt_matrix(self) -> Tensor | None:
        """Wp^{1/2} for the cosine IsoLoss; None means Wp = I."""
        return None


class IdentityPredictor(Predictor):
    """No predictor (``kind=none``): Wp = I, no parameters."""

    kind = "none"
    closed_form = True
    update_rule = "identity"

    def forward(self, x: Tensor) -> Tensor:
        """Return ``x`` unchanged."""
        return x


class LinearPredictor(Predictor):
    """``nn.Linear(d, d, bias)`` learned by SGD (``kind=linear``); ``linear.weight`` is Wp (a
    row batch f maps to f Wp^T + b)."""

    kind = "linear"

    def __init__(self, dim: int, bias: bool = False, rule: UpdateRule | None = None):
        super().__init__(dim, rule)
        self.linear = nn.Linear(self.dim, self.dim, bias=bool(bias))

    def forward(self, x: Tensor) -> Tensor:
        """``x Wp^T + b``."""
        return self.linear(x)

    def matrix(self) -> Tensor:
        """``linear.weight`` (Wp), detached."""
        return self.linear.weight.detach()

    def sqrt_matrix(self) -> Tensor:
        """(S_+)^{1/2} of the symmetrised weight S = (Wp + Wp^T)/2."""
        return _psd_sqrt(self.linear.weight)


class SymmetricPredictor(LinearPredictor):
    """Linear predictor kept symmetric (``kind=symmetric``; official ``predictor_reg=symmetric``):
    W <- (W + W^T)/2 after every optimizer step. The initial weight is symmetrised too (the
    official code only symmetrises after the first step; the theory's simulations start
    symmetric). The two-layer version is :class:`SymmetricMLPPredictor`."""

    kind = "symmetric"
    update_rule = "symmetric"

    def __init__(self, dim: int, bias: bool = False):
        super().__init__(dim, bias)
        self.symmetrize()

    @torch.no_grad()
    def symmetrize(self) -> None:
        """W <- (W + W^T)/2, in place: the symmetric rule's ``start`` / ``after_step``."""
        w = self.linear.weight
        w.copy_(self.rule.after_step(w))

    @torch.no_grad()
    def after_optimizer_step(self, step: int) -> bool:
        """Symmetrise the weight; returns True."""
        self.symmetrize()
        return True


class MLPPredictor(Predictor):
    """Two-layer predictor Linear(d, hidden) -> BN(affine=False) -> ReLU -> Linear(hidden, d)
    (``kind=mlp``; BYOL's / the official code's default predictor, hidden 512)."""

    kind = "mlp"

    def __init__(self, dim: int, hidden: int = 512, bias: bool = False):
        super().__init__(dim)
        self.net = mlp_head(self.dim, int(hidden), self.dim, bias=bool(bias))

    def forward(self, x: Tensor) -> Tensor:
        """The two-layer head applied to ``x``."""
        return self.net(x)


class SymmetricMLPPredictor(MLPPredictor):
    """Two-layer predictor with tied weights (``kind=symmetric_mlp``; the official code's
    ``predictor_reg=symmetric`` for a two-layer predictor, Table 3's "two-layer sym" columns):
    after every optimizer step W0 <- (W0 + W1^T)/2 and W1 <- W0^T, so the map
    x -> W1 relu(BN(W0 x)) is "symmetric" in the sense W1 = W0^T. Biases are left alone.
    Tied from the start (the official code ties after the first step)."""

    kind = "symmetric_mlp"
    update_rule = "symmetric"

    def __init__(self, dim: int, hidden: int = 512, bias: bool = False):
        super().__init__(dim, hidden, bias)
        linears = [m for m in self.net.modules() if isinstance(m, nn.Linear)]
        self.first, self.last = linears[0], linears[-1]
        self.tie()

    @torch.no_grad()
    def tie(self) -> None:
        """W0 <- (W0 + W1^T)/2 and W1 <- W0^T, in place."""
        w0 = (self.first.weight + self.last.weight.T) / 2
        self.first.weight.copy_(w0)
        self.last.weight.copy_(w0.T)

    @torch.no_grad()
    def after_optimizer_step(self, step: int) -> bool:
        """Re-tie the two weights; returns True."""
        self.tie()
        return True


class ClosedFormPredictor(LinearPredictor):
    """A linear predictor whose weight is *set* from the running correlation F every ``freq``
    steps (DirectPred and its variants), with ordinary SGD in between.

    The maths (running F, eigenvalue rule, rewrite order, DDP hook) is the ``spectral`` update
    rule (:class:`~dynamics.predictors.update_rules.SpectralRule`, holding a
    :class:`dynamics.predictors.SpectralPredictorState`), built once with the module and
    stepped in place: the same object the linear-model SGD of the theory steps.

    Per step (official order): :meth:`observe` folds cat(f1, f2) into F -> forward with the
    current weight -> loss, backward, ``optimizer.step()`` -> :meth:`after_optimizer_step`
    rewrites the weight if ``step_count % freq == 0`` (``step_count`` counts the calls, so the
    ``step`` argument is not used). The first forward therefore uses the default-initialised
    weight, and step t >= 1 the weight built from F up to step t-1. ``last`` holds the
    spectrum (s, p, U) of the latest rewrite for logging (None for ridge / before the first).
    """

    closed_form = True
    update_rule = "spectral"

    def __init__(self, dim: int, kind: str, rule: str, rule_kwargs: dict[str, Any], *,
                 rho: float = 0.3, freq: int = 1, centered: bool = False, bias: bool = False):
        spectral = make_update_rule("spectral", dim=int(dim), rule=rule, rho=rho, freq=freq,
                                    centered=centered, rule_kwargs=rule_kwargs,
                                    train_predictor=True)
        super().__init__(dim, bias, rule=spectral)
        self.rule: SpectralRule = spectral
        self.kind = kind
        self.rule_name = rule
        self.rule_kwargs = dict(spectral.state.rule_kwargs)
        self.rho, self.freq, self.centered = float(rho), int(freq), bool(centered)
        self.needs_target = spectral.state.cross is not None
        self.last = None

    @property
    def all_reduce(self) -> AllReduce | None:
        """The DDP averaging hook of the rule's statistics (set by the trainer)."""
        return self.__dict__.get("_all_reduce")

    @all_reduce.setter
    def all_reduce(self, hook: AllReduce | None) -> None:
        self.__dict__["_all_reduce"] = hook
        rule = self.__dict__.get("rule")
        if isinstance(rule, SpectralRule):
            rule.state.set_all_reduce(hook)

    # the rule's state: counters for logs and tests --------------------------------------------
    @property
    def n_updates(self) -> int:
        """Batches folded into F so far."""
        return self.rule.state.corr.n_updates

    @property
    def step_count(self) -> int:
        """Calls of :meth:`after_optimizer_step` so far."""
        return self.rule.state.step_count

    # checkpoints -------------------------------------------------------------------------------
    def get_extra_state(self) -> dict[str, Any]:
        """The rule's state (F, cross statistics, step counter) for ``state_dict``."""
        return {"spectral_state": self.rule.state.state_dict()}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`get_extra_state` onto the weight's device."""
        self.rule.state.load_state_dict(_to_device(state["spectral_state"],
                                                   self.linear.weight.device))
        self.last = None

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any,
                              **kwargs: Any) -> None:
        """Checkpoints written when the running statistics were buffers (``F``,
        ``n_updates``, ``step_count``, ridge: ``cross``, ``cross_n_updates``) load as the
        rule's state, so earlier run folders still resume and evaluate."""
        if prefix + "F" in state_dict and prefix + "_extra_state" not in state_dict:
            old = {k: state_dict.pop(prefix + k) for k in
                   ("F", "n_updates", "step_count", "cross", "cross_n_updates")
                   if prefix + k in state_dict}
            spectral = self.rule.state.state_dict()
            n = int(old["n_updates"])
            spectral["corr"] = {**spectral["corr"], "n_updates": n,
                                "F": old["F"] if n else None}
            if spectral["cross"] is not None and "cross" in old:
                m = int(old["cross_n_updates"])
                spectral["cross"]["joint"] = {**spectral["cross"]["joint"], "n_updates": m,
                                              "F": old["cross"] if m else None}
            spectral["step_count"] = int(old["step_count"])
            state_dict[prefix + "_extra_state"] = {"spectral_state": spectral}
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def _apply(self, fn: Any, recurse: bool = True) -> ClosedFormPredictor:
        """``.to()``, ``.cuda()``, ...: the running statistics follow the weight's device."""
        out = super()._apply(fn, recurse)
        state = self.rule.state
        if state.corr.n_updates:
            state.load_state_dict(_to_device(state.state_dict(), self.linear.weight.device))
        return out

    # hooks -----------------------------------------------------------------------------------
    @torch.no_grad()
    def after_optimizer_step(self, step: int) -> bool:
        """Set the weight from F by the kind's rule every ``freq`` calls; True if rewritten."""
        self.rule.after_step(self.linear.weight)
        if self.rule.rewrote:
            self.last = self.rule.state.last
        return self.rule.rewrote

    def correlation(self) -> Tensor | None:
        """A copy of the running F (float64), or None before the first :meth:`observe`."""
        state = self.rule.state
        return torch.as_tensor(state.F) if state.corr.n_updates else None


def _to_device(state: Any, device: torch.device) -> Any:
    """``state`` (nested dicts/lists) with every tensor moved to ``device``."""
    if isinstance(state, Tensor):
        return state.to(device)
    if isinstance(state, dict):
        return {k: _to_device(v, device) for k, v in state.items()}
    if isinstance(state, (list, tuple)):
        return type(state)(_to_device(v, device) for v in state)
    return state

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
directcopy  steps (SGD in between), through :class:`dynamics.predictors.SpectralPredictorState`
directset   in the official order (accumulate F before the forward, rewrite after the optimizer
threshold   step). Each kind's options are its rule's keywords with the rule's defaults
ridge       (:data:`dynamics.predictors.PREDICTOR_RULES`); ridge (Table 1) needs the
            target-online cross-correlation, its ``ridge`` is the official ``dyn_reg``
=========== =========================================================================

Checkpoints: the running F (and the ridge cross statistics) and the step counters are
registered buffers, so ``state_dict`` / ``load_state_dict`` resume a run exactly. Keep the
module in float32/float64 (``.half()`` would round F).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from dynamics.predictors import SpectralPredictorState, predictor_from_spectrum, sym_eigh64
from dynamics.predictors.update_rules import symmetrize
from dynamics.train.models.heads import mlp_head

AllReduce = Callable[[Tensor], Any]


def _psd_sqrt(weight: Tensor) -> Tensor:
    """(S_+)^{1/2} of S = (W + W^T)/2 (negative eigenvalues clamped to 0), in W's dtype."""
    s, u = sym_eigh64(weight.detach())
    return predictor_from_spectrum(u, s.clamp(min=0).sqrt()).to(weight.dtype)


class Predictor(nn.Module):
    """Base class: identity hooks. ``closed_form`` marks predictors whose weight is not learned
    by the loss gradient (required by IsoLoss); ``needs_target`` those that read ``target`` in
    :meth:`observe`; ``update_rule`` names how Wp evolves
    (:data:`dynamics.predictors.update_rules.UPDATE_RULES`, the interface the theory's
    simulations use)."""

    kind: str = "base"
    update_rule: str = "learned"
    closed_form: bool = False
    needs_target: bool = False

    def __init__(self, dim: int):
        super().__init__()
        self.dim = int(dim)
        self.all_reduce: AllReduce | None = None

    def observe(self, online: Tensor, target: Tensor | None = None) -> None:
        """Fold this step's detached predictor inputs (and paired targets) into the running
        statistics; a no-op for learned predictors."""

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

    def __init__(self, dim: int, bias: bool = False):
        super().__init__(dim)
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
        """W <- (W + W^T)/2, in place."""
        w = self.linear.weight
        w.copy_(symmetrize(w))

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

    The maths (running F, eigenvalue rule, rewrite order, DDP hook) is
    :class:`dynamics.predictors.SpectralPredictorState`; this module only keeps its state in
    buffers: ``F`` (d x d float64), ``n_updates``, ``step_count`` and, for the ridge rule,
    ``cross`` (the 2d x 2d joint statistic of [f_a; f]) and ``cross_n_updates``. Python mirrors
    of the counters avoid a device sync per step; they are refreshed after ``load_state_dict``.

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
        super().__init__(dim, bias)
        self.kind = kind
        self.rule_name = rule
        self.rule_kwargs = dict(rule_kwargs)
        self.rho, self.freq, self.centered = float(rho), int(freq), bool(centered)
        self._hook: AllReduce | None = None
        self._state = self._make_state(None)  # validates rule kwargs now (ConfigError)
        self.needs_target = self._state.cross is not None
        d = self.dim
        self.register_buffer("F", torch.zeros(d, d, dtype=torch.float64))
        self.register_buffer("n_updates", torch.zeros((), dtype=torch.long))
        self.register_buffer("step_count", torch.zeros((), dtype=torch.long))
        if self.needs_target:
            self.register_buffer("cross", torch.zeros(2 * d, 2 * d, dtype=torch.float64))
            self.register_buffer("cross_n_updates", torch.zeros((), dtype=torch.long))
        self._n = self._steps = self._cross_n = 0
        self.last = None
        self.register_load_state_dict_post_hook(ClosedFormPredictor._refresh_counters)

    def _make_state(self, hook: AllReduce | None) -> SpectralPredictorState:
        return SpectralPredictorState(self.dim, self.rule_name, rho=self.rho, freq=self.freq,
                                      centered=self.centered, rule_kwargs=self.rule_kwargs,
                                      all_reduce=hook)

    @staticmethod
    def _refresh_counters(module: ClosedFormPredictor, incompatible_keys: Any) -> None:
        module._n = int(module.n_updates)
        module._steps = int(module.step_count)
        if module.needs_target:
            module._cross_n = int(module.cross_n_updates)
        module.last = None

    # buffers <-> SpectralPredictorState ------------------------------------------------------
    def _sync_in(self) -> SpectralPredictorState:
        if self.all_reduce is not self._hook:
            self._state = self._make_state(self.all_reduce)
            self._hook = self.all_reduce
        st = self._state
        st.corr.load_state_dict({"dim": self.dim, "rho": st.corr.rho,
                                 "centered": st.corr.centered, "n_updates": self._n,
                                 "F": self.F if self._n else None, "numpy": False})
        if st.cross is not None:
            st.cross.load_state_dict({"dim": self.dim, "joint": {
                "dim": 2 * self.dim, "rho": st.cross.rho, "centered": st.cross.centered,
                "n_updates": self._cross_n, "F": self.cross if self._cross_n else None,
                "numpy": False}})
        st.step_count = self._steps
        return st

    def _sync_out(self, st: SpectralPredictorState) -> None:
        self._n, self._steps = st.corr.n_updates, st.step_count
        if self._n:
            self.F.copy_(st.corr.F)
        self.n_updates.fill_(self._n)
        self.step_count.fill_(self._steps)
        if st.cross is not None:
            self._cross_n = st.cross.n_updates
            if self._cross_n:
                self.cross.copy_(st.cross.state_dict()["joint"]["F"])
            self.cross_n_updates.fill_(self._cross_n)

    # hooks -----------------------------------------------------------------------------------
    @torch.no_grad()
    def observe(self, online: Tensor, target: Tensor | None = None) -> None:
        """Fold the batch into F (Eq. 19; ridge: also the cross statistics) before the forward."""
        st = self._sync_in()
        st.accumulate(online.detach(), None if target is None else target.detach())
        self._sync_out(st)

    @torch.no_grad()
    def after_optimizer_step(self, step: int) -> bool:
        """Set the weight from F by the kind's rule every ``freq`` calls; True if rewritten."""
        st = self._sync_in()
        rewritten = st.maybe_update(self.linear.weight)
        if rewritten:
            self.last = st.last
        self._sync_out(st)
        return rewritten

    def correlation(self) -> Tensor | None:
        """A copy of the running F (float64), or None before the first :meth:`observe`."""
        return self.F.detach().clone() if self._n else None

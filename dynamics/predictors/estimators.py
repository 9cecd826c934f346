"""Stateful helpers a trainer (or a simulation) uses to *set* the predictor every ``freq`` steps.

- :class:`CrossCorrelationEstimator` running E[f_a f^T] (target x online), for the ridge rule.
- :class:`SpectralPredictorState` owns the running F (a
  :class:`~dynamics.metrics.directpred.CorrelationEstimator`), a registered rule, ``freq`` and
  ``step_count``, and rewrites a predictor weight in place in the official code's order.

Order of one training step (official luckmatters ``BYOLTrainer.train`` / ``update``,
``predictor_reg=corr``; ``niter`` = ``step_count`` starts at 0)::

    f1, f2 = online(x1), online(x2)            # projector outputs = predictor inputs
    state.accumulate(torch.cat([f1, f2]))      # 1. F <- rho F + (1-rho) F_B, F_B of THIS batch
                                               #    (first call: F = F_B); detached
    p1, p2 = predictor(f1), predictor(f2)      # 2. forward with the CURRENT weight
    loss(...).backward(); optimizer.step()     # 3. the predictor's own SGD step still happens
    state.maybe_update(predictor.weight)       # 4. if step_count % freq == 0: weight <- rule(F)
                                               #    (F includes batches 0..t); step_count += 1
    ema_update(target, online)                 # 5. target EMA

Consequences: the forward of step 0 uses the initial (default-initialised) weight; the forward of
step t >= 1 uses the weight written after step t-1, i.e. F up to step t-1 (a one-step lag); with
``freq`` > 1 the weight is rewritten after steps 0, freq, 2 freq, ... and the optimiser trains
it in between (momentum buffers are *not* reset by a rewrite, as in the official code). Other
implementations differ: the IsoLoss repo (fmi-basel/implicit-var-reg) starts F at 0 instead of
F_B and builds Wp from F *including* the current batch inside the forward (no lag, freq = 1).

Distributed training: ``all_reduce`` (optional callable) is applied to every batch statistic
F_B right before it is folded in, so each process accumulates the same F and eigendecomposes
the same matrix. It must *average* (not sum) across processes, either returning the result or
reducing in place and returning None, e.g.::

    def all_reduce_mean(t):
        torch.distributed.all_reduce(t)
        t /= torch.distributed.get_world_size()

(``dynamics.train.distributed.DistContext.all_reduce_mean`` has exactly this contract.)

F is kept in float64 on the device of the first batch (use a backend that supports float64,
e.g. NCCL/Gloo). Every process must call :meth:`SpectralPredictorState.accumulate` on every
step (the hook is a collective).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch

from dynamics.errors import ConfigError
from dynamics.metrics.directpred import CorrelationEstimator
from dynamics.predictors.spectral import (
    PredictorRule,
    SpectralPredictor,
    get_rule,
    predictor_from_correlation,
)

AllReduce = Callable[[torch.Tensor], Any]

STATE_VERSION = 1


def _rows(field_name: str, x: Any) -> Any:
    """A (N, d) batch; a list/tuple of batches (e.g. the two views) is concatenated."""
    if isinstance(x, (list, tuple)):
        if not x:
            raise ConfigError(field_name, "must be a non-empty batch or list of batches")
        if all(isinstance(b, torch.Tensor) for b in x):
            return torch.cat([b.detach() for b in x], dim=0)
        return np.concatenate([np.asarray(b) for b in x], axis=0)
    return x.detach() if isinstance(x, torch.Tensor) else x


def _pair_columns(f_a: Any, f: Any) -> Any:
    """[f_a, f] side by side (N, 2d), in torch if either input is a tensor."""
    if isinstance(f_a, torch.Tensor) or isinstance(f, torch.Tensor):
        ref = f if isinstance(f, torch.Tensor) else f_a
        a = torch.as_tensor(f_a, device=ref.device)
        b = torch.as_tensor(f, device=ref.device)
        if a.ndim != 2 or b.ndim != 2 or a.shape[0] != b.shape[0]:
            raise ConfigError("f_a", f"must be (N, d) with the same rows as f, got shapes "
                                     f"{tuple(a.shape)} and {tuple(b.shape)}")
        dtype = torch.promote_types(a.dtype, b.dtype)
        return torch.cat([a.to(dtype), b.to(dtype)], dim=1)
    a, b = np.asarray(f_a), np.asarray(f)
    if a.ndim != 2 or b.ndim != 2 or a.shape[0] != b.shape[0]:
        raise ConfigError("f_a", f"must be (N, d) with the same rows as f, got shapes "
                                 f"{a.shape} and {b.shape}")
    return np.concatenate([a, b], axis=1)


class CrossCorrelationEstimator:
    """Running estimate of the target-online cross-correlation C = E[f_a f^T] (d x d), with the
    same rule as :class:`~dynamics.metrics.directpred.CorrelationEstimator` (first update
    C = C_B, then C <- rho C + (1 - rho) C_B, C_B = (1/B) sum_b f_a,b f_b^T).

    Implemented by running a CorrelationEstimator on the stacked pair g = [f_a; f] (2d): C is
    the off-diagonal block of E[g g^T], so the running rule, state handling and centring
    (``centered=True`` subtracts each batch's means of f_a and f) are exactly the parent's; the
    diagonal blocks give E[f f^T] and E[f_a f_a^T] of the same batches for free
    (:attr:`F_online`, :attr:`F_target`).

    Pairing (official ``byol_trainer.py``): row b of ``f_a`` is the *target* output of the other
    view of the sample whose *online* output is row b of ``f``; the official code averages both
    pairings, i.e. ``update(torch.cat([t(x2), t(x1)]), torch.cat([o(x1), o(x2)]))``.
    ``all_reduce`` (optional) is applied to the joint 2d x 2d batch statistic.
    """

    def __init__(self, dim: int, rho: float = 0.3, centered: bool = False, *,
                 dtype: torch.dtype = torch.float64, all_reduce: AllReduce | None = None):
        if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or dim < 1:
            raise ConfigError("dim", f"must be an integer >= 1, got {dim!r}")
        self.dim = int(dim)
        self._joint = CorrelationEstimator(2 * self.dim, rho, centered, dtype=dtype,
                                                   all_reduce=all_reduce)

    @property
    def rho(self) -> float:
        """Running-average weight rho of the update C <- rho C + (1 - rho) C_B."""
        return self._joint.rho

    @property
    def centered(self) -> bool:
        """Whether each batch's means are subtracted."""
        return self._joint.centered

    @property
    def n_updates(self) -> int:
        """Number of batches folded in so far."""
        return self._joint.n_updates

    def update(self, f_a: Any, f: Any) -> CrossCorrelationEstimator:
        """Fold in one batch of pairs: ``f_a`` (B, d) target outputs, ``f`` (B, d) online
        outputs (row b of each from the same sample). Returns self."""
        g = _pair_columns(_rows("f_a", f_a), _rows("f", f))
        if g.shape[1] != 2 * self.dim:
            raise ConfigError("f", f"f_a and f must have {self.dim} columns (dim), got "
                                   f"{g.shape[1] // 2}")
        self._joint.update(g)
        return self

    def _block(self, rows: slice, cols: slice) -> Any:
        return self._joint.F[rows, cols]

    @property
    def C(self) -> Any:
        """The running E[f_a f^T] (d x d; rows index f_a, columns f)."""
        d = self.dim
        return self._block(slice(0, d), slice(d, 2 * d))

    @property
    def F_online(self) -> Any:
        """The running E[f f^T] of the same batches."""
        d = self.dim
        return self._block(slice(d, 2 * d), slice(d, 2 * d))

    @property
    def F_target(self) -> Any:
        """The running E[f_a f_a^T] of the same batches."""
        d = self.dim
        return self._block(slice(0, d), slice(0, d))

    def state_dict(self) -> dict[str, Any]:
        """``dim`` and the joint estimator's state, for checkpoints."""
        return {"dim": self.dim, "joint": self._joint.state_dict()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a :meth:`state_dict`; ``dim`` must match."""
        if state["dim"] != self.dim:
            raise ConfigError("dim", f"state has dim={state['dim']!r}, this estimator "
                                     f"{self.dim!r}")
        self._joint.load_state_dict(state["joint"])


class SpectralPredictorState:
    """Everything a trainer needs to run DirectPred-style predictors (see the module docstring
    for the exact per-step order, which follows the official code).

    ``dim``: predictor width d. ``rule``: a name in :data:`PREDICTOR_RULES` (ConfigError
    otherwise); ``rule_kwargs`` override its defaults (checked here, before any work). ``rho``:
    the running-average weight of Eq. 19 (paper default 0.3). ``freq``: rewrite the weight every
    ``freq`` steps (1 = every step). ``centered``: subtract batch means (paper: hurts).
    ``all_reduce``: optional DDP hook applied to F_B (and to the ridge rule's cross statistic).

    Attributes: ``corr`` (the CorrelationEstimator of F), ``cross`` (CrossCorrelationEstimator,
    only for rules that need E[f_a f^T]), ``step_count`` (number of :meth:`maybe_update` calls so
    far), ``last`` (the :class:`~dynamics.predictors.spectral.SpectralPredictor` of the latest
    rewrite, for logging; None for the ridge rule or before the first rewrite).
    """

    def __init__(self, dim: int, rule: str = "directpred", *, rho: float = 0.3, freq: int = 1,
                 centered: bool = False, rule_kwargs: Mapping[str, Any] | None = None,
                 all_reduce: AllReduce | None = None):
        if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or dim < 1:
            raise ConfigError("dim", f"must be an integer >= 1, got {dim!r}")
        if isinstance(freq, bool) or not isinstance(freq, (int, np.integer)) or freq < 1:
            raise ConfigError("freq", f"must be an integer >= 1, got {freq!r}")
        if isinstance(rule, PredictorRule):
            rule = rule.name
        self.rule: PredictorRule = get_rule(rule)
        self.rule_kwargs = self.rule.validate(rule_kwargs)
        self.dim = int(dim)
        self.freq = int(freq)
        self.corr = CorrelationEstimator(self.dim, rho, centered, all_reduce=all_reduce)
        self.cross = (CrossCorrelationEstimator(self.dim, rho, centered, all_reduce=all_reduce)
                      if self.rule.needs_cross else None)
        self.step_count = 0
        self.last: SpectralPredictor | None = None

    @property
    def rho(self) -> float:
        """Running-average weight rho of F (Eq. 19)."""
        return self.corr.rho

    @property
    def all_reduce(self) -> AllReduce | None:
        """The DDP averaging hook applied to each batch statistic, or None."""
        return self.corr.all_reduce

    @property
    def F(self) -> Any:
        """The running estimate of F (ConfigError before the first :meth:`accumulate`)."""
        return self.corr.F

    def set_all_reduce(self, all_reduce: AllReduce | None) -> None:
        """Set (or clear) the DDP averaging hook of F and, for the ridge rule, of the cross
        statistics (the trainer sets it once the process group exists)."""
        if all_reduce is not None and not callable(all_reduce):
            raise ConfigError("all_reduce", f"must be a callable or None, got {all_reduce!r}")
        self.corr.all_reduce = all_reduce
        if self.cross is not None:
            self.cross._joint.all_reduce = all_reduce

    def accumulate(self, f: Any, f_target: Any = None) -> None:
        """Step 1 of the training step: fold this batch's predictor inputs ``f`` (B, d), or a
        list of batches such as ``[f1, f2]`` (concatenated, as the official code stacks both
        views), into F. Detached. ``f_target``: the paired target outputs (same rows, other
        view), required by rules that need E[f_a f^T] and ignored otherwise."""
        f = _rows("f", f)
        self.corr.update(f)
        if self.cross is not None:
            if f_target is None:
                raise ConfigError("f_target", f"rule {self.rule.name!r} needs the paired target "
                                              "outputs f_target")
            self.cross.update(_rows("f_target", f_target), f)

    def compute_predictor(self) -> torch.Tensor:
        """Wp from the current estimate (float64, on F's device): U diag(rule(s)) U^T, or the
        ridge predictor. Updates :attr:`last`; does not touch ``step_count``."""
        if self.corr.n_updates == 0:
            raise ConfigError("F", "no batch accumulated yet: call accumulate(f) before "
                                   "maybe_update (order: accumulate, forward, backward, "
                                   "optimizer.step, maybe_update)")
        F = torch.as_tensor(self.corr.F)
        if self.cross is not None:
            self.last = None
            return predictor_from_correlation(F, self.rule, cross=torch.as_tensor(self.cross.C),
                                              **self.rule_kwargs)
        self.last = predictor_from_correlation(F, self.rule, return_spectrum=True,
                                               **self.rule_kwargs)
        return self.last.Wp

    def due(self) -> bool:
        """Whether the next :meth:`maybe_update` rewrites the weight (step_count % freq == 0)."""
        return self.step_count % self.freq == 0

    def maybe_update(self, linear_weight: Any) -> bool:
        """Step 4 of the training step (after ``optimizer.step()``): if ``step_count % freq ==
        0``, write Wp = U diag(p) U^T into ``linear_weight`` in place under ``torch.no_grad()``
        (a (d, d) tensor/Parameter, or a module with a ``.weight``, e.g. ``nn.Linear(d, d,
        bias=False)``; dtype and device are converted by ``copy_``). Then ``step_count += 1``.
        Returns True if the weight was rewritten."""
        weight = getattr(linear_weight, "weight", linear_weight)
        if not isinstance(weight, torch.Tensor):
            raise ConfigError("linear_weight", f"must be a torch tensor or a module with a "
                                               f"weight, got {type(linear_weight).__name__}")
        if tuple(weight.shape) != (self.dim, self.dim):
            raise ConfigError("linear_weight", f"must be {self.dim}x{self.dim}, got "
                                               f"{tuple(weight.shape)}")
        rewrite = self.due()
        if rewrite:
            wp = self.compute_predictor()
            with torch.no_grad():
                weight.copy_(wp)
        self.step_count += 1
        return rewrite

    def state_dict(self) -> dict[str, Any]:
        """Checkpointable state (F stays on its device; ``torch.save`` it with the model)."""
        return {"version": STATE_VERSION, "dim": self.dim, "rule": self.rule.name,
                "rule_kwargs": dict(self.rule_kwargs), "freq": self.freq,
                "step_count": self.step_count, "corr": self.corr.state_dict(),
                "cross": None if self.cross is None else self.cross.state_dict()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a :meth:`state_dict`; the configuration (dim, rule, rule_kwargs, freq, rho,
        centered) must match this object's (ConfigError naming the field otherwise)."""
        mine = {"dim": self.dim, "rule": self.rule.name, "rule_kwargs": dict(self.rule_kwargs),
                "freq": self.freq}
        for key, value in mine.items():
            if state.get(key) != value:
                raise ConfigError(key, f"state has {key}={state.get(key)!r}, this predictor "
                                       f"state {value!r}")
        step_count = state["step_count"]
        if isinstance(step_count, bool) or not isinstance(step_count, (int, np.integer)) \
                or step_count < 0:
            raise ConfigError("step_count", f"must be an integer >= 0, got {step_count!r}")
        self.corr.load_state_dict(state["corr"])
        if self.cross is not None:
            self.cross.load_state_dict(state["cross"])
        self.step_count = int(step_count)
        self.last = None


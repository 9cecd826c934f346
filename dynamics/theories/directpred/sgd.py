"""Discrete stochastic training of the linear BYOL/SimSiam model with sampled data.

The continuous theory (Lemma 1) is the small-learning-rate, large-batch limit of this loop. One
step with learning rate ``lr`` (the paper's alpha, Sec. 3 "mapping to SGD"):

    R        = Wp W x1 - Wa x2                     (per sample, minibatch of size B)
    grad_W   = Wp^T R x1^T / B                     (stop-gradient: Wa x2 is a constant)
    grad_Wp  = R (W x1)^T / B
    W  <- W  - lr (grad_W + eta W)
    Wp <- Wp - lr (alpha_p grad_Wp + eta Wp)       (predictor lr = lr * alpha_p)
    Wa <- gamma_a Wa + (1 - gamma_a) W,   gamma_a = 1 - lr * beta   (EMA momentum)

so weight decay per step is lr * eta (the paper's eta_bar = alpha eta) and one step advances the
continuous time by ``lr``. Without stop-gradient (SimSiam target) the target branch contributes
``- R x2^T / B`` to grad_W. The predictor follows an update rule of
:mod:`dynamics.predictors.update_rules` (the objects training uses): ``config.predictor`` names
a stateless one (learned: the step above; identity: Wp = I; symmetric: Wp symmetrised after
each step), or pass ``rule=`` (e.g. a :class:`~dynamics.predictors.update_rules.SpectralRule`,
which sets Wp from the running F; see :mod:`dynamics.theories.directpred.directpred_linear`). Per
step, in the official code's order: the rule observes f = W x1 and f_a = Wa x2 -> forward with the
current Wp -> SGD step -> the rule's ``after_step`` -> EMA target update.

The result is a :class:`~dynamics.theories.directpred.matrix_flow.MatrixTrajectory`, so every
derived series of the ODE solution (F, spectra, invariant residual, commutator) is available for
comparison.
"""

from __future__ import annotations

import numpy as np
import torch

from dynamics.errors import ConfigError, check_range
from dynamics.predictors.update_rules import UPDATE_RULES, UpdateRule
from dynamics.theories.directpred.matrix_flow import (
    MatrixFlowConfig,
    MatrixTrajectory,
    _initial_state,
    validate_matrix_inputs,
)
from dynamics.threads import with_thread_policy


def ema_momentum(lr: float, beta: float) -> float:
    """gamma_a = 1 - lr * beta (Sec. 3: alpha beta = 1 - gamma_a).

    Args:
        lr: SGD learning rate alpha (> 0).
        beta: EMA rate beta of the continuous theory.

    Returns:
        The EMA momentum gamma_a as a float.

    Example:
        >>> ema_momentum(0.01, 1.0)
        0.99
    """
    return 1.0 - lr * beta


@with_thread_policy
def simulate_sgd(
    W0,
    data,
    config: MatrixFlowConfig | None = None,
    *,
    Wp0=None,
    Wa0=None,
    lr: float = 0.01,
    batch_size: int = 256,
    t_end: float = 10.0,
    n_save: int = 101,
    seed: int = 0,
    blowup: float = 1e8,
    rule: UpdateRule | None = None,
) -> MatrixTrajectory:
    """Minibatch SGD on the linear model; ``data`` is a model from
    :mod:`dynamics.numerics.data_models` (anything with ``X``, ``Xprime``, ``sample(B, rng)``).

    Runs ``round(t_end / lr)`` steps and stores ``n_save`` evenly spaced states (continuous time
    t = step * lr). Stops early, keeping the stored states, if the weights blow up or become
    non-finite. ``rule`` overrides ``config.predictor`` (needed for stateful rules); its
    ``record()`` arrays are stacked into ``meta`` and its ``describe()`` merged into it.

    Args:
        W0: initial online weights W(0), shape (n2, n1).
        data: data model with ``X``, ``Xprime`` (n1, n1) and ``sample(B, rng) -> (x1, x2)``,
            each (n1, B); e.g. :class:`~dynamics.numerics.data_models.AdditiveGaussian`.
        config: alpha_p, beta, eta, predictor, target and stop_grad (default
            ``MatrixFlowConfig()``); with target "ema", lr * beta must be <= 1.
        Wp0: initial predictor (n2, n2), default I (the rule's ``start`` may replace it).
        Wa0: initial target (n2, n1), default 0 (ignored for target "simsiam", Wa = W).
        lr: learning rate > 0; also the continuous time of one step.
        batch_size: minibatch size B, a positive integer.
        t_end: continuous end time > 0 (at least one step).
        n_save: number of stored states, an integer >= 2 (fewer if steps coincide).
        seed: seed of the ``numpy.random.default_rng`` that draws the minibatches.
        blowup: stop when an entry of W or Wp exceeds it in magnitude or is non-finite.
        rule: an :class:`~dynamics.predictors.update_rules.UpdateRule` instance, or None for
            ``config.predictor`` (ConfigError if that rule keeps state).

    Returns:
        :class:`~dynamics.theories.directpred.matrix_flow.MatrixTrajectory` with ``t`` = step *
        lr; ``meta`` holds lr, batch_size, seed, n_steps, ema_momentum and the rule's entries.

    Example:
        >>> from dynamics.numerics.data_models import AdditiveGaussian
        >>> data = AdditiveGaussian.isotropic(2, 0.1)
        >>> tr = simulate_sgd(0.5 * np.eye(2), data, lr=0.01, batch_size=16, t_end=0.1, n_save=3)
        >>> tr.t, tr.W.shape, tr.status
        (array([0.  , 0.05, 0.1 ]), (3, 2, 2), 'completed')
    """
    cfg = config or MatrixFlowConfig()
    check_range("lr", lr, low=0, low_open=True)
    check_range("t_end", t_end, low=0, low_open=True)
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError("batch_size", f"must be a positive integer, got {batch_size!r}")
    if not isinstance(n_save, int) or n_save < 2:
        raise ConfigError("n_save", f"must be an integer >= 2, got {n_save!r}")
    if cfg.target == "ema" and lr * cfg.beta > 1:
        raise ConfigError("beta", f"lr * beta must be <= 1 (EMA momentum 1 - lr*beta >= 0); "
                                  f"got {lr * cfg.beta:g}")
    if rule is None:
        rule = UPDATE_RULES[cfg.predictor]
        if isinstance(rule, type):
            raise ConfigError("predictor", f"{cfg.predictor!r} keeps state: pass rule="
                                           f"{rule.__name__}(...)")
    n_steps = int(round(t_end / lr))
    if n_steps < 1:
        raise ConfigError("t_end", f"must be at least one step (lr = {lr:g}), got {t_end:g}")
    W, Wp, Wa, X, Xp = validate_matrix_inputs(W0, Wp0, Wa0, data.X, data.Xprime)
    W, Wp, Wa = _initial_state(W, Wp, Wa, cfg, rule)
    W, Wa = W.copy(), Wa.copy()
    Wp = np.array(Wp, dtype=np.float64, order="C")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices; avoids numpy-BLAS / torch-OpenMP spin contention
    try:
        return _sgd_loop(W, Wp, Wa, X, Xp, data, cfg, rule, lr=lr, batch_size=batch_size,
                         n_steps=n_steps, n_save=n_save, seed=seed, blowup=blowup)
    finally:
        torch.set_num_threads(threads)


def _sgd_loop(W, Wp, Wa, X, Xp, data, cfg, rule, *, lr, batch_size, n_steps, n_save, seed,
              blowup) -> MatrixTrajectory:
    """The one SGD loop of the linear model (see the module docstring for the step)."""
    rng = np.random.default_rng(seed)
    gamma = ema_momentum(lr, cfg.beta)
    save_at = np.unique(np.linspace(0, n_steps, n_save).round().astype(int))
    saved: dict[str, list] = {"t": [], "W": [], "Wp": [], "Wa": []}
    status = "completed"
    for step in range(n_steps + 1):
        if len(saved["t"]) < save_at.size and step == save_at[len(saved["t"])]:
            for key, value in {"t": step * lr, "W": W.copy(), "Wp": Wp.copy(), "Wa": Wa.copy(),
                               **rule.record()}.items():
                saved.setdefault(key, []).append(value)
        if step == n_steps:
            break
        x1, x2 = data.sample(batch_size, rng)
        f1 = W @ x1
        fa = (W if cfg.target == "simsiam" else Wa) @ x2
        rule.observe(f1.T, fa.T)                        # 1. the rule sees this batch
        R = Wp @ f1 - fa                                # 2. forward with the current Wp
        grad_W = Wp.T @ R @ x1.T / batch_size           # 3. SGD step
        if not cfg.stop_grad:
            grad_W = grad_W - R @ x2.T / batch_size
        W_new = W - lr * (grad_W + cfg.eta * W)
        if rule.learned:
            grad_Wp = R @ f1.T / batch_size
            Wp = Wp - lr * (cfg.alpha_p * grad_Wp + cfg.eta * Wp)
        W = W_new
        Wp = rule.after_step(Wp)                        # 4. symmetrise / rewrite Wp
        Wa = W.copy() if cfg.target == "simsiam" else gamma * Wa + (1 - gamma) * W  # 5. EMA
        if not (np.all(np.isfinite(W)) and np.all(np.isfinite(Wp))) or max(
                np.abs(W).max(), np.abs(Wp).max()) > blowup:
            status = f"stopped at step {step + 1} (t={(step + 1) * lr:.6g}): weights blew up"
            break
    arrays = {k: np.array(v) for k, v in saved.items()}
    meta = {"lr": lr, "batch_size": batch_size, "seed": seed, "n_steps": n_steps,
            "ema_momentum": gamma, **rule.describe(),
            **{k: v for k, v in arrays.items() if k not in ("t", "W", "Wp", "Wa")}}
    return MatrixTrajectory(arrays["t"], arrays["W"], arrays["Wp"], arrays["Wa"], X, Xp, cfg,
                            status, meta=meta)

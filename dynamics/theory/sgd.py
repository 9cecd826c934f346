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
``- R x2^T / B`` to grad_W. Predictor variants follow :class:`MatrixFlowConfig` (identity: Wp = I;
symmetric: Wp symmetrised after each step).

The result is a :class:`~dynamics.theory.matrix_flow.MatrixTrajectory`, so every derived series of
the ODE solution (F, spectra, invariant residual, commutator) is available for comparison.
"""

from __future__ import annotations

import numpy as np

from dynamics.errors import ConfigError, check_range
from dynamics.theory.matrix_flow import (
    MatrixFlowConfig,
    MatrixTrajectory,
    _initial_state,
    validate_matrix_inputs,
)


def ema_momentum(lr: float, beta: float) -> float:
    """gamma_a = 1 - lr * beta (Sec. 3: alpha beta = 1 - gamma_a)."""
    return 1.0 - lr * beta


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
) -> MatrixTrajectory:
    """Minibatch SGD on the linear model; ``data`` is a model from
    :mod:`dynamics.theory.data_models` (anything with ``X``, ``Xprime``, ``sample(B, rng)``).

    Runs ``round(t_end / lr)`` steps and stores ``n_save`` evenly spaced states (continuous time
    t = step * lr). Stops early, keeping the stored states, if the weights blow up or become
    non-finite.
    """
    cfg = config or MatrixFlowConfig()
    check_range("lr", lr, low=0, low_open=True)
    check_range("t_end", t_end, low=0, low_open=True)
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError("batch_size", f"must be a positive integer, got {batch_size!r}")
    if cfg.target == "ema" and lr * cfg.beta > 1:
        raise ConfigError("beta", f"lr * beta must be <= 1 (EMA momentum 1 - lr*beta >= 0); "
                                  f"got {lr * cfg.beta:g}")
    n_steps = int(round(t_end / lr))
    if n_steps < 1:
        raise ConfigError("t_end", f"must be at least one step (lr = {lr:g}), got {t_end:g}")
    X, Xp = data.X, data.Xprime
    W, Wp, Wa, X, Xp = validate_matrix_inputs(W0, Wp0, Wa0, X, Xp)
    W, Wp, Wa = _initial_state(W, Wp, Wa, cfg)
    W, Wp, Wa = W.copy(), Wp.copy(), Wa.copy()
    rng = np.random.default_rng(seed)
    gamma = ema_momentum(lr, cfg.beta)
    save_at = np.unique(np.linspace(0, n_steps, n_save).round().astype(int))
    Ws, Wps, Was, ts = [], [], [], []
    status = "completed"
    for step in range(n_steps + 1):
        if len(ts) < save_at.size and step == save_at[len(ts)]:
            ts.append(step * lr)
            Ws.append(W.copy())
            Wps.append(Wp.copy())
            Was.append(Wa.copy())
        if step == n_steps:
            break
        x1, x2 = data.sample(batch_size, rng)
        target = W if cfg.target == "simsiam" else Wa
        f1 = W @ x1
        R = Wp @ f1 - target @ x2
        grad_W = Wp.T @ R @ x1.T / batch_size
        if not cfg.stop_grad:
            grad_W = grad_W - R @ x2.T / batch_size
        W_new = W - lr * (grad_W + cfg.eta * W)
        if cfg.predictor != "identity":
            grad_Wp = R @ f1.T / batch_size
            Wp = Wp - lr * (cfg.alpha_p * grad_Wp + cfg.eta * Wp)
            if cfg.predictor == "symmetric":
                Wp = (Wp + Wp.T) / 2
        W = W_new
        Wa = W.copy() if cfg.target == "simsiam" else gamma * Wa + (1 - gamma) * W
        if not (np.all(np.isfinite(W)) and np.all(np.isfinite(Wp))) or max(
                np.abs(W).max(), np.abs(Wp).max()) > blowup:
            status = f"stopped at step {step + 1} (t={(step + 1) * lr:.6g}): weights blew up"
            break
    return MatrixTrajectory(np.array(ts), np.array(Ws), np.array(Wps), np.array(Was), X, Xp,
                            cfg, status,
                            meta={"lr": lr, "batch_size": batch_size, "seed": seed,
                                  "n_steps": n_steps, "ema_momentum": gamma})

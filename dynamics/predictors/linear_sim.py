"""DirectPred on the linear BYOL model: the theory link of the predictor package.

Same discrete minibatch SGD as :func:`dynamics.theory.sgd.simulate_sgd` (same data models, same
sampling stream for a given seed, same update of W and of the EMA target), except that the
predictor is not trained: it is *set* every ``freq`` steps from the running estimate of
F = E[f f^T] of the online outputs f = W x1, through the very
:class:`~dynamics.predictors.estimators.SpectralPredictorState` a trainer uses, in the official
order (accumulate F from this batch -> forward/backward with the current Wp -> SGD step on W ->
``maybe_update`` rewrites Wp -> EMA target update).

Scale matters here. The linear model's loss is the Euclidean J = 1/2 E||Wp W x1 - Wa x2||^2,
so, unlike the cosine loss of the real runs, the overall scale of Wp enters the dynamics. On an
aligned mode (X = I, X' = sigma2 I, tau = Wa/W) Eq. 12 reads
ds_j/dt = 2 p_j s_j [tau - (1+sigma2) p_j] - 2 eta s_j, so a mode survives only if
p_j < tau/(1+sigma2). The paper form p_j = sqrt(s_j) + eps s_max (rule ``"directpred_paper"``,
the default here) puts the predictor on Theorem 1's invariant parabola Wp^2 = alpha_p F (up to
F's augmentation factor) and has the non-collapsed fixed point sqrt((1+sigma2) s_j) = p*_+ of
Eq. 16. The scale-free code form (rule ``"directpred"``) pins the top eigenvalue at 1 + eps >
tau/(1+sigma2) whatever the scale of F, so the top mode always shrinks in this model: use it
with a normalised loss, not here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from dynamics.errors import ConfigError, check_range
from dynamics.predictors.estimators import SpectralPredictorState
from dynamics.theory.matrix_flow import (
    MatrixFlowConfig,
    MatrixTrajectory,
    validate_matrix_inputs,
)
from dynamics.theory.sgd import ema_momentum


def simulate_directpred_linear(
    W0,
    data,
    config: MatrixFlowConfig | None = None,
    *,
    rule: str = "directpred_paper",
    rule_kwargs: Mapping[str, Any] | None = None,
    rho: float = 0.3,
    freq: int = 1,
    centered: bool = False,
    train_predictor: bool = False,
    Wp0=None,
    Wa0=None,
    lr: float = 0.01,
    batch_size: int = 256,
    t_end: float = 10.0,
    n_save: int = 101,
    seed: int = 0,
    blowup: float = 1e8,
) -> MatrixTrajectory:
    """Minibatch SGD of the linear model with a DirectPred-family predictor set from the
    running F of f = W x1 (``rule``/``rule_kwargs``/``rho``/``freq``/``centered`` as in
    :class:`~dynamics.predictors.estimators.SpectralPredictorState`; the ridge rule pairs f with
    f_a = Wa x2).

    ``config`` supplies alpha_p, beta, eta, target and stop_grad exactly as for
    :func:`~dynamics.theory.sgd.simulate_sgd`; its ``predictor`` field is ignored. Between
    rewrites (``freq`` > 1) Wp stays fixed unless ``train_predictor=True``, which applies the
    SGD step of sgd.py to Wp (lr * alpha_p, weight decay eta) as the official code does.
    ``Wp0`` (default I) is used by the first step only; ``Wa0`` defaults to 0.

    Returns a :class:`~dynamics.theory.matrix_flow.MatrixTrajectory` (its ``config`` says
    ``predictor="symmetric"``, a label only: Theorem 1 does not apply, so its residual is NaN).
    ``meta["F_hat"]`` (T, n2, n2) holds the running estimate at each saved time (NaN before the
    first batch); with ``freq=1`` the saved Wp was built from exactly that estimate.
    """
    cfg = config or MatrixFlowConfig()
    check_range("lr", lr, low=0, low_open=True)
    check_range("t_end", t_end, low=0, low_open=True)
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError("batch_size", f"must be a positive integer, got {batch_size!r}")
    if not isinstance(n_save, int) or n_save < 2:
        raise ConfigError("n_save", f"must be an integer >= 2, got {n_save!r}")
    if not isinstance(train_predictor, bool):
        raise ConfigError("train_predictor", f"must be true or false, got {train_predictor!r}")
    if cfg.target == "ema" and lr * cfg.beta > 1:
        raise ConfigError("beta", f"lr * beta must be <= 1 (EMA momentum 1 - lr*beta >= 0); "
                                  f"got {lr * cfg.beta:g}")
    n_steps = int(round(t_end / lr))
    if n_steps < 1:
        raise ConfigError("t_end", f"must be at least one step (lr = {lr:g}), got {t_end:g}")
    W, Wp, Wa, X, Xp = validate_matrix_inputs(W0, Wp0, Wa0, data.X, data.Xprime)
    n2 = W.shape[0]
    state = SpectralPredictorState(n2, rule, rho=rho, freq=freq, centered=centered,
                                   rule_kwargs=rule_kwargs)
    W = W.copy()
    Wa = W.copy() if cfg.target == "simsiam" else Wa.copy()
    Wp = np.array(Wp, dtype=np.float64, order="C")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices; avoids numpy-BLAS / torch-OpenMP spin contention
    try:
        return _run(W, Wp, Wa, X, Xp, data, cfg, state, lr=lr, batch_size=batch_size,
                    n_steps=n_steps, n_save=n_save, seed=seed, blowup=blowup,
                    train_predictor=train_predictor)
    finally:
        torch.set_num_threads(threads)


def _run(W, Wp, Wa, X, Xp, data, cfg, state, *, lr, batch_size, n_steps, n_save, seed, blowup,
         train_predictor):
    n2 = W.shape[0]
    Wp_t = torch.from_numpy(Wp)  # shares memory: maybe_update rewrites Wp in place
    rng = np.random.default_rng(seed)
    gamma = ema_momentum(lr, cfg.beta)
    save_at = np.unique(np.linspace(0, n_steps, n_save).round().astype(int))
    Ws, Wps, Was, Fs, ts = [], [], [], [], []
    status = "completed"
    for step in range(n_steps + 1):
        if len(ts) < save_at.size and step == save_at[len(ts)]:
            ts.append(step * lr)
            Ws.append(W.copy())
            Wps.append(Wp.copy())
            Was.append(Wa.copy())
            Fs.append(np.asarray(state.F) if state.corr.n_updates else np.full((n2, n2), np.nan))
        if step == n_steps:
            break
        x1, x2 = data.sample(batch_size, rng)
        f1 = W @ x1
        fa = (W if cfg.target == "simsiam" else Wa) @ x2
        state.accumulate(f1.T, fa.T)                    # 1. F from this batch
        R = Wp @ f1 - fa                                # 2. forward with the current Wp
        grad_W = Wp.T @ R @ x1.T / batch_size           # 3. SGD step (as in sgd.py)
        if not cfg.stop_grad:
            grad_W = grad_W - R @ x2.T / batch_size
        W_new = W - lr * (grad_W + cfg.eta * W)
        if train_predictor:
            Wp -= lr * (cfg.alpha_p * (R @ f1.T) / batch_size + cfg.eta * Wp)
        W = W_new
        state.maybe_update(Wp_t)                        # 4. rewrite Wp (in place)
        Wa = W.copy() if cfg.target == "simsiam" else gamma * Wa + (1 - gamma) * W  # 5. EMA
        if not (np.all(np.isfinite(W)) and np.all(np.isfinite(Wp))) or max(
                np.abs(W).max(), np.abs(Wp).max()) > blowup:
            status = f"stopped at step {step + 1} (t={(step + 1) * lr:.6g}): weights blew up"
            break
    out_cfg = MatrixFlowConfig(alpha_p=cfg.alpha_p, beta=cfg.beta, eta=cfg.eta,
                               predictor="symmetric", target=cfg.target, stop_grad=cfg.stop_grad)
    return MatrixTrajectory(np.array(ts), np.array(Ws), np.array(Wps), np.array(Was), X, Xp,
                            out_cfg, status,
                            meta={"lr": lr, "batch_size": batch_size, "seed": seed,
                                  "n_steps": n_steps, "ema_momentum": gamma,
                                  "rule": state.rule.name, "rule_kwargs": dict(state.rule_kwargs),
                                  "rho": state.rho, "freq": state.freq,
                                  "F_hat": np.array(Fs)})

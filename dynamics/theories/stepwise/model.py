"""Stepwise learning in linear Barlow Twins (Simon, Knutins, Ziyin, Geisz, Fetterman & Albrecht,
ICML 2023, "On the stepwise nature of self-supervised learning").

Model and convention (stated here because the loss's normalisation sets the rate constant):
a linear embedding f(x) = W x with W in R^{d x m}, positive pairs (x, x') and their symmetrised
cross-correlation

    Gamma = (E[x x'^T] + E[x' x^T]) / 2 = U diag(gamma) U^T,   gamma_1 >= gamma_2 >= ...,

the spectral (Barlow-Twins-like, lambda = 1, no batch normalisation) loss and its gradient flow

    L(W) = || W Gamma W^T - I_d ||_F^2,        dW/dt = -grad L = -4 (W Gamma W^T - I_d) W Gamma.

The embedding's cross-correlation W Gamma W^T has eigenvalues lambda_1 >= ... >= lambda_d.

* Aligned start, W(0) = sum_j s_j e_j u_j^T: the modes decouple, ds_j/dt = -4 gamma_j s_j
  (gamma_j s_j^2 - 1), and lambda_j = gamma_j s_j^2 obeys the logistic equation

      d lambda_j / dt = 8 gamma_j lambda_j (1 - lambda_j)                           (RATE = 8)
      lambda_j(t) = 1 / (1 + (1/lambda_j(0) - 1) e^{-8 gamma_j t}),

  so it crosses 1/2 at t_j = ln(1/lambda_j(0) - 1) / (8 gamma_j) (:func:`step_time`); from a
  small start the modes are learned one at a time, in the order of gamma (checked
  symbolically in :mod:`dynamics.theories.stepwise.symbolic`).
* Small unaligned start W(0) = W0: early on W(t) ~ W0 e^{4 Gamma t}, so the component of
  W0 u_j that is new relative to the directions learned before it grows like e^{4 gamma_j t}.
  The step times are the aligned ones with the effective start (:func:`effective_start`)

      lambda_j(0) := gamma_j || P_{j-1}^perp W0 u_j ||^2,

  P_{j-1}^perp the projector off span(W0 u_1, ..., W0 u_{j-1}) (Gram-Schmidt of the columns of
  W0 U_d). This is a derivation of this module, not a formula of the paper; the tests and the
  prediction ``stepwise.step_times`` check it against the matrix ODE (:func:`simulate_flow`).
* Limit: every W with W Gamma W^T = I_d is a minimum, and the flow stops at one of them. From
  a small start it is close to the whitened top-d projection W = R diag(gamma_1..d)^{-1/2}
  U_d^T (R orthogonal): the components of W0 along u_k, k > d, grow like e^{4 gamma_k t} only
  until the d-th step, t_d ~ ln(1/scale^2)/(8 gamma_d), so their share of W ends of order
  scale^{1 - gamma_{d+1}/gamma_d} (:func:`off_subspace_exponent`; derived here, checked by the
  tests and ``stepwise.whitened_limit``). :func:`limit_residuals` measures both conditions.

Discrete training (:func:`sgd_train`): gradient descent on sampled positive pairs with the
minibatch estimate Gamma_B = (X_B^T X'_B + X'_B^T X_B) / (2B) and effective time t = lr * step;
with the full batch it is Euler's method on the flow of the empirical Gamma, so it converges to
:func:`simulate_flow` as lr -> 0 (tested).

The results (:class:`StepwiseTrajectory`, :class:`Staircase`) and their readings
(:func:`crossing_times`, :func:`staircase`) are defined in
:mod:`dynamics.theories.stepwise.trajectory` and imported here.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from dynamics.errors import ConfigError, check_range
from dynamics.numerics.integrate import STATUS_OK, integrate_batched
from dynamics.theories.stepwise.trajectory import (  # noqa: F401 - Staircase re-exported here
    Staircase,
    StepwiseTrajectory,
    crossing_times,
    staircase,
)
from dynamics.threads import with_thread_policy

RATE = 8.0
"""The logistic rate constant c in d lambda_j/dt = c gamma_j lambda_j (1 - lambda_j) for the loss
||W Gamma W^T - I||_F^2 and the flow dW/dt = -grad L (module docstring)."""

#: The variances of the worked example of the predictions and the figure (m = 8 dimensions).
EXAMPLE_GAMMA = (1.0, 0.7, 0.45, 0.3, 0.15, 0.08, 0.04, 0.02)


def _transpose(W):
    """W^T over the last two axes (numpy / torch, batched) or of a sympy matrix."""
    return W.swapaxes(-1, -2) if hasattr(W, "swapaxes") else W.T


def barlow_loss(W, Gamma):
    """L(W) = ||W Gamma W^T - I_d||_F^2 (batched over leading dimensions of ``W``; torch or
    numpy).
    Args:
        W: weights (..., d, m); Gamma: symmetric (m, m), numpy or torch like ``W``.
    Returns:
        L(W) of shape ``W.shape[:-2]`` (a scalar for one W).
    Example:
        >>> float(barlow_loss(0.5 * np.eye(2, 3), np.diag([4.0, 1.0, 0.25])))
        0.5625"""
    C = W @ Gamma @ _transpose(W)
    D = C - C.new_tensor(np.eye(C.shape[-1])) if torch.is_tensor(C) else C - np.eye(C.shape[-1])
    return (D * D).sum(-1).sum(-1)


def barlow_flow(W, Gamma):
    """dW/dt = -grad L = -4 (W Gamma W^T - I_d) W Gamma (batched numpy / torch, or sympy).
    Args:
        W: weights (..., d, m); Gamma: symmetric (m, m), of the same kind as ``W``.
    Returns:
        dW/dt, shaped like ``W``.
    Example:
        >>> barlow_flow(0.5 * np.eye(2, 3), np.diag([4.0, 1.0, 0.25])).tolist()
        [[0.0, 0.0, 0.0], [0.0, 1.5, 0.0]]"""
    C = W @ Gamma @ _transpose(W)
    return -4.0 * (C @ W - W) @ Gamma


def logistic_eigenvalue(t, gamma, lam0):
    """lambda(t) = 1 / (1 + (1/lambda(0) - 1) e^{-RATE gamma t}) (aligned start; broadcasts).
    Args:
        t: times; gamma: the mode's gamma_j; lam0: lambda_j(0) > 0 (array-likes, broadcast).
    Returns:
        lambda_j(t), a float array of the broadcast shape."""
    t, gamma, lam0 = (np.asarray(v, dtype=float) for v in (t, gamma, lam0))
    return 1.0 / (1.0 + (1.0 / lam0 - 1.0) * np.exp(-RATE * gamma * t))


def step_time(gamma, lam0, level: float = 0.5):
    """The time lambda(t) of :func:`logistic_eigenvalue` crosses ``level`` (0 < level < 1):
    t = [ln(1/lambda(0) - 1) - ln(1/level - 1)] / (RATE gamma); 1/2 gives ln(1/lambda(0) - 1)
    / (RATE gamma).
    Args:
        gamma: gamma_j > 0; lam0: lambda_j(0) in (0, 1) (array-likes, broadcast together).
        level: the crossing level, in (0, 1) (else ConfigError).
    Returns:
        The step time(s), a float array of the broadcast shape."""
    check_range("level", level, low=0, high=1, low_open=True, high_open=True)
    gamma, lam0 = np.asarray(gamma, dtype=float), np.asarray(lam0, dtype=float)
    return (np.log(1.0 / lam0 - 1.0) - math.log(1.0 / level - 1.0)) / (RATE * gamma)


def eigh_desc(Gamma) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (descending) and eigenvectors (columns) of the symmetric ``Gamma``.
    Args:
        Gamma: a symmetric (m, m) array-like.
    Returns:
        (gamma (m,), U (m, m)): gamma_1 >= ... >= gamma_m and Gamma U = U diag(gamma).
    Example:
        >>> eigh_desc(np.diag([0.5, 2.0]))[0].tolist()
        [2.0, 0.5]"""
    g, U = np.linalg.eigh(np.asarray(Gamma, dtype=float))
    return g[::-1].copy(), U[:, ::-1].copy()


def rotated_gamma(gamma, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(Gamma, U): Gamma = U diag(gamma) U^T with U a seeded random rotation.
    Args:
        gamma: the eigenvalues gamma_j (m,); seed: seed of the rotation U.
    Returns:
        (Gamma (m, m), U (m, m) orthogonal), float arrays.
    Example:
        >>> Gamma, U = rotated_gamma([1.0, 0.5])
        >>> eigh_desc(Gamma)[0].round(6).tolist()
        [1.0, 0.5]"""
    gamma = np.asarray(gamma, dtype=float)
    U = np.linalg.qr(np.random.default_rng(seed).normal(size=(gamma.size,) * 2))[0]
    return U @ np.diag(gamma) @ U.T, U


def effective_start(W0, Gamma) -> np.ndarray:
    """lambda_j(0) = gamma_j ||P_{j-1}^perp W0 u_j||^2 for j = 1..d (module docstring): the
    squared norms of the Gram-Schmidt residuals of the columns of W0 U_d, times gamma_j.
    Args:
        W0: the start (d, m), d <= m (else ConfigError); Gamma: symmetric (m, m).
    Returns:
        lambda_j(0), a float array (d,)."""
    W0 = np.asarray(W0, dtype=float)
    d = W0.shape[0]
    g, U = eigh_desc(Gamma)
    if d > g.size:
        raise ConfigError("W0", f"has {d} rows, more than the {g.size} directions of Gamma")
    A = W0 @ U[:, :d]
    _, R = np.linalg.qr(A)
    return g[:d] * np.diag(R) ** 2


def predicted_step_times(W0, Gamma, level: float = 0.5) -> np.ndarray:
    """Step times t_1..t_d of a small start ``W0`` (:func:`effective_start` into
    :func:`step_time`); NaN where gamma_j <= 0 (the mode is never learned).
    Args:
        W0: the start (d, m), d <= m; Gamma: symmetric (m, m); level: in (0, 1).
    Returns:
        A float array (d,): t_j, or 0.0 where lambda_j(0) >= ``level`` already.
    Example:
        >>> predicted_step_times(0.01 * np.eye(2, 3), np.diag([1.0, 0.5, 0.1])).round(3).tolist()
        [1.151, 2.476]"""
    g, _ = eigh_desc(Gamma)
    lam0 = effective_start(W0, Gamma)
    d = lam0.size
    with np.errstate(divide="ignore", invalid="ignore"):
        out = step_time(np.where(g[:d] > 0, g[:d], np.nan), lam0, level)
    return np.where(lam0 < level, out, 0.0)


def _spectrum(W: np.ndarray, Gamma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    C = W @ Gamma @ np.swapaxes(W, -1, -2)
    eig = np.linalg.eigvalsh(C)[..., ::-1]
    return eig, ((C - np.eye(C.shape[-1])) ** 2).sum(axis=(-2, -1))


def _check_w0_gamma(W0, Gamma) -> tuple[np.ndarray, np.ndarray]:
    W0 = np.asarray(W0, dtype=float)
    Gamma = np.asarray(Gamma, dtype=float)
    if W0.ndim == 2:
        W0 = W0[None]
    if W0.ndim != 3:
        raise ConfigError("W0", f"must have shape (d, m) or (N, d, m), got {W0.shape}")
    m = W0.shape[-1]
    if Gamma.shape != (m, m) or not np.allclose(Gamma, Gamma.T, atol=1e-12 * max(
            1.0, float(np.abs(Gamma).max()))):
        raise ConfigError("Gamma", f"must be a symmetric ({m}, {m}) matrix, got shape "
                                   f"{Gamma.shape}")
    if not (np.isfinite(W0).all() and np.isfinite(Gamma).all()):
        raise ConfigError("W0", "W0 and Gamma must be finite")
    return W0, Gamma


@with_thread_policy
def simulate_flow(W0, Gamma, *, t_end: float, n_save: int = 401, rtol: float = 1e-8,
                  atol: float = 1e-12, device=None) -> StepwiseTrajectory:
    """Integrate dW/dt = -grad L (:func:`barlow_flow`) from one start ``W0`` (d, m) or a batch
    (N, d, m) at once (batched Dormand-Prince, :func:`~dynamics.numerics.integrate.
    integrate_batched`), output at ``n_save`` evenly spaced times in [0, t_end].
    Args:
        W0: start(s) (d, m) or (N, d, m), finite; Gamma: symmetric (m, m).
        t_end: end time > 0; n_save: output times >= 2.
        rtol, atol: tolerances of the integrator; device: torch device (None: CPU).
    Returns:
        A :class:`StepwiseTrajectory` (N = 1 for one start).
    Example:
        >>> tr = simulate_flow(0.01 * np.eye(2, 3), np.diag([1.0, 0.5, 0.1]), t_end=3.0)
        >>> tr.crossing_times().round(2).tolist()  # predicted_step_times: [1.151, 2.476]
        [[1.15, 2.48]]"""
    W0, Gamma = _check_w0_gamma(W0, Gamma)
    check_range("t_end", t_end, low=0, low_open=True)
    if int(n_save) < 2:
        raise ConfigError("n_save", f"must be an integer >= 2, got {n_save}")
    n, d, m = W0.shape
    dev = torch.device(device or "cpu")
    G = torch.as_tensor(Gamma, dtype=torch.float64, device=dev)

    def rhs(y, aux):
        return barlow_flow(y.view(-1, d, m), G).reshape(y.shape[0], d * m)

    t_eval = torch.linspace(0.0, float(t_end), int(n_save), dtype=torch.float64, device=dev)
    y0 = torch.as_tensor(W0.reshape(n, d * m), dtype=torch.float64, device=dev)
    sol = integrate_batched(rhs, y0, t_eval, rtol=rtol, atol=atol, compile="eager")
    W = sol.y.cpu().numpy().reshape(len(t_eval), n, d, m)
    eig, loss = _spectrum(W, Gamma)
    return StepwiseTrajectory(t_eval.cpu().numpy(), W, eig, loss, sol.status.cpu().numpy())


def limit_residuals(W, Gamma) -> tuple[float, float]:
    """How far ``W`` (d, m) is from the whitened top-d projection: (||W Gamma W^T - I||_F,
    ||W (I - U_d U_d^T)||_F / ||W||_F).
    Args:
        W: weights (d, m); Gamma: symmetric (m, m).
    Returns:
        (whitening residual, off-subspace share), two floats, both 0 at the whitened limit.
    Example:
        >>> limit_residuals([[0.5, 0, 0], [0, 1.0, 0]], np.diag([4.0, 1.0, 0.25]))
        (0.0, 0.0)"""
    W = np.asarray(W, dtype=float)
    d = W.shape[0]
    _, U = eigh_desc(Gamma)
    Ud = U[:, :d]
    white = float(np.linalg.norm(W @ Gamma @ W.T - np.eye(d)))
    off = float(np.linalg.norm(W - W @ Ud @ Ud.T) / np.linalg.norm(W))
    return white, off


def off_subspace_exponent(Gamma, d: int) -> float:
    """1 - gamma_{d+1}/gamma_d: the power of the init scale that the share of W outside the
    top-d eigenspace of Gamma follows at the end of the flow (module docstring).
    Args:
        Gamma: symmetric (m, m); d: the embedding dimension, 1 <= d < m (else ConfigError).
    Returns:
        1 - gamma_{d+1}/gamma_d, a float.
    Example:
        >>> off_subspace_exponent(np.diag([1.0, 0.5, 0.1]), 2)
        0.8"""
    g, _ = eigh_desc(Gamma)
    if not 1 <= int(d) < g.size:
        raise ConfigError("d", f"must be between 1 and {g.size - 1}, got {d}")
    return float(1.0 - g[int(d)] / g[int(d) - 1])


def pair_data(n: int, gamma, *, noise: float = 0.5, seed: int = 0
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` positive pairs in R^m with cross-correlation U diag(gamma) U^T: x = U (sqrt(gamma) *
    z) + e, x' = U (sqrt(gamma) * z) + e', z ~ N(0, I_m), e, e' ~ N(0, noise^2 I_m) independent
    (the augmentation noise cancels in E[x x'^T]); U a seeded random rotation. Returns
    (X, X', U) with samples as rows.
    Args:
        n: pairs >= 2; gamma: non-negative variances (m,).
        noise: augmentation std >= 0; seed: seed of U and the samples.
    Returns:
        (X (n, m), X' (n, m), U (m, m)), float arrays."""
    gamma = np.asarray(gamma, dtype=float)
    if gamma.ndim != 1 or gamma.size < 1 or (gamma < 0).any():
        raise ConfigError("gamma", "must be a 1-D array of non-negative variances")
    if int(n) < 2:
        raise ConfigError("n", f"must be an integer >= 2, got {n}")
    check_range("noise", noise, low=0)
    rng = np.random.default_rng(seed)
    m = gamma.size
    U = np.linalg.qr(rng.normal(size=(m, m)))[0]
    z = rng.normal(size=(int(n), m)) * np.sqrt(gamma)
    X = z @ U.T + noise * rng.normal(size=(int(n), m))
    Xp = z @ U.T + noise * rng.normal(size=(int(n), m))
    return X, Xp, U


def pair_correlation(X, Xp) -> np.ndarray:
    """The empirical symmetrised cross-correlation (X^T X' + X'^T X) / (2n).
    Args:
        X, Xp: the two views (n, m) of n positive pairs, samples as rows.
    Returns:
        Gamma, a symmetric float array (m, m).
    Example:
        >>> pair_correlation([[1.0, 0.0], [0.0, 2.0]], [[1.0, 1.0], [0.0, 2.0]]).tolist()
        [[0.5, 0.25], [0.25, 2.0]]"""
    X, Xp = np.asarray(X, dtype=float), np.asarray(Xp, dtype=float)
    return (X.T @ Xp + Xp.T @ X) / (2 * X.shape[0])


def sgd_train(X, Xp, W0, *, lr: float, steps: int, batch_size: int | None = None,
              record_every: int = 1, seed: int = 0) -> StepwiseTrajectory:
    """(Stochastic) gradient descent W <- W - lr grad L(W; Gamma_B) on the pairs (X, X'),
    Gamma_B the symmetrised cross-correlation of a minibatch of ``batch_size`` pairs drawn
    without replacement each step (None: the full batch, i.e. Euler's method on the flow of the
    empirical Gamma). Recorded every ``record_every`` steps at t = lr * step; ``eig`` and
    ``loss`` are measured against the empirical Gamma of all pairs.
    Args:
        X, Xp: the views (n, m) (:func:`pair_data`); W0: the start (d, m).
        lr: learning rate > 0; steps: steps >= 1; batch_size: 1..n or None (full batch).
        record_every: steps between records >= 1; seed: seed of the minibatches.
    Returns:
        A :class:`StepwiseTrajectory` with N = 1 (ConfigError if the descent diverges)."""
    X, Xp = np.asarray(X, dtype=float), np.asarray(Xp, dtype=float)
    check_range("lr", lr, low=0, low_open=True)
    n = X.shape[0]
    b = n if batch_size is None else int(batch_size)
    if not 1 <= b <= n:
        raise ConfigError("batch_size", f"must be between 1 and {n} (the pairs), got "
                                        f"{batch_size}")
    if int(steps) < 1 or int(record_every) < 1:
        raise ConfigError("steps", "steps and record_every must be positive integers")
    Gamma = pair_correlation(X, Xp)
    W, _ = _check_w0_gamma(W0, Gamma)
    W = W[0].copy()
    rng = np.random.default_rng(seed)
    ts, Ws = [0.0], [W.copy()]
    for k in range(1, int(steps) + 1):
        if b == n:
            G = Gamma
        else:
            idx = rng.choice(n, size=b, replace=False)
            G = pair_correlation(X[idx], Xp[idx])
        with np.errstate(over="ignore", invalid="ignore"):  # divergence is reported below
            W = W + lr * barlow_flow(W, G)
        if not np.isfinite(W).all():
            raise ConfigError("lr", f"gradient descent diverged at step {k}; use a smaller lr")
        if k % int(record_every) == 0:
            ts.append(lr * k)
            Ws.append(W.copy())
    Wt = np.stack(Ws)[:, None]
    eig, loss = _spectrum(Wt, Gamma)
    return StepwiseTrajectory(np.array(ts), Wt, eig, loss, np.array([STATUS_OK]))


__all__ = ["RATE", "Staircase", "StepwiseTrajectory", "barlow_flow", "barlow_loss",
           "crossing_times", "effective_start", "eigh_desc", "limit_residuals",
           "logistic_eigenvalue", "off_subspace_exponent", "pair_correlation", "pair_data",
           "predicted_step_times", "rotated_gamma", "sgd_train", "simulate_flow", "staircase",
           "step_time"]

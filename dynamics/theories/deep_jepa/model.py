"""Deep linear self-distillation (JEPA) against reconstruction (MAE) (Littwin, Saremi, Advani,
Thilak, Nakkiran, Huang & Susskind, NeurIPS 2024, "How JEPA avoids noisy features: the implicit
bias of deep linear self-distillation networks").

Model and convention (derived here; :mod:`dynamics.theories.deep_jepa.symbolic` and the tests check
each step). Paired inputs x, y in R^d whose statistics are diagonal in one basis: per feature i the
input variance sigma2_i = E[x_i^2], the covariance lambda_i = E[y_i x_i] and the regression
coefficient rho_i = lambda_i / sigma2_i of y_i on x_i. Encoder W-bar = W_L ... W_1 (L square
layers), a linear head V, and the losses

    JEPA:  1/2 E || V W-bar x - SG(W-bar y) ||^2   (self-distillation: the target encoder is the
                                                    online one under stop-gradient, no EMA)
    MAE:   1/2 E || V W-bar x - y ||^2              (reconstruction in input space).

Start: every layer and the head at eps^(1/L) I, so the encoder product starts at eps for every
depth (the balanced, small start; the theory is stated for it). Gradient flow then keeps the
weights diagonal and balanced (V^2 - W_l^2 is conserved for every layer, per feature), so every
per-layer weight of feature i equals one scalar a_i(t) and W-bar_i = a_i^L:

    JEPA:  da/dt = sigma2 a^(2L) (rho - a),         W-bar* = rho^L,
    MAE:   da/dt = a^L (lambda - sigma2 a^(L+1)),   W-bar* = rho^(L/(L+1))

(:func:`layer_rate`, :func:`fixed_point`). Early on both grow in proportion to lambda: MAE as
lambda a^L (its saturation term is a^(L+1) smaller), so its learning order follows lambda at
every depth. JEPA's saturation term is only a factor a/rho below its growth term, and a starts
at eps^(1/L), which approaches 1 as L grows: the critical time picks up the factor
~ 1/(1 - eps^(1/L)/rho), so deep JEPA learns the features with a large regression coefficient
first, even against the covariance order (the order inversion).

Critical time (a convention: the paper's exact threshold is not in what is available): the time
at which W-bar_i reaches ``p`` (default 1/2) of its own fixed point. JEPA's has a closed form by
partial fractions (:func:`critical_time`); MAE's is a one-dimensional quadrature, also available
for JEPA as a check (:func:`critical_time_quad`). :func:`simulate` integrates the per-layer ODE
for a batch of features and depths (batched Dormand-Prince); :func:`sgd_train` trains the deep
linear network itself by minibatch SGD on sampled (x, y).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from dynamics.errors import ConfigError, check_choice, check_range
from dynamics.numerics.integrate import integrate_batched
from dynamics.threads import with_thread_policy

OBJECTIVES = ("jepa", "mae")
"""The two objectives of this model (``objective`` arguments)."""

#: The two-feature toy of the predictions and the figure: lambda and rho anti-correlated (feature
#: 0 covaries more, feature 1 is the more predictable), product start eps, depths 1..6.
TOY_LAM = np.array([1.0, 0.6])
TOY_RHO = np.array([0.6, 1.0])
TOY_EPS = 0.01
TOY_DEPTHS = (1, 2, 3, 4, 5, 6)


def _check(objective: str, depth) -> None:
    check_choice("objective", objective, OBJECTIVES)
    d = np.asarray(depth)
    if np.any(d < 1) or np.any(d != np.round(d)):
        raise ConfigError("depth", f"must be integers >= 1, got {depth!r}")


def layer_rate(a, lam, rho, depth, objective: str):
    """da/dt of the common per-layer weight a of one feature (module docstring; numpy, torch or
    sympy; sigma2 = lam / rho).
    Args:
        a: the per-layer weight(s); lam: lambda_i; rho: rho_i > 0 (all broadcast).
        depth: L, the number of encoder layers; objective: ``"jepa"`` or ``"mae"``.
    Returns:
        da/dt, the type and broadcast shape of the inputs.
    Example:
        >>> layer_rate(0.5, 1.0, 1.0, 2, "jepa"), layer_rate(0.5, 1.0, 1.0, 2, "mae")
        (0.03125, 0.21875)"""
    s2 = lam / rho
    if objective == "jepa":
        return s2 * a ** (2 * depth) * (rho - a)
    if objective == "mae":
        return a**depth * (lam - s2 * a ** (depth + 1))
    raise ConfigError("objective", f"must be one of {OBJECTIVES}, got {objective!r}")


def product_rate(w, lam, rho, depth, objective: str):
    """d W-bar/dt = L a^(L-1) da/dt written in W-bar = a^L: JEPA L (lam W^(3-1/L) - sigma2 W^3),
    MAE L (lam W^(2-1/L) - sigma2 W^3).
    Args:
        w: the encoder product W-bar; lam, rho: the feature's statistics; depth: L.
        objective: ``"jepa"``; any other value gives the MAE rate (not checked).
    Returns:
        d W-bar/dt, the type and broadcast shape of the inputs."""
    s2 = lam / rho
    power = 3 if objective == "jepa" else 2
    return depth * (lam * w ** (power - 1 / depth) - s2 * w**3)


def fixed_point(rho, depth, objective: str):
    """W-bar*: rho^L (JEPA) or rho^(L/(L+1)) (MAE).
    Args:
        rho: regression coefficients; depth: integer(s) L >= 1 (broadcast with ``rho``).
        objective: ``"jepa"`` or ``"mae"``.
    Returns:
        W-bar*, a float array of the broadcast shape.
    Example:
        >>> fixed_point([0.6, 1.0], 2, "jepa").tolist()
        [0.36, 1.0]"""
    _check(objective, depth)
    rho, depth = np.asarray(rho, dtype=float), np.asarray(depth, dtype=float)
    return rho**depth if objective == "jepa" else rho ** (depth / (depth + 1))


def _bounds(rho, depth, eps, p, objective):
    a0 = eps ** (1.0 / depth)
    a_end = (p * fixed_point(rho, depth, objective)) ** (1.0 / depth)
    if a_end <= a0:
        raise ConfigError("eps", f"the start eps = {eps:g} is already above {p:g} x the fixed "
                                 f"point of a feature with rho = {rho:g} at depth {depth}")
    return a0, a_end


def jepa_antiderivative(a, rho, depth):
    """F(a) with dF/da = 1 / (a^(2L) (rho - a)) (partial fractions): sum_{k=2}^{2L}
    a^(1-k) / ((1-k) rho^(2L-k+1)) + rho^(-2L) log(a / (rho - a)). numpy or sympy.
    Args:
        a: in (0, rho): a float or numpy array (numpy log), else taken as sympy (sympy.log).
        rho: the regression coefficient; depth: L (an int; the sum runs to 2L).
    Returns:
        F(a), a float / array, or a sympy expression.
    Example:
        >>> float(jepa_antiderivative(0.5, 1.0, 1))  # -1/a + log(a / (1 - a))
        -2.0"""
    n = 2 * depth
    if isinstance(a, float | np.ndarray):
        log = np.log
    else:
        import sympy

        log = sympy.log
    return (sum(a ** (1 - k) / ((1 - k) * rho ** (n - k + 1)) for k in range(2, n + 1))
            + rho ** (-n) * log(a / (rho - a)))


def critical_time(lam: float, rho: float, depth: int, eps: float, objective: str = "jepa",
                  p: float = 0.5) -> float:
    """Time for W-bar to go from eps to p W-bar*: JEPA in closed form
    (F(a_end) - F(a0)) / sigma2, MAE by quadrature (:func:`critical_time_quad`).
    Args:
        lam: lambda of the feature; rho: its regression coefficient; depth: L >= 1.
        eps: the start of W-bar (ConfigError if already above p W-bar*).
        objective: ``"jepa"`` or ``"mae"``; p: the fraction of W-bar*, in (0, 1).
    Returns:
        The time, a float.
    Example:
        >>> round(critical_time(1.0, 0.6, 3, 0.01), 2), round(critical_time(0.6, 1.0, 3, 0.01), 2)
        (776.09, 990.55)"""
    _check(objective, depth)
    check_range("p", p, low=0, high=1, low_open=True, high_open=True)
    if objective == "mae":
        return critical_time_quad(lam, rho, depth, eps, objective, p)
    a0, a_end = _bounds(rho, depth, eps, p, objective)
    return float((jepa_antiderivative(a_end, rho, depth)
                  - jepa_antiderivative(a0, rho, depth)) * rho / lam)


def critical_time_quad(lam: float, rho: float, depth: int, eps: float, objective: str,
                       p: float = 0.5) -> float:
    """The same time as the quadrature of 1 / layer_rate from a0 = eps^(1/L) to
    (p W-bar*)^(1/L).
    Args:
        lam, rho, depth, eps, p: as in :func:`critical_time`.
        objective: ``"jepa"`` or ``"mae"`` (no default here).
    Returns:
        The time, a float (scipy ``quad``).
    Example:
        >>> round(critical_time_quad(1.0, 0.6, 3, 0.01, "jepa"), 2)
        776.09"""
    from scipy.integrate import quad

    _check(objective, depth)
    a0, a_end = _bounds(rho, depth, eps, p, objective)
    return float(quad(lambda a: 1.0 / layer_rate(a, lam, rho, depth, objective), a0, a_end,
                      limit=400, epsrel=1e-10)[0])


@dataclass
class JepaTrajectory:
    """``t`` (T,), encoder products ``w`` (T, N) for the N (feature, depth) elements.
    Attributes:
        t: times (T,).
        w: W-bar (T, N) from :func:`simulate`; column norms (T, d) from :func:`sgd_train`."""

    t: np.ndarray
    w: np.ndarray


@with_thread_policy
def simulate(lam, rho, depth, eps: float, objective: str, *, t_end: float,
             n_save: int = 2001) -> JepaTrajectory:
    """Integrate the per-layer ODE for a batch of features (``lam``, ``rho``) and depths
    (broadcast together) from a = eps^(1/L); returns W-bar = a^L.
    Args:
        lam, rho: the features' statistics; depth: integer(s) L >= 1 (broadcast together).
        eps: the start of W-bar; objective: ``"jepa"`` or ``"mae"``.
        t_end: end time > 0; n_save: number of evenly spaced output times in [0, t_end].
    Returns:
        A :class:`JepaTrajectory` with ``w`` (n_save, N), N the broadcast size (flattened).
    Example:
        >>> tr = simulate([1.0, 0.6], [0.6, 1.0], 1, 0.01, "jepa", t_end=200.0)
        >>> crossing_times(tr.t, tr.w, 0.5 * fixed_point([0.6, 1.0], 1, "jepa")).round(1)
        array([103.5, 171. ])"""
    lam, rho, depth = np.broadcast_arrays(*(np.asarray(v, dtype=float)
                                            for v in (lam, rho, depth)))
    _check(objective, depth)
    check_range("t_end", t_end, low=0, low_open=True)
    aux = {k: torch.as_tensor(v.ravel(), dtype=torch.float64)
           for k, v in (("lam", lam), ("rho", rho), ("depth", depth))}

    def rhs(y, ax):
        return layer_rate(y[:, 0], ax["lam"], ax["rho"], ax["depth"], objective)[:, None]

    y0 = torch.as_tensor(eps ** (1.0 / depth.ravel()), dtype=torch.float64)[:, None]
    t_eval = torch.linspace(0.0, float(t_end), int(n_save), dtype=torch.float64)
    sol = integrate_batched(rhs, y0, t_eval, aux, rtol=1e-9, atol=1e-12, compile="eager")
    a = sol.y[:, :, 0].numpy()
    return JepaTrajectory(t_eval.numpy(), a ** depth.ravel()[None, :])


def crossing_times(t, w, target) -> np.ndarray:
    """First time each column of ``w`` reaches ``target`` (per column; linear interpolation
    between saves; NaN if never).
    Args:
        t: times (T,) (a numpy array); w: series (T, N); target: levels, broadcast to (N,).
    Returns:
        A float array (N,) (``t[0]`` where a column starts at or above its target).
    Example:
        >>> crossing_times(np.array([0.0, 1.0, 2.0]), [[0.0, 0.0], [0.5, 0.2], [1.0, 0.4]], 0.75)
        array([1.5, nan])"""
    w, target = np.asarray(w, dtype=float), np.broadcast_to(np.asarray(target, float),
                                                           np.shape(w)[1:])
    out = np.full(w.shape[1], np.nan)
    for j in range(w.shape[1]):
        idx = np.flatnonzero(w[:, j] >= target[j])
        if idx.size:
            k = idx[0]
            if k == 0:
                out[j] = t[0]
            else:
                f = (target[j] - w[k - 1, j]) / (w[k, j] - w[k - 1, j])
                out[j] = t[k - 1] + f * (t[k] - t[k - 1])
    return out


@with_thread_policy
def sgd_train(lam, rho, depth: int, eps: float, objective: str, *, lr: float, steps: int,
              batch_size: int = 512, record_every: int = 20, seed: int = 0,
              diagonal: bool = False, sampler=None) -> JepaTrajectory:
    """Minibatch SGD of the deep linear network of the module docstring (d = len(lam) features,
    every layer and the head d x d, started at eps^(1/L) I; float64, autograd, fresh samples
    x = sqrt(sigma2) g, y = rho x + n with n ~ N(0, 1/4) every step); t = lr * step. Returns
    the column norms ||W-bar e_i|| over time: how strongly feature i is encoded, whatever basis
    the embedding uses (the objectives are invariant to rotations of the embedding, and SGD's
    noise does rotate it; on the diagonal flow the column norm is W-bar_i).

    ``diagonal=True`` trains only the diagonals (off-diagonal gradients masked): d independent
    scalar chains, exactly the decoupled network the per-feature ODE describes. With full
    matrices SGD's noise seeds off-diagonal weights that grow once a feature is learned and then
    speed up the features learned after it (the per-feature theory does not include this
    coupling).

    ``sampler(batch_size, generator) -> (x, y)`` replaces the Gaussian pairs (float64 tensors
    of shape (batch_size, d), e.g. two augmented views of real images in the features' basis;
    :mod:`dynamics.theories.deep_jepa.images`); ``lam`` and ``rho`` then only set d.

    Args:
        lam, rho: the features' lambda and rho (d,) (sigma2 = lam / rho).
        depth: L >= 1 encoder layers; eps: the start of W-bar.
        objective: ``"jepa"`` or ``"mae"``; lr: learning rate > 0; steps: SGD steps.
        batch_size: pairs per step; record_every: steps between records (and the last step).
        seed: seed of the torch generator; diagonal: train only the diagonals (above).
        sampler: None (Gaussian pairs) or a callable as above.
    Returns:
        A :class:`JepaTrajectory` (``t`` = lr x recorded steps, ``w`` (T, d) column norms).
    Example:
        >>> run = sgd_train([1.0, 0.6], [0.6, 1.0], 1, 0.01, "jepa", lr=0.5, steps=400,
        ...                 record_every=200, diagonal=True)
        >>> run.t.tolist(), run.w.shape
        ([0.0, 100.0, 200.0], (3, 2))"""
    _check(objective, depth)
    check_range("lr", lr, low=0, low_open=True)
    lam, rho = np.atleast_1d(np.asarray(lam, float)), np.atleast_1d(np.asarray(rho, float))
    d = lam.size
    sd = torch.as_tensor(np.sqrt(lam / rho), dtype=torch.float64)
    r = torch.as_tensor(rho, dtype=torch.float64)
    a0 = eps ** (1.0 / depth)
    layers = [torch.eye(d, dtype=torch.float64).mul(a0).requires_grad_(True)
              for _ in range(depth + 1)]  # W_1 .. W_L, then the head V
    g = torch.Generator().manual_seed(seed)
    eye = torch.eye(d, dtype=torch.float64)
    ts, ws = [], []

    def encoder():
        w = layers[0]
        for layer in layers[1:depth]:
            w = layer @ w
        return w

    def record(k):
        ts.append(lr * k)
        ws.append(torch.linalg.vector_norm(encoder().detach(), dim=0).numpy().copy())

    record(0)
    for k in range(1, int(steps) + 1):
        if sampler is None:
            x = torch.randn(batch_size, d, generator=g, dtype=torch.float64) * sd
            y = x * r + 0.5 * torch.randn(batch_size, d, generator=g, dtype=torch.float64)
        else:
            x, y = sampler(batch_size, g)
        wbar = encoder()
        pred = x @ wbar.T @ layers[depth].T
        target = (y @ wbar.T).detach() if objective == "jepa" else y
        loss = 0.5 * ((pred - target) ** 2).sum(1).mean()
        grads = torch.autograd.grad(loss, layers)
        with torch.no_grad():
            for w, gw in zip(layers, grads, strict=True):
                w -= lr * (gw * eye if diagonal else gw)
        if k % int(record_every) == 0 or k == int(steps):
            record(k)
    return JepaTrajectory(np.array(ts), np.array(ws))


def order_table(depths=TOY_DEPTHS, lam=TOY_LAM, rho=TOY_RHO, eps: float = TOY_EPS
                ) -> dict[str, np.ndarray]:
    """Critical times (depth, feature) of both objectives (:func:`critical_time`) and the ratio
    t_0 / t_1 per depth: > 1 means the more predictable feature 1 is learned first.
    Args:
        depths: the depths L; lam, rho: the two features' statistics; eps: the start.
    Returns:
        A dict: ``"jepa"``, ``"mae"`` (len(depths), 2) times; ``"jepa_ratio"``, ``"mae_ratio"``.
    Example:
        >>> order_table()["jepa_ratio"].round(2)  # inverted from depth 5 on
        array([0.61, 0.67, 0.78, 0.94, 1.13, 1.29])"""
    out = {}
    for obj in OBJECTIVES:
        t = np.array([[critical_time(lm, r, L, eps, obj) for lm, r in zip(lam, rho, strict=True)]
                      for L in depths])
        out[obj] = t
        out[f"{obj}_ratio"] = t[:, 0] / t[:, 1]
    return out


__all__ = ["OBJECTIVES", "TOY_DEPTHS", "TOY_EPS", "TOY_LAM", "TOY_RHO", "JepaTrajectory",
           "critical_time", "critical_time_quad", "crossing_times", "fixed_point",
           "jepa_antiderivative", "layer_rate", "order_table", "product_rate", "sgd_train",
           "simulate"]

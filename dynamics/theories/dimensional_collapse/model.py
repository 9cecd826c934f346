"""Dimensional collapse of a linear contrastive (InfoNCE) network (Jing, Vincent, LeCun & Tian,
ICLR 2022, "Understanding dimensional collapse in contrastive self-supervised learning").

Model and convention (derived here; :mod:`dynamics.theories.dimensional_collapse.symbolic` and the
tests check each step). Embedding z = W x with W in R^{d x n}, or W = W2 W1 for the two-layer net.
Two views x1 = x + n1, x2 = x + n2 of one sample x, data covariance A = E[x x^T] = E[x1 x2^T],
independent augmentation noise of covariance S per view, so C = A + S is the covariance of one
view. The loss is the paper's (and its toy code's) one-directional InfoNCE with dot-product
similarity and temperature tau over a batch of N pairs,

    L = -(1/N) sum_i log p_ii,     p_ij = softmax_j(z1_i . z2_j / tau).

1. **Gradient identity** (exact, any batch): grad_W L = -(1/tau) W X with the symmetric

       X = (1/N) sum_ij (delta_ij - p_ij) (x1_i x2_j^T + x2_j x1_i^T),

   so under gradient flow d|W v|^2/dt = (2/tau) v^T W^T W X v: for a fixed X, W shrinks along
   its negative eigendirections (Jing et al.'s Lemma 1 / Thm. 2 structure, written for the
   dot-product similarity of their toy code; :func:`x_matrix`).
2. **Large-batch (annealed) limit.** Replacing sum_j exp(s_ij) by N E_j exp(s_ij) for Gaussian
   views gives a loss of G = W^T W alone (up to log N),

       L(G) = -tr(A G)/tau + tr(C G C G)/(2 tau^2),    E[X] = 2 (A - C G C / tau),

   (:func:`annealed_loss`, :func:`annealed_x`). Its minimum is G* = tau C^-1 A C^-1
   (:func:`annealed_fixed_point`), so the embedding covariance W C W^T has the spectrum
   tau eig(C^-1 A): per direction tau a/(a + sigma2), tau times the share of the view's variance
   that survives augmentation (:func:`annealed_embedding_spectrum`). A direction with no data
   variance (a = 0) collapses completely; one whose augmentation variance equals its data
   variance (Jing et al.'s threshold, noise std = data std) sits at exactly half the embedding
   eigenvalue of a clean direction: in this limit the paper's threshold is a smooth suppression
   factor a/(a + sigma2), not a sharp transition. For axis-aligned A, C every column
   u_k = |W e_k|^2 is logistic, u' = (4 u/tau)(a - c^2 u/tau) (:func:`annealed_modes`; a = 0:
   u = u0 / (1 + 4 c^2 u0 t / tau^2), an algebraic decay).
   Validity: the logits' variance over j at the fixed point is V = sum_k a_k^2 / c_k^2
   (independent of tau); the limit needs N >> exp(V) (:func:`annealed_validity`).
3. **Two layers** W = W2 W1. Gradient flow on any loss of the product conserves
   W1 W1^T - W2^T W2 (:func:`balance_residual`). For aligned balanced modes (s1 = s2 =
   sqrt(sigma)) the product's singular value obeys sigma' = (4 sigma^2/tau)(a - c^2 sigma^2/tau)
   (:func:`mode_rate`), versus sigma' = (2 sigma/tau)(a - c^2 sigma^2/tau) for one layer: the
   rate is proportional to sigma itself, so a mode that starts small stays collapsed for a time
   ~ tau/(4 a sigma0) (one layer: ~ tau log(1/sigma0)/(2a)); :func:`half_time` gives both in
   closed form. This is the paper's "implicit regularisation" collapse: with weak augmentation
   the one-layer net becomes full-rank while the two-layer net from the same product keeps its
   small singular values near zero.

:func:`simulate_annealed` integrates the annealed flow for one or two layers (batched
Dormand-Prince); :func:`sgd_train` is minibatch SGD on the exact finite-batch InfoNCE, the process
the flow is the small-learning-rate, large-batch limit of.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from dynamics.errors import ConfigError, check_range
from dynamics.numerics.integrate import integrate_batched
from dynamics.threads import with_thread_policy


def x_matrix(W, x1, x2, tau: float) -> np.ndarray:
    """X of the gradient identity grad_W L = -(1/tau) W X for one batch (rows of ``x1``, ``x2``
    are the two views; W (d, n)); float64 numpy.
    Args:
        W: weights (d, n); x1, x2: the two views of N samples, (N, n) each.
        tau: the temperature, > 0.
    Returns:
        X, a symmetric (n, n) float64 array."""
    W, x1, x2 = (np.asarray(v, dtype=float) for v in (W, x1, x2))
    logits = (x1 @ W.T) @ (x2 @ W.T).T / tau
    logits -= logits.max(axis=1, keepdims=True)
    p = np.exp(logits)
    p /= p.sum(axis=1, keepdims=True)
    m = (np.eye(len(x1)) - p) / len(x1)  # (delta_ij - p_ij) / N
    half = x1.T @ m @ x2  # sum_ij m_ij x1_i x2_j^T
    return half + half.T


def infonce(z1: torch.Tensor, z2: torch.Tensor, tau: float) -> torch.Tensor:
    """The one-directional dot-product InfoNCE of the module docstring (anchors z1).
    Args:
        z1, z2: embeddings (N, d) of the two views (row i of each: a positive pair); tau: > 0.
    Returns:
        The mean loss L, a 0-d tensor (autograd-able)."""
    logits = z1 @ z2.T / tau
    return torch.nn.functional.cross_entropy(logits, torch.arange(z1.shape[0]))


def _cov(v, n: int, name: str) -> np.ndarray:
    """A covariance given as a scalar, a vector (diagonal) or an (n, n) matrix."""
    v = np.asarray(v, dtype=float)
    if v.ndim == 0:
        v = np.full(n, float(v))
    out = np.diag(v) if v.ndim == 1 else v
    if out.shape != (n, n):
        raise ConfigError(name, f"must be a scalar, {n} variances or an ({n}, {n}) matrix, "
                                f"got shape {v.shape}")
    return out


def annealed_loss(G, A, C, tau: float):
    """L(G) = -tr(A G)/tau + tr(C G C G)/(2 tau^2) (numpy, torch or sympy matrices).
    Args:
        G: W^T W (n, n); A: the data covariance (n, n); C: one view's (n, n); tau: > 0.
    Returns:
        L(G), a scalar of the inputs' library (sympy expression for sympy)."""
    CG = C @ G
    return -(A @ G).trace() / tau + (CG @ CG).trace() / (2 * tau**2)


def annealed_x(G, A, C, tau: float):
    """E[X] = 2 (A - C G C / tau) in the large-batch limit (so grad_W L = -(1/tau) W E[X]).
    Args:
        G: W^T W (..., n, n); A, C: the data and view covariances (n, n); tau: > 0.
    Returns:
        E[X], the shape of ``G``, in the inputs' library (numpy, torch or sympy)."""
    return 2 * (A - C @ G @ C / tau)


def annealed_fixed_point(A, C, tau: float) -> np.ndarray:
    """G* = tau C^-1 A C^-1, the minimiser of :func:`annealed_loss` (C positive definite).
    Args:
        A: the data covariance (n, n); C: the view covariance (n, n); tau: > 0.
    Returns:
        G*, an (n, n) float array.
    Example:
        >>> annealed_fixed_point(np.diag([1.0, 0.5]), np.diag([2.0, 0.5]), 0.5).tolist()
        [[0.125, 0.0], [0.0, 1.0]]"""
    A, C = np.asarray(A, dtype=float), np.asarray(C, dtype=float)
    Ci = np.linalg.inv(C)
    return tau * Ci @ A @ Ci


def annealed_embedding_spectrum(A, C, tau: float) -> np.ndarray:
    """Eigenvalues (descending) of the embedding covariance W C W^T at G*: tau eig(C^-1 A).
    Args:
        A: the data covariance (n, n); C: the view covariance (n, n); tau: > 0.
    Returns:
        A float array (n,), negative values clipped to 0.
    Example:
        >>> annealed_embedding_spectrum(np.diag([1.0, 1.0, 0.0]), np.eye(3) * [1, 2, 1], 1.0)
        array([1. , 0.5, 0. ])"""
    A, C = np.asarray(A, dtype=float), np.asarray(C, dtype=float)
    ev = np.linalg.eigvals(np.linalg.solve(C, A)).real
    return np.sort(tau * np.clip(ev, 0.0, None))[::-1]


def annealed_modes(t, u0, a, sigma2, tau: float) -> np.ndarray:
    """u_k(t) = |W e_k|^2 for axis-aligned data (variances a, augmentation variances sigma2):
    logistic u* / (1 + (u*/u0 - 1) exp(-4 a t / tau)) with u* = a tau / c^2, c = a + sigma2;
    u0 / (1 + 4 c^2 u0 t / tau^2) where a = 0. Shapes broadcast (t along a new first axis).
    Args:
        t: times (T,); u0: the start u_k(0) > 0; a: data variances (n,), >= 0.
        sigma2: augmentation variances (n,); tau: the temperature, > 0.
    Returns:
        u_k(t), a float array (T, n) for 1-D inputs.
    Example:
        >>> annealed_modes([0.0, 10.0], 0.01, [1.0, 0.0], [1.0, 1.0], 0.5).round(4).tolist()
        [[0.01, 0.01], [0.125, 0.0038]]"""
    t = np.asarray(t, dtype=float)[..., None]
    u0, a, c = (np.asarray(v, dtype=float) for v in (u0, a, np.add(a, sigma2)))
    us = a * tau / c**2
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        logi = us / (1.0 + (us / u0 - 1.0) * np.exp(-4.0 * a * t / tau))
    alg = u0 / (1.0 + 4.0 * c**2 * u0 * t / tau**2)
    return np.where(a > 0, logi, alg)


def annealed_validity(a, sigma2) -> float:
    """V = sum_k a_k^2 / (a_k + sigma2_k)^2, the logits' variance at the fixed point; the
    large-batch limit needs a batch N >> exp(V).
    Args:
        a: data variances (n,); sigma2: augmentation variances (n,) (a + sigma2 > 0).
    Returns:
        V, a float.
    Example:
        >>> annealed_validity([1.0, 1.0, 1.0, 0.5, 0.0], [0.0, 1.0, 4.0, 0.5, 1.0])
        1.54"""
    a = np.asarray(a, dtype=float)
    return float(np.sum(a**2 / (a + np.asarray(sigma2, dtype=float))**2))


def mode_rate(sigma, a, c, tau: float, layers: int):
    """d sigma/dt = (2 L sigma^L / tau)(a - c^2 sigma^2 / tau) of an aligned, balanced mode's
    singular value sigma of the product (annealed limit; L = ``layers``, 1 or 2).
    Args:
        sigma: the singular value(s); a, c: the mode's data and view variances; tau: > 0.
        layers: 1 or 2 (else ConfigError).
    Returns:
        d sigma/dt, the type and shape of ``sigma`` (numpy or sympy)."""
    if layers not in (1, 2):
        raise ConfigError("layers", f"must be 1 or 2, got {layers!r}")
    return 2 * layers * sigma**layers / tau * (a - c**2 * sigma**2 / tau)


def half_time(sigma0, a, c, tau: float, layers: int, level: float = 0.5):
    """Time for an aligned balanced mode to grow from sigma0 to ``level`` x sigma*, sigma* =
    sqrt(a tau)/c (closed form of :func:`mode_rate`, a > 0):
    one layer (tau/(4a)) log(q^2 (1 - q0^2) / (q0^2 (1 - q^2))), q = sigma/sigma*;
    two layers (tau/(4a)) (1/sigma0 - 1/sigma + (artanh q - artanh q0)/sigma*).
    Args:
        sigma0: start(s), below level x sigma*; a: > 0; c: the view variance a + sigma2.
        tau: > 0; layers: 1 or 2; level: the fraction q of sigma*, in (0, 1).
    Returns:
        The time(s), a float array of the shape of ``sigma0``.
    Example:
        >>> [round(float(half_time(0.01, 1.0, 1.0, 0.1, L)), 3) for L in (1, 2)]
        [0.145, 2.383]"""
    sigma0 = np.asarray(sigma0, dtype=float)
    ss = np.sqrt(a * tau) / c
    q0, q = sigma0 / ss, float(level)
    if np.any(q0 >= q):
        raise ConfigError("sigma0", f"must start below level x sigma* = {q * ss:.4g}")
    if layers == 1:
        return tau / (4 * a) * np.log(q**2 * (1 - q0**2) / (q0**2 * (1 - q**2)))
    if layers == 2:
        return tau / (4 * a) * (1 / sigma0 - 1 / (q * ss)
                                + (np.arctanh(q) - np.arctanh(q0)) / ss)
    raise ConfigError("layers", f"must be 1 or 2, got {layers!r}")


def balance_residual(W1, W2, W1_0, W2_0) -> float:
    """||(W1 W1^T - W2^T W2) - (same at the start)||_F / ||W1 W1^T||_F (0 under gradient
    flow).
    Args:
        W1, W2: the layers now, (h, n) and (d, h); W1_0, W2_0: the layers at the start.
    Returns:
        The relative residual, a float."""
    d = (W1 @ W1.T - W2.T @ W2) - (W1_0 @ W1_0.T - W2_0.T @ W2_0)
    return float(np.linalg.norm(d) / max(np.linalg.norm(W1 @ W1.T), 1e-300))


def spectral_init(n: int, decay: float, rng: np.random.Generator) -> np.ndarray:
    """A square weight with random singular vectors and singular values exp(-decay k), k = 0..n-1
    (the initialisation of Jing et al.'s two-layer toy).
    Args:
        n: the size; decay: the e-folds per singular value; rng: a numpy Generator.
    Returns:
        An (n, n) float array."""
    U, _, V = np.linalg.svd(rng.random((n, n)))
    return U @ np.diag(np.exp(-decay * np.arange(n))) @ V


def collapsed_count(sv, gap: float = 4.0) -> np.ndarray:
    """Singular values more than ``gap`` e-folds below the largest (last axis), per row.
    Args:
        sv: singular values (..., d), >= 0; gap: the number of e-folds.
    Returns:
        The count, an integer array of shape ``sv.shape[:-1]``.
    Example:
        >>> collapsed_count([[1.0, 0.5, 1e-3], [1.0, 1e-2, 1e-3]]).tolist()
        [1, 2]"""
    ls = np.log(np.clip(np.asarray(sv, dtype=float), 1e-300, None))
    return np.sum(ls < ls.max(axis=-1, keepdims=True) - gap, axis=-1)


@dataclass
class CollapseTrajectory:
    """Saved states: times ``t``, the product's singular values ``sv`` (T, d) and the weights
    (``layers``: one (T, d, n) array per layer).
    Attributes:
        t: times (T,); sv: the product's singular values, descending, (T, min(d, n)).
        layers: the weights over time, [W (T, d, n)] or [W1 (T, h, n), W2 (T, d, h)]."""

    t: np.ndarray
    sv: np.ndarray
    layers: list[np.ndarray]


def _check_layers(layers) -> list[np.ndarray]:
    if isinstance(layers, np.ndarray) and layers.ndim == 2:
        layers = [layers]
    layers = [np.asarray(w, dtype=float) for w in layers]
    if len(layers) not in (1, 2) or any(w.ndim != 2 for w in layers):
        raise ConfigError("layers", "must be one (d, n) weight or two [W1 (h, n), W2 (d, h)]")
    if len(layers) == 2 and layers[1].shape[1] != layers[0].shape[0]:
        raise ConfigError("layers", f"W2's columns must match W1's rows: {layers[1].shape} "
                                    f"after {layers[0].shape}")
    return layers


@with_thread_policy
def simulate_annealed(layers, A, C, tau: float, *, t_end: float, n_save: int = 201,
                      rtol: float = 1e-8, atol: float = 1e-12) -> CollapseTrajectory:
    """Integrate the annealed gradient flow dW_l/dt = -grad_{W_l} L(W^T W) for one layer
    ([W]) or two ([W1, W2]) from the given start (A, C: data and view covariances).
    Args:
        layers: one (d, n) weight, [W], or [W1 (h, n), W2 (d, h)].
        A, C: data and view covariances: a scalar, n variances or an (n, n) matrix.
        tau: the temperature, > 0; t_end: end time, > 0; n_save: output times in [0, t_end].
        rtol, atol: tolerances of the integrator.
    Returns:
        A :class:`CollapseTrajectory` with ``sv`` (n_save, min(d, n)).
    Example:
        >>> tr = simulate_annealed(0.1 * np.eye(2), [1.0, 0.5], [2.0, 0.5], 0.5, t_end=20.0)
        >>> tr.sv[-1].round(4).tolist()  # sqrt(a tau) / c per axis
        [1.0, 0.3536]"""
    layers = _check_layers(layers)
    n = layers[0].shape[1]
    A_t = torch.as_tensor(_cov(A, n, "A"), dtype=torch.float64)
    C_t = torch.as_tensor(_cov(C, n, "C"), dtype=torch.float64)
    check_range("t_end", t_end, low=0, low_open=True)
    shapes = [w.shape for w in layers]
    sizes = [int(np.prod(s)) for s in shapes]

    def grad_w(W):  # grad_W L = -(1/tau) W E[X]
        G = W.transpose(-1, -2) @ W
        return -(W @ annealed_x(G, A_t, C_t, tau)) / tau

    def rhs(y, aux):
        ws = [y[:, :sizes[0]].reshape(-1, *shapes[0])]
        if len(shapes) == 1:
            return (-grad_w(ws[0])).reshape(y.shape[0], -1)
        ws.append(y[:, sizes[0]:].reshape(-1, *shapes[1]))
        gw = grad_w(ws[1] @ ws[0])
        return -torch.cat([(ws[1].transpose(-1, -2) @ gw).reshape(y.shape[0], -1),
                           (gw @ ws[0].transpose(-1, -2)).reshape(y.shape[0], -1)], dim=1)

    t_eval = torch.linspace(0.0, float(t_end), int(n_save), dtype=torch.float64)
    y0 = torch.as_tensor(np.concatenate([w.ravel() for w in layers])[None], dtype=torch.float64)
    sol = integrate_batched(rhs, y0, t_eval, rtol=rtol, atol=atol, compile="eager")
    y = sol.y[:, 0].numpy()
    out = [y[:, :sizes[0]].reshape(-1, *shapes[0])]
    if len(shapes) == 2:
        out.append(y[:, sizes[0]:].reshape(-1, *shapes[1]))
    prod = out[0] if len(out) == 1 else out[1] @ out[0]
    return CollapseTrajectory(t_eval.numpy(), np.linalg.svd(prod, compute_uv=False), out)


@with_thread_policy
def sgd_train(layers, a, sigma2, tau: float, *, batch_size: int, lr: float, steps: int,
              record_every: int = 100, seed: int = 0) -> CollapseTrajectory:
    """Minibatch SGD on the exact InfoNCE of the module docstring: Gaussian x with per-axis data
    variances ``a``, views with per-axis augmentation variances ``sigma2``, fresh samples every
    step (float64, autograd); t = lr * step.
    Args:
        layers: the start, as in :func:`simulate_annealed`; a, sigma2: per-axis variances.
        tau: > 0; batch_size: pairs per step; lr: > 0; steps: the number of steps.
        record_every: steps between records (the last step is always recorded).
        seed: seed of the torch generator.
    Returns:
        A :class:`CollapseTrajectory` (``t`` = lr x recorded steps).
    Raises:
        FloatingPointError: if the loss diverges (lower ``lr``).
    Example:
        >>> run = sgd_train(0.1 * np.eye(2), [1.0, 0.5], [1.0, 0.0], 0.5, batch_size=128,
        ...                 lr=0.05, steps=60, record_every=30)
        >>> run.t.tolist(), run.sv[-1].round(2).tolist()
        ([0.0, 1.5, 3.0], [1.01, 0.33])"""
    layers = _check_layers(layers)
    check_range("lr", lr, low=0, low_open=True)
    n = layers[0].shape[1]
    sa = torch.as_tensor(np.broadcast_to(np.sqrt(a), (n,)).copy(), dtype=torch.float64)
    sn = torch.as_tensor(np.broadcast_to(np.sqrt(sigma2), (n,)).copy(), dtype=torch.float64)
    ws = [torch.tensor(w, dtype=torch.float64, requires_grad=True) for w in layers]
    g = torch.Generator().manual_seed(seed)
    ts, saved = [], [[] for _ in ws]

    def product():
        return ws[0] if len(ws) == 1 else ws[1] @ ws[0]

    def record(k: int) -> None:
        ts.append(lr * k)
        for s, w in zip(saved, ws, strict=True):
            s.append(w.detach().numpy().copy())

    record(0)
    for k in range(1, int(steps) + 1):
        def draw(scale):
            return torch.randn(batch_size, n, generator=g, dtype=torch.float64) * scale
        x = draw(sa)
        W = product()
        loss = infonce((x + draw(sn)) @ W.T, (x + draw(sn)) @ W.T, tau)
        grads = torch.autograd.grad(loss, ws)
        with torch.no_grad():
            for w, gw in zip(ws, grads, strict=True):
                w -= lr * gw
        if not torch.isfinite(loss):
            raise FloatingPointError(f"InfoNCE SGD diverged at step {k}: lower lr")
        if k % int(record_every) == 0 or k == int(steps):
            record(k)
    out = [np.stack(s) for s in saved]
    prod = out[0] if len(out) == 1 else out[1] @ out[0]
    return CollapseTrajectory(np.array(ts), np.linalg.svd(prod, compute_uv=False), out)


__all__ = ["CollapseTrajectory", "annealed_embedding_spectrum", "annealed_fixed_point",
           "annealed_loss", "annealed_modes", "annealed_validity", "annealed_x",
           "balance_residual", "collapsed_count", "half_time", "infonce", "mode_rate",
           "sgd_train", "simulate_annealed", "spectral_init", "x_matrix"]

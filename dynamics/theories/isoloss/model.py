"""Eigenmode dynamics of non-contrastive SSL with a closed-form predictor under the Euclidean,
the IsoLoss and the cosine loss (Halvagal, Laborieux & Zenke, NeurIPS 2023, "Implicit variance
regularization in non-contrastive SSL").

Model and convention (derived here; the tests and :mod:`dynamics.theories.isoloss.symbolic` check
each step): a linear embedding z = W x, W in R^{d x n}; isotropic data, two views x1, x2 of the
same x-bar with independent augmentation noise of variance sigma2, so E[x1 x1^T] = (1 + sigma2) I
and E[x2 x1^T] = I; the target z_t = W x2 under stop-gradient (SimSiam, W_t = W); the
predictor set in closed form from the embedding covariance,

    C = E[z z^T] = (1 + sigma2) W W^T,     Wp = C^alpha  (alpha = 1/2: DirectPred, 1: DirectCopy),

and no gradient through Wp. With lambda_i the eigenvalues of C and a = 1 + sigma2:

* Euclidean, L = 1/2 E||Wp W x1 - z_t||^2:
  d lambda_i/dt = 2 lambda_i^{1+alpha} (1 - a lambda_i^alpha); the eigenvalue itself multiplies
  the learning rate (lambda^alpha), so small modes start slowly.
* IsoLoss (its gradient with respect to the online embedding is p - z_t, without Wp^T):
  d lambda_i/dt = 2 lambda_i (1 - a lambda_i^alpha): every mode starts at the same rate 2, and
  v = lambda^alpha is logistic with rate 2 alpha (:func:`isoloss_closed_form`).
  Both settle at lambda* = a^{-1/alpha} (:func:`fixed_point`).
* Cosine, L = -E[cos(Wp W x1, z_t)], with the norms replaced by their means (||p||^2 ~ P^2 =
  sum lambda^{1+2 alpha}, ||z_t||^2 ~ Z^2 = sum lambda; a mean-field approximation that sharpens as
  the dimension grows): d lambda_i/dt = (2/(Z P)) lambda_i^{1+alpha} (1 - r lambda_i^alpha), r =
  sum lambda^{1+alpha} / sum lambda^{1+2 alpha}. The loss is invariant to the scale of the online
  W, so tr C is conserved (exactly, not only in the approximation), and every mode with
  lambda_i(0) > 0 ends at the same value tr C(0)/m (m such modes): the cosine loss equalises the
  spectrum at the scale it started with, where the Euclidean loss sets each mode to a^{-1/alpha}.

:func:`simulate_modes_iso` integrates any of the three for a batch of spectra at once;
:func:`sgd_train` trains the linear network by minibatch SGD on sampled views (torch autograd
on the per-sample losses), the discrete process the ODEs are the small-learning-rate limit of.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from dynamics.errors import ConfigError, check_choice, check_range
from dynamics.numerics.integrate import integrate_batched
from dynamics.threads import with_thread_policy

LOSSES_ISO = ("euclidean", "isoloss", "cosine")
"""The losses of this model (``loss`` arguments)."""

#: The settings of the predictions and the figure (alpha of Wp = C^alpha, augmentation variance).
SETTINGS = {"alpha": 0.5, "sigma2": 0.25}


def cosine_mode_rate(lam, la, s1, s2, z):
    """The cosine loss's d lambda_i/dt = (2/(Z P)) lambda_i^{1+alpha} (1 - r lambda_i^alpha) from
    lambda_i, la = lambda_i^alpha and the sums over the modes s1 = sum lambda^{1+alpha}, s2 = sum
    lambda^{1+2 alpha} (= P^2), z = sum lambda (= Z^2); r = s1/s2.

    Args:
        lam: lambda_i (scalar, numpy, torch or sympy; broadcasts with the sums).
        la: lambda_i^alpha, same type as ``lam``.
        s1: sum over the modes of lambda^{1+alpha}.
        s2: sum over the modes of lambda^{1+2 alpha} (P^2), > 0.
        z: sum over the modes of lambda (Z^2), > 0.

    Returns:
        d lambda_i/dt, the type and broadcast shape of the inputs.

    Example:
        >>> cosine_mode_rate(1.0, 1.0, 2.0, 2.0, 2.0)  # two equal modes: the fixed point
        0.0
    """
    return 2.0 / (z * s2) ** 0.5 * lam * la * (1.0 - (s1 / s2) * la)


def mode_rhs(lam, *, alpha: float, sigma2: float, loss: str):
    """d lambda/dt of every eigenvalue (last axis = the modes of one spectrum; torch or numpy;
    a scalar or sympy expression for the Euclidean and IsoLoss modes); the formulas of the
    module docstring.

    Args:
        lam: eigenvalues lambda of C, modes on the last axis; numpy and torch are clipped at 0.
        alpha: the predictor exponent of Wp = C^alpha, > 0.
        sigma2: the augmentation variance, >= 0 (a = 1 + sigma2).
        loss: ``"euclidean"``, ``"isoloss"``, or anything else for the cosine loss (not
            checked here; :data:`LOSSES_ISO` lists the three).

    Returns:
        d lambda/dt, the type and shape of ``lam``.

    Example:
        >>> mode_rhs(np.array([0.1, 0.5]), alpha=0.5, sigma2=0.25, loss="isoloss").round(4)
        array([0.1209, 0.1161])
    """
    a = 1.0 + sigma2
    if torch.is_tensor(lam):
        lam = lam.clamp_min(0.0)
    elif isinstance(lam, np.ndarray):
        lam = np.clip(lam, 0.0, None)
    la = lam**alpha
    if loss == "euclidean":
        return 2.0 * lam * la * (1.0 - a * la)
    if loss == "isoloss":
        return 2.0 * lam * (1.0 - a * la)
    kw = {"keepdim": True} if torch.is_tensor(lam) else {"keepdims": True}
    return cosine_mode_rate(lam, la, (lam * la).sum(-1, **kw), (lam * la * la).sum(-1, **kw),
                            lam.sum(-1, **kw))


def fixed_point(lam0, *, alpha: float, sigma2: float, loss: str) -> np.ndarray:
    """Where each mode of the spectrum ``lam0`` (last axis) ends: a^{-1/alpha} (Euclidean,
    IsoLoss) or tr C(0)/m (cosine, m = modes with lambda > 0); 0 for modes starting at 0.

    Args:
        lam0: the starting spectrum, modes on the last axis (array-like).
        alpha: the predictor exponent, > 0.
        sigma2: the augmentation variance, >= 0.
        loss: ``"cosine"``, or any other value for a^{-1/alpha} (Euclidean, IsoLoss).

    Returns:
        A float array of the shape of ``lam0``.

    Example:
        >>> fixed_point([0.1, 0.5, 0.0], alpha=0.5, sigma2=0.25, loss="isoloss").tolist()
        [0.64, 0.64, 0.0]
        >>> fixed_point([0.1, 0.5, 0.0], alpha=0.5, sigma2=0.25, loss="cosine").tolist()
        [0.3, 0.3, 0.0]
    """
    lam0 = np.asarray(lam0, dtype=float)
    if loss == "cosine":
        m = (lam0 > 0).sum(-1, keepdims=True)
        end = lam0.sum(-1, keepdims=True) / np.maximum(m, 1)
    else:
        end = np.full(lam0.shape, (1.0 + sigma2) ** (-1.0 / alpha))
    return np.where(lam0 > 0, end, 0.0)


def isoloss_closed_form(t, lam0, *, alpha: float, sigma2: float) -> np.ndarray:
    """IsoLoss: v = lambda^alpha solves dv/dt = 2 alpha v (1 - a v), so v(t) = v* / (1 + (v*/v0
    - 1) e^{-2 alpha t}) with v* = 1/a; returns lambda(t) = v^{1/alpha} (broadcasts).

    Args:
        t: times (array-like).
        lam0: lambda(0) > 0 (array-like, broadcast with ``t``).
        alpha: the predictor exponent, > 0.
        sigma2: the augmentation variance, >= 0.

    Returns:
        lambda(t), a float array of the broadcast shape.

    Example:
        >>> isoloss_closed_form([0.0, 5.0], 0.01, alpha=0.5, sigma2=0.25).round(4).tolist()
        [0.01, 0.5836]
    """
    t, lam0 = np.asarray(t, dtype=float), np.asarray(lam0, dtype=float)
    vs, v0 = 1.0 / (1.0 + sigma2), lam0**alpha
    return (vs / (1.0 + (vs / v0 - 1.0) * np.exp(-2.0 * alpha * t))) ** (1.0 / alpha)


def initial_rates(lam0, *, alpha: float, sigma2: float, loss: str) -> np.ndarray:
    """d ln lambda_i / dt at the start (the per-mode growth rates the paper compares).

    Args:
        lam0: the starting spectrum, every entry > 0 (modes on the last axis).
        alpha: the predictor exponent, > 0.
        sigma2: the augmentation variance, >= 0.
        loss: one of :data:`LOSSES_ISO` (as in :func:`mode_rhs`).

    Returns:
        mode_rhs(lam0) / lam0, a float array of the shape of ``lam0``.

    Example:
        >>> initial_rates([0.01, 0.1], alpha=0.5, sigma2=0.25, loss="isoloss").round(4).tolist()
        [1.75, 1.2094]
        >>> initial_rates([0.01, 0.1], alpha=0.5, sigma2=0.25, loss="euclidean").round(4).tolist()
        [0.175, 0.3825]
    """
    lam0 = np.asarray(lam0, dtype=float)
    return np.asarray(mode_rhs(lam0, alpha=alpha, sigma2=sigma2, loss=loss)) / lam0


def aligned_start(lam0, *, sigma2: float, seed: int = 0) -> np.ndarray:
    """W (d x d) whose C = (1 + sigma2) W W^T is diag(lam0), in a seeded random input basis:
    the start whose mode ODE is :func:`simulate_modes_iso` from ``lam0``.

    Args:
        lam0: the target spectrum of C, shape (d,), non-negative.
        sigma2: the augmentation variance, >= 0.
        seed: seed of the random orthogonal input basis.

    Returns:
        W, a (d, d) float array.

    Example:
        >>> W = aligned_start([0.5, 0.1], sigma2=0.25)
        >>> np.linalg.eigvalsh(1.25 * W @ W.T).round(6).tolist()
        [0.1, 0.5]
    """
    lam0 = np.asarray(lam0, dtype=float)
    U = np.linalg.qr(np.random.default_rng(seed).normal(size=(lam0.size,) * 2))[0]
    return np.diag(np.sqrt(lam0 / (1.0 + sigma2))) @ U


def _check(alpha, sigma2, loss) -> None:
    check_range("alpha", alpha, low=0, low_open=True)
    check_range("sigma2", sigma2, low=0)
    check_choice("loss", loss, LOSSES_ISO)


@dataclass
class IsoTrajectory:
    """Output of :func:`simulate_modes_iso` / :func:`sgd_train`: times ``t`` (T,), eigenvalues
    ``lam`` (T, N, d) of C, descending in each row for :func:`sgd_train`, and ``status`` (N,).

    Attributes:
        t: output times, shape (T,).
        lam: eigenvalues of C, shape (T, N, d) (N = 1 for :func:`sgd_train`).
        status: integrator status per spectrum, shape (N,) (0 = ok; always 0 for SGD).
    """

    t: np.ndarray
    lam: np.ndarray
    status: np.ndarray


@with_thread_policy
def simulate_modes_iso(lam0, *, alpha: float = 0.5, sigma2: float = 0.0, loss: str = "isoloss",
                       t_end: float = 20.0, n_save: int = 201, rtol: float = 1e-9,
                       atol: float = 1e-12) -> IsoTrajectory:
    """Integrate :func:`mode_rhs` for one spectrum ``lam0`` (d,) or a batch (N, d) at once.

    Args:
        lam0: starting spectra (d,) or (N, d): finite, >= 0, none all zero.
        alpha: the predictor exponent, > 0.
        sigma2: the augmentation variance, >= 0.
        loss: one of :data:`LOSSES_ISO`.
        t_end: end time, > 0.
        n_save: number of evenly spaced output times in [0, t_end].
        rtol: relative tolerance of the integrator.
        atol: absolute tolerance of the integrator.

    Returns:
        An :class:`IsoTrajectory` with ``lam`` of shape (n_save, N, d).

    Example:
        >>> tr = simulate_modes_iso([0.01, 0.1], alpha=0.5, sigma2=0.25, t_end=20.0)
        >>> tr.lam.shape, tr.lam[-1].round(4).tolist()
        ((201, 1, 2), [[0.64, 0.64]])
    """
    _check(alpha, sigma2, loss)
    lam0 = np.atleast_2d(np.asarray(lam0, dtype=float))
    if lam0.ndim != 2 or (lam0 < 0).any() or not np.isfinite(lam0).all() or \
            not (lam0.sum(-1) > 0).all():
        raise ConfigError("lam0", "must be finite non-negative spectra (N, d), none all zero")
    check_range("t_end", t_end, low=0, low_open=True)
    t_eval = torch.linspace(0.0, float(t_end), int(n_save), dtype=torch.float64)
    y0 = torch.as_tensor(lam0, dtype=torch.float64)

    def rhs(y, aux):
        return mode_rhs(y, alpha=alpha, sigma2=sigma2, loss=loss)

    sol = integrate_batched(rhs, y0, t_eval, rtol=rtol, atol=atol, compile="eager")
    return IsoTrajectory(t_eval.numpy(), sol.y.numpy(), sol.status.numpy())


@with_thread_policy
def sgd_train(W0, *, alpha: float = 0.5, sigma2: float = 0.25, loss: str = "isoloss",
              lr: float = 0.01, steps: int = 1000, batch_size: int = 256, record_every: int = 10,
              seed: int = 0) -> IsoTrajectory:
    """Minibatch SGD of the linear model of the module docstring: x-bar ~ N(0, I_n), views x-bar
    + sqrt(sigma2) N(0, I_n); Wp = C^alpha from the exact C = (1 + sigma2) W W^T (no gradient);
    the per-sample loss (Euclidean 1/2||p - z_t||^2, IsoLoss 1/2||z - SG(z_t + z - p)||^2, or
    -cos(p, z_t)) averaged over the batch, differentiated by autograd; t = lr * step.

    Args:
        W0: the starting weights, a (d, n) matrix (e.g. :func:`aligned_start`).
        alpha: the predictor exponent, > 0.
        sigma2: the augmentation variance, >= 0.
        loss: one of :data:`LOSSES_ISO`.
        lr: learning rate, > 0 (ConfigError if SGD diverges).
        steps: number of SGD steps.
        batch_size: samples x-bar per step.
        record_every: record the spectrum at step 0 and every ``record_every`` steps.
        seed: seed of the torch generator of the samples.

    Returns:
        An :class:`IsoTrajectory`: ``t`` = lr * recorded steps, ``lam`` (T, 1, d) descending.

    Example:
        >>> W0 = aligned_start([0.5, 0.1], sigma2=0.25)
        >>> run = sgd_train(W0, lr=0.05, steps=200, batch_size=64, record_every=50)
        >>> run.t.tolist(), run.lam.shape
        ([0.0, 2.5, 5.0, 7.5, 10.0], (5, 1, 2))
    """
    _check(alpha, sigma2, loss)
    W = torch.tensor(np.asarray(W0, dtype=float), dtype=torch.float64, requires_grad=True)
    if W.ndim != 2:
        raise ConfigError("W0", f"must be a (d, n) matrix, got shape {tuple(W.shape)}")
    check_range("lr", lr, low=0, low_open=True)
    g = torch.Generator().manual_seed(seed)
    n = W.shape[1]
    a = 1.0 + sigma2
    ts, lams = [], []

    def record(k: int) -> None:
        with torch.no_grad():
            C = a * W @ W.T
            lams.append(torch.linalg.eigvalsh(C).flip(0).numpy())
        ts.append(lr * k)

    record(0)
    for k in range(1, int(steps) + 1):
        with torch.no_grad():
            s, u = torch.linalg.eigh(a * W @ W.T)
            wp = (u * s.clamp_min(0) ** alpha) @ u.T
        xb = torch.randn(batch_size, n, generator=g, dtype=torch.float64)
        x1 = xb + sigma2**0.5 * torch.randn(batch_size, n, generator=g, dtype=torch.float64)
        x2 = xb + sigma2**0.5 * torch.randn(batch_size, n, generator=g, dtype=torch.float64)
        z, zt = x1 @ W.T, (x2 @ W.T).detach()
        p = z @ wp.T
        if loss == "euclidean":
            value = 0.5 * ((p - zt) ** 2).sum(1).mean()
        elif loss == "isoloss":
            value = 0.5 * ((z - (zt + z - p).detach()) ** 2).sum(1).mean()
        else:
            value = -torch.nn.functional.cosine_similarity(p, zt, dim=1).mean()
        (grad,) = torch.autograd.grad(value, W)
        with torch.no_grad():
            W -= lr * grad
        if not bool(torch.isfinite(W).all()):
            raise ConfigError("lr", f"SGD diverged at step {k}; use a smaller lr")
        if k % int(record_every) == 0:
            record(k)
    return IsoTrajectory(np.array(ts), np.stack(lams)[:, None], np.zeros(1, dtype=int))


__all__ = ["LOSSES_ISO", "IsoTrajectory", "aligned_start", "cosine_mode_rate", "fixed_point",
           "initial_rates", "isoloss_closed_form", "mode_rhs", "sgd_train",
           "simulate_modes_iso"]

"""Spectral collapse and rank metrics beyond RankMe, each with its definition stated once.

- :func:`alpha_req` alpha-ReQ (Agrawal, Mondal, Ghosh & Richards, NeurIPS 2022): the power-law
  decay lambda_k ~ k^{-alpha} of the centred covariance eigenvalues, fitted by least squares of
  log lambda_k against **log k** over a range of ranks (a fit against a linear index, as some
  implementations do, measures something else: see the tests).
- :func:`stable_rank` ||Z||_F^2 / ||Z||_2^2 = sum sigma_k^2 / sigma_1^2 of Z itself.
- :func:`effective_rank` exp(entropy of sigma / sum sigma) (Roy & Vetterli 2007): RankMe
  without its eps; :func:`effective_rank_gap` erank(target branch) - erank(online branch), the
  rank differential of Zhuo et al. (ICLR 2023).
- :func:`lidar` LiDAR (Thilak et al., ICLR 2024): the smooth rank of the linear-discriminant
  matrix of the surrogate task (every source sample a class of its augmented views).
- :func:`predictor_orthogonality` ||Wp^T Wp - Wp||_F / ||Wp||_F (Richemond et al., ICML 2023):
  0 exactly when Wp is an orthogonal projection.
- :func:`mode_growth_rates` per-mode growth rates d log lambda_j / dt of a spectrum recorded over
  time (e.g. F's eigenvalues in spectra.jsonl), with the spread across modes
  (:func:`growth_rate_spread`): equal rates are IsoLoss's prediction (Halvagal et al. 2023).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from dynamics.errors import ConfigError
from dynamics.metrics._common import (
    as_matrix,
    as_square,
    as_tensor,
    check_finite,
    check_positive,
    moments64,
    sym_eigvalsh,
)
from dynamics.metrics.rank import (
    _gram,
    rankme_from_singular_values,
    singular_values_from_gram,
)
from dynamics.threads import with_thread_policy


@with_thread_policy
def alpha_req(z: Any, *, k_min: int = 1, k_max: int | None = None,
              rel_floor: float = 1e-10) -> tuple[float, float]:
    """(alpha, R^2): the least-squares slope of log lambda_k against log k, negated, over ranks
    k_min..k_max of the centred covariance eigenvalues lambda_1 >= lambda_2 >= ... of ``z``
    (N x d samples; or a 1-D array of eigenvalues, used as given after sorting), and the
    coefficient of determination of that line. Eigenvalues below ``rel_floor`` x lambda_1 are
    numerically zero and end the range. Reference: lambda_k = c k^{-a} exactly gives (a, 1).

    Args:
        z: (N, d) samples as rows, N >= 2, or a 1-D array of eigenvalues; torch tensor (any
            device, any real dtype) or numpy array / nested list.
        k_min: first rank of the fit, 1-based (default 1).
        k_max: last rank of the fit (default None: every eigenvalue above the floor); capped at
            the number of eigenvalues above the floor.
        rel_floor: eigenvalues <= rel_floor * lambda_1 are left out (default 1e-10).

    Returns:
        ``(alpha, r2)``, two Python floats: the negated slope (> 0 for a decaying spectrum) and
        R^2 in [0, 1] (1 when all fitted log lambda_k are equal). Raises ``ConfigError`` when
        no eigenvalue is positive or fewer than 2 ranks are left to fit.

    Example:
        >>> alpha, r2 = alpha_req(1.0 / torch.arange(1., 11.) ** 2)  # lambda_k = k^-2
        >>> round(alpha, 6), round(r2, 6)
        (2.0, 1.0)
    """
    t, _ = as_tensor("z", z)
    if t.ndim == 1:
        check_finite("z", t)
        lam = torch.sort(t.to(torch.float64), descending=True).values
    else:
        zt, _ = as_matrix("z", z, min_rows=2)
        n, _, m2 = moments64(zt)
        lam = sym_eigvalsh(m2 / (n - 1))
    lam = lam.cpu().numpy()
    if not lam.size or lam[0] <= 0:
        raise ConfigError("z", "has no positive covariance eigenvalue (constant embeddings)")
    usable = int(np.sum(lam > rel_floor * lam[0]))
    hi = usable if k_max is None else min(int(k_max), usable)
    if not (1 <= int(k_min) and hi - int(k_min) + 1 >= 2):
        raise ConfigError("k_min", f"the fit needs at least 2 ranks with positive eigenvalues "
                                   f"in k_min..k_max; got {k_min}..{hi} ({usable} usable)")
    k = np.arange(int(k_min), hi + 1, dtype=float)
    y = np.log(lam[int(k_min) - 1:hi])
    x = np.log(k)
    slope, intercept = np.polyfit(x, y, 1)
    resid = y - (slope * x + intercept)
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 - float(np.sum(resid**2)) / ss_tot if ss_tot > 0 else 1.0
    return float(-slope), r2


def stable_rank_from_singular_values(sigma: torch.Tensor) -> float:
    """sum sigma_k^2 / sigma_1^2 of given descending singular values; NaN if all are 0.

    Args:
        sigma: 1-D torch tensor of singular values, descending (not checked; cast to float64).

    Returns:
        Python float, >= 1 for descending input; NaN if sigma_1 is 0.
    """
    sq = sigma.to(torch.float64) ** 2
    return float(sq.sum() / sq[0]) if bool(sq[0] > 0) else math.nan


def stable_rank(z: Any) -> float:
    """sum_k sigma_k^2 / sigma_1^2 of ``z`` (no centring); in [1, rank(z)]; NaN for z = 0.
    Reference: the d x d identity -> d; singular values (3, 2, 1) -> 14/9.

    Args:
        z: (N, d) matrix; torch tensor (any device, any real dtype) or numpy array / nested
            list. NaN or Inf raise ``ConfigError``.

    Returns:
        Python float in [1, rank(z)]; NaN for z = 0.

    Example:
        >>> stable_rank(torch.eye(4))
        4.0
        >>> stable_rank(torch.diag(torch.tensor([3., 2., 1.])))  # 14/9
        1.5555555555555556
    """
    zt, _ = as_matrix("z", z, finite=False)
    return stable_rank_from_singular_values(singular_values_from_gram(_gram(zt), zt.shape[0]))


@with_thread_policy
def effective_rank(z: Any) -> float:
    """exp(-sum p_k log p_k), p_k = sigma_k / sum sigma (Roy & Vetterli 2007); ``z`` N x d, no
    centring. RankMe with eps = 0. Reference: r equal singular values -> r.

    Args:
        z: (N, d) matrix; torch tensor (any device, any real dtype) or numpy array / nested
            list. NaN or Inf raise ``ConfigError``.

    Returns:
        Python float in [1, min(N, d)]; NaN for z = 0.

    Example:
        >>> round(effective_rank(torch.eye(5)), 6)  # 5 equal singular values
        5.0
        >>> round(effective_rank(torch.ones(8, 5)), 6)  # rank one
        1.0
    """
    zt, _ = as_matrix("z", z, finite=False)
    return rankme_from_singular_values(singular_values_from_gram(_gram(zt), zt.shape[0]), 0.0)


def effective_rank_gap(target: Any, online: Any) -> float:
    """erank(target) - erank(online) of the two branches' outputs on the same batch (Zhuo et al.
    2023: positive in BYOL / SimSiam with an asymmetric predictor).

    Args:
        target: (N, d) target-branch outputs; torch tensor or numpy array / nested list.
        online: (N', d') online-branch outputs (the same batch; shapes are not compared).

    Returns:
        Python float, > 0 when the target branch has the higher effective rank; NaN if either
        input is all zero.

    Example:
        >>> round(effective_rank_gap(torch.eye(4), torch.ones(4, 4)), 6)  # 4 - 1
        3.0
    """
    return effective_rank(target) - effective_rank(online)


def lidar(z: Any, *, delta: float = 1e-4, eps: float = 1e-7) -> float:
    """LiDAR of ``z`` with shape (n, q, d): n source samples (the surrogate task's classes), q
    augmented views each. Between-class covariance S_b = (1/(n-1)) sum_i (mu_i - mu)(mu_i -
    mu)^T of the class means, within-class S_w = (1/(n(q-1))) sum_ij (z_ij - mu_i)(z_ij -
    mu_i)^T + delta I, the LDA matrix S_w^{-1/2} S_b S_w^{-1/2} with eigenvalues lambda_k, and
    exp(-sum p_k log p_k), p_k = lambda_k / sum lambda + eps.

    ``delta`` and ``eps`` are this toolkit's choices (the regulariser keeps S_w invertible; eps
    as RankMe's); compare values at the same settings only. Reference: isotropic class means
    over isotropic within-class noise in d dims -> about d; means in an r-dim subspace -> about
    r.

    Args:
        z: (n, q, d) embeddings, n >= 2 source samples with q >= 2 augmented views each, d >= 1
            dims; torch tensor (any device, any real dtype) or numpy array / nested list.
        delta: ridge added to S_w, > 0 (default 1e-4).
        eps: added to every p_k, >= 0 (default 1e-7).

    Returns:
        Python float, in [1, rank(S_b)] up to the eps term (rank(S_b) <= min(n - 1, d)); NaN if
        all class means coincide (S_b = 0).

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> z = torch.randn(200, 1, 4, generator=g) + 0.1 * torch.randn(200, 5, 4, generator=g)
        >>> round(lidar(z), 1)  # isotropic class means in 4 dims
        3.9
    """
    t, _ = as_tensor("z", z)
    if t.ndim != 3 or t.shape[0] < 2 or t.shape[1] < 2 or t.shape[2] < 1:
        raise ConfigError("z", f"must have shape (n >= 2 samples, q >= 2 views, d), got "
                               f"{tuple(t.shape)}")
    check_finite("z", t)
    delta = check_positive("delta", delta)
    eps = check_positive("eps", eps, allow_zero=True)
    x = t.to(torch.float64)
    n, q, d = x.shape
    mu_i = x.mean(1)
    dev_b = mu_i - mu_i.mean(0)
    s_b = dev_b.T @ dev_b / (n - 1)
    dev_w = (x - mu_i[:, None]).reshape(-1, d)
    s_w = dev_w.T @ dev_w / (n * (q - 1)) + delta * torch.eye(d, dtype=x.dtype, device=x.device)
    w, v = torch.linalg.eigh(s_w)
    inv_sqrt = (v / w.sqrt()) @ v.T
    lam = sym_eigvalsh(inv_sqrt @ s_b @ inv_sqrt).clamp_min(0)
    total = lam.sum()
    if not bool(total > 0):
        return math.nan
    p = lam / total + eps
    return float(torch.exp(-torch.special.xlogy(p, p).sum()))


def predictor_orthogonality(wp: Any) -> float:
    """||Wp^T Wp - Wp||_F / ||Wp||_F; 0 for an orthogonal projection; NaN for Wp = 0.

    Args:
        wp: (n, n) linear predictor; torch tensor (any device, any real dtype) or numpy array /
            nested list.

    Returns:
        Python float >= 0; NaN for Wp = 0.

    Example:
        >>> predictor_orthogonality(torch.diag(torch.tensor([1., 0.])))  # a projection
        0.0
        >>> predictor_orthogonality(2 * torch.eye(3))  # ||4I - 2I||_F / ||2I||_F
        1.0
    """
    w, _ = as_square("Wp", wp)
    w = w.to(torch.float64)
    norm = torch.linalg.norm(w)
    return float(torch.linalg.norm(w.T @ w - w) / norm) if bool(norm > 0) else math.nan


def mode_growth_rates(t: Any, eigenvalues: Any, *, floor: float = 0.0) -> np.ndarray:
    """Least-squares slopes of log lambda_j(t) against t, one per mode: ``eigenvalues`` has shape
    (T, d) (time first, each column one mode, e.g. F's spectrum rows), ``t`` shape (T,).
    Entries <= ``floor`` are left out of their mode's fit; a mode with fewer than 2 usable
    points gets NaN. Reference: lambda_j = c_j e^{r_j t} gives r_j exactly.

    Args:
        t: (T,) times, T >= 2; anything ``numpy.asarray`` takes (numpy array, list, CPU
            tensor).
        eigenvalues: (T, d) spectrum at each time, one column per mode; NaN / Inf entries are
            left out of their mode's fit.
        floor: entries <= floor are left out (default 0: non-positive values).

    Returns:
        (d,) float64 numpy array of rates, per unit of ``t``; NaN for a mode with fewer than 2
        usable points.

    Example:
        >>> t = np.linspace(0, 1, 5)
        >>> mode_growth_rates(t, np.exp(np.outer(t, [1., 2.])))  # lambda_j = e^{r_j t}
        array([1., 2.])
    """
    tt = np.asarray(t, dtype=float)
    lam = np.asarray(eigenvalues, dtype=float)
    if lam.ndim != 2 or tt.ndim != 1 or lam.shape[0] != tt.size or tt.size < 2:
        raise ConfigError("eigenvalues", f"must be (T, d) with T = len(t) >= 2; got "
                                         f"{lam.shape} and {tt.shape}")
    rates = np.full(lam.shape[1], np.nan)
    for j in range(lam.shape[1]):
        ok = np.isfinite(lam[:, j]) & (lam[:, j] > floor)
        if ok.sum() >= 2:
            rates[j] = np.polyfit(tt[ok], np.log(lam[ok, j]), 1)[0]
    return rates


def growth_rate_spread(rates: Any) -> float:
    """max / min of the finite positive growth rates (1 = equal rates); NaN if none.

    Args:
        rates: 1-D rates, e.g. from :func:`mode_growth_rates` (anything ``numpy.asarray``
            takes); NaN, Inf and rates <= 0 are ignored.

    Returns:
        Python float >= 1; NaN if no rate is finite and positive.

    Example:
        >>> growth_rate_spread([1.0, 2.0, np.nan])
        2.0
    """
    r = np.asarray(rates, dtype=float)
    r = r[np.isfinite(r) & (r > 0)]
    return float(r.max() / r.min()) if r.size else math.nan


__all__ = ["alpha_req", "effective_rank", "effective_rank_gap", "growth_rate_spread", "lidar",
           "mode_growth_rates", "predictor_orthogonality", "stable_rank",
           "stable_rank_from_singular_values"]

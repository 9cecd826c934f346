"""Collapse signals: spread of normalised embeddings and the covariance spectrum.

- :func:`normalized_std` mean per-dimension std of L2-normalised embeddings (lightly's
  ``std_of_l2_normalized``, solo-learn's logged ``train_z_std``): 0 = complete collapse,
  1/sqrt(d) = isotropic.
- :func:`embedding_spectrum` eigenvalues of the embedding covariance (dimensional collapse shows
  as a tail of ~0 eigenvalues; DirectCLR's ``spectrum.py`` plots the log of these).
- :func:`top_k_variance_fraction` share of the variance in the k leading directions.

Covariance conventions (shared with :mod:`dynamics.metrics.streaming`):
``centered=True``: C = (1/(N-1)) sum_i (z_i - mean)(z_i - mean)^T (``numpy.cov``), N >= 2;
``centered=False``: the second moment (1/N) sum_i z_i z_i^T (the F = E[f f^T] of DirectPred).
Sums are accumulated in float64.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from dynamics.metrics._common import (
    as_matrix,
    check_int,
    gram64,
    moments64,
    out,
    sym_eigvalsh,
)
from dynamics.threads import with_thread_policy


def normalized_std(z: Any) -> float:
    """Mean over dimensions of the std over samples of the L2-normalised embeddings:

        u_i = z_i / ||z_i||_2 ,   normalized_std = (1/d) sum_k std_i(u_ik) ,

    with the unbiased (N - 1) std, as lightly (``debug.std_of_l2_normalized``) and solo-learn
    (``F.normalize(z).std(0).mean()``) compute it. Zero rows stay zero (``F.normalize``
    convention) rather than raising, so an all-zero (collapsed) batch gives 0. ``z`` is (N, d),
    N >= 2.

    Reference values: 0 for constant embeddings (complete collapse); 1/sqrt(d) for isotropic
    embeddings (each coordinate of a uniform point on S^{d-1} has variance 1/d); for k equally
    used orthogonal directions with random signs, 1/sqrt(k) on k of d dims, i.e. k/(d sqrt(k)).
    Returns a Python float.

    Args:
        z: (N, d) embeddings, N >= 2 (rows need not be normalised); torch tensor (any device,
            any real dtype) or numpy array / nested list.

    Returns:
        Python float >= 0 (at most sqrt(N / ((N - 1) d)), about 1/sqrt(d) for large N).

    Example:
        >>> normalized_std(torch.ones(10, 4))  # complete collapse
        0.0
        >>> g = torch.Generator().manual_seed(0)
        >>> round(normalized_std(torch.randn(10000, 16, generator=g)), 3)  # isotropic: 1/sqrt(16)
        0.25
    """
    zt, _ = as_matrix("z", z, min_rows=2)
    n, _, m2 = moments64(torch.nn.functional.normalize(zt, dim=1), diagonal=True)
    return float((m2 / (n - 1)).clamp_min(0).sqrt().mean())


def covariance(z: Any, *, centered: bool = True) -> Any:
    """The embedding covariance (``centered=True``: 1/(N-1), centred) or second moment
    (``centered=False``: (1/N) Z^T Z), d x d, float64 (numpy in, numpy out).

    Args:
        z: (N, d) samples as rows (N >= 2 when ``centered``); torch tensor (any device, any
            real dtype) or numpy array / nested list.
        centered: True (default) for (1/(N-1)) sum_i (z_i - mean)(z_i - mean)^T, False for the
            second moment (1/N) Z^T Z.

    Returns:
        (d, d) float64 matrix: a torch tensor on z's device, or numpy for numpy / list input.

    Example:
        >>> covariance([[1., 0.], [-1., 0.]])  # list in, numpy out
        array([[2., 0.],
               [0., 0.]])
        >>> covariance([[1., 0.], [-1., 0.]], centered=False)
        array([[1., 0.],
               [0., 0.]])
    """
    zt, was_numpy = as_matrix("z", z, min_rows=2 if centered else 1)
    return out(_cov(zt, centered), was_numpy)


def _cov(zt: torch.Tensor, centered: bool) -> torch.Tensor:
    if centered:
        n, _, m2 = moments64(zt)
        return m2 / (n - 1)
    return gram64(zt) / zt.shape[0]


@with_thread_policy
def embedding_spectrum(z: Any, centered: bool = True) -> Any:
    """Eigenvalues of the embedding covariance, **descending**, clamped at 0 (round-off can
    make null eigenvalues slightly negative).

    ``centered=True`` (default): C = (1/(N-1)) sum (z_i - mean)(z_i - mean)^T, N >= 2;
    ``centered=False``: (1/N) Z^T Z (the uncentred correlation F of DirectPred). ``eigvalsh``
    of the explicitly symmetrised float64 matrix; the result has z's dtype and device (numpy in,
    numpy out). Reference values: isotropic N(0, sigma^2 I) -> all ~sigma^2; rank-r data ->
    d - r zeros.

    Args:
        z: (N, d) embeddings as rows (N >= 2 when ``centered``); torch tensor (any device, any
            real dtype) or numpy array / nested list.
        centered: True (default) for the centred covariance, False for (1/N) Z^T Z.

    Returns:
        (d,) eigenvalues >= 0, descending, in z's dtype (float64 for integer input) and on z's
        device; a numpy array for numpy / list input.

    Example:
        >>> z = torch.tensor([[1., 0.], [-1., 0.], [0., 2.], [0., -2.]])
        >>> embedding_spectrum(z)  # variances 8/3 and 2/3, descending
        tensor([2.6667, 0.6667])
    """
    zt, was_numpy = as_matrix("z", z, min_rows=2 if centered else 1)
    lam = sym_eigvalsh(_cov(zt, centered)).clamp_min(0)
    return out(lam.to(zt.dtype), was_numpy)


def variance_fraction_from_eigenvalues(lam: torch.Tensor, k: int) -> float:
    """sum_{j<=k} lambda_j / sum_j lambda_j of descending eigenvalues ``lam``; NaN if all 0.

    Args:
        lam: 1-D torch tensor of eigenvalues, descending (not checked; cast to float64).
        k: number of leading eigenvalues (not checked; k >= len(lam) gives 1).

    Returns:
        Python float, in [0, 1] for lam >= 0; NaN if sum_j lambda_j is not > 0.
    """
    lam = lam.to(torch.float64)
    total = lam.sum()
    if not bool(total > 0):
        return math.nan
    return float(lam[:k].sum() / total)


@with_thread_policy
def top_k_variance_fraction(z: Any, k: int, *, centered: bool = True) -> float:
    """Fraction of the total variance in the k leading covariance directions:

        sum_{j<=k} lambda_j / sum_j lambda_j ,  lambda from :func:`embedding_spectrum`.

    ``1 <= k <= d``. Reference values: k/d for isotropic data; 1 for k >= rank. NaN if the
    covariance is zero (complete collapse: undefined). Returns a Python float.

    Args:
        z: (N, d) embeddings as rows (N >= 2 when ``centered``); torch tensor (any device, any
            real dtype) or numpy array / nested list.
        k: number of leading directions, an integer in [1, d].
        centered: True (default) for the centred covariance, False for (1/N) Z^T Z.

    Returns:
        Python float in [0, 1]; NaN if the covariance is zero.

    Example:
        >>> z = torch.tensor([[1., 0.], [-1., 0.], [0., 2.], [0., -2.]])
        >>> top_k_variance_fraction(z, 1)  # (8/3) / (8/3 + 2/3)
        0.8
    """
    zt, _ = as_matrix("z", z, min_rows=2 if centered else 1)
    k = check_int("k", k, low=1, high=zt.shape[1])
    lam = sym_eigvalsh(_cov(zt, centered)).clamp_min(0)
    return variance_fraction_from_eigenvalues(lam, k)

"""Effective-rank metrics of an embedding matrix.

- :func:`rankme` RankMe (Garrido, Balestriero, Najman & LeCun, ICML 2023, arXiv 2210.02885):
  exp-entropy of the normalised **singular values of Z itself** (no centring).
- :func:`participation_ratio` (sum lambda)^2 / sum lambda^2 of the **centred covariance**
  eigenvalues (the "participation ratio" dimension used e.g. by implicit-var-reg).
- :func:`singular_values` the singular values used by RankMe, via a float64 Gram matrix.

The two ranks answer different questions: RankMe is an entropy of singular values (sigma, not
sigma^2) of the raw embeddings, so the mean direction counts; the participation ratio uses
variances (lambda = sigma^2 of the centred data), so it weighs large directions more.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from dynamics.errors import ConfigError
from dynamics.metrics._common import (
    as_matrix,
    as_tensor,
    check_finite,
    check_gram_finite,
    check_positive,
    gram64,
    moments64,
    out,
    sym_eigvalsh,
)
from dynamics.threads import with_thread_policy


def singular_values_from_gram(gram: torch.Tensor, n_rows: int) -> torch.Tensor:
    """Singular values of Z (descending, float64, length min(N, K)) from G = Z^T Z (K x K):
    sigma_k = sqrt(max(lambda_k(G), 0)) with ``eigvalsh`` of the symmetrised G.

    Args:
        gram: G = Z^T Z (K x K torch tensor; Z Z^T, N x N, has the same non-zero eigenvalues).
            Not checked; pass a float64 G (e.g. from ``gram64``) for full precision.
        n_rows: N, the number of rows of Z; min(N, G.shape[0]) values are returned.

    Returns:
        1-D torch tensor of length min(N, G.shape[0]), descending, >= 0, in G's dtype and on
        G's device.
    """
    lam = sym_eigvalsh(gram)[: min(n_rows, gram.shape[0])]
    return lam.clamp_min(0).sqrt()


@with_thread_policy
def singular_values(Z: Any) -> Any:
    """Singular values sigma_1 >= ... >= sigma_{min(N,K)} of Z (N x K, rows = samples),
    returned as float64 (numpy in, numpy out).

    Computed as the square roots of the eigenvalues of the K x K Gram matrix Z^T Z accumulated
    in float64 over row chunks (cost O(N K^2) + O(K^3), memory O(K^2); for N < K the N x N
    matrix Z Z^T is used instead). Why not an SVD: for N >> K (RankMe uses N = 25,600) the Gram
    route is several times faster than LAPACK's thin SVD and needs no N x K float64 copy. Its
    only cost is precision for tiny singular values: sigma_k is resolved down to about
    1e-8 sigma_1 (float64 eps^{1/2}); RankMe weighs sigma_k / ||sigma||_1, so values below that
    change RankMe by less than 1e-6 relative and are swamped by its eps = 1e-7 anyway.

    Args:
        Z: (N, K) matrix, rows = samples; torch tensor (any device, any real dtype; integers
            become float64) or numpy array / nested list. NaN or Inf raise ``ConfigError``.

    Returns:
        1-D float64 array of length min(N, K), descending, >= 0: a torch tensor on Z's device,
        or a numpy array for numpy / list input.

    Example:
        >>> singular_values(torch.diag(torch.tensor([3., 2., 1.])))
        tensor([3., 2., 1.], dtype=torch.float64)
    """
    z, was_numpy = as_matrix("Z", Z, finite=False)
    g = _gram(z)
    return out(singular_values_from_gram(g, z.shape[0]), was_numpy)


def _gram(z: torch.Tensor) -> torch.Tensor:
    """The smaller of Z^T Z and Z Z^T in float64, checked finite."""
    g = gram64(z.T) if z.shape[0] < z.shape[1] else gram64(z)
    check_gram_finite("Z", g)
    return g


def rankme_from_singular_values(sigma: torch.Tensor, eps: float = 1e-7) -> float:
    """RankMe of given singular values (see :func:`rankme`); NaN if they are all zero.

    Args:
        sigma: 1-D torch tensor of singular values >= 0 (any order; not checked).
        eps: added to each normalised sigma_k (default 1e-7 as :func:`rankme`; 0 gives the
            effective rank of Roy & Vetterli). Not checked.

    Returns:
        Python float: exp(-sum p_k log p_k), NaN when sum sigma_k is not > 0.
    """
    sigma = sigma.to(torch.float64)
    total = sigma.sum()
    if not bool(total > 0):
        return math.nan
    p = sigma / total + eps
    return float(torch.exp(-torch.special.xlogy(p, p).sum()))  # 0 log 0 = 0 (eps = 0)


@with_thread_policy
def rankme(Z: Any, eps: float = 1e-7) -> float:
    """RankMe effective rank (Garrido et al., ICML 2023):

        p_k = sigma_k / ||sigma||_1 + eps ,   RankMe(Z) = exp( - sum_{k=1}^{min(N,K)} p_k log p_k )

    with sigma_k the singular values of Z (N x K, rows = samples), **no centring, no
    whitening**, eps = 1e-7 (the paper's value) added **after** normalising and **no
    renormalisation** afterwards. Singular values come from :func:`singular_values` (float64
    Gram matrix; see there for why). Use N >> K: the paper uses N = 25,600.

    Properties: in [1, min(N, K)] up to O(eps K log eps) (e.g. a rank-one Z gives ~1.0002 for
    K = 64); invariant to rescaling Z and to orthogonal transforms of rows or columns; rewards
    both high rank and a flat spectrum. Compare values only within one method.

    Reference values (computed independently, seeded): i.i.d. Gaussian 25600 x 64 ~ 63.98;
    Z = A B with A 25600 x 8, B 8 x 64 Gaussian (rank 8) ~ 7.84.

    Returns a Python float; NaN for an all-zero Z (undefined).

    Args:
        Z: (N, K) embeddings, rows = samples; torch tensor (any device, any real dtype) or numpy
            array / nested list. Not centred. NaN or Inf raise ``ConfigError``.
        eps: >= 0, added to every p_k (default 1e-7, the paper's); 0 gives
            :func:`~dynamics.metrics.effective_rank`.

    Returns:
        Python float in [1, r], r = min(N, K), up to the eps term (for a flat spectrum it adds
        about eps r^2 (ln r - 1): 64.0013 for the 64 x 64 identity); NaN for an all-zero Z.

    Example:
        >>> round(rankme(torch.eye(64)), 4)  # flat full-rank spectrum: min(N, K) = 64 (+ eps)
        64.0013
        >>> round(rankme(torch.eye(64), eps=0.0), 6)
        64.0
        >>> round(rankme(torch.ones(100, 64)), 4)  # rank one (complete collapse): ~1
        1.0001
    """
    eps = check_positive("eps", eps, allow_zero=True)
    z, _ = as_matrix("Z", Z, finite=False)
    return rankme_from_singular_values(singular_values_from_gram(_gram(z), z.shape[0]), eps)


def participation_ratio_from_eigenvalues(lam: torch.Tensor) -> float:
    """(sum_k lambda_k)^2 / sum_k lambda_k^2 of given eigenvalues; NaN if they are all zero.

    Args:
        lam: 1-D torch tensor of eigenvalues (not checked; cast to float64).

    Returns:
        Python float, in [1, number of non-zero lambda_k] for lambda_k >= 0; NaN if all are 0.
    """
    lam = lam.to(torch.float64)
    denom = (lam * lam).sum()
    if not bool(denom > 0):
        return math.nan
    return float(lam.sum() ** 2 / denom)


@with_thread_policy
def participation_ratio(x: Any, *, centered: bool = True) -> float:
    """Participation ratio PR = (sum_k lambda_k)^2 / sum_k lambda_k^2 = tr(C)^2 / tr(C^2).

    ``x`` is either a 2-D (N, d) matrix of samples (rows), whose covariance eigenvalues are
    used — the **centred** covariance C = (1/(N-1)) sum_i (z_i - mean)(z_i - mean)^T by
    default (N >= 2), or the uncentred second moment (1/N) Z^T Z with ``centered=False`` — or
    a 1-D array of eigenvalues lambda_k >= 0 (``centered`` is then ignored). For samples no
    eigendecomposition is needed: PR = tr(C)^2 / ||C||_F^2 (float64). The normalisation of C
    cancels.

    Reference values: isotropic covariance in d dims -> d; r equal non-zero eigenvalues -> r;
    always in [1, rank(C)]. Returns a Python float; NaN if C = 0 (undefined).

    Args:
        x: (N, d) samples as rows (N >= 2 when ``centered``), or a 1-D array of eigenvalues
            >= 0; torch tensor (any device, any real dtype) or numpy array / nested list.
        centered: True (default) for the centred covariance, False for the second moment
            (1/N) Z^T Z. Ignored for 1-D ``x``.

    Returns:
        Python float in [1, rank(C)]; NaN if C = 0.

    Example:
        >>> participation_ratio(torch.tensor([1., 1., 1., 0.]))  # 3 equal eigenvalues
        3.0
        >>> participation_ratio(torch.eye(4), centered=False)  # isotropic in 4 dims
        4.0
    """
    t, _ = as_tensor("x", x)
    if t.ndim == 1:
        if t.numel() == 0:
            raise ConfigError("x", "needs at least one eigenvalue")
        check_finite("x", t)
        if bool((t < -1e-12 * t.abs().max()).any()):
            raise ConfigError("x", f"eigenvalues must be >= 0, got min {float(t.min()):.3g}")
        return participation_ratio_from_eigenvalues(t)
    z, _ = as_matrix("x", x, min_rows=2 if centered else 1)
    c = moments64(z)[2] if centered else gram64(z)
    denom = (c * c).sum()
    if not bool(denom > 0):
        return math.nan
    return float(torch.diagonal(c).sum() ** 2 / denom)

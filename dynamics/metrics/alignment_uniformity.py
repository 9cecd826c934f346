"""Alignment and uniformity on the hypersphere (Wang & Isola, ICML 2020, arXiv 2005.10242).

Both metrics take L2-normalised embeddings (rows on S^{d-1}); lower is better for both.
Distances are plain Euclidean, ||u - v||_2 (on the sphere ||u - v||^2 = 2 - 2 u.v). Note the
other conventions in use elsewhere: r = 1/2 ||u - v||^2 (Tian et al.) and 1 - cos (most code).

- :func:`alignment`  L_align(alpha) = mean_i ||x_i - y_i||^alpha over positive pairs.
- :func:`uniformity` L_unif(t) = log mean_{i<j} exp(-t ||x_i - x_j||^2) over the N(N-1)/2
  distinct unordered pairs of one view (self-pairs excluded, as ``torch.pdist`` does in the
  official code), computed blockwise in bounded memory.
- :func:`uniformity_on_sphere` the closed form of L_unif for the uniform measure on S^{d-1}.

Streaming (many-batch) versions are in :mod:`dynamics.metrics.streaming`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from dynamics.errors import ConfigError
from dynamics.metrics._common import (
    as_matrix,
    check_int,
    check_positive,
    row_norms_checked,
)
from dynamics.threads import with_thread_policy

#: Default number of float32/float64 entries of one (block x N) distance block in
#: :func:`uniformity` (16M entries: 64 MiB in float32).
UNIFORMITY_BLOCK_ELEMENTS = 1 << 24


@with_thread_policy
def alignment(x: Any, y: Any, alpha: float = 2.0, *, normalize: bool = False) -> float:
    """Alignment loss of positive pairs (Wang & Isola 2020, Eq. for L_align):

        L_align(alpha) = (1/N) sum_i ||x_i - y_i||_2^alpha ,   alpha > 0 (default 2).

    ``x`` and ``y`` are (N, d) embeddings of the two views, row i of each forming a positive
    pair. Rows must be L2-normalised: with ``normalize=False`` (default) rows whose norm differs
    from 1 by more than 1e-3 raise :class:`~dynamics.errors.ConfigError`; ``normalize=True``
    normalises them first. Euclidean distance, not squared unless alpha = 2; for unit rows and
    alpha = 2 it equals 2 - 2 mean_i x_i.y_i (the MoCo-code form).

    Reference values: 0 for identical views; 2 in expectation for independent uniform points
    on S^{d-1} (alpha = 2, since E[x.y] = 0); always in [0, 2^alpha].

    Returns a Python float (the per-pair norms are computed in the input dtype, the mean is
    accumulated in float64).

    Args:
        x: (N, d) embeddings of the first view; torch tensor (any device, any real dtype) or
            numpy array / nested list.
        y: (N, d) embeddings of the second view (row i pairs with row i of ``x``), same shape
            and device as ``x``.
        alpha: exponent of the distance, > 0 (default 2).
        normalize: L2-normalise the rows first (default False: rows must already be unit norm).

    Returns:
        Python float in [0, 2^alpha]; 0 when every pair coincides.

    Example:
        >>> alignment(torch.eye(2), torch.eye(2))  # identical views
        0.0
        >>> round(alignment(torch.eye(2), torch.eye(2).flip(0)), 6)  # ||e_1 - e_2||^2 = 2
        2.0
    """
    alpha = check_positive("alpha", alpha)
    return float(alignment_terms(x, y, alpha, normalize).mean())


def alignment_terms(x: Any, y: Any, alpha: float, normalize: bool) -> torch.Tensor:
    """Checked per-pair ||x_i - y_i||^alpha as a float64 tensor on x's device (the summands of
    :func:`alignment`; shared with the streaming form).

    Args:
        x, y: (N, d) paired embeddings, as in :func:`alignment` (checked here).
        alpha: exponent of the distance (not checked; :func:`alignment` requires > 0).
        normalize: L2-normalise the rows first, else require unit rows.

    Returns:
        (N,) float64 torch tensor of ||x_i - y_i||^alpha on x's device (also for numpy input).
    """
    xt, _ = as_matrix("x", x)
    yt, _ = as_matrix("y", y)
    if xt.shape != yt.shape:
        raise ConfigError("y", f"must have the same shape as x {tuple(xt.shape)} (row i of x "
                               f"and y is a positive pair), got {tuple(yt.shape)}")
    if xt.device != yt.device:
        raise ConfigError("y", f"must be on the same device as x ({xt.device}), got {yt.device}")
    xt = row_norms_checked("x", xt, normalize)
    yt = row_norms_checked("y", yt, normalize)
    dist = torch.linalg.vector_norm(xt - yt.to(xt.dtype), dim=1)
    return dist.to(torch.float64).pow(alpha)


def _auto_block(n: int, block_size: int | None) -> int:
    """Default rows per block: at most 2**24 / N (the memory bound) and at most N / 8, so
    that small inputs still get several blocks and skip most of the lower triangle."""
    if block_size is None:
        return max(1, min(UNIFORMITY_BLOCK_ELEMENTS // max(n, 1), -(-n // 8)))
    return check_int("block_size", block_size, low=1)


def pair_logsumexp(x: torch.Tensor, t: float, block_size: int | None = None) -> torch.Tensor:
    """log sum_{i<j} exp(-t ||x_i - x_j||^2) over the distinct unordered pairs of the rows of
    ``x`` (N >= 2), as a float64 0-d tensor on x's device. Internal building block of
    :func:`uniformity` and :class:`~dynamics.metrics.streaming.StreamingBatchUniformity`;
    no input checks.

    Row block [a, b) is compared with rows [a, N) only (pairs j <= i are masked inside the
    diagonal block), so each pair is evaluated once. With q_i = ||x_i||^2,

        -t ||x_i - x_j||^2 = 2t x_i.x_j - t q_i - t q_j .

    Fast path (|2t x_i.x_j| <= 30 guaranteed, e.g. t <= 15 on the unit sphere; 300 in
    float64): E_ij = exp(2t x_i.x_j) cannot over- or underflow, so the row sums
    sum_j E_ij exp(t - t q_j) are one matrix-vector product and the row terms are
    log(row sum) - t - t q_i. Otherwise (large t) every block is shifted by its maximum before
    the exp. Row terms (each a sum of at most N positive numbers in x's dtype) are combined
    with a float64 log-sum-exp, block by block.

    Args:
        x: (N, d) torch tensor, N >= 2 (not checked; the rows need not be unit norm).
        t: kernel scale, > 0 (not checked).
        block_size: rows per block, an integer >= 1, or None for the default of
            :func:`uniformity`.

    Returns:
        0-d float64 torch tensor on x's device.
    """
    n = x.shape[0]
    bs = min(_auto_block(n, block_size), n)
    q = (x * x).sum(dim=1)
    row_term = (-t * q).to(torch.float64)
    limit = 300.0 if x.dtype == torch.float64 else 30.0
    fast = 2.0 * t * float(q.max()) <= limit
    right = ((2.0 * t) * x).T.contiguous()  # (d, N): BLAS reads column slices in place
    w = torch.exp(t - t * q)  # ~1 for unit rows
    lower = torch.ones(bs, bs, dtype=torch.bool, device=x.device).tril()
    # One reusable output buffer: a fresh (block x N) allocation per block costs page faults.
    buf = torch.empty(bs * n, dtype=x.dtype, device=x.device)
    parts = []
    for a in range(0, n - 1, bs):
        b = min(a + bs, n)
        m = buf[: (b - a) * (n - a)].view(b - a, n - a)
        torch.mm(x[a:b], right[:, a:], out=m)  # 2t x_i.x_j
        m[:, : b - a].masked_fill_(lower[: b - a, : b - a], -math.inf)
        if fast:
            row_sum = m.exp_() @ w[a:]
            lse_rows = torch.log(row_sum.to(torch.float64)) + (row_term[a:b] - t)
        else:
            m.sub_(t * q[a:])  # 2t x_i.x_j - t q_j
            mx = m.max()
            row_sum = m.sub_(mx).exp_().sum(dim=1)
            lse_rows = torch.log(row_sum.to(torch.float64)) + mx.to(torch.float64) \
                + row_term[a:b]
        parts.append(torch.logsumexp(lse_rows, dim=0))
    return torch.logsumexp(torch.stack(parts), dim=0)


@with_thread_policy
def uniformity(x: Any, t: float = 2.0, *, normalize: bool = False,
               block_size: int | None = None) -> float:
    """Uniformity loss (Wang & Isola 2020, Eq. for L_uniform), batch form of the official code:

        L_unif(t) = log [ (2 / (N(N-1))) sum_{i<j} exp(-t ||x_i - x_j||_2^2) ] ,  t > 0.

    The mean runs over the N(N-1)/2 **distinct unordered pairs** (self-pairs i = j excluded, as
    ``torch.pdist`` does), with the squared Euclidean distance. ``x`` is (N, d) with N >= 2 (one
    pair at least; a meaningful estimate needs N in the thousands). Rows must be L2-normalised:
    with ``normalize=False`` rows off the unit sphere by more than 1e-3 (relative) raise
    :class:`~dynamics.errors.ConfigError`; ``normalize=True`` normalises them first.

    The N x N distance matrix is never materialised: rows are processed in blocks of
    ``block_size`` against all later rows (see :func:`pair_logsumexp`), with float64
    log-sum-exp accumulation. Extra memory is one reused buffer of ``block_size * N`` entries of
    x's dtype (the default ``block_size = min(2**24 // N, ceil(N / 8))`` caps it at 64 MiB in
    float32 for N <= 2**24) plus a (d, N) copy of x and O(N) vectors. On GPU, keep TF32
    matmuls off (the PyTorch default) for float32 accuracy.

    Reference values (uniform measure on S^{d-1}, see :func:`uniformity_on_sphere`): t = 2 gives
    -1.575 (d = 2), -2.080 (d = 3), -3.513 (d = 16), -3.938 (d = 128). Always <= 0; 0 iff all
    points coincide (complete collapse). Returns a Python float.

    Args:
        x: (N, d) embeddings, N >= 2; torch tensor (any device, any real dtype) or numpy array /
            nested list.
        t: kernel scale, > 0 (default 2, the paper's).
        normalize: L2-normalise the rows first (default False: rows must already be unit norm).
        block_size: rows per block, an integer >= 1, or None (default) for the rule above; it
            changes memory and speed only.

    Returns:
        Python float <= 0 up to rounding (lower = more uniform); 0 for complete collapse.

    Example:
        >>> round(uniformity(torch.ones(5, 3), normalize=True), 6)  # complete collapse
        0.0
        >>> round(uniformity(torch.tensor([[1., 0.], [-1., 0.]])), 6)  # -t ||x_1 - x_2||^2 = -8
        -8.0
    """
    t = check_positive("t", t)
    xt, _ = as_matrix("x", x, min_rows=2)
    xt = row_norms_checked("x", xt, normalize)
    bs = _auto_block(xt.shape[0], block_size)
    n = xt.shape[0]
    lse = pair_logsumexp(xt, t, bs)
    return float(lse) - math.log(n * (n - 1) / 2)


def _log_iv(nu: float, x: float) -> float:
    """log I_nu(x) for x > 0, via scipy's exponentially scaled ``ive``, falling back to the
    power series (:func:`_log_iv_series`) where ive under/overflows (nu >> x)."""
    from scipy.special import ive

    v = float(ive(nu, x))
    if v > 0 and math.isfinite(v):
        return math.log(v) + x
    return _log_iv_series(nu, x)


def _log_iv_series(nu: float, x: float) -> float:
    """log I_nu(x) = nu log(x/2) + log sum_k (x^2/4)^k / (k! Gamma(nu + k + 1)), in log space."""
    from scipy.special import gammaln, logsumexp

    k = np.arange(0, max(64, int(4 * x) + 64), dtype=float)
    terms = 2 * k * math.log(x / 2) - gammaln(k + 1) - gammaln(nu + k + 1)
    return nu * math.log(x / 2) + float(logsumexp(terms))


def uniformity_on_sphere(d: int, t: float = 2.0) -> float:
    """Closed-form L_unif(t) of the uniform measure sigma_{d-1} on S^{d-1} (the minimiser of
    uniformity; derived from the density of u^T v on the sphere, checked by Monte Carlo):

        L_unif = -2t + log[ Gamma(d/2) t^{1-d/2} I_{d/2-1}(2t) ] ,

    from exp(-t||u-v||^2) = exp(2t u.v - 2t) and the density of s = u.v, proportional to
    (1 - s^2)^{(d-3)/2}. Evaluated in log space with ``scipy.special.ive`` (exp-scaled Bessel
    I). ``d >= 1`` (d = 1: the two-point sphere, where it reduces to log[(1 + e^{-4t})/2]),
    ``t > 0``. As d -> infinity, L_unif -> -2t + 2t^2/d.

    Table (d \\ t = 1, 2, 3): d=2: -1.176, -1.575, -1.792; d=3: -1.405, -2.080, -2.485;
    d=16: -1.876, -3.513, -4.937; d=128: -1.984, -3.938, -5.860.

    Args:
        d: dimension of the ambient space (the sphere is S^{d-1}), an integer >= 1.
        t: kernel scale, > 0 (default 2).

    Returns:
        Python float < 0.

    Example:
        >>> round(uniformity_on_sphere(128), 3)
        -3.938
        >>> round(uniformity_on_sphere(3, t=1.0), 3)
        -1.405
    """
    from scipy.special import gammaln

    d = check_int("d", d, low=1)
    t = check_positive("t", t)
    nu = d / 2 - 1
    return float(gammaln(d / 2) + (1 - d / 2) * math.log(t) + _log_iv(nu, 2 * t) - 2 * t)

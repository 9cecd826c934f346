"""Input handling shared by the metric modules (private).

Conventions enforced here, once, for every metric:

- Inputs are torch tensors (any device, float32 or float64) or numpy arrays. Numpy arrays (and
  nested lists) are converted with :func:`torch.as_tensor` and array outputs are converted back
  to numpy; torch inputs give torch outputs on the input's device. Scalars are Python floats.
- Integer / boolean inputs are promoted to float64, float16 / bfloat16 to float32.
- Inputs are detached: these are measurements, not losses (the differentiable losses live in
  :mod:`dynamics.theories.dual_networks`).
- Bad input raises :class:`~dynamics.errors.ConfigError` naming the argument, before any work.
- Sums over samples are accumulated in float64 (:func:`gram64`, :func:`moments64`), in row
  chunks, so the float64 copy of a large float32 input is never materialised at once.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from dynamics.errors import ConfigError
from dynamics.inputs import as_tensor, check_finite

#: Relative tolerance on ||x_i|| = 1 for inputs that must be L2-normalised.
UNIT_NORM_TOL = 1e-3

#: Entries per float64 chunk when accumulating sums over samples: bounded extra memory
#: (2 MiB) that stays in cache, which also makes the float64 Gram faster than one big copy.
CHUNK_ELEMENTS = 1 << 18


def as_matrix(field: str, x: Any, *, min_rows: int = 1, what: str = "samples",
              finite: bool = True) -> tuple[torch.Tensor, bool]:
    """A finite 2-D (N, d) tensor with N >= ``min_rows`` and d >= 1. ``finite=False`` skips the
    finiteness pass for callers that check a reduction instead (NaN/Inf propagate into Z^T Z),
    see :func:`check_gram_finite`."""
    t, was_numpy = as_tensor(field, x)
    if t.ndim != 2:
        raise ConfigError(field, f"must be a 2-D (N {what}, d dims) array, got shape "
                                 f"{tuple(t.shape)}")
    if t.shape[0] < min_rows or t.shape[1] < 1:
        raise ConfigError(field, f"needs at least {min_rows} {what} (rows) and 1 column, got "
                                 f"shape {tuple(t.shape)}")
    if finite:
        check_finite(field, t)
    return t, was_numpy


def check_gram_finite(field: str, gram: torch.Tensor) -> None:
    """NaN or Inf anywhere in Z makes Z^T Z non-finite (x * 0 and inf - inf are NaN), so a
    d x d check replaces an N x d one."""
    if not bool(torch.isfinite(gram).all()):
        raise ConfigError(field, "must be finite (got NaN or Inf, or entries too large to "
                                 "square in float64)")


def as_square(field: str, x: Any, n: int | None = None) -> tuple[torch.Tensor, bool]:
    """A finite square (n, n) tensor."""
    t, was_numpy = as_tensor(field, x)
    if t.ndim != 2 or t.shape[0] != t.shape[1] or t.shape[0] < 1:
        raise ConfigError(field, f"must be a square (n x n) matrix, got shape {tuple(t.shape)}")
    if n is not None and t.shape[0] != n:
        raise ConfigError(field, f"must be {n}x{n} to match the other inputs, got "
                                 f"{tuple(t.shape)}")
    check_finite(field, t)
    return t, was_numpy


def out(t: torch.Tensor, was_numpy: bool) -> Any:
    """Array output in the caller's type."""
    return t.detach().cpu().numpy() if was_numpy else t


def check_positive(field: str, value: Any, *, allow_zero: bool = False) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ConfigError(field, f"must be a real number, got {value!r}") from None
    ok = (v >= 0 if allow_zero else v > 0) and np.isfinite(v)
    if not ok:
        raise ConfigError(field, f"must be {'>= 0' if allow_zero else '> 0'} and finite, got "
                                 f"{value!r}")
    return v


def check_int(field: str, value: Any, *, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ConfigError(field, f"must be an integer, got {value!r}")
    v = int(value)
    if v < low or (high is not None and v > high):
        rng = f"[{low}, {high}]" if high is not None else f">= {low}"
        raise ConfigError(field, f"must be an integer in {rng}, got {v}")
    return v


def row_norms_checked(field: str, x: torch.Tensor, normalize: bool) -> torch.Tensor:
    """Return ``x`` with unit rows: normalised when ``normalize``, else checked to be unit norm
    within :data:`UNIT_NORM_TOL` (relative). Zero rows cannot be normalised and are refused."""
    norms = torch.linalg.vector_norm(x, dim=1)
    if normalize:
        if bool((norms == 0).any()):
            raise ConfigError(field, "has an all-zero row, which cannot be L2-normalised")
        return x / norms[:, None]
    dev = float((norms - 1).abs().max())
    if dev > UNIT_NORM_TOL:
        raise ConfigError(
            field,
            f"rows must be L2-normalised (max | ||x_i|| - 1 | = {dev:.3g} > {UNIT_NORM_TOL:g}); "
            "pass normalize=True to normalise them",
        )
    return x


def chunk_rows(n_rows: int, n_cols: int) -> int:
    return max(1, CHUNK_ELEMENTS // max(1, n_cols))


def gram64(z: torch.Tensor) -> torch.Tensor:
    """Z^T Z in float64, accumulated over row chunks (d x d, on z's device)."""
    d = z.shape[1]
    if z.dtype == torch.float64:
        return z.T @ z
    g = torch.zeros(d, d, dtype=torch.float64, device=z.device)
    for blk in z.split(chunk_rows(*z.shape)):
        b = blk.to(torch.float64)
        g.addmm_(b.T, b)
    return g


def moments64(z: torch.Tensor, *, diagonal: bool = False) -> tuple[int, torch.Tensor,
                                                                    torch.Tensor]:
    """``(n, mean, M2)`` of the rows of z in float64: M2 = sum_i (z_i - mean)(z_i - mean)^T
    (d x d), or its diagonal (d,) when ``diagonal``. Chunks are merged with Chan et al.'s
    pairwise update, so the centring is numerically stable (no E[zz^T] - mu mu^T cancellation).
    """
    acc: tuple[int, torch.Tensor, torch.Tensor] | None = None
    for blk in z.split(chunk_rows(*z.shape)):
        b = blk.to(torch.float64)
        mb = b.mean(dim=0)
        c = b - mb
        m2 = (c * c).sum(dim=0) if diagonal else c.T @ c
        acc = (b.shape[0], mb, m2) if acc is None else merge_moments(acc, (b.shape[0], mb, m2))
    assert acc is not None
    return acc


def merge_moments(a: tuple[int, torch.Tensor, torch.Tensor],
                  b: tuple[int, torch.Tensor, torch.Tensor]) -> tuple[int, torch.Tensor,
                                                                      torch.Tensor]:
    """Chan, Golub & LeVeque's pairwise merge of (n, mean, M2); M2 may be a matrix or its
    diagonal."""
    na, ma, m2a = a
    nb, mb, m2b = b
    if na == 0:
        return b
    if nb == 0:
        return a
    n = na + nb
    delta = mb - ma
    mean = ma + delta * (nb / n)
    w = na * nb / n
    corr = w * (delta * delta if m2a.ndim == 1 else torch.outer(delta, delta))
    return n, mean, m2a + m2b + corr


def sym_eigh(a: torch.Tensor, *, descending: bool = True, dtype: torch.dtype | None = None
             ) -> tuple[torch.Tensor, torch.Tensor]:
    """``torch.linalg.eigh`` of the explicitly symmetrised (A + A^T)/2 (computed in ``dtype``
    when given), eigenvalues descending (eigenvectors as columns, reordered to match). The
    package's one symmetric eigendecomposition (metrics, predictor rules, instrumentation)."""
    if dtype is not None:
        a = a.to(dtype)
    s, u = torch.linalg.eigh((a + a.T) / 2)
    if descending:
        s, u = s.flip(0), u.flip(1)
    return s, u


def sym_eigvalsh(a: torch.Tensor, *, descending: bool = True) -> torch.Tensor:
    s = torch.linalg.eigvalsh((a + a.T) / 2)
    return s.flip(0) if descending else s

"""Helper maths of the spectral predictors of :mod:`dynamics.predictors.spectral` (which
re-exports the public names): input checks that keep the dtype (half precision included), the
float64 symmetric eigendecomposition of F and the rebuild Wp = U diag(p) U^T.

Notation (Tian, Chen & Ganguli, ICML 2021, arXiv 2102.06810, Sec. 4): F = E[f f^T] (Eq. 19),
F = U diag(s_j) U^T, Wp = U diag(p_j) U^T. Torch tensors in, torch tensors out on the input's
device; numpy in, numpy out. Bad input raises :class:`~dynamics.errors.ConfigError` naming the
argument.
"""

from __future__ import annotations

from typing import Any

import torch

from dynamics.errors import ConfigError, check_range
from dynamics.inputs import as_tensor, check_finite

# --------------------------------------------------------------------------------------------
# Input handling (eigenvalues keep their dtype, half precision included)


def _vector(field_name: str, x: Any) -> tuple[torch.Tensor, bool]:
    t, was_numpy = as_tensor(field_name, x, upcast_half=False)
    if t.ndim != 1 or t.numel() < 1:
        raise ConfigError(field_name, f"must be a non-empty 1-D array of eigenvalues, got shape "
                                      f"{tuple(t.shape)}")
    check_finite(field_name, t)
    return t, was_numpy


def _square(field_name: str, x: Any, n: int | None = None) -> tuple[torch.Tensor, bool]:
    t, was_numpy = as_tensor(field_name, x, upcast_half=False)
    if t.ndim != 2 or t.shape[0] != t.shape[1] or t.shape[0] < 1:
        raise ConfigError(field_name, f"must be a square (d x d) matrix, got shape "
                                      f"{tuple(t.shape)}")
    if n is not None and t.shape[0] != n:
        raise ConfigError(field_name, f"must be {n}x{n} to match the other inputs, got "
                                      f"{tuple(t.shape)}")
    check_finite(field_name, t)
    return t, was_numpy


def _work(t: torch.Tensor) -> torch.Tensor:
    """Elementwise rules run in float64 for float64 input, float32 otherwise."""
    return t if t.dtype in (torch.float32, torch.float64) else t.to(torch.float32)


def _out(t: torch.Tensor, like: torch.Tensor, was_numpy: bool) -> Any:
    t = t.to(like.dtype)
    return t.cpu().numpy() if was_numpy else t


def _real(field_name: str, value: Any, **bounds: Any) -> float:
    if isinstance(value, bool):
        raise ConfigError(field_name, f"must be a real number, got {value!r}")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ConfigError(field_name, f"must be a real number, got {value!r}") from None
    check_range(field_name, v, **bounds)
    return v


def _safe_ratio(num: torch.Tensor, den: torch.Tensor) -> torch.Tensor:
    """num / den where den > 0, else 0 (no host synchronisation, no NaN)."""
    pos = den > 0
    return torch.where(pos, num / torch.where(pos, den, torch.ones_like(den)),
                       torch.zeros_like(num))



# --------------------------------------------------------------------------------------------
# Eigendecomposition and rebuild


def predictor_from_spectrum(U: Any, p: Any) -> Any:
    """Wp = U diag(p) U^T (= sum_j p_j u_j u_j^T), the predictor with eigenvectors the columns
    of ``U`` (d x k) and eigenvalues ``p`` (k,). Device and dtype follow ``U`` (p is moved to
    it); numpy in, numpy out."""
    u, was_numpy = as_tensor("U", U, upcast_half=False)
    if u.ndim != 2:
        raise ConfigError("U", f"must be a 2-D (d x k) matrix of eigenvectors, got shape "
                               f"{tuple(u.shape)}")
    pv, _ = as_tensor("p", p, upcast_half=False)
    if pv.ndim != 1 or pv.shape[0] != u.shape[1]:
        raise ConfigError("p", f"must be 1-D with {u.shape[1]} entries (columns of U), got shape "
                               f"{tuple(pv.shape)}")
    pv = pv.to(device=u.device, dtype=u.dtype)
    wp = (u * pv) @ u.T
    return wp.cpu().numpy() if was_numpy else wp


def sym_eigh64(F: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(s, U)`` of (F + F^T)/2 computed in float64 on F's device, eigenvalues descending,
    eigenvectors as the columns of U (``torch.linalg.eigh``; the official code's ``torch.eig``
    no longer exists)."""
    from dynamics.metrics._common import sym_eigh

    return sym_eigh(F, dtype=torch.float64)

"""Errors and input validation shared by the library and the command line.

Every check raises :class:`ConfigError` with a one-line message that names the offending field
and the allowed values, *before* any work starts. The CLI turns it into ``error: ...`` and exit
code 2 without a traceback.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np


class ConfigError(ValueError):
    """Invalid user input: a one-line message naming the field and the allowed values."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(f"{field}: {message}")


class SingularSystem(ConfigError):
    """A linear system built from running statistics became singular (e.g. the ridge
    predictor's F + ridge I once a mode of F has collapsed). Still a :class:`ConfigError`
    naming the option that would fix it; training reports it as a divergence instead of a
    crash, keeping the last good checkpoint. ``problem`` is what went wrong, ``fix`` what to
    pass instead; the message is ``"{field}: {problem}; {fix}"``."""

    def __init__(self, field: str, problem: str, fix: str):
        self.problem, self.fix = problem, fix
        super().__init__(field, f"{problem}; {fix}")


class SimulationDiverged(RuntimeError):
    """A trajectory blew up or produced NaN/Inf; the partial result is attached."""

    def __init__(self, message: str, partial: Any = None):
        super().__init__(message)
        self.partial = partial


def _as_array(value: Any) -> np.ndarray:
    try:
        import torch

        if isinstance(value, torch.Tensor):
            return value.detach().cpu().numpy()
    except ImportError:  # pragma: no cover - torch is a core dependency
        pass
    return np.asarray(value, dtype=float)


def check_finite(field: str, value: Any) -> None:
    """Check that every element of ``value`` is finite (no NaN or Inf): the package's one
    finiteness check. Torch tensors are checked where they live (no copy off a GPU); anything
    else through numpy."""
    try:
        import torch

        if isinstance(value, torch.Tensor):
            if value.numel() and not bool(torch.isfinite(value).all()):
                raise ConfigError(field, "must be finite (got NaN or Inf)")
            return
    except ImportError:  # pragma: no cover - torch is a core dependency
        pass
    if not np.all(np.isfinite(_as_array(value))):
        raise ConfigError(field, "must be finite (got NaN or Inf)")


def check_range(
    field: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> None:
    """Check ``low <= value <= high`` element-wise (``<`` where the bound is open)."""
    arr = _as_array(value)
    check_finite(field, arr)
    lo_txt = "" if low is None else ("(" if low_open else "[") + f"{low:g}"
    hi_txt = "" if high is None else f"{high:g}" + (")" if high_open else "]")
    allowed = f"{lo_txt or '(-inf'}, {hi_txt or 'inf)'}"
    bad = np.zeros(arr.shape, dtype=bool)
    if low is not None:
        bad |= (arr <= low) if low_open else (arr < low)
    if high is not None:
        bad |= (arr >= high) if high_open else (arr > high)
    if np.any(bad):
        got = arr[bad].ravel()[0]
        raise ConfigError(field, f"must be in {allowed}, got {got:g}")


def check_choice(field: str, value: Any, choices: Iterable[Any]) -> None:
    """Check that ``value`` is one of ``choices``."""
    choices = list(choices)
    if value not in choices:
        raise ConfigError(field, f"must be one of {', '.join(map(str, choices))}; got {value!r}")


def check_square(field: str, value: Any, n: int | None = None) -> np.ndarray:
    """A finite square matrix (``n`` x ``n`` when ``n`` is given), as a numpy array."""
    arr = _as_array(value)
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
        raise ConfigError(field, f"must be a square matrix, got shape {arr.shape}")
    if n is not None and arr.shape[0] != n:
        raise ConfigError(field, f"must be {n}x{n} to match the other inputs, got {arr.shape}")
    check_finite(field, arr)
    return arr


def check_psd(field: str, value: Any, n: int | None = None, *, tol: float = 1e-10) -> np.ndarray:
    """A symmetric positive semi-definite matrix (eigenvalues >= -tol * scale)."""
    arr = check_square(field, value, n)
    scale = max(1.0, float(np.max(np.abs(arr))))
    if not np.allclose(arr, arr.T, atol=tol * scale, rtol=0):
        raise ConfigError(field, "must be symmetric positive semi-definite (it is not symmetric)")
    lam = np.linalg.eigvalsh((arr + arr.T) / 2)
    if lam[0] < -tol * scale * arr.shape[0]:
        raise ConfigError(
            field, f"must be positive semi-definite; smallest eigenvalue is {lam[0]:.3g}"
        )
    return arr


def check_shape(field: str, value: Any, shape: tuple[int, ...]) -> np.ndarray:
    """A finite array of exactly ``shape``, as a numpy array."""
    arr = _as_array(value)
    if arr.shape != tuple(shape):
        raise ConfigError(field, f"must have shape {tuple(shape)}, got {arr.shape}")
    check_finite(field, arr)
    return arr

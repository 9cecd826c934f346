"""Array inputs of the public functions: torch or numpy in, checked once, one-line errors.

A function that accepts "a torch tensor or a numpy array" calls :func:`as_tensor` on it and
returns numpy when ``was_numpy`` (torch outputs stay on the input's device). Bad input raises
:class:`~dynamics.errors.ConfigError` naming the argument, before any work.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from dynamics.errors import ConfigError

_HALF = (torch.float16, torch.bfloat16)


def as_tensor(field: str, x: Any, *, upcast_half: bool = True) -> tuple[torch.Tensor, bool]:
    """``(tensor, was_numpy)``: ``x`` as a detached floating torch tensor. Integers and
    booleans become float64; float16/bfloat16 become float32 when ``upcast_half``."""
    if isinstance(x, torch.Tensor):
        t, was_numpy = x.detach(), False
    else:
        try:
            arr = np.asarray(x)
        except (TypeError, ValueError) as exc:
            raise ConfigError(field, f"must be a torch tensor or numpy array ({exc})") from None
        if arr.dtype == object or arr.dtype.kind not in "biuf":
            raise ConfigError(field, f"must be a real numeric array, got dtype {arr.dtype}")
        t, was_numpy = torch.as_tensor(arr), True
    if t.is_complex():
        raise ConfigError(field, f"must be real, got dtype {t.dtype}")
    if not t.is_floating_point():
        t = t.to(torch.float64)
    elif upcast_half and t.dtype in _HALF:
        t = t.to(torch.float32)
    return t, was_numpy


def check_finite(field: str, t: torch.Tensor) -> None:
    """One-line error when ``t`` holds NaN or Inf."""
    if t.numel() and not bool(torch.isfinite(t).all()):
        raise ConfigError(field, "must be finite (got NaN or Inf)")


__all__ = ["as_tensor", "check_finite"]

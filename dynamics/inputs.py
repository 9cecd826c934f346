"""Array inputs of the public functions: torch or numpy in, checked once, one-line errors.

A function that accepts "a torch tensor or a numpy array" calls :func:`as_tensor` on it and
returns numpy when ``was_numpy`` (torch outputs stay on the input's device). Bad input raises
:class:`~dynamics.errors.ConfigError` naming the argument, before any work.

Differentiable functions (the contrastive losses) pass ``detach=False`` so that autograd still
reaches torch inputs, and take several arrays at once with :func:`as_tensors`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from dynamics.errors import ConfigError, check_finite  # noqa: F401 - the one check, re-exported

_HALF = (torch.float16, torch.bfloat16)


def to_tensor(
    field: str, x: Any, *, detach: bool = True, allowed: str = "a real numeric array"
) -> tuple[torch.Tensor, bool]:
    """``(tensor, was_numpy)`` with the dtype unchanged. Numpy arrays and nested lists are
    converted (refusing strings, objects, datetimes: ``allowed`` words the message)."""
    if isinstance(x, torch.Tensor):
        return (x.detach() if detach else x), False
    try:
        arr = np.asarray(x)
    except (TypeError, ValueError) as exc:
        raise ConfigError(field, f"must be a torch tensor or numpy array ({exc})") from None
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise ConfigError(field, f"must be {allowed}, got dtype {arr.dtype}")
    if any(s < 0 for s in arr.strides):  # torch cannot wrap negative strides (x[::-1])
        arr = arr.copy()
    return torch.as_tensor(arr), True


def as_tensor(
    field: str, x: Any, *, upcast_half: bool = True, detach: bool = True
) -> tuple[torch.Tensor, bool]:
    """``(tensor, was_numpy)``: ``x`` as a floating torch tensor, detached unless ``detach`` is
    False. Integers and booleans become float64; float16/bfloat16 become float32 when
    ``upcast_half``."""
    t, was_numpy = to_tensor(field, x, detach=detach)
    if t.is_complex():
        raise ConfigError(field, f"must be real, got dtype {t.dtype}")
    if not t.is_floating_point():
        t = t.to(torch.float64)
    elif upcast_half and t.dtype in _HALF:
        t = t.to(torch.float32)
    return t, was_numpy


def as_tensors(
    named: Sequence[tuple[str, Any]],
    *,
    detach: bool = True,
    shapes: Callable[..., None] | None = None,
    check: bool = False,
    nonzero_rows: bool = False,
) -> tuple[list[torch.Tensor], bool]:
    """Several arrays of one computation, each through :func:`as_tensor`, brought to a common
    floating dtype (the widest, e.g. float32 + float64 -> float64) and device. Numpy inputs go
    to the device of the torch inputs; torch inputs on different devices are refused.
    ``was_numpy`` is True only when every input was numpy (then return numpy).

    Then ``shapes(*tensors)`` (if given) raises on shapes that do not fit, and with ``check``
    :func:`check_values` runs (finite; ``nonzero_rows``: no all-zero row), in that order."""
    out, all_numpy, device, dev_field = [], True, None, ""
    for field, x in named:
        t, was_numpy = as_tensor(field, x, detach=detach)
        if not was_numpy:
            all_numpy = False
            if device is None:
                device, dev_field = t.device, field
            elif t.device != device:
                raise ConfigError(field, f"is on {t.device} but {dev_field} is on {device}; "
                                         "put both on one device")
        out.append((t, was_numpy))
    dtype = out[0][0].dtype
    for t, _ in out[1:]:
        dtype = torch.promote_types(dtype, t.dtype)
    tensors = [t.to(dtype=dtype, device=device if was_np and device is not None else t.device)
               for t, was_np in out]
    if shapes is not None:
        shapes(*tensors)
    if check:
        fields = [field for field, _ in named]
        check_values(list(zip(fields, tensors, strict=True)), nonzero_rows=nonzero_rows)
    return tensors, all_numpy


def as_output(t: torch.Tensor, was_numpy: bool) -> Any:
    """Array output in the caller's type: numpy when the input was numpy, else ``t``."""
    return t.detach().cpu().numpy() if was_numpy else t


def check_values(named: Sequence[tuple[str, torch.Tensor]], *, nonzero_rows: bool = False) -> None:
    """Every tensor finite and, with ``nonzero_rows``, no row (slice along the last axis) all
    zeros, as L2-normalising needs. One host sync for all of them; the slow search for the
    culprit (naming the argument and the row index) runs only when a check fails."""
    ok = None
    for _, t in named:
        good = torch.isfinite(t).all()
        if nonzero_rows:
            good = good & (t != 0).any(dim=-1).all()
        ok = good if ok is None else ok & good
    if ok is None or bool(ok):
        return
    for field, t in named:
        check_finite(field, t)
        if nonzero_rows:
            zero = ~(t != 0).any(dim=-1)
            if bool(zero.any()):
                idx = [int(i) for i in zero.nonzero()[0]]
                row = idx[0] if len(idx) == 1 else tuple(idx)
                raise ConfigError(field, f"row {row} is all zeros and cannot be L2-normalised "
                                         "(its cosine similarity is undefined)")


def as_labels(field: str, value: Any, n: int, device: torch.device) -> torch.Tensor:
    """Class labels: a 1-D int64 tensor on ``device`` of length ``n`` (one per feature row) with
    values >= 0. Integer arrays are taken as they are; float arrays only when every value is a
    whole number; strings, booleans, NaN and fractions are refused."""
    allowed = "integer class indices (map class names to 0..C-1 first)"
    y, _ = to_tensor(field, value, allowed=allowed)
    if y.ndim != 1:
        raise ConfigError(field, f"must be a 1-D array of class indices, got shape "
                                 f"{tuple(y.shape)}")
    if y.shape[0] != n:
        raise ConfigError(field, f"must have one label per feature row ({n}), got "
                                 f"{y.shape[0]} labels")
    if y.is_complex() or y.dtype == torch.bool:
        raise ConfigError(field, f"must hold integer class indices, got dtype {y.dtype}")
    if y.is_floating_point():
        if not bool(torch.isfinite(y).all()):
            raise ConfigError(field, "must hold integer class indices (got NaN or Inf)")
        if not bool((y == torch.round(y)).all()):
            raise ConfigError(field, "must hold integer class indices (got non-integer values)")
    y = y.to(device=device, dtype=torch.int64)
    if bool((y < 0).any()):
        raise ConfigError(field, f"must be >= 0 (class indices), got {int(y.min())}")
    return y


__all__ = [
    "as_labels",
    "as_output",
    "as_tensor",
    "as_tensors",
    "check_finite",
    "check_values",
    "to_tensor",
]

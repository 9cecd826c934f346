"""Input checks shared by the probe metrics (:mod:`dynamics.metrics.probes` kNN and
:mod:`dynamics.metrics.linear_eval` linear probe).

Features become finite 2-D float tensors (float64 kept, every other dtype float32) with at
least one row; labels are whole-number class indices >= 0 of matching length
(:func:`dynamics.inputs.as_labels`); both splits end up on one device, in the wider dtype when
the splits differ. Bad input raises :class:`~dynamics.errors.ConfigError` naming the field,
before any work starts.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from dynamics.errors import ConfigError, check_range
from dynamics.inputs import as_labels, to_tensor


def _check_int(field: str, value: Any, *, low: int, high: int | None = None) -> int:
    """A Python/numpy integer (not a bool) with ``low <= value <= high``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ConfigError(field, f"must be an integer, got {value!r}")
    check_range(field, int(value), low=low, high=high)
    return int(value)


def _check_bool(field: str, value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ConfigError(field, f"must be True or False, got {value!r}")
    return bool(value)


def _features(field: str, value: Any, device: torch.device | None) -> torch.Tensor:
    """A finite 2-D float tensor (float64 kept, every other dtype -> float32) with >= 1 row."""
    x, _ = to_tensor(field, value)
    if x.ndim != 2:
        raise ConfigError(
            field, f"must be a 2-D (n_samples, dim) array, got shape {tuple(x.shape)}"
        )
    if x.shape[0] < 1 or x.shape[1] < 1:
        raise ConfigError(field, f"must have at least one row and one column, got {tuple(x.shape)}")
    if x.is_complex() or x.dtype == torch.bool:
        raise ConfigError(field, f"must be real-valued, got dtype {x.dtype}")
    if device is not None:
        x = x.to(device)
    if x.dtype != torch.float64:
        x = x.to(torch.float32)
    if not bool(torch.isfinite(x).all()):
        raise ConfigError(field, "must be finite (got NaN or Inf)")
    return x


def _prepare(
    train_features: Any,
    train_labels: Any,
    test_features: Any,
    test_labels: Any,
    num_classes: int | None,
    device: Any = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None, int]:
    """Validate and convert both splits; everything ends up on one device.

    Without an explicit ``device`` that is the device of ``train_features`` (CPU for numpy).
    ``test_labels`` may be None (prediction only).
    """
    if device is not None:
        try:
            device = torch.device(device)
        except (RuntimeError, TypeError) as exc:
            raise ConfigError(
                "device", f"must be a torch device such as 'cpu' or 'cuda' ({exc})"
            ) from None
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ConfigError("device", "is 'cuda' but no CUDA device is available; use 'cpu'")
    xtr = _features("train_features", train_features, device)
    xte = _features("test_features", test_features, xtr.device)
    if xte.shape[1] != xtr.shape[1]:
        raise ConfigError(
            "test_features",
            f"must have the same dimension as train_features ({xtr.shape[1]}), got {xte.shape[1]}",
        )
    if xte.dtype != xtr.dtype:  # mixed precision input: compute in the wider type
        xtr, xte = xtr.double(), xte.double()
    ytr = as_labels("train_labels", train_labels, xtr.shape[0], xtr.device)
    yte = None
    if test_labels is not None:
        yte = as_labels("test_labels", test_labels, xte.shape[0], xtr.device)
    labelled = [("train_labels", ytr)] + ([] if yte is None else [("test_labels", yte)])
    if num_classes is None:
        num_classes = max(int(y.max()) for _, y in labelled) + 1
    else:
        num_classes = _check_int("num_classes", num_classes, low=1)
        for field, y in labelled:
            if int(y.max()) >= num_classes:
                raise ConfigError(
                    field,
                    f"must be in [0, {num_classes - 1}] (num_classes = {num_classes}), "
                    f"got {int(y.max())}",
                )
    return xtr, ytr, xte, yte, num_classes

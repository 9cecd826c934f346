"""The hyper-parameter axes of the phase diagrams of :mod:`dynamics.theories.directpred.phase`:
which parameters of the mode dynamics (Eqs. 11-13) may label an axis, their defaults, and the checks
of an (x, y, fixed) specification."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from dynamics.errors import ConfigError, check_choice, check_range

AXIS_NAMES = ("eta", "alpha_p", "beta", "sigma2", "tau")
"""Hyper-parameters that may label an axis of :func:`hyperparameter_diagram`."""

FIXED_NAMES = AXIS_NAMES + ("tau0",)
"""Names the ``fixed`` mapping of :func:`hyperparameter_diagram` accepts (tau0: EMA start)."""

_DEFAULTS = {"eta": 0.0, "alpha_p": 1.0, "sigma2": 0.0, "tau": 1.0}


def _np(x):
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _axis(which: str, axis) -> tuple[str, np.ndarray]:
    try:
        name, values = axis
    except (TypeError, ValueError):
        raise ConfigError(which, "must be a (name, values) pair") from None
    check_choice(which, name, AXIS_NAMES)
    vals = _np(values).astype(float)
    if vals.ndim != 1 or vals.size == 0:
        raise ConfigError(which, f"values for {name!r} must be a non-empty 1-D array, got "
                                 f"shape {vals.shape}")
    return name, vals


def _diagram_axes(x, y, fixed: dict[str, Any]) -> tuple[str, Any, str, Any, bool]:
    """The two axes of :func:`hyperparameter_diagram`, checked against each other and against
    ``fixed``; returns ``(x_name, x_values, y_name, y_values, ema)``."""
    xn, xv = _axis("x", x)
    yn, yv = _axis("y", y)
    if xn == yn:
        raise ConfigError("y", f"must differ from x (both are {xn!r})")
    for k in fixed:
        check_choice("fixed", k, FIXED_NAMES)
        if k in (xn, yn):
            raise ConfigError("fixed", f"{k!r} is also an axis; give it in one place only")
    ema = "beta" in (xn, yn) or fixed.get("beta") is not None
    if ema and ("tau" in (xn, yn) or "tau" in fixed):
        raise ConfigError("tau", "is evolved by Eq. 13 when beta (EMA) is set; give its initial "
                                 "value as fixed['tau0']")
    if not ema and "tau0" in fixed:
        raise ConfigError("tau0", "is the initial EMA ratio and needs beta; without beta set "
                                  "tau (held fixed)")
    return xn, xv, yn, yv, ema


def _diagram_grid(fixed: dict[str, Any], xn: str, xv, yn: str, yv, ema: bool) -> dict[str, Any]:
    """Every parameter of the diagram broadcast to (ny, nx, 1): axes, fixed values, defaults."""
    grid: dict[str, Any] = {}
    for k, v in fixed.items():
        if v is not None and np.ndim(_np(v)) != 0:
            raise ConfigError("fixed", f"{k!r} must be a scalar (put a sweep on an axis)")
        grid[k] = None if v is None else np.asarray(float(_np(v)))
    for k, v in _DEFAULTS.items():
        if k not in grid and k not in (xn, yn) and not (ema and k == "tau"):
            grid[k] = np.asarray(v)
    grid[xn] = xv[None, :, None]
    grid[yn] = yv[:, None, None]
    if "tau" in grid:
        check_range("tau", grid["tau"], low=0)
    return grid

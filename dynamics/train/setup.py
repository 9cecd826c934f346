"""Run set-up shared by training and evaluation: seeding, deterministic kernel settings,
building a method on a device, the optimizer. (Both :mod:`dynamics.train.trainer` and
:mod:`dynamics.train.evaluate` import from here, so neither imports the other.)"""

from __future__ import annotations

import os
import random
from collections.abc import Callable

import numpy as np
import torch

from dynamics.errors import ConfigError
from dynamics.train.config import TrainConfig, lr_scale
from dynamics.train.precision import use_channels_last


def seed_everything(seed: int) -> None:
    """Seed python's, numpy's legacy global and torch's RNGs with ``seed``."""
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 - third-party code may use the legacy RNG
    torch.manual_seed(seed)


def configure_torch(cfg: TrainConfig, device: torch.device) -> Callable[[], None]:
    """Deterministic (or fast) kernel settings for the run; returns a function restoring the
    previous global settings."""
    prev = (torch.are_deterministic_algorithms_enabled(),
            torch.is_deterministic_algorithms_warn_only_enabled(),
            torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic)
    if cfg.deterministic:
        if device.type == "cuda":  # must precede the first cuBLAS call (train() sets it early)
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
    else:
        torch.backends.cudnn.benchmark = device.type == "cuda"

    def restore() -> None:
        torch.use_deterministic_algorithms(prev[0], warn_only=prev[1])
        torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = prev[2], prev[3]

    return restore


def build_method_for(cfg: TrainConfig, in_shape: tuple[int, ...], device: torch.device):
    """``build_method(cfg, in_shape)`` on ``device`` (channels-last weights for images where
    :func:`dynamics.train.precision.use_channels_last` says so)."""
    try:
        from dynamics.train.methods import build_method
    except ImportError as exc:
        raise ConfigError("method.name", f"the methods package is not available ({exc})"
                          ) from None
    method = build_method(cfg, in_shape).to(device)
    if use_channels_last(cfg.channels_last, in_shape):
        method = method.to(memory_format=torch.channels_last)
    return method


def build_optimizer(cfg: TrainConfig, method, world_size: int = 1) -> torch.optim.Optimizer:
    """SGD with momentum over ``method.parameter_groups()`` (groups carry their own lr/wd),
    every lr multiplied by :func:`~dynamics.train.config.lr_scale` (``optim.lr_scaling``)."""
    scale = lr_scale(cfg, world_size)
    groups = method.parameter_groups()
    if scale != 1.0:
        groups = [{**g, "lr": g["lr"] * scale} if "lr" in g else g for g in groups]
    return torch.optim.SGD(groups, lr=cfg.optim.lr * scale,
                           momentum=cfg.optim.momentum, weight_decay=cfg.optim.weight_decay)


__all__ = ["build_method_for", "build_optimizer", "configure_torch", "seed_everything"]

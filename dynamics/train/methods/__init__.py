"""SSL methods of the training engine and their registry :data:`METHODS`.

Every module of this package is imported here, so a method is one new file whose class
registers itself (``@METHODS.register(name, loss_family=..., default_ema=...)``, see
:mod:`dynamics.train.methods.base`); config validation, the CLI choices and the docs read the
registry. ``build_method(cfg, in_shape)`` validates the TrainConfig and returns the method named
by ``cfg.method.name``, built for inputs of shape ``in_shape`` (one sample, no batch axis:
``(C, H, W)`` images or ``(n1,)`` synthetic vectors). The trainer then uses the
:class:`~dynamics.train.methods.base.Method` interface only.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Sequence
from typing import Any

from dynamics.losses.contrastive import align_uniform_loss
from dynamics.losses.regression import cosine_loss, euclidean_loss
from dynamics.train.methods.base import METHODS, Method, StepOutput
from dynamics.train.methods.byol import BYOL
from dynamics.train.methods.noncontrastive import SiameseMethod
from dynamics.train.methods.simclr import SimCLR
from dynamics.train.methods.simsiam import SimSiam

for _mod in pkgutil.iter_modules(__path__):  # every method file registers itself
    importlib.import_module(f"{__name__}.{_mod.name}")


def build_method(cfg: Any, in_shape: Sequence[int], **kwargs: Any) -> Method:
    """Validate ``cfg`` (:func:`dynamics.train.validate.validate`) and build
    ``METHODS[cfg.method.name](cfg, in_shape, **kwargs)``. Raises ConfigError for settings the
    config allows but the method cannot honour (e.g. BYOL with EMA > 0 and stop_grad false)."""
    from dynamics.train.validate import validate

    validate(cfg)
    return METHODS.get(cfg.method.name)(cfg, tuple(in_shape), **kwargs)


__all__ = [
    "BYOL",
    "METHODS",
    "Method",
    "SiameseMethod",
    "SimCLR",
    "SimSiam",
    "StepOutput",
    "align_uniform_loss",
    "build_method",
    "cosine_loss",
    "euclidean_loss",
]

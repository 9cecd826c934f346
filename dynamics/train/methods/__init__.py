"""SSL methods of the training engine and their registry :data:`METHODS`.

``build_method(cfg, in_shape)`` validates the TrainConfig and returns the method named by
``cfg.method.name``, built for inputs of shape ``in_shape`` (one sample, no batch axis:
``(C, H, W)`` images or ``(n1,)`` synthetic vectors). The trainer then uses the
:class:`~dynamics.train.methods.base.Method` interface only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dynamics.errors import ConfigError
from dynamics.train.methods.base import Method, StepOutput
from dynamics.train.methods.byol import BYOL
from dynamics.train.methods.noncontrastive import SiameseMethod, cosine_loss, euclidean_loss
from dynamics.train.methods.simclr import SimCLR, align_uniform_loss
from dynamics.train.methods.simsiam import SimSiam

#: Method classes by ``method.name`` (keys = config.METHOD_NAMES); each is constructed as
#: ``cls(cfg, in_shape)``.
METHODS: dict[str, type[Method]] = {"byol": BYOL, "simsiam": SimSiam, "simclr": SimCLR}


def build_method(cfg: Any, in_shape: Sequence[int], **kwargs: Any) -> Method:
    """Validate ``cfg`` (:func:`dynamics.train.config.validate`) and build
    ``METHODS[cfg.method.name](cfg, in_shape, **kwargs)``. Raises ConfigError for settings the
    config allows but the method cannot honour (e.g. BYOL with EMA > 0 and stop_grad false)."""
    from dynamics.train.config import validate

    validate(cfg)
    name = cfg.method.name
    if name not in METHODS:
        raise ConfigError("method.name", f"must be one of {', '.join(METHODS)}; got {name!r}")
    return METHODS[name](cfg, tuple(in_shape), **kwargs)


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

"""The projector head (Tian, Chen & Ganguli 2021, App. C; official luckmatters ``MLPHead``).

Projector = Linear(d, hidden) (+bias) -> BatchNorm1d(hidden, affine=False) -> ReLU ->
Linear(hidden, out) (+bias), with hidden = ``model.projector_hidden`` (paper 512) and out =
``model.projector_dim`` (paper 128). The BatchNorm has no affine parameters and both Linears
have a bias, as the official ``MLPHead`` defaults (``normalization="bn"``, ``has_bias=True``,
``has_bn_affine=False``). ``model.projector_kind=linear`` is one bias-free Linear(d, out) (the
linear projector of Jing et al. 2022); ``model.projector=False`` gives ``nn.Identity`` (the
predictor then sees the encoder output, e.g. the theory's f = W x with the linear encoder).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

#: ``model.projector_kind`` choices.
PROJECTOR_KINDS = ("mlp", "linear")


def mlp_head(in_dim: int, hidden: int, out_dim: int, *, bias: bool = True) -> nn.Sequential:
    """Linear(in, hidden, bias) -> BatchNorm1d(hidden, affine=False) -> ReLU ->
    Linear(hidden, out, bias): the official ``MLPHead`` with its default options."""
    return nn.Sequential(nn.Linear(in_dim, hidden, bias=bias),
                         nn.BatchNorm1d(hidden, affine=False),
                         nn.ReLU(inplace=True),
                         nn.Linear(hidden, out_dim, bias=bias))


def _model_cfg(cfg: Any) -> Any:
    return getattr(cfg, "model", cfg)


def build_projector(cfg: Any, feat_dim: int) -> nn.Module:
    """The projector on top of ``feat_dim`` encoder features (``cfg``: TrainConfig or
    ModelConfig); ``nn.Identity()`` when ``model.projector`` is False."""
    m = _model_cfg(cfg)
    if not m.projector:
        return nn.Identity()
    if m.projector_kind == "linear":
        return nn.Linear(int(feat_dim), int(m.projector_dim), bias=False)
    return mlp_head(int(feat_dim), int(m.projector_hidden), int(m.projector_dim))


@torch.no_grad()
def scale_initial_weights(modules, scale: float) -> None:
    """Multiply the weight of every Linear / Conv layer in ``modules`` by ``scale``
    (``model.init_scale``); biases and normalisation layers are left as they are."""
    if scale == 1.0:
        return
    for module in modules:
        for layer in module.modules():
            if isinstance(layer, nn.Linear | nn.Conv1d | nn.Conv2d):
                layer.weight.mul_(scale)


def projector_out_dim(cfg: Any, feat_dim: int) -> int:
    """Output width of :func:`build_projector` (``projector_dim``, or ``feat_dim`` without)."""
    m = _model_cfg(cfg)
    return int(m.projector_dim) if m.projector else int(feat_dim)

"""Encoders (backbones) of the SSL methods and their registry :data:`ENCODERS`.

Each builder is called as ``build(model_cfg, in_shape) -> (module, feat_dim)`` with
``model_cfg`` a :class:`~dynamics.train.config.ModelConfig` and ``in_shape`` the shape of one
input without the batch axis: ``(C, H, W)`` for images, ``(n1,)`` for the synthetic vectors.
The module maps a batch ``(B, *in_shape)`` to features ``(B, feat_dim)``.

========== ====================================================================== ============
name       architecture                                                           feat_dim
========== ====================================================================== ============
resnet18   torchvision ``resnet18(weights=None)``, ``fc`` removed; ``cifar_stem``  512
           replaces conv1 by a 3x3 stride-1 conv and drops the max-pool (SimCLR
           App. B.9; official DirectPred code for CIFAR-10)
convnet    3 blocks conv3x3-BN-ReLU (channels w, 2w, 4w; strides 1, 2, 2) + global  4 * width
           average pooling; a cheap CPU backbone (w = ``model.width``)
mlp        flatten -> Linear(n, w)-BN-ReLU -> Linear(w, w)-BN-ReLU                 width
linear     flatten -> Linear(n1, n2, bias=False): the theory's online W            out_dim
           (n2 = ``model.out_dim``; synthetic data)
========== ====================================================================== ============
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from torch import nn

from dynamics.errors import ConfigError
from dynamics.registry import Registry

RESNET18_FEAT_DIM = 512


def _model_cfg(cfg: Any) -> Any:
    """Accept a TrainConfig or its ``model`` section."""
    return getattr(cfg, "model", cfg)


def _shape(in_shape: Sequence[int]) -> tuple[int, ...]:
    try:
        shape = tuple(int(s) for s in in_shape)
    except TypeError:
        raise ConfigError("in_shape", f"must be a sequence of ints, got {in_shape!r}") from None
    if not shape or any(s < 1 for s in shape):
        raise ConfigError("in_shape", f"must be a non-empty shape of positive sizes, got {shape}")
    return shape


def _image_shape(name: str, in_shape: Sequence[int]) -> tuple[int, int, int]:
    shape = _shape(in_shape)
    if len(shape) != 3:
        raise ConfigError("model.encoder", f"{name} needs image inputs of shape (C, H, W), got "
                                           f"in_shape {shape}; use mlp or linear for vectors")
    return shape  # type: ignore[return-value]


def build_resnet18(cfg: Any, in_shape: Sequence[int]) -> tuple[nn.Module, int]:
    """torchvision ResNet-18 (random init, ``weights=None``) with ``fc`` replaced by Identity.

    ``model.cifar_stem``: conv1 = Conv2d(C, 64, 3, stride 1, padding 1, bias=False) and no
    max-pool (as the official code does for CIFAR-10). Without it the ImageNet stem is kept
    (7x7 stride-2 conv + max-pool); a non-RGB input (C != 3) gets a fresh conv1 of the same
    geometry with C input channels.
    """
    from torchvision.models import resnet18

    mcfg = _model_cfg(cfg)
    c, _, _ = _image_shape("resnet18", in_shape)
    net = resnet18(weights=None)
    if mcfg.cifar_stem:
        net.conv1 = nn.Conv2d(c, 64, kernel_size=3, stride=1, padding=1, bias=False)
        net.maxpool = nn.Identity()
    elif c != 3:
        net.conv1 = nn.Conv2d(c, 64, kernel_size=7, stride=2, padding=3, bias=False)
    net.fc = nn.Identity()
    return net, RESNET18_FEAT_DIM


class ConvNet(nn.Module):
    """Three conv3x3-BN-ReLU blocks (channels w, 2w, 4w; strides 1, 2, 2) and global average
    pooling; output (B, 4w). Works for any image size >= 1x1."""

    def __init__(self, in_channels: int, width: int):
        super().__init__()
        chans = [in_channels, width, 2 * width, 4 * width]
        layers: list[nn.Module] = []
        for i, stride in enumerate((1, 2, 2)):
            layers += [nn.Conv2d(chans[i], chans[i + 1], 3, stride=stride, padding=1, bias=False),
                       nn.BatchNorm2d(chans[i + 1]), nn.ReLU(inplace=True)]
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.out_dim = chans[-1]

    def forward(self, x):
        """(B, C, H, W) images -> (B, 4w) pooled features."""
        return self.pool(self.features(x)).flatten(1)


def build_convnet(cfg: Any, in_shape: Sequence[int]) -> tuple[nn.Module, int]:
    """:class:`ConvNet` with base width ``model.width``; feat_dim = 4 * width."""
    mcfg = _model_cfg(cfg)
    c, _, _ = _image_shape("convnet", in_shape)
    net = ConvNet(c, int(mcfg.width))
    return net, net.out_dim


def build_mlp(cfg: Any, in_shape: Sequence[int]) -> tuple[nn.Module, int]:
    """flatten -> Linear(n, w) -> BN -> ReLU -> Linear(w, w) -> BN -> ReLU, w = model.width."""
    mcfg = _model_cfg(cfg)
    n = math.prod(_shape(in_shape))
    w = int(mcfg.width)
    net = nn.Sequential(nn.Flatten(), nn.Linear(n, w), nn.BatchNorm1d(w), nn.ReLU(inplace=True),
                        nn.Linear(w, w), nn.BatchNorm1d(w), nn.ReLU(inplace=True))
    return net, w


def build_linear(cfg: Any, in_shape: Sequence[int]) -> tuple[nn.Module, int]:
    """The theory's online network W (n2 x n1): flatten -> Linear(n1, n2, bias=False),
    n2 = ``model.out_dim``. ``net[1].weight`` is W (a row batch x maps to x W^T)."""
    mcfg = _model_cfg(cfg)
    n1 = math.prod(_shape(in_shape))
    n2 = int(mcfg.out_dim)
    return nn.Sequential(nn.Flatten(), nn.Linear(n1, n2, bias=False)), n2


#: Encoder builders by ``model.encoder``: ``build(model_cfg, in_shape) -> (module, out_dim)``.
ENCODERS = Registry("encoder", field="model.encoder")
ENCODERS.register("resnet18", build_resnet18, source="He et al. 2016; CIFAR stem as in the "
                  "official code")
ENCODERS.register("convnet", build_convnet)
ENCODERS.register("mlp", build_mlp)
ENCODERS.register("linear", build_linear, source="Tian, Chen & Ganguli 2021, Eq. 1 (W)",
                  theory=True)


def build_encoder(cfg: Any, in_shape: Sequence[int]) -> tuple[nn.Module, int]:
    """``ENCODERS[cfg.model.encoder](cfg.model, in_shape)``; ``cfg`` is a TrainConfig or a
    ModelConfig."""
    mcfg = _model_cfg(cfg)
    return ENCODERS.get(mcfg.encoder)(mcfg, in_shape)

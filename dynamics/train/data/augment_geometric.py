"""Geometric batched augmentations: per-sample resized crops (:class:`RandomResizedCrop`,
:func:`resized_crop`, :func:`resample_matrix`) and :class:`RandomHorizontalFlip`.
Public face: :mod:`dynamics.train.data.augment`.

:class:`RandomResizedCrop` samples the crop box exactly like torchvision (10 attempts of
scale ~ U(scale) x area and log-ratio ~ U(log ratio), first valid one, else the centre fallback;
integer boxes) and resamples with torchvision's antialiased bilinear filter (the
``interpolate(..., antialias=True)`` kernel) written as two per-sample resampling matrices:
``out = R_y @ crop @ R_x^T``. Matches ``v2.functional.resized_crop`` on float images to ~1e-6.
:class:`RandomHorizontalFlip` is exact.
"""

from __future__ import annotations

import math

import torch

from dynamics.errors import ConfigError, check_range
from dynamics.train.data.augment_base import Augmentation, _rand, _size2, to_float


def resample_matrix(start: torch.Tensor, length: torch.Tensor, in_size: int, out_size: int,
                    antialias: bool = True, dtype=torch.float32) -> torch.Tensor:
    """(B, out_size, in_size) matrices resampling the window [start, start + length) of each row.

    Triangle (bilinear) filter at the output-pixel centres ``start + (u + 0.5) * scale``; for
    downscaling with ``antialias`` the filter is widened by ``scale`` (PIL / torch antialias).
    Taps outside the window are dropped and the rest renormalised, which equals torch's edge
    clamping.
    """
    start = start.double()
    length = length.double()
    scale = length / out_size  # (B,)
    support = scale.clamp(min=1.0) if antialias else torch.ones_like(scale)
    u = torch.arange(out_size, device=start.device, dtype=torch.float64) + 0.5
    k = torch.arange(in_size, device=start.device, dtype=torch.float64) + 0.5
    centre = start[:, None] + u[None, :] * scale[:, None]  # (B, out)
    w = (1 - ((k[None, None, :] - centre[:, :, None]) / support[:, None, None]).abs()).clamp(min=0)
    inside = (k[None, :] >= start[:, None]) & (k[None, :] < (start + length)[:, None])
    w = w * inside[:, None, :]
    return (w / w.sum(-1, keepdim=True)).to(dtype)


def resized_crop(x: torch.Tensor, top: torch.Tensor, left: torch.Tensor, height: torch.Tensor,
                 width: torch.Tensor, size, antialias: bool = True) -> torch.Tensor:
    """Per-sample crop boxes (B,) resampled to ``size``: two batched matmuls."""
    x = to_float(x)
    out_h, out_w = _size2(size)
    ry = resample_matrix(top, height, x.shape[2], out_h, antialias, x.dtype)
    rx = resample_matrix(left, width, x.shape[3], out_w, antialias, x.dtype)
    y = torch.matmul(ry[:, None], x)  # (B, C, out_h, W)
    return torch.matmul(y, rx.transpose(1, 2)[:, None])  # (B, C, out_h, out_w)


class RandomResizedCrop(Augmentation):
    """torchvision's RandomResizedCrop with a per-sample box and antialiased bilinear resize."""

    def __init__(self, size, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3), antialias: bool = True):
        self.size = _size2(size)
        if not 0 < scale[0] <= scale[1]:
            raise ConfigError("scale", f"must satisfy 0 < min <= max, got {scale!r}")
        if not 0 < ratio[0] <= ratio[1]:
            raise ConfigError("ratio", f"must satisfy 0 < min <= max, got {ratio!r}")
        self.scale, self.ratio, self.antialias = tuple(scale), tuple(ratio), antialias

    def sample_boxes(self, batch: int, height: int, width: int, generator=None, device="cpu"):
        """(top, left, h, w) int64 tensors (B,), distributed as torchvision's get_params."""
        area = height * width
        u = _rand((batch, 10, 2), generator, device, torch.float64)
        target = area * (self.scale[0] + (self.scale[1] - self.scale[0]) * u[..., 0])
        lr0, lr1 = math.log(self.ratio[0]), math.log(self.ratio[1])
        aspect = torch.exp(lr0 + (lr1 - lr0) * u[..., 1])
        w = torch.round(torch.sqrt(target * aspect))
        h = torch.round(torch.sqrt(target / aspect))
        ok = (w > 0) & (w <= width) & (h > 0) & (h <= height)
        first = ok.to(torch.uint8).argmax(1, keepdim=True)
        found = ok.any(1)
        w, h = w.gather(1, first).squeeze(1), h.gather(1, first).squeeze(1)
        in_ratio = width / height  # fallback: centre crop of the whole image, ratio clamped
        if in_ratio < self.ratio[0]:
            fw, fh = width, int(round(width / self.ratio[0]))
        elif in_ratio > self.ratio[1]:
            fw, fh = int(round(height * self.ratio[1])), height
        else:
            fw, fh = width, height
        w = torch.where(found, w, torch.full_like(w, fw))
        h = torch.where(found, h, torch.full_like(h, fh))
        v = _rand((batch, 2), generator, device, torch.float64)
        top = torch.where(found, torch.floor(v[:, 0] * (height - h + 1)),
                          torch.full_like(h, (height - fh) // 2))
        left = torch.where(found, torch.floor(v[:, 1] * (width - w + 1)),
                           torch.full_like(w, (width - fw) // 2))
        return top.long(), left.long(), h.long(), w.long()

    def apply(self, x, generator):
        """Crop each sample to its own box and resample it to ``size``."""
        top, left, h, w = self.sample_boxes(x.shape[0], x.shape[2], x.shape[3], generator,
                                            x.device)
        return resized_crop(x, top, left, h, w, self.size, self.antialias)

    def to_torchvision(self):
        """``v2.RandomResizedCrop`` with the same size, scale, ratio and antialias."""
        from torchvision.transforms import v2

        return v2.RandomResizedCrop(self.size, self.scale, self.ratio, antialias=self.antialias)


class RandomHorizontalFlip(Augmentation):
    """Mirror each sample left-right with probability p (torchvision)."""

    def __init__(self, p: float = 0.5):
        check_range("p", p, low=0, high=1)
        self.p = float(p)

    def apply(self, x, generator):
        """Flip the width axis of each sample with probability ``p``."""
        flip = _rand((x.shape[0],), generator, x.device) < self.p
        return torch.where(flip[:, None, None, None], x.flip(-1), x)

    def to_torchvision(self):
        """``v2.RandomHorizontalFlip(p)``."""
        from torchvision.transforms import v2

        return v2.RandomHorizontalFlip(self.p)

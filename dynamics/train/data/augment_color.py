"""Colour batched augmentations: :class:`ColorJitter`, :class:`RandomGrayscale` and their
kernels (:func:`grayscale`, :func:`adjust_hue`, torchvision's HSV conversions).
Public face: :mod:`dynamics.train.data.augment`.

:class:`ColorJitter` uses torchvision's factor ranges, blend formulas, clamping and HSV hue shift,
and a random order of the four operations drawn *per sample* (torchvision draws one order per
call, i.e. per sample in a per-sample pipeline), optionally with probability ``p``
(``RandomApply``). Difference: all arithmetic stays in float, whereas torchvision on uint8 tensors
rounds to uint8 after every operation (``v2.ToDtype(float)`` first removes it).
:class:`RandomGrayscale` is exact.
"""

from __future__ import annotations

import torch

from dynamics.errors import ConfigError, check_range
from dynamics.train.data.augment_base import Augmentation, _rand, _uniform

GRAY_WEIGHTS = (0.2989, 0.587, 0.114)  # torchvision's rgb_to_grayscale


def _pair(value, name: str, center: float | None, bound: tuple[float, float] | None,
          ) -> tuple[float, float]:
    """torchvision's ColorJitter argument rule: v -> [center - v, center + v] (clipped)."""
    if isinstance(value, (int, float)):
        check_range(name, value, low=0)
        lo, hi = center - value, center + value
        if center == 1:
            lo = max(lo, 0.0)
    else:
        if len(value) != 2:
            raise ConfigError(name, f"must be a number or (min, max), got {value!r}")
        lo, hi = float(value[0]), float(value[1])
    if bound is not None and not bound[0] <= lo <= hi <= bound[1]:
        raise ConfigError(name, f"range must lie in [{bound[0]}, {bound[1]}], got ({lo}, {hi})")
    if lo > hi:
        raise ConfigError(name, f"min must be <= max, got ({lo}, {hi})")
    return float(lo), float(hi)


def grayscale(x: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W) luma of RGB (torchvision weights); 1-channel input is returned as is."""
    if x.shape[1] == 1:
        return x
    r, g, b = x.unbind(1)
    return (GRAY_WEIGHTS[0] * r + GRAY_WEIGHTS[1] * g + GRAY_WEIGHTS[2] * b).unsqueeze(1)


def _rgb_to_hsv(x: torch.Tensor) -> torch.Tensor:
    """torchvision's _rgb_to_hsv, (B, 3, H, W) -> (B, 3, H, W) with h, s, v in [0, 1]."""
    r, g, b = x.unbind(1)
    maxc = torch.maximum(torch.maximum(r, g), b)
    minc = torch.minimum(torch.minimum(r, g), b)
    eqc = maxc == minc
    cr = maxc - minc
    ones = torch.ones_like(maxc)
    s = cr / torch.where(eqc, ones, maxc)
    crd = torch.where(eqc, ones, cr)
    rc, gc, bc = (maxc - r) / crd, (maxc - g) / crd, (maxc - b) / crd
    is_r, is_g = maxc == r, (maxc == g) & (maxc != r)
    h = torch.where(is_r, bc - gc, torch.where(is_g, 2.0 + rc - bc, 4.0 + gc - rc))
    h = torch.fmod(h / 6.0 + 1.0, 1.0)
    return torch.stack((h, s, maxc), 1)


def _hsv_to_rgb(x: torch.Tensor) -> torch.Tensor:
    h, s, v = x.unbind(1)
    i = torch.floor(h * 6.0)
    f = h * 6.0 - i
    i = i.to(torch.int32) % 6
    p = (v * (1.0 - s)).clamp(0.0, 1.0)
    q = (v * (1.0 - s * f)).clamp(0.0, 1.0)
    t = (v * (1.0 - s * (1.0 - f))).clamp(0.0, 1.0)
    table = ((v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q))
    out = []
    for ch in range(3):
        o = table[5][ch]
        for sector in range(4, -1, -1):
            o = torch.where(i == sector, table[sector][ch], o)
        out.append(o)
    return torch.stack(out, 1)


def adjust_hue(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Shift the hue of each image by its ``factor`` (B,) in [-0.5, 0.5] (torchvision semantics).

    Same HSV hue as torchvision's ``_rgb_to_hsv``, but the round trip is fused: value
    ``v = max(r, g, b)`` and chroma ``c = v - min(r, g, b)`` do not change, so with the shifted
    hue in sextants ``h6`` each channel is ``v - c * clamp(min(k, 4 - k), 0, 1)``,
    ``k = (n + h6) mod 6`` for n = 5, 3, 1 (r, g, b). Equal to ``_hsv_to_rgb`` up to rounding.
    """
    if x.shape[1] == 1:
        return x
    r, g, b = x.unbind(1)
    maxc = torch.maximum(torch.maximum(r, g), b)
    chroma = maxc - torch.minimum(torch.minimum(r, g), b)
    cr = torch.where(chroma == 0, torch.ones_like(chroma), chroma)
    h6 = torch.where(maxc == r, (g - b) / cr,
                     torch.where(maxc == g, 2.0 + (b - r) / cr, 4.0 + (r - g) / cr))
    h6 = h6 + 6.0 * factor.to(x.dtype)[:, None, None]
    out = []
    for n in (5.0, 3.0, 1.0):
        k = torch.remainder(h6 + n, 6.0)
        out.append(maxc - chroma * torch.minimum(k, 4.0 - k).clamp(0.0, 1.0))
    return torch.stack(out, 1)


class ColorJitter(Augmentation):
    """torchvision's ColorJitter, wrapped in RandomApply(p), per-sample factors and order.

    ``random_order=False`` applies brightness, contrast, saturation, hue in that fixed order.
    """

    def __init__(self, brightness=0.0, contrast=0.0, saturation=0.0, hue=0.0, p: float = 1.0,
                 random_order: bool = True):
        self.brightness = _pair(brightness, "brightness", 1.0, None)
        self.contrast = _pair(contrast, "contrast", 1.0, None)
        self.saturation = _pair(saturation, "saturation", 1.0, None)
        self.hue = _pair(hue, "hue", 0.0, (-0.5, 0.5))
        check_range("p", p, low=0, high=1)
        self.p, self.random_order = float(p), random_order

    def apply(self, x, generator):
        """Jitter each applied sample with its own factors, in its own order of the four ops."""
        B, dev = x.shape[0], x.device
        applied = _rand((B,), generator, dev) < self.p
        one = torch.ones(B, device=dev, dtype=x.dtype)
        bf, cf, sf, hf = (torch.where(applied, _uniform(*rng, B, generator, dev).to(x.dtype),
                                      one * (0.0 if i == 3 else 1.0))
                          for i, rng in enumerate((self.brightness, self.contrast,
                                                   self.saturation, self.hue)))
        if self.random_order:
            order = _rand((B, 4), generator, dev).argsort(1)
        else:
            order = torch.arange(4, device=dev).expand(B, 4)
        do_hue = self.hue != (0.0, 0.0) and x.shape[1] == 3
        for slot in range(4):
            op = order[:, slot]
            a = torch.where(op == 0, bf, torch.where(op == 1, cf, torch.where(op == 2, sf, one)))
            c_mean = torch.where(op == 1, 1 - cf, 0 * one)  # contrast: blend with mean gray
            c_gray = torch.where(op == 2, 1 - sf, 0 * one)  # saturation: blend with gray
            gray = grayscale(x)
            mean = gray.mean((1, 2, 3), keepdim=True)
            x = (a[:, None, None, None] * x + c_gray[:, None, None, None] * gray
                 + c_mean[:, None, None, None] * mean).clamp(0.0, 1.0)
            if do_hue:
                idx = torch.nonzero((op == 3) & applied).squeeze(1)
                if idx.numel():
                    x = x.index_copy(0, idx, adjust_hue(x.index_select(0, idx), hf[idx]))
        return x

    def to_torchvision(self):
        """``v2.RandomApply([v2.ColorJitter(...)], p)``."""
        from torchvision.transforms import v2

        cj = v2.ColorJitter(self.brightness, self.contrast, self.saturation, self.hue)
        return v2.RandomApply([cj], p=self.p)


class RandomGrayscale(Augmentation):
    """With probability p, replace RGB by its luma in all 3 channels (torchvision)."""

    def __init__(self, p: float = 0.1):
        check_range("p", p, low=0, high=1)
        self.p = float(p)

    def apply(self, x, generator):
        """Gray out each sample with probability ``p``; 1-channel input is returned as is."""
        if x.shape[1] == 1:
            return x
        gray = _rand((x.shape[0],), generator, x.device) < self.p
        return torch.where(gray[:, None, None, None], grayscale(x).expand_as(x), x)

    def to_torchvision(self):
        """``v2.RandomGrayscale(p)``."""
        from torchvision.transforms import v2

        return v2.RandomGrayscale(self.p)


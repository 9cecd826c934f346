"""Batched image augmentations on any device, vectorised over the batch.

Every operation takes a (B, C, H, W) tensor (uint8 in 0..255, or float in [0, 1]) and an optional
``torch.Generator``, draws its per-sample parameters with that generator in a few batched calls
(no Python loop over samples) and returns a float tensor. With a seeded generator the output is
reproducible. Parameters are drawn on the generator's device and moved to the images' device, so
pass ``torch.Generator(device="cuda")`` when the images live on a GPU (a CPU generator works too;
it costs a few tiny host-to-device copies but makes the parameters identical on every device).

Semantics follow ``torchvision.transforms.v2`` applied per sample to float images:

* :class:`RandomResizedCrop` samples the crop box exactly like torchvision (10 attempts of
  scale ~ U(scale) x area and log-ratio ~ U(log ratio), first valid one, else the centre
  fallback; integer boxes) and resamples with torchvision's antialiased bilinear filter (the
  ``interpolate(..., antialias=True)`` kernel) written as two per-sample resampling matrices:
  ``out = R_y @ crop @ R_x^T``. Matches ``v2.functional.resized_crop`` on float images to ~1e-6.
* :class:`ColorJitter` uses torchvision's factor ranges, blend formulas, clamping and HSV hue
  shift, and a random order of the four operations drawn *per sample* (torchvision draws one
  order per call, i.e. per sample in a per-sample pipeline), optionally with probability ``p``
  (``RandomApply``). Difference: all arithmetic stays in float, whereas torchvision on uint8
  tensors rounds to uint8 after every operation (``v2.ToDtype(float)`` first removes it).
* :class:`GaussianBlur`: per-sample sigma ~ U(sigma), torchvision's kernel and reflect padding,
  as two separable grouped convolutions.
* :class:`RandomGrayscale`, :class:`RandomHorizontalFlip`, :class:`Normalize` are exact.

Recipes (``RECIPES``): "cifar", "stl" (Tian, Chen & Ganguli 2021 official code), "digits" (ours,
for 8x8 grayscale) and "none". :class:`TwoViewAugment` produces two independent views.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from dynamics.errors import ConfigError, check_choice, check_range

GRAY_WEIGHTS = (0.2989, 0.587, 0.114)  # torchvision's rgb_to_grayscale
CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2023, 0.1994, 0.2010)
DIGITS_MEAN = (0.3053,)  # sklearn digits / 16, all 1797 images
DIGITS_STD = (0.3760,)


# --------------------------------------------------------------------------- helpers
def to_float(x: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """uint8 0..255 -> float in [0, 1]; float tensors are returned unchanged."""
    if x.dtype == torch.uint8:
        return x.to(dtype) / 255
    if x.is_floating_point():
        return x
    raise ConfigError("images", f"must be uint8 or floating point, got {x.dtype}")


def _check_images(x) -> None:
    if not isinstance(x, torch.Tensor) or x.ndim != 4:
        raise ConfigError("images", f"must be a (B, C, H, W) tensor, got shape "
                                    f"{tuple(getattr(x, 'shape', ()))}")


def _rand(shape, generator: torch.Generator | None, device, dtype=torch.float32) -> torch.Tensor:
    gdev = generator.device if generator is not None else device
    return torch.rand(shape, generator=generator, device=gdev, dtype=dtype).to(device)


def _uniform(lo: float, hi: float, n: int, generator, device, dtype=torch.float32):
    return lo + (hi - lo) * _rand((n,), generator, device, dtype)


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


def _size2(size) -> tuple[int, int]:
    if isinstance(size, int) and size > 0:
        return size, size
    if isinstance(size, (tuple, list)) and len(size) == 2 and all(
            isinstance(s, int) and s > 0 for s in size):
        return int(size[0]), int(size[1])
    raise ConfigError("size", f"must be a positive int or (height, width), got {size!r}")


def grayscale(x: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W) luma of RGB (torchvision weights); 1-channel input is returned as is."""
    if x.shape[1] == 1:
        return x
    r, g, b = x.unbind(1)
    return (GRAY_WEIGHTS[0] * r + GRAY_WEIGHTS[1] * g + GRAY_WEIGHTS[2] * b).unsqueeze(1)


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


# --------------------------------------------------------------------------- operations
class Augmentation:
    """Base class: ``op(x, generator)`` checks the input, converts uint8 to float and applies."""

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None):
        _check_images(x)
        return self.apply(to_float(x), generator)

    def apply(self, x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        raise NotImplementedError

    def to_torchvision(self):  # pragma: no cover - overridden
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"


class RandomResizedCrop(Augmentation):
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
        top, left, h, w = self.sample_boxes(x.shape[0], x.shape[2], x.shape[3], generator,
                                            x.device)
        return resized_crop(x, top, left, h, w, self.size, self.antialias)

    def to_torchvision(self):
        from torchvision.transforms import v2

        return v2.RandomResizedCrop(self.size, self.scale, self.ratio, antialias=self.antialias)


class RandomHorizontalFlip(Augmentation):
    def __init__(self, p: float = 0.5):
        check_range("p", p, low=0, high=1)
        self.p = float(p)

    def apply(self, x, generator):
        flip = _rand((x.shape[0],), generator, x.device) < self.p
        return torch.where(flip[:, None, None, None], x.flip(-1), x)

    def to_torchvision(self):
        from torchvision.transforms import v2

        return v2.RandomHorizontalFlip(self.p)


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
        from torchvision.transforms import v2

        cj = v2.ColorJitter(self.brightness, self.contrast, self.saturation, self.hue)
        return v2.RandomApply([cj], p=self.p)


class RandomGrayscale(Augmentation):
    """With probability p, replace RGB by its luma in all 3 channels (torchvision)."""

    def __init__(self, p: float = 0.1):
        check_range("p", p, low=0, high=1)
        self.p = float(p)

    def apply(self, x, generator):
        if x.shape[1] == 1:
            return x
        gray = _rand((x.shape[0],), generator, x.device) < self.p
        return torch.where(gray[:, None, None, None], grayscale(x).expand_as(x), x)

    def to_torchvision(self):
        from torchvision.transforms import v2

        return v2.RandomGrayscale(self.p)


def gaussian_kernels(sigma: torch.Tensor, kernel_size: int) -> torch.Tensor:
    """(B, k) normalised 1-D Gaussian kernels, torchvision's ``_get_gaussian_kernel1d``."""
    half = (kernel_size - 1) * 0.5
    t = torch.linspace(-half, half, kernel_size, device=sigma.device, dtype=sigma.dtype)
    pdf = torch.exp(-0.5 * (t[None, :] / sigma[:, None]) ** 2)
    return pdf / pdf.sum(1, keepdim=True)


class GaussianBlur(Augmentation):
    """Separable Gaussian blur, sigma ~ U(sigma) per sample, reflect padding, probability p."""

    def __init__(self, kernel_size: int = 9, sigma=(0.1, 2.0), p: float = 1.0):
        if not isinstance(kernel_size, int) or kernel_size < 1 or kernel_size % 2 == 0:
            raise ConfigError("kernel_size", f"must be a positive odd integer, got {kernel_size!r}")
        if isinstance(sigma, (int, float)):
            sigma = (float(sigma), float(sigma))
        if not 0 < sigma[0] <= sigma[1]:
            raise ConfigError("sigma", f"must satisfy 0 < min <= max, got {sigma!r}")
        check_range("p", p, low=0, high=1)
        self.kernel_size, self.sigma, self.p = kernel_size, tuple(sigma), float(p)

    def apply(self, x, generator):
        B, C, H, W = x.shape
        k, pad = self.kernel_size, self.kernel_size // 2
        if pad >= min(H, W):
            raise ConfigError("kernel_size", f"{k} is too large for {H}x{W} images (reflect "
                                             f"padding needs kernel_size // 2 < {min(H, W)})")
        sigma = _uniform(*self.sigma, B, generator, x.device, x.dtype)
        kern = gaussian_kernels(sigma, k)
        if self.p < 1:  # not-blurred samples get a delta kernel (exact identity)
            blur = _rand((B,), generator, x.device) < self.p
            delta = torch.zeros_like(kern)
            delta[:, pad] = 1
            kern = torch.where(blur[:, None], kern, delta)
        kern = kern.repeat_interleave(C, 0)  # (B*C, k)
        y = F.pad(x.reshape(1, B * C, H, W), (pad, pad, pad, pad), mode="reflect")
        y = F.conv2d(y, kern[:, None, :, None], groups=B * C)
        y = F.conv2d(y, kern[:, None, None, :], groups=B * C)
        return y.reshape(B, C, H, W)

    def to_torchvision(self):
        from torchvision.transforms import v2

        blur = v2.GaussianBlur(self.kernel_size, self.sigma)
        return blur if self.p == 1 else v2.RandomApply([blur], p=self.p)


class GaussianNoise(Augmentation):
    """Additive N(0, std^2) pixel noise, clipped to [0, 1] (torchvision v2.GaussianNoise)."""

    def __init__(self, std: float = 0.1, clip: bool = True):
        check_range("std", std, low=0)
        self.std, self.clip = float(std), clip

    def apply(self, x, generator):
        gdev = generator.device if generator is not None else x.device
        noise = torch.randn(x.shape, generator=generator, device=gdev, dtype=x.dtype)
        y = x + self.std * noise.to(x.device)
        return y.clamp(0.0, 1.0) if self.clip else y

    def to_torchvision(self):
        from torchvision.transforms import v2

        return v2.GaussianNoise(0.0, self.std, clip=self.clip)


class Normalize(Augmentation):
    def __init__(self, mean: Sequence[float], std: Sequence[float]):
        if len(mean) != len(std) or any(s <= 0 for s in std):
            raise ConfigError("std", f"mean and std need equal lengths and std > 0, got "
                                     f"{mean!r}, {std!r}")
        self.mean, self.std = tuple(map(float, mean)), tuple(map(float, std))

    def apply(self, x, generator=None):
        if x.shape[1] != len(self.mean):
            raise ConfigError("images", f"have {x.shape[1]} channels but Normalize has "
                                        f"{len(self.mean)}")
        m = torch.tensor(self.mean, device=x.device, dtype=x.dtype)[None, :, None, None]
        s = torch.tensor(self.std, device=x.device, dtype=x.dtype)[None, :, None, None]
        return (x - m) / s

    def to_torchvision(self):
        from torchvision.transforms import v2

        return v2.Normalize(self.mean, self.std)


# --------------------------------------------------------------------------- recipes
@dataclass
class Recipe:
    """A named sequence of augmentations; ``recipe(x, generator)`` returns float views."""

    name: str
    ops: list[Augmentation]
    size: tuple[int, int]
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    notes: str = ""
    dtype: torch.dtype = field(default=torch.float32)

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        _check_images(x)
        x = to_float(x, self.dtype)
        for op in self.ops:
            x = op.apply(x, generator)
        return x

    def __repr__(self) -> str:
        ops = ", ".join(map(repr, self.ops))
        return f"Recipe({self.name!r}, [{ops}])"


def cifar_recipe(size=32) -> Recipe:
    return Recipe("cifar", [
        RandomResizedCrop(size), RandomHorizontalFlip(0.5),
        ColorJitter(0.4, 0.4, 0.4, 0.1, p=0.8), RandomGrayscale(0.2),
        Normalize(CIFAR_MEAN, CIFAR_STD),
    ], _size2(size), CIFAR_MEAN, CIFAR_STD, "official code, CIFAR-10: no blur")


def stl_recipe(size=96) -> Recipe:
    return Recipe("stl", [
        RandomResizedCrop(size), RandomHorizontalFlip(0.5),
        ColorJitter(0.8, 0.8, 0.8, 0.2, p=0.8), RandomGrayscale(0.2),
        GaussianBlur(9, (0.1, 2.0), p=1.0),
    ], _size2(size), None, None, "official code, STL-10: blur always (k=9), no normalisation")


def digits_recipe(size=8) -> Recipe:
    return Recipe("digits", [
        RandomResizedCrop(size, scale=(0.6, 1.0), ratio=(0.8, 1.25)),
        GaussianNoise(0.1), Normalize(DIGITS_MEAN, DIGITS_STD),
    ], _size2(size), DIGITS_MEAN, DIGITS_STD,
        "ours, 8x8 grayscale: mild crop (60-100% area, ratio 0.8-1.25; at 8 px a shift of up "
        "to 3 px plus a zoom), pixel noise std 0.1, no flip (digits are not mirror symmetric)")


def none_recipe(size=None, mean=None, std=None) -> Recipe:
    ops: list[Augmentation] = [] if mean is None else [Normalize(mean, std)]
    return Recipe("none", ops, _size2(size) if size else (0, 0), mean, std,
                  "uint8 -> float in [0, 1] (then Normalize if mean/std given)")


RECIPES: dict[str, Callable[..., Recipe]] = {
    "cifar": cifar_recipe, "stl": stl_recipe, "digits": digits_recipe, "none": none_recipe,
}


def get_recipe(recipe: str | Recipe, **kwargs) -> Recipe:
    if isinstance(recipe, Recipe):
        return recipe
    check_choice("augment.recipe", recipe, RECIPES)
    return RECIPES[recipe](**kwargs)


class TwoViewAugment:
    """Two independently augmented views of a batch (``recipe2`` for asymmetric recipes).

    With one recipe both views come from a single call on the batch stacked twice (2B samples),
    so every sample of both views has its own parameters.
    """

    def __init__(self, recipe: str | Recipe, recipe2: str | Recipe | None = None):
        self.recipe = get_recipe(recipe)
        self.recipe2 = None if recipe2 is None else get_recipe(recipe2)

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None
                 ) -> tuple[torch.Tensor, torch.Tensor]:
        _check_images(x)
        if self.recipe2 is not None:
            return self.recipe(x, generator), self.recipe2(x, generator)
        v = self.recipe(torch.cat([x, x]), generator)
        return v[: x.shape[0]], v[x.shape[0]:]

    def __repr__(self) -> str:
        return f"TwoViewAugment({self.recipe!r}, {self.recipe2!r})"


class EvalTransform:
    """Deterministic probe preprocessing: shorter side -> size (antialiased bilinear), centre
    crop size x size, to float, normalise with the recipe's mean/std (if any)."""

    def __init__(self, size=None, mean=None, std=None):
        self.size = None if size is None else _size2(size)
        self.norm = None if mean is None else Normalize(mean, std)

    def __call__(self, x: torch.Tensor, generator=None) -> torch.Tensor:
        _check_images(x)
        x = to_float(x)
        if self.size is not None and tuple(x.shape[2:]) != self.size:
            H, W = x.shape[2:]
            s = max(self.size[0] / H, self.size[1] / W)
            nh, nw = max(self.size[0], round(H * s)), max(self.size[1], round(W * s))
            x = F.interpolate(x, (nh, nw), mode="bilinear", antialias=True, align_corners=False)
            t, l = (nh - self.size[0]) // 2, (nw - self.size[1]) // 2
            x = x[:, :, t: t + self.size[0], l: l + self.size[1]]
        return x if self.norm is None else self.norm.apply(x)


def eval_transform(recipe: str | Recipe = "none", size=None) -> EvalTransform:
    """The probe-feature transform matching a recipe: its output size and normalisation."""
    r = get_recipe(recipe)
    if size is None and r.size != (0, 0):
        size = r.size
    return EvalTransform(size, r.mean, r.std)

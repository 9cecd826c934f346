"""Pixel-value batched augmentations: :class:`GaussianBlur` (:func:`gaussian_kernels`),
:class:`GaussianNoise` and the per-channel :class:`Normalize`.
Public face: :mod:`dynamics.train.data.augment`.

:class:`GaussianBlur`: per-sample sigma ~ U(sigma), torchvision's kernel and reflect padding, as
two separable grouped convolutions. :class:`GaussianNoise` adds clipped N(0, std^2) noise like
``v2.GaussianNoise``; :class:`Normalize` is exact.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from dynamics.errors import ConfigError, check_range
from dynamics.train.data.augment_base import Augmentation, _rand, _uniform


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
        """Blur each sample (with probability ``p``) with its own sigma; reflect padding."""
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
        """``v2.GaussianBlur``, wrapped in ``v2.RandomApply`` when ``p < 1``."""
        from torchvision.transforms import v2

        blur = v2.GaussianBlur(self.kernel_size, self.sigma)
        return blur if self.p == 1 else v2.RandomApply([blur], p=self.p)


class GaussianNoise(Augmentation):
    """Additive N(0, std^2) pixel noise, clipped to [0, 1] (torchvision v2.GaussianNoise)."""

    def __init__(self, std: float = 0.1, clip: bool = True):
        check_range("std", std, low=0)
        self.std, self.clip = float(std), clip

    def apply(self, x, generator):
        """``x`` plus N(0, std^2) noise drawn with ``generator``, clipped if ``clip``."""
        gdev = generator.device if generator is not None else x.device
        noise = torch.randn(x.shape, generator=generator, device=gdev, dtype=x.dtype)
        y = x + self.std * noise.to(x.device)
        return y.clamp(0.0, 1.0) if self.clip else y

    def to_torchvision(self):
        """``v2.GaussianNoise(0, std, clip)``."""
        from torchvision.transforms import v2

        return v2.GaussianNoise(0.0, self.std, clip=self.clip)


class Normalize(Augmentation):
    """Per-channel ``(x - mean) / std`` (torchvision Normalize)."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]):
        if len(mean) != len(std) or any(s <= 0 for s in std):
            raise ConfigError("std", f"mean and std need equal lengths and std > 0, got "
                                     f"{mean!r}, {std!r}")
        self.mean, self.std = tuple(map(float, mean)), tuple(map(float, std))

    def apply(self, x, generator=None):
        """Subtract ``mean`` and divide by ``std`` channel-wise; ``generator`` is unused."""
        if x.shape[1] != len(self.mean):
            raise ConfigError("images", f"have {x.shape[1]} channels but Normalize has "
                                        f"{len(self.mean)}")
        m = torch.tensor(self.mean, device=x.device, dtype=x.dtype)[None, :, None, None]
        s = torch.tensor(self.std, device=x.device, dtype=x.dtype)[None, :, None, None]
        return (x - m) / s

    def to_torchvision(self):
        """``v2.Normalize(mean, std)``."""
        from torchvision.transforms import v2

        return v2.Normalize(self.mean, self.std)

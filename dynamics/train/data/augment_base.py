"""The batched-augmentation interface: the :class:`Augmentation` base class and the helpers
every operation shares (input checks, uint8 -> float, per-sample parameter draws, size arguments).
Public face: :mod:`dynamics.train.data.augment`.

Every operation takes a (B, C, H, W) tensor (uint8 in 0..255, or float in [0, 1]) and an optional
``torch.Generator``, draws its per-sample parameters with that generator in a few batched calls
(no Python loop over samples) and returns a float tensor. With a seeded generator the output is
reproducible. Parameters are drawn on the generator's device and moved to the images' device, so
pass ``torch.Generator(device="cuda")`` when the images live on a GPU (a CPU generator works too;
it costs a few tiny host-to-device copies but makes the parameters identical on every device).
"""

from __future__ import annotations

import torch

from dynamics.errors import ConfigError


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


def _size2(size) -> tuple[int, int]:
    if isinstance(size, int) and size > 0:
        return size, size
    if isinstance(size, (tuple, list)) and len(size) == 2 and all(
            isinstance(s, int) and s > 0 for s in size):
        return int(size[0]), int(size[1])
    raise ConfigError("size", f"must be a positive int or (height, width), got {size!r}")


class Augmentation:
    """Base class: ``op(x, generator)`` checks the input, converts uint8 to float and applies."""

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None):
        """Check ``x`` is (B, C, H, W), convert it to float and :meth:`apply` the operation."""
        _check_images(x)
        return self.apply(to_float(x), generator)

    def apply(self, x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """The operation on a float (B, C, H, W) batch, parameters drawn with ``generator``."""
        raise NotImplementedError

    def to_torchvision(self):  # pragma: no cover - overridden
        """The equivalent per-sample torchvision ``v2`` transform."""
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"

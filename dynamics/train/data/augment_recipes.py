"""Augmentation recipes and the transforms built on them: :class:`Recipe`, ``RECIPES`` ("cifar",
"stl" -- Tian, Chen & Ganguli 2021 official code --, "digits" -- ours, for 8x8 grayscale -- and
"none"), :func:`get_recipe`, :class:`TwoViewAugment` (two independent views) and the probe-feature
:func:`eval_transform`.
Public face: :mod:`dynamics.train.data.augment`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from dynamics.registry import Registry
from dynamics.train.data.augment_base import Augmentation, _check_images, _size2, to_float
from dynamics.train.data.augment_color import ColorJitter, RandomGrayscale
from dynamics.train.data.augment_geometric import RandomHorizontalFlip, RandomResizedCrop
from dynamics.train.data.augment_pixel import GaussianBlur, GaussianNoise, Normalize

CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2023, 0.1994, 0.2010)
DIGITS_MEAN = (0.3053,)  # sklearn digits / 16, all 1797 images
DIGITS_STD = (0.3760,)


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
        """Apply the ops in order to ``x`` (as float ``dtype``); returns the augmented views."""
        _check_images(x)
        x = to_float(x, self.dtype)
        for op in self.ops:
            x = op.apply(x, generator)
        return x

    def __repr__(self) -> str:
        ops = ", ".join(map(repr, self.ops))
        return f"Recipe({self.name!r}, [{ops}])"


def cifar_recipe(size=32) -> Recipe:
    """CIFAR-10 views of Tian, Chen & Ganguli 2021's official code (no blur)."""
    return Recipe("cifar", [
        RandomResizedCrop(size), RandomHorizontalFlip(0.5),
        ColorJitter(0.4, 0.4, 0.4, 0.1, p=0.8), RandomGrayscale(0.2),
        Normalize(CIFAR_MEAN, CIFAR_STD),
    ], _size2(size), CIFAR_MEAN, CIFAR_STD, "official code, CIFAR-10: no blur")


def stl_recipe(size=96) -> Recipe:
    """STL-10 views of Tian, Chen & Ganguli 2021's official code: stronger jitter, blur, no norm."""
    return Recipe("stl", [
        RandomResizedCrop(size), RandomHorizontalFlip(0.5),
        ColorJitter(0.8, 0.8, 0.8, 0.2, p=0.8), RandomGrayscale(0.2),
        GaussianBlur(9, (0.1, 2.0), p=1.0),
    ], _size2(size), None, None, "official code, STL-10: blur always (k=9), no normalisation")


def digits_recipe(size=8) -> Recipe:
    """Our recipe for 8x8 grayscale digits: mild crop, pixel noise, normalise; no flip."""
    return Recipe("digits", [
        RandomResizedCrop(size, scale=(0.6, 1.0), ratio=(0.8, 1.25)),
        GaussianNoise(0.1), Normalize(DIGITS_MEAN, DIGITS_STD),
    ], _size2(size), DIGITS_MEAN, DIGITS_STD,
        "ours, 8x8 grayscale: mild crop (60-100% area, ratio 0.8-1.25; at 8 px a shift of up "
        "to 3 px plus a zoom), pixel noise std 0.1, no flip (digits are not mirror symmetric)")


def none_recipe(size=None, mean=None, std=None) -> Recipe:
    """No augmentation: uint8 -> float, then Normalize if ``mean``/``std`` are given."""
    ops: list[Augmentation] = [] if mean is None else [Normalize(mean, std)]
    return Recipe("none", ops, _size2(size) if size else (0, 0), mean, std,
                  "uint8 -> float in [0, 1] (then Normalize if mean/std given)")


#: Augmentation recipes by name (``data.augment``; ``auto`` there picks the data set's own):
#: ``build(size=..., ...) -> Recipe``.
RECIPES = Registry("recipe", field="data.augment")
RECIPES.register("cifar", cifar_recipe, source="Tian, Chen & Ganguli 2021, official code")
RECIPES.register("stl", stl_recipe, source="Tian, Chen & Ganguli 2021, official code")
RECIPES.register("digits", digits_recipe)
RECIPES.register("none", none_recipe)


def get_recipe(recipe: str | Recipe, **kwargs) -> Recipe:
    """The :class:`Recipe` named ``recipe`` in ``RECIPES`` (built with ``kwargs``), or itself."""
    if isinstance(recipe, Recipe):
        return recipe
    return RECIPES.get(recipe, "augment.recipe")(**kwargs)


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
        """The two augmented views ``(v1, v2)`` of the batch ``x``."""
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
        """Resize, centre-crop and normalise ``x``; ``generator`` is unused (deterministic)."""
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

"""Batched image augmentations on any device, vectorised over the batch.

This module is the public face: every name below is importable from here. The pieces:

* :mod:`~dynamics.train.data.augment_base` -- the :class:`Augmentation` base class and the shared
  helpers (:func:`to_float`, input checks, per-sample parameter draws).
* :mod:`~dynamics.train.data.augment_geometric` -- :class:`RandomResizedCrop`
  (:func:`resized_crop`, :func:`resample_matrix`) and :class:`RandomHorizontalFlip`.
* :mod:`~dynamics.train.data.augment_color` -- :class:`ColorJitter` (:func:`adjust_hue`) and
  :class:`RandomGrayscale` (:func:`grayscale`).
* :mod:`~dynamics.train.data.augment_pixel` -- :class:`GaussianBlur` (:func:`gaussian_kernels`),
  :class:`GaussianNoise` and :class:`Normalize`.
* :mod:`~dynamics.train.data.augment_recipes` -- :class:`Recipe`, ``RECIPES``,
  :func:`get_recipe`, :class:`TwoViewAugment`, :class:`EvalTransform`, :func:`eval_transform`.

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

from dynamics.train.data.augment_base import Augmentation, to_float
from dynamics.train.data.augment_base import _check_images as _check_images
from dynamics.train.data.augment_base import _rand as _rand
from dynamics.train.data.augment_base import _size2 as _size2
from dynamics.train.data.augment_base import _uniform as _uniform
from dynamics.train.data.augment_color import (
    GRAY_WEIGHTS,
    ColorJitter,
    RandomGrayscale,
    adjust_hue,
    grayscale,
)
from dynamics.train.data.augment_color import _hsv_to_rgb as _hsv_to_rgb
from dynamics.train.data.augment_color import _pair as _pair
from dynamics.train.data.augment_color import _rgb_to_hsv as _rgb_to_hsv
from dynamics.train.data.augment_geometric import (
    RandomHorizontalFlip,
    RandomResizedCrop,
    resample_matrix,
    resized_crop,
)
from dynamics.train.data.augment_pixel import (
    GaussianBlur,
    GaussianNoise,
    Normalize,
    gaussian_kernels,
)
from dynamics.train.data.augment_recipes import (
    CIFAR_MEAN,
    CIFAR_STD,
    DIGITS_MEAN,
    DIGITS_STD,
    RECIPES,
    EvalTransform,
    Recipe,
    TwoViewAugment,
    cifar_recipe,
    digits_recipe,
    eval_transform,
    get_recipe,
    none_recipe,
    stl_recipe,
)

# The private helpers above (``x as x``) stay importable from here for older callers.
__all__ = [
    "CIFAR_MEAN",
    "CIFAR_STD",
    "DIGITS_MEAN",
    "DIGITS_STD",
    "GRAY_WEIGHTS",
    "RECIPES",
    "Augmentation",
    "ColorJitter",
    "EvalTransform",
    "GaussianBlur",
    "GaussianNoise",
    "Normalize",
    "RandomGrayscale",
    "RandomHorizontalFlip",
    "RandomResizedCrop",
    "Recipe",
    "TwoViewAugment",
    "adjust_hue",
    "cifar_recipe",
    "digits_recipe",
    "eval_transform",
    "gaussian_kernels",
    "get_recipe",
    "grayscale",
    "none_recipe",
    "resample_matrix",
    "resized_crop",
    "stl_recipe",
    "to_float",
]

"""The images of a training run: the pre-training set and the labelled probe sets.

:func:`load_run_data` reads what a config names (``data.dataset``, ``data.root``,
``data.subset``, ``data.test_subset``) into a :class:`RunData`: the pre-training images, the
augmentation recipe and, as :class:`EvalData`, the labelled train/test probe sets with the
matching deterministic eval transform. What each data set contributes comes from its entry in
:data:`~dynamics.train.data.datasets.DATASETS` (tags ``sets``/``views``/``recipe``, see
:mod:`dynamics.train.data.dataset_entries`). Used by the trainer and by
:mod:`dynamics.train.evaluate` (which re-exports these names).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from dynamics.train.config import TrainConfig
from dynamics.train.data.augment import eval_transform, get_recipe
from dynamics.train.data.dataset_entries import HOLDOUT_FRACTION, _subset
from dynamics.train.data.datasets import DATASETS


@dataclass
class EvalData:
    """Labelled probe sets (raw images) and the deterministic transform applied to them."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    transform: Any
    num_classes: int
    description: str


@dataclass
class RunData:
    """Everything data-related a run needs (``pretrain`` is None when not requested)."""

    pretrain: Any
    recipe: Any  #: the augmentation Recipe (None for synthetic data)
    eval: EvalData | None
    in_shape: tuple[int, ...]


def recipe_name(cfg: TrainConfig, image_height: int) -> str:
    """``data.augment``, with "auto" resolved per data set (its ``recipe`` tag: the paper's
    recipes), else by image size (cifar up to 64 px, stl above)."""
    if cfg.data.augment != "auto":
        return cfg.data.augment
    recipe = DATASETS.entry(cfg.data.dataset).tags.get("recipe")
    return recipe or ("cifar" if image_height <= 64 else "stl")


def load_run_data(cfg: TrainConfig, *, pretrain: bool = True) -> RunData:
    """Load the run's data sets (one-line ConfigError when they cannot be found)."""
    d = cfg.data
    entry = DATASETS.entry(d.dataset)
    if "views" in entry.tags:  # the theory's data model: views are sampled, no probes
        views = entry.tags["views"](cfg)
        return RunData(views if pretrain else None, None, None, (views.dim,))
    pre, train, test, test_done, desc = entry.tags["sets"](cfg, pretrain)
    if not test_done:
        test = _subset(test, d.test_subset, cfg.seed + 1, "data.test_subset")
    keep_tr, keep_te = train.labels >= 0, test.labels >= 0  # STL-10: -1 = unlabelled
    height = int(train.images.shape[2])
    recipe = get_recipe(recipe_name(cfg, height), size=height)
    transform = eval_transform(recipe)
    num_classes = max(len(train.classes), int(train.labels.max()) + 1)
    ev = EvalData(train.images[keep_tr], train.labels[keep_tr], test.images[keep_te],
                  test.labels[keep_te], transform, num_classes, desc)
    return RunData(pre if pretrain else None, recipe, ev, tuple(train.images.shape[1:]))


__all__ = ["HOLDOUT_FRACTION", "EvalData", "RunData", "load_run_data", "recipe_name"]

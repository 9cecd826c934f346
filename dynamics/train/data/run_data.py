"""The images of a training run: the pre-training set and the labelled probe sets.

:func:`load_run_data` reads what a config names (``data.dataset``, ``data.root``,
``data.subset``, ``data.test_subset``) into a :class:`RunData`: the pre-training images, the
augmentation recipe and, as :class:`EvalData`, the labelled train/test probe sets with the
matching deterministic eval transform. Used by the trainer and by
:mod:`dynamics.train.evaluate` (which re-exports these names).

Probe sets per data set: digits -- the fixed 80/20 split of ``load_digits``; CIFAR -- train
(``data.subset``) / test (``data.test_subset``); STL-10 -- pre-training on ``train+unlabeled``,
probes on ``train`` (5k) / ``test`` (8k); folder -- its ``train/`` and ``test/`` sub-folders when
present, otherwise a seeded 20% of the images is held out for testing (and not pre-trained on);
synthetic -- no labels, no probes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from dynamics.errors import ConfigError
from dynamics.train.config import TrainConfig
from dynamics.train.data.augment import eval_transform, get_recipe
from dynamics.train.data.datasets import (
    load_cifar10,
    load_cifar100,
    load_digits,
    load_folder,
    load_stl10,
    load_synthetic,
)

HOLDOUT_FRACTION = 0.2


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


def _subset(ds, n: int | None, seed: int, field: str):
    if n is None:
        return ds
    if n > len(ds):
        raise ConfigError(field, f"asks for {n} images but the split has only {len(ds)}")
    g = torch.Generator().manual_seed(int(seed))
    idx = torch.randperm(len(ds), generator=g)[:n].sort().values
    return ds.subset(idx)


def _holdout(ds, seed: int):
    """Seeded (train, test) split of one data set, HOLDOUT_FRACTION for testing."""
    g = torch.Generator().manual_seed(int(seed) + 7919)
    perm = torch.randperm(len(ds), generator=g)
    n_test = max(1, round(HOLDOUT_FRACTION * len(ds)))
    return ds.subset(perm[n_test:].sort().values), ds.subset(perm[:n_test].sort().values)


def _folder_split(cfg: TrainConfig, split: str | None, subset: int | None):
    try:
        return load_folder(cfg.data.root, split=split, subset=subset, seed=cfg.seed,
                           resize=cfg.data.image_size)
    except ConfigError as exc:
        if split is not None and exc.field == "split":
            return None
        raise


def recipe_name(cfg: TrainConfig, image_height: int) -> str:
    """``data.augment``, with "auto" resolved per data set (the paper's recipes)."""
    if cfg.data.augment != "auto":
        return cfg.data.augment
    return {"digits": "digits", "cifar10": "cifar", "cifar100": "cifar", "stl10": "stl"}.get(
        cfg.data.dataset, "cifar" if image_height <= 64 else "stl")


def _folder_sets(cfg: TrainConfig):
    """(train, test, test_subset_applied, description) of an image folder."""
    d = cfg.data
    train = _folder_split(cfg, "train", d.subset)
    if train is None:
        train, test = _holdout(_folder_split(cfg, None, None), cfg.seed)
        train = _subset(train, d.subset, cfg.seed, "data.subset")
        return train, test, False, (f"folder {d.root}: seeded {HOLDOUT_FRACTION:.0%} hold-out "
                                    f"for testing")
    test = _folder_split(cfg, "test", d.test_subset)
    if test is None:
        train, test = _holdout(train, cfg.seed)
        return train, test, False, f"folder {d.root}: train/, {HOLDOUT_FRACTION:.0%} of it held out"
    return train, test, True, f"folder {d.root}: train/ / test/"


def _image_sets(cfg: TrainConfig, pretrain: bool):
    """(pre-training set, probe train set, probe test set, test_subset_applied, description)
    of an image data set; the pre-training set is None for STL-10 without ``pretrain``."""
    d = cfg.data
    if d.dataset == "digits":
        train, test = load_digits("train"), load_digits("test")
        train = _subset(train, d.subset, cfg.seed, "data.subset")
        return train, train, test, False, "digits: sklearn 8x8, fixed stratified 80/20 split"
    if d.dataset in ("cifar10", "cifar100"):
        load = load_cifar10 if d.dataset == "cifar10" else load_cifar100
        train = _subset(load(d.root, "train", d.download), d.subset, cfg.seed, "data.subset")
        test = load(d.root, "test", d.download)
        return train, train, test, False, f"{d.dataset}: train / test"
    if d.dataset == "stl10":
        pre = None
        if pretrain:
            pre = _subset(load_stl10(d.root, "train+unlabeled", d.download), d.subset,
                          cfg.seed, "data.subset")
        train, test = load_stl10(d.root, "train", d.download), load_stl10(d.root, "test",
                                                                          d.download)
        return (pre, train, test, False,
                "stl10: pre-train train+unlabeled; probes train (5k) / test (8k)")
    train, test, test_done, desc = _folder_sets(cfg)
    return train, train, test, test_done, desc


def load_run_data(cfg: TrainConfig, *, pretrain: bool = True) -> RunData:
    """Load the run's data sets (one-line ConfigError when they cannot be found)."""
    d = cfg.data
    if d.dataset == "synthetic":
        views = load_synthetic(dim=d.synthetic_dim, sigma2=d.synthetic_sigma2, seed=cfg.seed)
        return RunData(views if pretrain else None, None, None, (d.synthetic_dim,))
    pre, train, test, test_done, desc = _image_sets(cfg, pretrain)
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

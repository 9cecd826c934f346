"""How a training run uses each data set, and the built-in entries of the data-set registry.

Every data set registers itself here in :data:`dynamics.train.data.datasets.DATASETS` with its
loader and the tags the rest of the toolkit reads (no list of data-set names anywhere else):

``sets(cfg, pretrain)``  -> (pre-training set, probe train set, probe test set,
                         test_subset_applied, description) for image data
``views(cfg)``           -> the theory's two-view sampler (``theory`` data sets)
``recipe``               the augmentation recipe ``data.augment=auto`` picks (None: by size)
``files``/``needs_root`` whether ``data.root`` is read / required
``theory``               views of the linear theory's data model (goes with the linear encoder)
``labels``               has class labels (kNN / linear probes)

Probe sets per data set: digits -- the fixed 80/20 split of ``load_digits``; CIFAR -- train
(``data.subset``) / test (``data.test_subset``); STL-10 -- pre-training on ``train+unlabeled``,
probes on ``train`` (5k) / ``test`` (8k); folder -- its ``train/`` and ``test/`` sub-folders when
present, otherwise a seeded 20% of the images is held out for testing (and not pre-trained on);
synthetic -- no labels, no probes. A new data set is one ``DATASETS.register(...)`` call with
these tags (here or in its own module imported by :mod:`dynamics.train.data`).
"""

from __future__ import annotations

from functools import partial
from typing import Any

import torch

from dynamics.errors import ConfigError
from dynamics.train.data.datasets import (
    DATASETS,
    load_cifar10,
    load_cifar100,
    load_digits,
    load_folder,
    load_stl10,
    load_synthetic,
)

HOLDOUT_FRACTION = 0.2


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


def _folder_split(cfg: Any, split: str | None, subset: int | None):
    try:
        return load_folder(cfg.data.root, split=split, subset=subset, seed=cfg.seed,
                           resize=cfg.data.image_size)
    except ConfigError as exc:
        if split is not None and exc.field == "split":
            return None
        raise


def _folder_sets(cfg: Any):
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


def digits_sets(cfg: Any, pretrain: bool):
    """sklearn digits: the fixed stratified 80/20 split; pre-training on (a subset of) train."""
    train, test = load_digits("train"), load_digits("test")
    train = _subset(train, cfg.data.subset, cfg.seed, "data.subset")
    return train, train, test, False, "digits: sklearn 8x8, fixed stratified 80/20 split"


def cifar_sets(load: Any, name: str, cfg: Any, pretrain: bool):
    """CIFAR-10/100: pre-training and probes on train (``data.subset``), test for testing."""
    d = cfg.data
    train = _subset(load(d.root, "train", d.download), d.subset, cfg.seed, "data.subset")
    test = load(d.root, "test", d.download)
    return train, train, test, False, f"{name}: train / test"


def stl10_sets(cfg: Any, pretrain: bool):
    """STL-10: pre-training on train+unlabeled (only when ``pretrain``), probes train / test."""
    d = cfg.data
    pre = None
    if pretrain:
        pre = _subset(load_stl10(d.root, "train+unlabeled", d.download), d.subset, cfg.seed,
                      "data.subset")
    train, test = load_stl10(d.root, "train", d.download), load_stl10(d.root, "test",
                                                                      d.download)
    return (pre, train, test, False,
            "stl10: pre-train train+unlabeled; probes train (5k) / test (8k)")


def folder_sets(cfg: Any, pretrain: bool):
    """An image folder / archive: its train/ and test/ splits, or a seeded hold-out."""
    train, test, test_done, desc = _folder_sets(cfg)
    return train, train, test, test_done, desc


def synthetic_views(cfg: Any):
    """The linear theory's data model (X = I, X' = sigma2 I) as a two-view sampler."""
    d = cfg.data
    return load_synthetic(dim=d.synthetic_dim, sigma2=d.synthetic_sigma2, seed=cfg.seed)


_IMAGES = {"files": True, "needs_root": False, "theory": False, "labels": True}
DATASETS.register("cifar10", load_cifar10, source="Krizhevsky 2009 (torchvision)",
                  sets=partial(cifar_sets, load_cifar10, "cifar10"), recipe="cifar", **_IMAGES)
DATASETS.register("cifar100", load_cifar100, source="Krizhevsky 2009 (torchvision)",
                  sets=partial(cifar_sets, load_cifar100, "cifar100"), recipe="cifar",
                  **_IMAGES)
DATASETS.register("stl10", load_stl10, source="Coates et al. 2011 (torchvision)",
                  sets=stl10_sets, recipe="stl", **_IMAGES)
DATASETS.register("folder", load_folder, doc="class folders of images (or a .tar/.tar.gz)",
                  sets=folder_sets, recipe=None, **{**_IMAGES, "needs_root": True})
DATASETS.register("digits", load_digits, source="scikit-learn digits (8x8)", sets=digits_sets,
                  recipe="digits", **{**_IMAGES, "files": False})
DATASETS.register("synthetic", load_synthetic, doc="views of the linear theory's data model",
                  source="Tian, Chen & Ganguli 2021, Sec. 3", views=synthetic_views,
                  recipe=None, files=False, needs_root=False, theory=True, labels=False)

__all__ = ["HOLDOUT_FRACTION", "cifar_sets", "digits_sets", "folder_sets", "stl10_sets",
           "synthetic_views"]

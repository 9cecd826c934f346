"""Data for SSL training: in-memory data sets, batched on-device augmentations, loaders.

* :mod:`.datasets` -- ``DATASETS`` registry (cifar10, cifar100, stl10, folder, digits,
  synthetic), :class:`ImageDataset`, :class:`SyntheticViews`.
* :mod:`.folder` -- image folder / ``.tar(.gz)`` reader (one streaming pass, seeded subsets).
* :mod:`.augment` -- batched augmentations, ``RECIPES`` ("cifar", "stl", "digits", "none"),
  :class:`TwoViewAugment`, :func:`eval_transform`.
* :mod:`.loader` -- :class:`DeviceBatchLoader` (on-device, resumable) and the torchvision /
  DataLoader fallback (:func:`torchvision_pipeline`, :func:`torchvision_loader`).

Quick start::

    from dynamics.train.data import load_dataset, TwoViewAugment, DeviceBatchLoader
    ds = load_dataset("folder", root="cifar10.tar.gz", split="train", subset=5000)
    loader = DeviceBatchLoader(ds, 256, generator=0, device="cuda",
                               transform=TwoViewAugment("cifar"))
    for (v1, v2), y in loader:
        ...
"""

from dynamics.train.data import dataset_entries as run_sets  # noqa: F401 - registers the built-in data sets
from dynamics.train.data.augment import (
    RECIPES,
    ColorJitter,
    EvalTransform,
    GaussianBlur,
    GaussianNoise,
    Normalize,
    RandomGrayscale,
    RandomHorizontalFlip,
    RandomResizedCrop,
    Recipe,
    TwoViewAugment,
    eval_transform,
    get_recipe,
)
from dynamics.train.data.datasets import (
    DATASETS,
    ImageDataset,
    SyntheticViews,
    default_data_root,
    load_cifar10,
    load_cifar100,
    load_dataset,
    load_digits,
    load_folder,
    load_stl10,
    load_synthetic,
)
from dynamics.train.data.loader import (
    DeviceBatchLoader,
    TwoViewDataset,
    torchvision_loader,
    torchvision_pipeline,
)

__all__ = [
    "DATASETS", "RECIPES", "ColorJitter", "DeviceBatchLoader", "EvalTransform", "GaussianBlur",
    "GaussianNoise", "ImageDataset", "Normalize", "RandomGrayscale", "RandomHorizontalFlip",
    "RandomResizedCrop", "Recipe", "SyntheticViews", "TwoViewAugment", "TwoViewDataset",
    "default_data_root", "eval_transform", "get_recipe", "load_cifar10", "load_cifar100",
    "load_dataset", "load_digits", "load_folder", "load_stl10", "load_synthetic",
    "torchvision_loader", "torchvision_pipeline",
]

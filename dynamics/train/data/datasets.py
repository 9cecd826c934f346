"""In-memory data sets for SSL training and the registry ``DATASETS`` (name -> loader).

Every image loader returns an :class:`ImageDataset`: a uint8 tensor ``images`` (N, C, H, W),
int64 ``labels`` (N,) (``-1`` = unlabelled, e.g. STL-10's ``unlabeled`` part) and the class names.
Keeping the whole set as one tensor lets :class:`~dynamics.train.data.loader.DeviceBatchLoader`
hold it on the accelerator and augment whole batches there.

=========== =============================================================== ====================
name        source                                                          splits
=========== =============================================================== ====================
cifar10     torchvision ``CIFAR10(root, train=..., download=...)``          train, test
cifar100    torchvision ``CIFAR100``                                        train, test
stl10       torchvision ``STL10`` (96x96; 105k images for pre-training)     train+unlabeled,
                                                                            train, test,
                                                                            unlabeled
folder      ``root/<class>/*.jpg`` folder or .tar/.tar.gz of one            any sub-folder/None
digits      ``sklearn.datasets.load_digits`` (8x8 gray, embedded, offline)  train, test
synthetic   the linear theory's data model (``dynamics.numerics.data_models``) -
=========== =============================================================== ====================

Nothing is downloaded unless ``download=True``. When a torchvision data set is missing the
loader raises a one-line :class:`ConfigError` that says where it looked and how to provide it.
The default root is ``$SSL_DYNAMICS_DATA`` or ``~/.cache/ssl-dynamics/data``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dynamics.errors import ConfigError, check_choice, check_range
from dynamics.registry import Registry
from dynamics.train.data.folder import read_image_folder


def default_data_root() -> Path:
    """``$SSL_DYNAMICS_DATA`` if set, else ``~/.cache/ssl-dynamics/data``."""
    return Path(os.environ.get("SSL_DYNAMICS_DATA", "~/.cache/ssl-dynamics/data")).expanduser()


@dataclass
class ImageDataset:
    """Images (N, C, H, W) as one tensor (uint8, or float for already-processed data) + labels."""

    images: torch.Tensor
    labels: torch.Tensor
    classes: list[str]
    name: str = ""
    source: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if not isinstance(self.images, torch.Tensor) or self.images.ndim != 4:
            shape = getattr(self.images, "shape", None)
            raise ConfigError("images", f"must be a (N, C, H, W) tensor, got shape {shape}")
        self.labels = torch.as_tensor(self.labels, dtype=torch.int64)
        if self.labels.shape != (self.images.shape[0],):
            raise ConfigError("labels", f"must have shape ({self.images.shape[0]},), got "
                                        f"{tuple(self.labels.shape)}")
        self.classes = list(self.classes)

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index):
        return self.images[index], self.labels[index]

    def __repr__(self) -> str:
        return (f"ImageDataset(name={self.name!r}, n={len(self)}, shape="
                f"{tuple(self.images.shape[1:])}, dtype={self.images.dtype}, "
                f"classes={len(self.classes)}, device={self.images.device})")

    @property
    def num_classes(self) -> int:
        """Number of class names."""
        return len(self.classes)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of one image."""
        return tuple(self.images.shape[1:])

    @property
    def device(self) -> torch.device:
        """Device the images live on."""
        return self.images.device

    def to(self, device) -> ImageDataset:
        """A copy with images and labels moved to ``device``."""
        return ImageDataset(self.images.to(device), self.labels.to(device), self.classes,
                            self.name, self.source, dict(self.meta))

    def subset(self, index) -> ImageDataset:
        """The data set restricted to the samples ``index`` (same classes and metadata)."""
        index = torch.as_tensor(index, dtype=torch.int64, device=self.images.device)
        return ImageDataset(self.images[index], self.labels[index], self.classes, self.name,
                            self.source, dict(self.meta))

    def channel_stats(self) -> tuple[list[float], list[float]]:
        """Per-channel mean and std of the pixels, in [0, 1] units for uint8 images."""
        x = self.images.double()
        if self.images.dtype == torch.uint8:
            x = x / 255
        return x.mean((0, 2, 3)).tolist(), x.std((0, 2, 3)).tolist()


# --------------------------------------------------------------------------- torchvision sets
_TV_INFO = {  # name -> (torchvision class, folder torchvision looks for, pretty name)
    "cifar10": ("CIFAR10", "cifar-10-batches-py", "CIFAR-10"),
    "cifar100": ("CIFAR100", "cifar-100-python", "CIFAR-100"),
    "stl10": ("STL10", "stl10_binary", "STL-10"),
}
STL10_SPLITS = ("train+unlabeled", "train", "test", "unlabeled")


def _torchvision_dataset(name: str, root, download: bool, **kwargs):
    cls_name, folder, pretty = _TV_INFO[name]
    root = Path(root).expanduser() if root is not None else default_data_root()
    try:
        import torchvision.datasets as tvd
    except ImportError:
        raise ConfigError("data.dataset", f"{name} needs torchvision (pip install torchvision), or "
                                       f"use data.dataset=folder with an image folder/tarball"
                          ) from None
    how = (f"set data.download=true to fetch it, set data.root=/path to a folder "
           f"that holds {folder}/, or use data.dataset=folder data.root=/path/to/images-or.tar.gz")
    try:
        return getattr(tvd, cls_name)(str(root), download=download, **kwargs)
    except RuntimeError as exc:  # torchvision: "Dataset not found or corrupted..."
        if download:
            raise ConfigError("data.root", f"{pretty} in {root} is unusable after download: "
                                           f"{str(exc).splitlines()[0]}") from None
        raise ConfigError("data.root", f"{pretty} not found (or corrupted) in {root} (looked "
                                       f"for {root / folder}); {how}") from None
    except OSError as exc:  # no network, permission, disk full, ...
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError("data.download", f"could not download {pretty} into {root}: {msg}; "
                                           f"copy {folder}/ there by hand or use "
                                           f"data.dataset=folder") from None


def load_cifar10(root=None, split: str = "train", download: bool = False) -> ImageDataset:
    """CIFAR-10 (32x32, 10 classes), split ``train`` or ``test``, via torchvision."""
    return _load_cifar("cifar10", root, split, download)


def load_cifar100(root=None, split: str = "train", download: bool = False) -> ImageDataset:
    """CIFAR-100 (32x32, 100 classes), split ``train`` or ``test``, via torchvision."""
    return _load_cifar("cifar100", root, split, download)


def _load_cifar(name, root, split, download) -> ImageDataset:
    check_choice("split", split, ("train", "test"))
    ds = _torchvision_dataset(name, root, download, train=split == "train")
    images = torch.from_numpy(np.ascontiguousarray(ds.data)).permute(0, 3, 1, 2).contiguous()
    return ImageDataset(images, torch.as_tensor(ds.targets), ds.classes, name, ds.root,
                        {"split": split})


def load_stl10(root=None, split: str = "train+unlabeled", download: bool = False
               ) -> ImageDataset:
    """STL-10 at 96x96. ``train+unlabeled`` (105k, pre-training) has labels -1 for unlabelled."""
    check_choice("split", split, STL10_SPLITS)
    ds = _torchvision_dataset("stl10", root, download, split=split)
    images = torch.from_numpy(np.ascontiguousarray(ds.data))  # already (N, 3, 96, 96) uint8
    labels = torch.as_tensor(np.asarray(ds.labels, dtype=np.int64))
    return ImageDataset(images, labels, ds.classes, "stl10", ds.root, {"split": split})


# --------------------------------------------------------------------------- folder / tarball
def load_folder(root, split: str | None = None, subset: int | None = None, seed: int = 0,
                resize: int | tuple[int, int] | None = None, mode: str = "RGB",
                workers: int | None = None) -> ImageDataset:
    """An image folder ``root/<class>/*.jpg`` or a ``.tar``/``.tar.gz`` of one (read in place).

    See :func:`dynamics.train.data.folder.read_image_folder` for the layout rules and arguments.
    """
    if root is None:
        raise ConfigError("data.root", "the folder data set needs data.root=/path/to/folder "
                                       "or /path/to/archive.tar.gz")
    images, labels, classes, names = read_image_folder(root, split, subset, seed, resize, mode,
                                                       workers)
    return ImageDataset(images, labels, classes, "folder", str(root),
                        {"split": split, "subset": subset, "seed": seed, "files": names})


# --------------------------------------------------------------------------- digits
DIGITS_SPLIT_SEED = 0


def load_digits(split: str = "train", test_fraction: float = 0.2,
                seed: int = DIGITS_SPLIT_SEED) -> ImageDataset:
    """scikit-learn's 8x8 handwritten digits (1797 images, embedded: always works offline).

    Pixel values 0..16 are mapped to uint8 by ``round(v * 255 / 16)``; images are (1, 8, 8).
    The train/test split is stratified per class and fixed by ``seed`` (default 0):
    ``round(test_fraction * n_c)`` images of each class go to ``test``.
    """
    check_choice("split", split, ("train", "test"))
    check_range("test_fraction", test_fraction, low=0, high=1, low_open=True, high_open=True)
    try:
        from sklearn.datasets import load_digits as _sk_load_digits
    except ImportError:
        raise ConfigError("data.dataset", "digits needs scikit-learn (pip install scikit-learn)"
                          ) from None
    d = _sk_load_digits()
    pixels = np.rint(d.images * (255.0 / 16.0)).astype(np.uint8)
    target = d.target.astype(np.int64)
    rng = np.random.default_rng(seed)
    test = np.zeros(len(target), dtype=bool)
    for c in np.unique(target):
        idx = np.flatnonzero(target == c)
        test[rng.permutation(idx)[: round(test_fraction * len(idx))]] = True
    keep = test if split == "test" else ~test
    images = torch.from_numpy(pixels[keep]).unsqueeze(1).contiguous()
    return ImageDataset(images, torch.from_numpy(target[keep]), [str(t) for t in d.target_names],
                        "digits", "sklearn.datasets.load_digits",
                        {"split": split, "seed": seed, "test_fraction": test_fraction})


# --------------------------------------------------------------------------- synthetic
class SyntheticViews:
    """Views of the linear theory's data model, sampled on demand as float tensors.

    Wraps a model from :mod:`dynamics.numerics.data_models` (``AdditiveGaussian``: x ~ N(0,
    Sigma_x), views x + n with n ~ N(0, Sigma_n); ``MultiplicativeScrambling``: views A x) and uses
    its own ``sample`` method, so the training side sees exactly the distribution whose ``X`` and
    ``X'`` drive the ODE. Unlike the theory code (columns are samples), views here are (batch, dim)
    rows, the PyTorch convention: ``E[v1 v2^T] = X`` and ``E[v1 v1^T] = X + X'``.
    """

    name = "synthetic"

    def __init__(self, model, dtype: torch.dtype = torch.float32):
        if not (hasattr(model, "sample") and hasattr(model, "X") and hasattr(model, "Xprime")):
            raise ConfigError("model", "must be a data model with sample(), X and Xprime "
                                            "(see dynamics.numerics.data_models)")
        self.model = model
        self.dtype = dtype

    def __repr__(self) -> str:
        return f"SyntheticViews({type(self.model).__name__}, dim={self.dim})"

    @property
    def dim(self) -> int:
        """Input dimension of the data model."""
        return int(self.model.dim)

    @property
    def X(self) -> np.ndarray:
        """Augmentation-averaged data correlation E[xbar xbar^T] (the theory's X)."""
        return np.asarray(self.model.X)

    @property
    def Xprime(self) -> np.ndarray:
        """Augmentation covariance E[Var[x'|x]] (the theory's X')."""
        return np.asarray(self.model.Xprime)

    def sample_views(self, batch: int, generator: torch.Generator | np.random.Generator
                     | None = None, device=None) -> tuple[torch.Tensor, torch.Tensor]:
        """Two views (batch, dim) of the same ``batch`` inputs.

        ``generator``: a ``torch.Generator`` (one 63-bit seed is drawn from it per call, so a
        seeded generator gives a reproducible stream), a ``numpy.random.Generator`` (used
        directly) or None (torch's global RNG, so ``torch.manual_seed`` controls it).
        """
        if not isinstance(batch, (int, np.integer)) or batch < 1:
            raise ConfigError("batch", f"must be a positive integer, got {batch!r}")
        if isinstance(generator, np.random.Generator):
            rng = generator
        else:
            gdev = generator.device if generator is not None else "cpu"
            seed = torch.randint(0, 2**63 - 1, (1,), generator=generator, device=gdev).item()
            rng = np.random.default_rng(seed)
        v1, v2 = self.model.sample(int(batch), rng)
        return (torch.as_tensor(v1.T, dtype=self.dtype, device=device),
                torch.as_tensor(v2.T, dtype=self.dtype, device=device))


def load_synthetic(model: str | Any = "additive", dim: int = 8, sigma2: float = 0.5,
                   Sigma_x=None, Sigma_n=None, U=None, k: int | None = None,
                   b_std: float = 1.0, seed: int = 0,
                   dtype: torch.dtype = torch.float32) -> SyntheticViews:
    """The theory's data for a bias-free linear encoder.

    ``model="additive"``: ``AdditiveGaussian(Sigma_x, Sigma_n)`` with defaults ``Sigma_x = I``
    and ``Sigma_n = sigma2 I``. ``model="scrambling"``: ``MultiplicativeScrambling(Sigma_x, U,
    b_std)`` with ``U`` defaulting to a seeded random orthonormal d x k basis (k = dim // 2).
    A data-model instance is used as is.
    """
    from dynamics.numerics.data_models import (
        DATA_MODELS,
        AdditiveGaussian,
        MultiplicativeScrambling,
    )

    if not isinstance(model, str):
        return SyntheticViews(model, dtype)
    check_choice("model", model, DATA_MODELS)
    if not isinstance(dim, (int, np.integer)) or dim < 1:
        raise ConfigError("data.synthetic_dim", f"must be a positive integer, got {dim!r}")
    Sx = np.eye(dim) if Sigma_x is None else Sigma_x
    if model == "additive":
        if Sigma_n is None:
            check_range("data.synthetic_sigma2", sigma2, low=0)
        Sn = sigma2 * np.eye(dim) if Sigma_n is None else Sigma_n
        return SyntheticViews(AdditiveGaussian(Sx, Sn), dtype)
    if U is None:
        k = dim // 2 if k is None else k
        if not 1 <= k <= dim:
            raise ConfigError("k", f"must be in [1, {dim}], got {k}")
        U = np.linalg.qr(np.random.default_rng(seed).standard_normal((dim, k)))[0]
    return SyntheticViews(MultiplicativeScrambling(Sx, U, b_std), dtype)


# --------------------------------------------------------------------------- registry
#: Data sets by ``data.dataset``: ``load(**kwargs)`` -> ImageDataset / SyntheticViews, tagged
#: as described in :mod:`dynamics.train.data.dataset_entries`.
DATASETS = Registry("dataset", field="data.dataset")
# the built-in entries register in dynamics.train.data.dataset_entries (imported by the package),
# with
# the tags that say how a run uses them


def load_dataset(name: str, **kwargs) -> ImageDataset | SyntheticViews:
    """``DATASETS[name](**kwargs)`` with a one-line error for an unknown name."""
    return DATASETS.get(name)(**kwargs)

"""Real images for the deep linear JEPA / MAE theory of :mod:`dynamics.theories.deep_jepa.model`.

Data: a seeded subset of a labelled image folder (CIFAR-10 in the verify cpu tier), converted to
gray, average-pooled to ``POOL`` x ``POOL`` pixels (d = 64) and centred. Views: a photometric
augmentation, applied independently to the two views of every image,

    v = c s + b 1 + n,    c ~ U[1 - C, 1 + C], b ~ U[-B, B], n ~ N(0, NOISE^2 I),

(contrast, brightness, pixel noise; ``C``, ``B``, ``NOISE`` below). Brightness and contrast
jitter mostly move the top principal directions of natural images (the mean-intensity
direction), so the leading components have a large covariance but a small regression
coefficient: lambda and rho are anti-correlated at the top of the spectrum, the regime where
the theory separates JEPA from MAE.

Features: the top ``k`` eigenvectors U of the (symmetrised) view cross-covariance
Sigma_yx = E[y x^T], estimated on ``VIEWS_PER_IMAGE`` view pairs per image. In that basis
lambda_i = (U^T Sigma_yx U)_ii, sigma2_i = (U^T Sigma_xx U)_ii and rho_i = lambda_i / sigma2_i;
the theory assumes U also diagonalises Sigma_xx, and :class:`ImageFeatures` reports how far it
is from that (the largest normalised off-diagonal |D_ij| / sqrt(D_ii D_jj) of U^T Sigma_xx U).
:meth:`ImageFeatures.sampler` draws fresh view pairs of random images, projected on U, for
:func:`~dynamics.theories.deep_jepa.model.sgd_train`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from dynamics.errors import ConfigError

POOL = 8
C, B, NOISE = 0.4, 0.2, 0.02
VIEWS_PER_IMAGE = 4


def load_pixels(root: str, subset: int = 5000, seed: int = 0) -> torch.Tensor:
    """(N, POOL^2) centred gray pixels in [0, 1] of a seeded subset of the train split.

    Args:
        root: a folder of class sub-folders (its ``train`` split is read) or a tar archive of
            one: the ``folder`` data set of :func:`dynamics.train.data.datasets.load_dataset`.
        subset: number of images drawn from the train split.
        seed: seed of the subset.

    Returns:
        A float64 tensor (N, POOL^2): gray values in [0, 1], average-pooled, minus their mean
        over the N images. ConfigError if the images are smaller than ``POOL`` pixels.

    Example:
        >>> load_pixels("path/to/cifar10", subset=12).shape  # doctest: +SKIP
        torch.Size([12, 64])
    """
    from dynamics.train.data.datasets import load_dataset

    ds = load_dataset("folder", root=root, split="train", subset=subset, seed=seed)
    gray = ds.images.float().mean(1, keepdim=True) / 255.0
    size = gray.shape[-1] // POOL
    if size < 1:
        raise ConfigError("root", f"images of {gray.shape[-1]} pixels are smaller than {POOL}")
    x = torch.nn.functional.avg_pool2d(gray, size).flatten(1).double()
    return x - x.mean(0)


def augment(s: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """One photometric view c s + b 1 + n of every row of ``s`` (module docstring).

    Args:
        s: images as rows, a float tensor (n, d).
        g: the torch generator of c, b and n (one c and b per row).

    Returns:
        The view, a tensor of the shape and dtype of ``s``.

    Example:
        >>> augment(torch.zeros(2, 3), torch.Generator().manual_seed(0)).shape
        torch.Size([2, 3])
    """
    n = s.shape[0]
    c = 1 + (2 * torch.rand(n, 1, generator=g, dtype=s.dtype) - 1) * C
    b = (2 * torch.rand(n, 1, generator=g, dtype=s.dtype) - 1) * B
    return c * s + b + NOISE * torch.randn(s.shape, generator=g, dtype=s.dtype)


@dataclass
class ImageFeatures:
    """The top-k features of the view pairs: basis ``U`` (d, k), ``lam``, ``sigma2``, ``rho``
    (k,), ``offdiag`` (the largest normalised off-diagonal of U^T Sigma_xx U over the k) and
    the centred pixels.

    Attributes:
        U: the feature basis, top-k eigenvectors of the symmetrised Sigma_yx, (d, k).
        lam: lambda_i = (U^T Sigma_yx U)_ii, descending, (k,).
        sigma2: sigma2_i = (U^T Sigma_xx U)_ii, (k,).
        rho: rho_i = lam_i / sigma2_i, (k,).
        offdiag: max over i != j of |D_ij| / sqrt(D_ii D_jj), D = U^T Sigma_xx U.
        pixels: the centred pixels the statistics were estimated on, (N, d).
    """

    U: np.ndarray
    lam: np.ndarray
    sigma2: np.ndarray
    rho: np.ndarray
    offdiag: float
    pixels: torch.Tensor

    def sampler(self):
        """``sampler(batch_size, generator) -> (x, y)``: two views of random images in the
        feature basis.

        Returns:
            A callable ``(batch_size, generator) -> (x, y)``, two float tensors (batch_size,
            k), for the ``sampler`` of :func:`~dynamics.theories.deep_jepa.model.sgd_train`.

        Example:
            >>> px = torch.randn(200, 64, dtype=torch.float64)
            >>> x, y = image_features(px, k=3).sampler()(5, torch.Generator().manual_seed(1))
            >>> x.shape, y.shape
            (torch.Size([5, 3]), torch.Size([5, 3]))
        """
        U = torch.as_tensor(self.U)

        def draw(batch_size: int, g: torch.Generator):
            idx = torch.randint(0, self.pixels.shape[0], (batch_size,), generator=g)
            s = self.pixels[idx]
            return augment(s, g) @ U, augment(s, g) @ U
        return draw


def image_features(pixels: torch.Tensor, k: int = 6, seed: int = 0) -> ImageFeatures:
    """Estimate the statistics of the module docstring from ``VIEWS_PER_IMAGE`` view pairs per
    image (seeded).

    Args:
        pixels: centred images as rows, a float64 tensor (N, d) (:func:`load_pixels`).
        k: number of features (top eigenvectors), 1 <= k <= d.
        seed: seed of the augmentations.

    Returns:
        An :class:`ImageFeatures`.

    Example:
        >>> px = torch.randn(200, 64, generator=torch.Generator().manual_seed(0),
        ...                  dtype=torch.float64)
        >>> f = image_features(px, k=3)
        >>> f.U.shape, f.rho.round(3).tolist()
        ((64, 3), [0.947, 0.942, 0.881])
    """
    g = torch.Generator().manual_seed(seed)
    xs, ys = zip(*[(augment(pixels, g), augment(pixels, g)) for _ in range(VIEWS_PER_IMAGE)],
                 strict=True)
    X, Y = torch.cat(xs), torch.cat(ys)
    sxx = (X.T @ X / X.shape[0]).numpy()
    syx = (Y.T @ X / X.shape[0]).numpy()
    syx = (syx + syx.T) / 2
    ev, vecs = np.linalg.eigh(syx)
    U = vecs[:, ::-1][:, :k].copy()
    lam = ev[::-1][:k].copy()
    D = U.T @ sxx @ U
    sigma2 = np.diag(D).copy()
    norm = np.abs(D) / np.sqrt(np.outer(sigma2, sigma2))
    np.fill_diagonal(norm, 0.0)
    return ImageFeatures(U, lam, sigma2, lam / sigma2, float(norm.max()), pixels)


__all__ = ["ImageFeatures", "augment", "image_features", "load_pixels"]

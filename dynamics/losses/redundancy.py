"""Redundancy-reduction losses on the two views' projector outputs z1, z2 (B x d): Barlow Twins
and VICReg (the ``redundancy`` family of :data:`dynamics.losses.LOSSES`).

Barlow Twins (Zbontar et al., ICML 2021; official ``main.py``): each view standardised per
dimension over the batch (BatchNorm without affine parameters: biased variance, eps 1e-5), the
cross-correlation C = z1_hat^T z2_hat / B and

    L_BT = sum_i (1 - C_ii)^2 + lambda sum_{i != j} C_ij^2,      lambda = 0.0051.

VICReg (Bardes, Ponce & LeCun, ICLR 2022; official ``main_vicreg.py``):

    L = lambda_s s(Z, Z') + mu (v(Z) + v(Z'))/2 + nu (c(Z) + c(Z')),

s the mean squared error over batch and dimensions, v(Z) = (1/d) sum_j max(0, 1 -
sqrt(Var z_j + 1e-4)) with the unbiased variance, c(Z) = (1/d) sum_{i != j} Cov(Z)_ij^2 with
Cov = Zc^T Zc / (B - 1) after centring; lambda_s = mu = 25, nu = 1. (The official code averages
the two views' variance terms and sums their covariance terms; so does this one.)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from dynamics.losses.registry import LOSSES

BT_EPS = 1e-5  #: BatchNorm's eps in the standardisation of Barlow Twins
VICREG_EPS = 1e-4  #: inside the square root of VICReg's variance term


def _off_diagonal(m: Tensor) -> Tensor:
    return m - torch.diag_embed(torch.diagonal(m))


def barlow_twins_loss(z1: Tensor, z2: Tensor, lambd: float = 0.0051,
                      standardize: bool = True) -> Tensor:
    """L_BT of the module docstring (needs B >= 2). ``standardize=False`` skips the per-dimension
    standardisation, so that with ``lambd = 1`` the loss is ||z1^T z2 / B - I||_F^2, the
    spectral loss of the linear theory (:mod:`dynamics.theories.stepwise.model`, Simon et al.
    2023).

    Args:
        z1: projector outputs of view 1, torch tensor (B, d).
        z2: projector outputs of view 2, (B, d).
        lambd: weight lambda of the off-diagonal term (default 0.0051).
        standardize: standardise each dimension over the batch first (default True).

    Returns:
        Tensor: 0-d loss, differentiable in both views.

    Example:
        >>> import torch
        >>> z1 = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
        >>> z2 = torch.tensor([[1.0, 0.2], [0.0, 1.0], [-1.0, 1.0]])
        >>> barlow_twins_loss(z1, z2)
        tensor(1.0051)
        >>> barlow_twins_loss(z1, z2, lambd=1.0, standardize=False)
        tensor(1.3822)
    """
    b = z1.shape[0]
    if standardize:
        z1 = (z1 - z1.mean(0)) / torch.sqrt(z1.var(0, unbiased=False) + BT_EPS)
        z2 = (z2 - z2.mean(0)) / torch.sqrt(z2.var(0, unbiased=False) + BT_EPS)
    c = z1.T @ z2 / b
    on = (1.0 - torch.diagonal(c)).pow(2).sum()
    return on + lambd * _off_diagonal(c).pow(2).sum()


def vicreg_terms(z: Tensor) -> tuple[Tensor, Tensor]:
    """(v(Z), c(Z)) of one view (module docstring).

    Args:
        z: one view's projector outputs, torch tensor (B, d), B >= 2.

    Returns:
        tuple[Tensor, Tensor]: 0-d variance term v(Z) and covariance term c(Z).

    Example:
        >>> import torch
        >>> vicreg_terms(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
        (tensor(0.4226), tensor(0.0278))
    """
    n, d = z.shape
    zc = z - z.mean(0)
    v = F.relu(1.0 - torch.sqrt(zc.var(0, unbiased=True) + VICREG_EPS)).mean()
    cov = zc.T @ zc / (n - 1)
    return v, _off_diagonal(cov).pow(2).sum() / d


def vicreg_loss(z1: Tensor, z2: Tensor, sim: float = 25.0, std: float = 25.0,
                cov: float = 1.0) -> Tensor:
    """The VICReg loss of the module docstring (needs B >= 2).

    Args:
        z1: projector outputs of view 1, torch tensor (B, d).
        z2: projector outputs of view 2, (B, d).
        sim: invariance weight lambda_s (default 25).
        std: variance weight mu (default 25).
        cov: covariance weight nu (default 1).

    Returns:
        Tensor: 0-d loss.

    Example:
        >>> import torch
        >>> z1 = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
        >>> z2 = torch.tensor([[1.0, 0.2], [0.0, 1.0], [-1.0, 1.0]])
        >>> vicreg_loss(z1, z2)
        tensor(25.6657)
    """
    v1, c1 = vicreg_terms(z1)
    v2, c2 = vicreg_terms(z2)
    return sim * F.mse_loss(z1, z2) + std * (v1 + v2) / 2 + cov * (c1 + c2)


LOSSES.register("barlow_twins", barlow_twins_loss,
                doc="Barlow Twins: standardised cross-correlation to the identity",
                source="Zbontar et al. 2021", family="redundancy",
                args={"lambd": "lambd", "standardize": "standardize"})
LOSSES.register("vicreg", vicreg_loss, doc="VICReg: invariance + variance + covariance",
                source="Bardes, Ponce & LeCun 2022", family="redundancy",
                args={"sim": "sim_coeff", "std": "std_coeff", "cov": "cov_coeff"})

__all__ = ["barlow_twins_loss", "vicreg_loss", "vicreg_terms"]

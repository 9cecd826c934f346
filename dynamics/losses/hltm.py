"""The losses of the HLTM experiments of Tian, Yu, Chen & Ganguli 2020 (arXiv 2010.00578;
official code luckmatters ``ssl/hltm``), the ``hltm`` family of :data:`dynamics.losses.LOSSES`.

The losses (``pos``/``neg`` below are ``nn.MSELoss`` values, i.e. the mean of (f - f')^2 over the
batch
**and** the embedding dimensions, as in the official code):

* ``"nce"``: the official code's quirk L = -exp(-pos/tau) / (exp(-pos/tau) + exp(-neg/tau))
  = -sigmoid((neg - pos)/tau). It is the *probability* of picking the positive, not its log, and
  it is evaluated once on the batch-mean distances (not per sample). It lies in (-1, 0); L = -1/2
  when pos = neg, e.g. when the root output is constant (collapsed); with tau = 0.01 (the code's
  default) it saturates near -1 after about an epoch and the gradients vanish.
* ``"subtract"``: L_simp = pos - neg (the covariance-operator loss of Sec. 1.3).
* ``"infonce"`` (our choice of a standard InfoNCE): in-batch negatives, one direction, written as
  in Sec. 1.1 with r = 1/2 ||f - f'||^2: for anchor i the candidates are all the batch's second
  views f+_j, L = mean_i -tau * log softmax_j(-r_ij / tau)[i]. The factor tau keeps the gradient
  weights of Sec. 1.1 (d L / d r+ = sum_k xi_k < 1) so that SGD with the same lr is comparable to
  ``subtract``; the explicit negatives are not used. On unit vectors -r_ij/tau = (cos_ij - 1)/tau,
  i.e. the usual NT-Xent logits. Half of the in-batch "negatives" share the anchor's root label (the
  root is binary), exactly as the explicit negatives of the other two losses do.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from dynamics.losses.registry import LOSSES as ALL_LOSSES


def _pos(f: Tensor, f_pos: Tensor) -> Tensor:
    return torch.mean((f - f_pos) ** 2)


def nce_loss(f: Tensor, f_pos: Tensor, f_neg: Tensor | None, tau: float
             ) -> tuple[Tensor, Tensor, Tensor]:
    """The official code's quirk: -sigmoid((neg - pos)/tau), a probability from batch means.

    Args:
        f: anchor embeddings, torch tensor (B, D).
        f_pos: positive embeddings, (B, D).
        f_neg: negative embeddings, (B, D) (required despite the ``None`` in the type).
        tau: temperature (> 0; not checked).

    Returns:
        tuple[Tensor, Tensor, Tensor]: 0-d ``(L, pos, neg)``: the loss and the two
        ``nn.MSELoss``-style distances (mean of (f - f')^2 over batch and dimensions).

    Example:
        >>> import torch
        >>> f = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
        >>> f_pos = torch.tensor([[0.0, 1.0], [1.0, 1.0]])
        >>> f_neg = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
        >>> nce_loss(f, f_pos, f_neg, tau=1.0)
        (tensor(-0.6792), tensor(0.2500), tensor(1.))
    """
    pos, neg = _pos(f, f_pos), torch.mean((f - f_neg) ** 2)
    return -torch.sigmoid((neg - pos) / tau), pos, neg


def subtract_loss(f: Tensor, f_pos: Tensor, f_neg: Tensor | None, tau: float
                  ) -> tuple[Tensor, Tensor, Tensor]:
    """L_simp = pos - neg (the covariance-operator loss of Sec. 1.3).

    Args:
        f: anchor embeddings, torch tensor (B, D).
        f_pos: positive embeddings, (B, D).
        f_neg: negative embeddings, (B, D) (required despite the ``None`` in the type).
        tau: unused (kept for the common ``hltm`` call signature).

    Returns:
        tuple[Tensor, Tensor, Tensor]: 0-d ``(L, pos, neg)``: the loss and the two
        ``nn.MSELoss``-style distances (mean of (f - f')^2 over batch and dimensions).

    Example:
        >>> import torch
        >>> f = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
        >>> f_pos = torch.tensor([[0.0, 1.0], [1.0, 1.0]])
        >>> f_neg = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
        >>> subtract_loss(f, f_pos, f_neg, tau=1.0)
        (tensor(-0.7500), tensor(0.2500), tensor(1.))
    """
    pos, neg = _pos(f, f_pos), torch.mean((f - f_neg) ** 2)
    return pos - neg, pos, neg


def infonce_loss(f: Tensor, f_pos: Tensor, f_neg: Tensor | None, tau: float
                 ) -> tuple[Tensor, Tensor, Tensor]:
    """In-batch InfoNCE with r = 1/2 ||f - f'||^2, scaled by tau (module docstring).

    Args:
        f: anchor embeddings, torch tensor (B, D).
        f_pos: positive embeddings, (B, D).
        f_neg: unused (may be None): the negatives are the other rows of ``f_pos``.
        tau: temperature (> 0; not checked).

    Returns:
        tuple[Tensor, Tensor, Tensor]: 0-d ``(L, pos, neg)``: the loss and the two
        ``nn.MSELoss``-style distances (mean of (f - f')^2 over batch and dimensions);
        here ``neg`` is that mean over the in-batch pairs (i, j != i), detached. The
        cross-entropy targets ``torch.arange(B)`` are created on the default device.

    Example:
        >>> import torch
        >>> f = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
        >>> f_pos = torch.tensor([[0.0, 1.0], [1.0, 1.0]])
        >>> infonce_loss(f, f_pos, None, tau=1.0)
        (tensor(0.4741), tensor(0.2500), tensor(0.7500))
    """
    pos = _pos(f, f_pos)
    r = 0.5 * torch.cdist(f, f_pos) ** 2  # r_ij = 1/2 ||f_i - f+_j||^2
    target = torch.arange(f.shape[0])
    L = tau * nn.functional.cross_entropy(-r / tau, target)
    B = f.shape[0]
    neg = (2 * r.sum() - 2 * r.diagonal().sum()) / max(1, B * (B - 1)) / f.shape[1]
    return L, pos, neg.detach()


_SOURCE = "Tian, Yu, Chen & Ganguli 2020; official code ssl/hltm"
ALL_LOSSES.register("hltm_nce", nce_loss, source=_SOURCE, family="hltm", option="nce",
                    in_batch=False)
ALL_LOSSES.register("hltm_subtract", subtract_loss, source=_SOURCE, family="hltm",
                    option="subtract", in_batch=False)
ALL_LOSSES.register("hltm_infonce", infonce_loss, source="Tian et al. 2020, Sec. 1.1",
                    family="hltm", option="infonce", in_batch=True)

"""Exact expectations over a finite set of samples x augmentations (Tian, Yu, Chen & Ganguli
2020, arXiv 2010.00578, Sec. 1.3), re-exported by :mod:`dynamics.theories.dual_networks.operator`.

:func:`enumerate_tuples` lists every equally likely (anchor, positive, negatives) tuple on
x_aug of shape (N samples, A augmentations, n0); :func:`expected_loss` averages a loss of the
distances r = 1/2 ||f(x1) - f(x')||^2 over them (autograd-able) and
:func:`expected_update_operator` gives the exact expected update M_l vec(W_l) =
-grad_{vec W_l} E[loss] for a general loss of the distances (soft triplet, InfoNCE), gates
fixed. Conventions as in :mod:`dynamics.theories.dual_networks.operator`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from dynamics.errors import ConfigError, check_range
from dynamics.theories.dual_networks.connection import LayeredNet, _check_x_aug, connection_matrix
from dynamics.threads import with_thread_policy

MAX_TUPLES = 5_000_000


def enumerate_tuples(N: int, A: int, num_negatives: int = 1) -> tuple[Tensor, Tensor, Tensor]:
    """All equally likely (anchor, positive, negatives) tuples on N samples x A augmentations.

    Points are flat indices n A + a into x_aug.reshape(N A, n0). The anchor is any point, the
    positive any augmentation of the anchor's sample (the anchor itself included, probability
    1/A), each of the H = ``num_negatives`` negatives any point. Returns (anchor (T,),
    positive (T,), negatives (T, H)) with T = N A * A * (N A)^H.

    Args:
        N: number of samples.
        A: number of augmentations per sample.
        num_negatives: H >= 1 (ConfigError when T > ``MAX_TUPLES``).

    Returns:
        (anchor, positive, negatives), int64 tensors of flat point indices.

    Example:
        >>> anchor, positive, negatives = enumerate_tuples(2, 2)
        >>> anchor.shape, negatives.shape
        (torch.Size([32]), torch.Size([32, 1]))
    """
    check_range("num_negatives", num_negatives, low=1)
    H = int(num_negatives)
    M = N * A
    T = M * A * M**H
    if T > MAX_TUPLES:
        raise ConfigError(
            "num_negatives",
            f"enumeration has {T} tuples (N A * A * (N A)^H), more than {MAX_TUPLES}; use fewer "
            "samples, augmentations or negatives",
        )
    grids = [torch.arange(M), torch.arange(A)] + [torch.arange(M)] * H
    idx = torch.cartesian_prod(*grids).reshape(T, 2 + H)
    anchor = idx[:, 0]
    positive = (anchor // A) * A + idx[:, 1]
    return anchor, positive, idx[:, 2:]


LossOfDistances = Callable[[Tensor, Tensor], Tensor]


def _tuple_distances(net: LayeredNet, x_aug: Tensor, num_negatives: int):
    x_aug, N, A = _check_x_aug(net, x_aug)
    f = net(x_aug.reshape(N * A, -1))
    anchor, positive, negatives = (t.to(f.device) for t in enumerate_tuples(N, A, num_negatives))
    R = 0.5 * ((f.unsqueeze(1) - f.unsqueeze(0)) ** 2).sum(-1)
    return anchor, positive, negatives, R[anchor, positive], R[anchor.unsqueeze(1), negatives]


def expected_loss(
    net: LayeredNet, x_aug: Tensor, loss_fn: LossOfDistances, num_negatives: int = 1
) -> Tensor:
    """Exact E[loss_fn(r+, r-)] over all tuples of :func:`enumerate_tuples` (autograd-able).

    ``loss_fn(r_pos (T,), r_neg (T, H)) -> (T,)`` is a per-tuple loss of the distances
    r = 1/2 ||f(x1) - f(x')||^2, e.g. ``lambda rp, rn: soft_triplet(rp, rn[:, 0], tau)`` or
    ``lambda rp, rn: infonce_from_distances(rp, rn, tau)``.

    Args:
        net: the :class:`~dynamics.theories.dual_networks.connection.LayeredNet`.
        x_aug: the finite set, (N, A, n0), torch or numpy.
        loss_fn: the per-tuple loss, returning shape (T,) (else ConfigError).
        num_negatives: H >= 1, negatives per tuple.

    Returns:
        The expected loss, a 0-d tensor with the autograd graph to the net's weights.

    Example:
        >>> from dynamics.theories.dual_networks.connection import LayeredNet
        >>> net = LayeredNet([3, 4, 2], generator=torch.Generator().manual_seed(0))
        >>> loss = expected_loss(net, torch.randn(5, 2, 3), lambda rp, rn: rp - rn[:, 0])
        >>> loss.shape, loss.requires_grad
        (torch.Size([]), True)
    """
    *_, r_pos, r_neg = _tuple_distances(net, x_aug, num_negatives)
    return _call_loss(loss_fn, r_pos, r_neg).mean()


def _call_loss(loss_fn: LossOfDistances, r_pos: Tensor, r_neg: Tensor) -> Tensor:
    out = loss_fn(r_pos, r_neg)
    if out.shape != r_pos.shape:
        raise ConfigError(
            "loss_fn",
            f"must return one loss per tuple, shape {tuple(r_pos.shape)}, got {tuple(out.shape)}",
        )
    return out


@with_thread_policy
def expected_update_operator(
    net: LayeredNet,
    x_aug: Tensor,
    layer: int,
    loss_fn: LossOfDistances,
    num_negatives: int = 1,
) -> Tensor:
    """M_l (P x P, symmetric) with M_l vec(W_l) = -grad_{vec W_l} E[loss] exactly (gates fixed).

    With d_+ = K_l(x1) - K_l(x+), d_k = K_l(x1) - K_l(x_k-), alpha = dL/dr+ and
    xi_k = -dL/dr_k- evaluated per tuple at the current weights (r = 1/2 ||.||^2, so
    dr/dvec(W_l) = d d^T vec(W_l)):

        M_l = E[ sum_k xi_k d_k d_k^T - alpha d_+ d_+^T ].

    For InfoNCE and the soft triplet alpha = sum_k xi_k, so this is the exact expected update
    E[sum_k xi_k (d_k d_k^T - d_+ d_+^T)] vec(W_l) of Sec. 1.3; for L_simp (xi = alpha = 1) it
    is 2 V[Kbar_l]. The paper's decomposition of it into a weighted covariance operator plus a
    residue is NOT implemented or verified here. ``loss_fn`` as in :func:`expected_loss`; the
    expectation is over :func:`enumerate_tuples`.

    Args:
        net: the :class:`~dynamics.theories.dual_networks.connection.LayeredNet`.
        x_aug: the finite set, (N, A, n0), torch or numpy.
        layer: l, 1-based (1..L).
        loss_fn: the per-tuple loss of the distances, as in :func:`expected_loss`.
        num_negatives: H >= 1, negatives per tuple.

    Returns:
        M_l, a detached symmetric tensor (P, P), P = n_{l-1} n_l.

    Example:
        >>> from dynamics.theories.dual_networks.operator import (
        ...     LayeredNet, simple_loss_gradient_operator)
        >>> net = LayeredNet([3, 4, 2], generator=torch.Generator().manual_seed(0))
        >>> x_aug = torch.randn(5, 2, 3, dtype=torch.float64)
        >>> M = expected_update_operator(net, x_aug, 1, lambda rp, rn: rp - rn[:, 0])
        >>> torch.allclose(M, 2 * simple_loss_gradient_operator(net, x_aug, 1))  # L_simp
        True
    """
    x_aug, N, A = _check_x_aug(net, x_aug)
    layer = net._check_layer(layer)
    with torch.no_grad():
        anchor, positive, negatives, r_pos, r_neg = _tuple_distances(net, x_aug, num_negatives)
    with torch.enable_grad():
        r_pos = r_pos.detach().requires_grad_(True)
        r_neg = r_neg.detach().requires_grad_(True)
        total = _call_loss(loss_fn, r_pos, r_neg).sum()
        g_pos, g_neg = torch.autograd.grad(total, (r_pos, r_neg))
    T = r_pos.shape[0]
    M_pts = N * A
    # pair weights C[a, b]: M = sum_{a,b} C_ab (K_a - K_b)(K_a - K_b)^T / T
    C = torch.zeros(M_pts * M_pts, dtype=r_pos.dtype, device=r_pos.device)
    C.index_add_(0, anchor * M_pts + positive, -g_pos)  # -alpha
    C.index_add_(
        0, (anchor.unsqueeze(1) * M_pts + negatives).reshape(-1), -g_neg.reshape(-1)
    )  # +xi_k
    C = C.reshape(M_pts, M_pts) / T
    with torch.no_grad():
        K = connection_matrix(net, x_aug.reshape(M_pts, -1), layer)
        deg = C.sum(0) + C.sum(1)
        diag_term = torch.einsum("a,apo,aqo->pq", deg, K, K)
        cross = torch.einsum("apo,aqo->pq", K, torch.einsum("ab,bqo->aqo", C, K))
        out = diag_term - cross - cross.T
    return (out + out.T) / 2

"""Contrastive losses as functions of embeddings (torch, autograd-friendly).

Two families (Tian, Yu, Chen & Ganguli 2020; Yeh et al. 2022, DCL):

* **Distance losses** of Tian, Yu, Chen & Ganguli 2020 (arXiv 2010.00578), written as functions
  of the pairwise distances (r+, r-): :func:`simple_contrastive`, :func:`soft_triplet`,
  :func:`infonce_from_distances`. They are element-wise per tuple (no reduction), so they can be
  averaged exactly over an enumerated set of tuples (see
  :mod:`dynamics.theories.dual_networks.operator`). The distances come from :func:`pair_distance` /
  :func:`pairwise_distances` with an explicit ``convention``:

  - ``"half_sq"``: r = 1/2 ||f - f'||^2, the paper's (Tian's) convention, on raw embeddings;
  - ``"cosine"``:  r = 1 - cos(f, f'), what the official code uses (unit vectors); on unit
    vectors the two coincide, 1/2 ||u - u'||^2 = 1 - <u, u'>.

* **Batch losses** (in :mod:`dynamics.losses.contrastive`) on two views z1, z2 of shape
  (N, d) (row i of z1 and of z2 are the two views of sample i). All of them L2-normalise z1
  and z2 internally (cosine similarity, as SimCLR, DCL and the luckmatters code do) and
  average over the 2N anchors (both directions), returning a scalar; ``reduction="none"``
  gives a (2, N) tensor, row 0 = anchors z1 (positive z2), row 1 = anchors z2 (positive
  z1). Negatives of anchor z_i^(k) are the 2N - 2 vectors {z_j^(1), z_j^(2) : j != i} (the
  SimCLR "NT-Xent" layout).

The batch losses are entries of the toolkit's one loss registry, :data:`dynamics.losses.LOSSES`
(family ``contrastive``).

Inputs (:func:`dynamics.inputs.as_tensors`, the metrics' convention): torch tensors or numpy
arrays, numpy out only when every array argument is numpy. Torch inputs are NOT detached.
Integers/booleans become float64 (exact; no gradient), float16/bfloat16 float32, and mixed float
dtypes are computed in the wider one. Bad input raises :class:`~dynamics.errors.ConfigError`
naming the argument before any computation: shapes that do not fit (both named), NaN/Inf, and
where embeddings are L2-normalised (batch losses, :func:`ntxent_distances`, ``"cosine"``) an
all-zero row (its index named). The value checks cost one pass and ONE host sync per call;
``check=False`` skips them (for a training step whose loss is NaN-guarded without syncs).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from dynamics.errors import ConfigError, check_choice, check_range
from dynamics.inputs import as_output, as_tensors

CONVENTIONS = ("half_sq", "cosine")
REDUCTIONS = ("mean", "none")


def _check_tau(tau: float, field: str = "tau") -> None:
    check_range(field, tau, low=0.0, low_open=True)


def _arrays(named: list[tuple[str, Any]], check: bool, shapes: Callable[..., None],
            nonzero_rows: bool = False) -> tuple[list[Tensor], bool]:
    return as_tensors(named, detach=False, check=check, shapes=shapes, nonzero_rows=nonzero_rows)


def _same_shape(r_pos: Tensor, r_neg: Tensor) -> None:
    if r_pos.shape != r_neg.shape:
        raise ConfigError("r_neg", f"must have the shape of r_pos {tuple(r_pos.shape)}, got "
                                   f"{tuple(r_neg.shape)}")


# ---------------------------------------------------------------------------------------------
# distances
# ---------------------------------------------------------------------------------------------


def pair_distance(f: Tensor, f_prime: Tensor, convention: str = "half_sq", *,
                  check: bool = True) -> Tensor:
    """Distance r between embeddings along the last axis (broadcasting over the others).

    ``"half_sq"``: r = 1/2 ||f - f'||^2 (Tian et al. 2020). ``"cosine"``: r = 1 - cos(f, f')
    (luckmatters code; equal to 1/2 ||u - u'||^2 for the unit vectors u = f/||f||; all-zero rows
    are refused). ``f`` and ``f_prime``: the same last axis, broadcastable leading axes.

    Args:
        f: embeddings, shape (..., d); torch tensor or numpy array (numpy out only when both
            inputs are numpy; torch inputs are not detached).
        f_prime: embeddings, shape (..., d), leading axes broadcasting against ``f``'s.
        convention: ``"half_sq"`` (default) or ``"cosine"``.
        check: check values (finite, and no all-zero row for ``"cosine"``; one host sync);
            shapes are always checked.

    Returns:
        Tensor: r of the broadcast leading shape (the last axis is reduced).

    Example:
        >>> import torch
        >>> pair_distance(torch.tensor([[1.0, 0.0], [0.0, 2.0]]), torch.tensor([1.0, 1.0]))
        tensor([0.5000, 1.0000])
        >>> pair_distance(torch.tensor([2.0, 0.0]), torch.tensor([0.0, 1.0]), "cosine")
        tensor(1.)
    """
    check_choice("convention", convention, CONVENTIONS)
    (f, f_prime), was_numpy = _arrays([("f", f), ("f_prime", f_prime)], check, _check_broadcast,
                                      nonzero_rows=convention == "cosine")
    return as_output(_pair_distance(f, f_prime, convention), was_numpy)


def _check_broadcast(f: Tensor, f_prime: Tensor) -> None:
    try:  # broadcast_shapes raises when the leading axes do not broadcast
        ok = f.ndim >= 1 and f_prime.ndim >= 1 and f.shape[-1] == f_prime.shape[-1]
        ok = ok and torch.broadcast_shapes(f.shape[:-1], f_prime.shape[:-1]) is not None
    except RuntimeError:
        ok = False
    if not ok:
        raise ConfigError("f_prime", f"must have f's last (embedding) axis and broadcast against "
                                     f"it: f {tuple(f.shape)}, f_prime {tuple(f_prime.shape)}")


def _pair_distance(f: Tensor, f_prime: Tensor, convention: str) -> Tensor:
    if convention == "half_sq":
        return 0.5 * ((f - f_prime) ** 2).sum(-1)
    return 1.0 - F.cosine_similarity(f, f_prime, dim=-1)


def pairwise_distances(anchor: Tensor, positive: Tensor, negatives: Tensor,
                       convention: str = "half_sq", *, check: bool = True) -> tuple[Tensor, Tensor]:
    """(r+, r-) for anchors (B, d), positives (B, d) and negatives (B, H, d) or (B, d).

    Args:
        anchor: anchors, shape (B, d) (any leading axes (..., d) work the same way); torch
            tensor or numpy array (numpy out only when all three are numpy).
        positive: positives, the shape of ``anchor``.
        negatives: H negatives per anchor, shape (B, H, d), or one, shape (B, d).
        convention: ``"half_sq"`` (default) or ``"cosine"`` (see :func:`pair_distance`).
        check: check values (finite, and no all-zero row for ``"cosine"``; one host sync);
            shapes are always checked.

    Returns:
        tuple[Tensor, Tensor]: r_pos of shape (B,) and r_neg of shape (B, H) (or (B,) for a
        (B, d) negative), with the distance :func:`pair_distance` of the given ``convention``.

    Example:
        >>> import torch
        >>> r_pos, r_neg = pairwise_distances(torch.zeros(2, 3), torch.ones(2, 3),
        ...                                   torch.ones(2, 4, 3))
        >>> r_pos, r_neg.shape
        (tensor([1.5000, 1.5000]), torch.Size([2, 4]))
    """
    check_choice("convention", convention, CONVENTIONS)
    named = [("anchor", anchor), ("positive", positive), ("negatives", negatives)]
    (anchor, positive, negatives), was_numpy = _arrays(named, check, _check_tuple_shapes,
                                                       nonzero_rows=convention == "cosine")
    r_pos = _pair_distance(anchor, positive, convention)
    if negatives.ndim > anchor.ndim:
        anchor = anchor.unsqueeze(-2)
    r_neg = _pair_distance(anchor, negatives, convention)
    return as_output(r_pos, was_numpy), as_output(r_neg, was_numpy)


def _check_tuple_shapes(anchor: Tensor, positive: Tensor, negatives: Tensor) -> None:
    a, p, n = tuple(anchor.shape), tuple(positive.shape), tuple(negatives.shape)
    if anchor.ndim < 1:
        raise ConfigError("anchor", f"must have shape (B, d), got {a}")
    if p != a:
        raise ConfigError("positive", f"must match the anchor shape {a}, got {p}")
    if n != a and (len(n) != len(a) + 1 or n[:-2] != a[:-1] or n[-1] != a[-1]):
        raise ConfigError("negatives", f"must have shape (B, d) or (B, H, d) for anchors {a}, "
                                       f"got {n}")


def _views(z1: Any, z2: Any, check: bool, tau: float | None = None,
           reduction: str = "mean") -> tuple[Tensor, Tensor, bool]:
    """Options first (``tau`` > 0 unless None, ``reduction``), then the two views as tensors of
    one dtype/device: (N, d) each, N >= 2, d >= 1, the same shape; with ``check`` also finite
    and without all-zero rows (they are L2-normalised)."""
    if tau is not None:
        _check_tau(tau)
    check_choice("reduction", reduction, REDUCTIONS)
    (z1, z2), was_numpy = _arrays([("z1", z1), ("z2", z2)], check, _check_views, True)
    return z1, z2, was_numpy


def _check_views(z1: Tensor, z2: Tensor) -> None:
    if z1.ndim != 2 or z1.shape[1] < 1:
        raise ConfigError("z1", f"must have shape (N, d) with d >= 1, got {tuple(z1.shape)}")
    if z2.shape != z1.shape:
        raise ConfigError("z2", f"must match z1's shape {tuple(z1.shape)}, got {tuple(z2.shape)}")
    if z1.shape[0] < 2:
        raise ConfigError("z1", f"needs a batch of N >= 2 samples (negatives), got {z1.shape[0]}")


def _reduce(per_anchor: Tensor, reduction: str, was_numpy: bool) -> Tensor:
    return as_output(per_anchor.mean() if reduction == "mean" else per_anchor, was_numpy)


def ntxent_distances(z1: Tensor, z2: Tensor, *, check: bool = True) -> tuple[Tensor, Tensor]:
    """r = 1 - cos in the SimCLR NT-Xent layout, as in luckmatters ``loss/nt_xent.py``.

    Rows are the 2N anchors [z1; z2]. Returns r_pos (2N,) (anchor i with its other view) and
    r_neg (2N, 2N - 2) (the anchor against every other row except itself and its positive,
    in increasing row order).

    Args:
        z1: first views, (N, d) with N >= 2, no all-zero row; torch tensor or numpy array
            (numpy out only when both are numpy).
        z2: second views, the shape of ``z1``.
        check: check values (finite, no all-zero row; one host sync); shapes are always checked.

    Returns:
        tuple[Tensor, Tensor]: ``(r_pos, r_neg)`` of shapes (2N,) and (2N, 2N - 2), in [0, 2].

    Example:
        >>> import torch
        >>> z1 = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
        >>> z2 = torch.tensor([[1.0, 0.2], [0.0, 1.0], [-1.0, 1.0]])
        >>> r_pos, r_neg = ntxent_distances(z1, z2)
        >>> r_pos, r_neg.shape
        (tensor([0.0194, 0.0000, 1.0000, 0.0194, 0.0000, 1.0000]), torch.Size([6, 4]))
    """
    z1, z2, was_numpy = _views(z1, z2, check)
    r_pos, r_neg = _ntxent_distances(z1, z2)
    return as_output(r_pos, was_numpy), as_output(r_neg, was_numpy)


def _ntxent_distances(z1: Tensor, z2: Tensor) -> tuple[Tensor, Tensor]:
    N = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2], dim=0), dim=1)
    sim = z @ z.T
    idx = torch.arange(2 * N, device=z.device)
    pos_idx = (idx + N) % (2 * N)
    r_pos = 1.0 - sim[idx, pos_idx]
    keep = torch.ones(2 * N, 2 * N, dtype=torch.bool, device=z.device)
    keep[idx, idx] = False
    keep[idx, pos_idx] = False
    r_neg = 1.0 - sim[keep].view(2 * N, 2 * N - 2)
    return r_pos, r_neg


# ---------------------------------------------------------------------------------------------
# losses of the distances (Tian et al. 2020, Sec. 1.1)
# ---------------------------------------------------------------------------------------------


def simple_contrastive(r_pos: Tensor, r_neg: Tensor, *, check: bool = True) -> Tensor:
    """L_simp = r+ - r- (one negative, H = 1), element-wise, no reduction (Tian et al. 2020).

    ``r_pos`` and ``r_neg`` must have the same shape (no broadcasting: pass ``r_neg[:, 0]``
    for a (B, 1) negative). Its gradient weights are the constants dL/dr+ = 1, dL/dr- = -1,
    which is what makes the expected update the covariance operator 2 V_{x0}[Kbar] vec(W)
    (Sec. 1.3).

    Args:
        r_pos: positive distances, any shape; torch tensor or numpy array (numpy out only
            when both are numpy).
        r_neg: negative distances, the shape of ``r_pos``.
        check: check values (finite; one host sync); shapes are always checked.

    Returns:
        Tensor: ``r_pos - r_neg``, the shape of the inputs.

    Example:
        >>> import torch
        >>> simple_contrastive(torch.tensor([0.1, 0.5]), torch.tensor([0.4, 0.2]))
        tensor([-0.3000,  0.3000])
    """
    (r_pos, r_neg), was_numpy = _arrays([("r_pos", r_pos), ("r_neg", r_neg)], check, _same_shape)
    return as_output(r_pos - r_neg, was_numpy)


def soft_triplet(r_pos: Tensor, r_neg: Tensor, tau: float, margin: float = 0.0, *,
                 check: bool = True) -> Tensor:
    """L_tri = tau log(1 + exp((r+ - r- + r0)/tau)), margin r0 = ``margin`` >= 0 (Tian et al.
    2020), element-wise, no reduction; computed as tau softplus(.) for stability. ``r_pos``
    and ``r_neg`` must have the same shape.

    dL/dr+ = -dL/dr- = sigmoid((r+ - r- + r0)/tau). Tends to max(0, r+ - r- + r0) as tau -> 0.

    Args:
        r_pos: positive distances, any shape; torch tensor or numpy array (numpy out only
            when both are numpy).
        r_neg: negative distances, the shape of ``r_pos``.
        tau: temperature, > 0.
        margin: r0, >= 0 (default 0).
        check: check values (finite; one host sync); shapes are always checked.

    Returns:
        Tensor: L_tri, the shape of the inputs (positive).

    Example:
        >>> import torch
        >>> soft_triplet(torch.tensor([0.1, 0.5]), torch.tensor([0.4, 0.2]), tau=0.1)
        tensor([0.0049, 0.3049])
    """
    _check_tau(tau)
    check_range("margin", margin, low=0.0)
    (r_pos, r_neg), was_numpy = _arrays([("r_pos", r_pos), ("r_neg", r_neg)], check, _same_shape)
    return as_output(tau * F.softplus((r_pos - r_neg + margin) / tau), was_numpy)


def infonce_from_distances(r_pos: Tensor, r_negs: Tensor, tau: float, *,
                           check: bool = True) -> Tensor:
    """L_nce = -tau log[e^{-r+/tau} / (e^{-r+/tau} + sum_k e^{-r_k-/tau})] (Tian et al. 2020).

    ``r_pos`` has shape (...,), ``r_negs`` (..., H); element-wise over the leading axes, no
    reduction. Note the tau prefactor (so the loss is in distance units): with r = 1 - cos this
    is tau times the usual SimCLR/NT-Xent row loss. For H = 1 it equals
    :func:`soft_triplet` with margin 0. Gradient weights: dL/dr_k- = -xi_k with
    xi_k = e^{-r_k-/tau} / Z (Z the full denominator) and dL/dr+ = sum_k xi_k < 1.

    Args:
        r_pos: positive distances, shape (...,); torch tensor or numpy array (numpy out only
            when both are numpy).
        r_negs: negative distances, shape ``r_pos.shape + (H,)``.
        tau: temperature, > 0.
        check: check values (finite; one host sync); shapes are always checked.

    Returns:
        Tensor: L_nce of shape ``r_pos.shape`` (positive).

    Example:
        >>> import torch
        >>> infonce_from_distances(torch.tensor([0.1]), torch.tensor([[0.4, 0.9]]), tau=0.5)
        tensor([0.2800])
    """
    _check_tau(tau)
    (r_pos, r_negs), was_numpy = _arrays([("r_pos", r_pos), ("r_negs", r_negs)], check,
                                         _check_negs_shape)
    logits = torch.cat([-r_pos.unsqueeze(-1), -r_negs], dim=-1) / tau
    return as_output(tau * torch.logsumexp(logits, dim=-1) + r_pos, was_numpy)


def _check_negs_shape(r_pos: Tensor, r_negs: Tensor) -> None:
    if r_negs.ndim != r_pos.ndim + 1 or r_negs.shape[:-1] != r_pos.shape:
        raise ConfigError("r_negs", f"must have shape r_pos.shape + (H,) = {tuple(r_pos.shape)} "
                                    f"+ (H,), got {tuple(r_negs.shape)}")

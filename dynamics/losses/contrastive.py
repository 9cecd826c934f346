"""Batch contrastive losses on two views z1, z2 of shape (N, d): InfoNCE / NT-Xent (Chen et al.
2020), DCL and DCLW (Yeh et al. 2022), the exact-covariance InfoNCE of Tian et al. 2020's code,
the NPC multiplier, and the alignment + uniformity loss of Wang & Isola (ICML 2020; the
detached metric versions are in :mod:`dynamics.metrics.alignment_uniformity`). Conventions and
input checks: :mod:`dynamics.losses.distance`.

Each loss registers itself in :data:`dynamics.losses.LOSSES` (family ``contrastive``, called as
``fn(z1, z2, **kwargs)``; the ``args`` tag names the ``method.*`` config field of each keyword).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from dynamics.errors import ConfigError, check_range
from dynamics.inputs import as_output
from dynamics.losses.distance import _arrays, _check_tau, _ntxent_distances, _reduce, _views
from dynamics.losses.registry import LOSSES


def _view_logits(z1: Tensor, z2: Tensor, tau: float) -> tuple[Tensor, Tensor]:
    """Positive logits s_i/tau (2, N) and negative logits (2, N, 2N) with -inf at j = i.

    Direction 0: anchor z_i^(1), negatives [z_j^(1), z_j^(2)]_j; direction 1: anchor z_i^(2),
    negatives [z_j^(2), z_j^(1)]_j. Both use unit vectors. The inputs are checked already.
    """
    N = z1.shape[0]
    u1, u2 = F.normalize(z1, dim=1), F.normalize(z2, dim=1)
    s12 = u1 @ u2.T
    pos = torch.diagonal(s12) / tau
    eye = torch.eye(N, dtype=torch.bool, device=z1.device)
    mask = torch.cat([eye, eye], dim=1)
    neg1 = torch.cat([u1 @ u1.T, s12], dim=1) / tau
    neg2 = torch.cat([u2 @ u2.T, s12.T], dim=1) / tau
    neg = torch.stack([neg1, neg2]).masked_fill(mask, float("-inf"))
    return torch.stack([pos, pos]), neg


def nt_xent(z1: Tensor, z2: Tensor, tau: float, reduction: str = "mean", *,
            check: bool = True) -> Tensor:
    """SimCLR InfoNCE / NT-Xent (Chen et al. 2020) on L2-normalised views (normalised here).

    For anchor z_i^(k) with positive z_i^(k') and the 2N - 2 negatives {z_j^(l) : j != i}:
    L_i^(k) = -log[ e^{s_i/tau} / (e^{s_i/tau} + U_{i,k}) ], s_i = <z_i^(1), z_i^(2)>,
    U_{i,k} = sum_{l, j != i} e^{<z_i^(k), z_j^(l)>/tau}. Mean over the 2N anchors (both
    directions), i.e. cross-entropy over each row of the 2N x 2N similarity matrix with the
    diagonal removed. No tau prefactor: tau * L_i^(k) = :func:`infonce_from_distances` with
    r = 1 - cos (the e^{1/tau} factors cancel).

    Args:
        z1: first views, (N, d) with N >= 2, d >= 1, no all-zero row; torch tensor or numpy
            array (numpy out only when both are numpy; torch inputs are not detached).
        z2: second views, the shape of ``z1`` (row i of each: the two views of sample i).
        tau: temperature, > 0.
        reduction: ``"mean"`` (scalar) or ``"none"`` (the per-anchor losses).
        check: check values (finite, no all-zero row; one host sync); shapes always checked.

    Returns:
        Tensor: 0-d (``"mean"``) or (2, N) (``"none"``: row 0 anchors z1, row 1 anchors z2).

    Example:
        >>> import torch
        >>> z1 = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
        >>> z2 = torch.tensor([[1.0, 0.2], [0.0, 1.0], [-1.0, 1.0]])
        >>> nt_xent(z1, z2, tau=0.5)
        tensor(1.4047)
        >>> nt_xent(z1, z2, tau=0.5, reduction="none")
        tensor([[0.6389, 0.8957, 2.9243],
                [0.7911, 0.8957, 2.2823]])
    """
    z1, z2, was_numpy = _views(z1, z2, check, tau, reduction)
    pos, neg = _view_logits(z1, z2, tau)
    denom = torch.logsumexp(torch.cat([pos.unsqueeze(-1), neg], dim=-1), dim=-1)
    return _reduce(denom - pos, reduction, was_numpy)


def npc_multiplier(z1: Tensor, z2: Tensor, tau: float, *, check: bool = True) -> Tensor:
    """Negative-positive coupling multiplier of DCL (Yeh et al. 2022, Proposition 1), (2, N).

    q_{B,i}^(k) = 1 - e^{s_i/tau} / (e^{s_i/tau} + U_{i,k}) in (0, 1), on unit vectors; row 0 is
    k = 1 (anchors z1), row 1 is k = 2. Every partial gradient of the InfoNCE loss L_i^(k)
    equals q_{B,i}^(k) times that of the DCL loss L_DC,i^(k).

    Args:
        z1: first views, (N, d) with N >= 2, d >= 1, no all-zero row; torch tensor or numpy
            array (numpy out only when both are numpy; torch inputs are not detached).
        z2: second views, the shape of ``z1`` (row i of each: the two views of sample i).
        tau: temperature, > 0.
        check: check values (finite, no all-zero row; one host sync); shapes always checked.

    Returns:
        Tensor: q of shape (2, N) (not detached).

    Example:
        >>> import torch
        >>> z1 = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
        >>> z2 = torch.tensor([[1.0, 0.2], [0.0, 1.0], [-1.0, 1.0]])
        >>> npc_multiplier(z1, z2, tau=0.5)
        tensor([[0.4721, 0.5917, 0.9463],
                [0.5467, 0.5917, 0.8980]])
    """
    z1, z2, was_numpy = _views(z1, z2, check, tau)
    pos, neg = _view_logits(z1, z2, tau)
    log_u = torch.logsumexp(neg, dim=-1)
    # 1 - e^p/(e^p + U) = U/(e^p + U) = sigmoid(log U - p)
    return as_output(torch.sigmoid(log_u - pos), was_numpy)


def dcl(z1: Tensor, z2: Tensor, tau: float, reduction: str = "mean", *,
        check: bool = True) -> Tensor:
    """Decoupled contrastive loss (Yeh et al., ECCV 2022, arXiv 2110.06848) on unit vectors.

    L_DC,i^(k) = -s_i/tau + log sum_{l, j != i} e^{<z_i^(k), z_j^(l)>/tau}: InfoNCE with the
    positive removed from the denominator, so its gradients are InfoNCE's divided by the NPC
    multiplier q (q == 1). Mean over the 2N anchors; the reference code
    (raminnakhli/Decoupled-Contrastive-Learning) returns loss(z1, z2) + loss(z2, z1), which is
    twice this, and masks j = i with a 1e-45 weight instead of exactly.

    Args:
        z1: first views, (N, d) with N >= 2, d >= 1, no all-zero row; torch tensor or numpy
            array (numpy out only when both are numpy; torch inputs are not detached).
        z2: second views, the shape of ``z1`` (row i of each: the two views of sample i).
        tau: temperature, > 0.
        reduction: ``"mean"`` (scalar) or ``"none"`` ((2, N), layout of :func:`nt_xent`).
        check: check values (finite, no all-zero row; one host sync); shapes always checked.

    Returns:
        Tensor: 0-d (``"mean"``) or (2, N) (``"none"``). Can be negative.

    Example:
        >>> import torch
        >>> z1 = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
        >>> z2 = torch.tensor([[1.0, 0.2], [0.0, 1.0], [-1.0, 1.0]])
        >>> dcl(z1, z2, tau=0.5)
        tensor(0.9768)
    """
    z1, z2, was_numpy = _views(z1, z2, check, tau, reduction)
    pos, neg = _view_logits(z1, z2, tau)
    return _reduce(torch.logsumexp(neg, dim=-1) - pos, reduction, was_numpy)


def dclw_weights(z1: Tensor, z2: Tensor, sigma: float = 0.5, *, check: bool = True) -> Tensor:
    """DCLW positive weights w_i = 2 - exp(s_i/sigma) / mean_j exp(s_j/sigma).

    Equivalently w_i = 2 - N softmax(s/sigma)_i, with s_i the cosine of the two views of
    sample i. They average to exactly 1 over the batch; harder
    positives (lower s_i) get w_i > 1. Not detached (as in the reference code).

    Args:
        z1: first views, (N, d) with N >= 2, d >= 1, no all-zero row; torch tensor or numpy
            array (numpy out only when both are numpy; torch inputs are not detached).
        z2: second views, the shape of ``z1`` (row i of each: the two views of sample i).
        sigma: von Mises-Fisher temperature, > 0 (default 0.5).
        check: check values (finite, no all-zero row; one host sync); shapes always checked.

    Returns:
        Tensor: w of shape (N,), mean 1.

    Example:
        >>> import torch
        >>> z1 = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
        >>> z2 = torch.tensor([[1.0, 0.2], [0.0, 1.0], [-1.0, 1.0]])
        >>> dclw_weights(z1, z2)
        tensor([0.6240, 0.5695, 1.8064])
    """
    check_range("sigma", sigma, low=0.0, low_open=True)
    z1, z2, was_numpy = _views(z1, z2, check)
    return as_output(_dclw_weights(z1, z2, sigma), was_numpy)


def _dclw_weights(z1: Tensor, z2: Tensor, sigma: float) -> Tensor:
    s = F.cosine_similarity(z1, z2, dim=1)
    return 2.0 - z1.shape[0] * torch.softmax(s / sigma, dim=0)


def dclw(z1: Tensor, z2: Tensor, tau: float, sigma: float = 0.5, reduction: str = "mean", *,
         check: bool = True) -> Tensor:
    """Weighted DCL (Yeh et al. 2022): L_i^(k) = -w_i s_i/tau + log sum_{l, j != i} e^{<z_i^(k),
    z_j^(l)>/tau}, with the von Mises-Fisher weights w_i of :func:`dclw_weights` (sigma = 0.5 by
    default, as in the paper). The weights are NOT detached, matching the reference code, so
    they also carry gradient. Mean over the 2N anchors (half the reference code's symmetric sum).

    Args:
        z1: first views, (N, d) with N >= 2, d >= 1, no all-zero row; torch tensor or numpy
            array (numpy out only when both are numpy; torch inputs are not detached).
        z2: second views, the shape of ``z1`` (row i of each: the two views of sample i).
        tau: temperature, > 0.
        sigma: weight temperature of :func:`dclw_weights`, > 0.
        reduction: ``"mean"`` (scalar) or ``"none"`` ((2, N), layout of :func:`nt_xent`).
        check: check values (finite, no all-zero row; one host sync); shapes always checked.

    Returns:
        Tensor: 0-d (``"mean"``) or (2, N) (``"none"``).

    Example:
        >>> import torch
        >>> z1 = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
        >>> z2 = torch.tensor([[1.0, 0.2], [0.0, 1.0], [-1.0, 1.0]])
        >>> dclw(z1, z2, tau=0.5)
        tensor(1.5096)
    """
    check_range("sigma", sigma, low=0.0, low_open=True)
    z1, z2, was_numpy = _views(z1, z2, check, tau, reduction)
    pos, neg = _view_logits(z1, z2, tau)
    w = _dclw_weights(z1, z2, sigma)
    return _reduce(torch.logsumexp(neg, dim=-1) - w * pos, reduction, was_numpy)


def exact_cov_infonce(z1: Tensor, z2: Tensor, tau: float, beta: float = 0.0, *,
                      check: bool = True) -> Tensor:
    """The "exact covariance" InfoNCE of the official code of Tian et al. 2020.

    Provenance: facebookresearch/luckmatters, ``ssl/real-dataset/loss/nt_xent.py``,
    ``loss_type="exact_cov"``; this returns the sum ``loss + loss_intra`` of that code. On the
    NT-Xent layout (:func:`ntxent_distances`, r = 1 - cos, 2N rows with 2N - 2 negatives):

        w_k  = sg[e^{-r_neg,k/tau}] / (1 + sg[e^{-r_neg,k/tau}]) / tau / (2N - 2)
        loss = mean_rows((sum_k w_k) r_pos - sum_k w_k r_neg,k) + beta mean_rows((sum_k w_k) r_pos)

    sg = stop-gradient: the weights are constants for autograd, so the gradient is the
    covariance-operator update with pair weights w (dL/dr_pos = (1 + beta) sum_k w_k / 2N and
    dL/dr_neg,k = -w_k / 2N per row). The "1" in the weight stands in for e^{-r+/tau} with
    r+ ~ 0, and each negative is normalised on its own (w/(1 + w)), not by the InfoNCE partition
    sum. beta > 0 adds an extra penalty on augmentation variance (Sec. 1.3). The
    ``exact_cov_unaug_sim`` option (weights from un-augmented images) is not implemented.

    Args:
        z1: first views, (N, d) with N >= 2, d >= 1, no all-zero row; torch tensor or numpy
            array (numpy out only when both are numpy; torch inputs are not detached).
        z2: second views, the shape of ``z1`` (row i of each: the two views of sample i).
        tau: temperature, > 0.
        beta: weight of the extra r_pos term (any finite number; default 0).
        check: check values (finite, no all-zero row; one host sync); shapes always checked.

    Returns:
        Tensor: 0-d loss (no ``reduction`` option). Its value has no meaning of its own (it
        can be negative); its gradient is the point.

    Example:
        >>> import torch
        >>> z1 = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
        >>> z2 = torch.tensor([[1.0, 0.2], [0.0, 1.0], [-1.0, 1.0]])
        >>> exact_cov_infonce(z1, z2, tau=0.5)
        tensor(-0.0113)
    """
    check_range("beta", beta)
    z1, z2, was_numpy = _views(z1, z2, check, tau)
    r_pos, r_neg = _ntxent_distances(z1, z2)
    return as_output(_exact_cov(r_pos, r_neg, tau, beta), was_numpy)


def exact_cov_weights(r_neg: Tensor, tau: float, *, check: bool = True) -> Tensor:
    """w_k = sg[e^{-r_k/tau}] / (1 + sg[e^{-r_k/tau}]) / tau / H for r_neg of shape (B, H);
    detached (stop-gradient), as in luckmatters ``loss_type="exact_cov"``.

    Args:
        r_neg: negative distances, shape (B, H) (torch tensor or numpy array).
        tau: temperature, > 0.
        check: check that ``r_neg`` is finite (one host sync); the shape is always checked.

    Returns:
        Tensor: the weights, shape (B, H), no gradient (numpy for numpy input).

    Example:
        >>> import torch
        >>> exact_cov_weights(torch.tensor([[0.0, 1.0]]), tau=1.0)
        tensor([[0.2500, 0.1345]])
    """
    _check_tau(tau)
    (r_neg,), was_numpy = _arrays([("r_neg", r_neg)], check, _check_b_bh)
    return as_output(_exact_cov_weights(r_neg, tau), was_numpy)


def _exact_cov_weights(r_neg: Tensor, tau: float) -> Tensor:
    e = torch.exp(-r_neg.detach() / tau)
    return e / (1.0 + e) / tau / r_neg.shape[-1]


def exact_cov_from_distances(r_pos: Tensor, r_neg: Tensor, tau: float, beta: float = 0.0, *,
                             check: bool = True) -> Tensor:
    """The exact-cov loss of :func:`exact_cov_infonce` on given distances r_pos (B,), r_neg (B, H):
    mean_rows((sum_k w_k) r_pos - sum_k w_k r_neg,k) + beta mean_rows((sum_k w_k) r_pos), with
    the detached weights of :func:`exact_cov_weights` (H = 2N - 2 in the NT-Xent layout).

    Args:
        r_pos: positive distances, shape (B,) (torch tensor or numpy array).
        r_neg: negative distances, shape (B, H).
        tau: temperature, > 0.
        beta: weight of the extra r_pos term (any finite number; default 0).
        check: check that both are finite (one host sync); shapes are always checked.

    Returns:
        Tensor: 0-d loss; equals :func:`exact_cov_infonce` on :func:`ntxent_distances`.

    Example:
        >>> import torch
        >>> z1 = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
        >>> z2 = torch.tensor([[1.0, 0.2], [0.0, 1.0], [-1.0, 1.0]])
        >>> from dynamics.losses.distance import ntxent_distances
        >>> exact_cov_from_distances(*ntxent_distances(z1, z2), tau=0.5)
        tensor(-0.0113)
    """
    _check_tau(tau)
    check_range("beta", beta)
    (r_pos, r_neg), was_numpy = _arrays([("r_pos", r_pos), ("r_neg", r_neg)], check,
                                        lambda rp, rn: _check_b_bh(rn, rp))
    return as_output(_exact_cov(r_pos, r_neg, tau, beta), was_numpy)


def _check_b_bh(r_neg: Tensor, r_pos: Tensor | None = None) -> None:
    """r_neg (B, H), and r_pos (B,) when given."""
    if r_neg.ndim != 2 or (r_pos is not None and r_pos.shape != r_neg.shape[:1]):
        with_pos = "" if r_pos is None else f" matching r_pos {tuple(r_pos.shape)} = (B,)"
        raise ConfigError("r_neg", f"must have shape (B, H){with_pos}, got {tuple(r_neg.shape)}")


def _exact_cov(r_pos: Tensor, r_neg: Tensor, tau: float, beta: float) -> Tensor:
    w = _exact_cov_weights(r_neg, tau)
    w_pos = w.sum(dim=1)
    return (w_pos * r_pos - (w * r_neg).sum(dim=1)).mean() + beta * (w_pos * r_pos).mean()



LOSSES.register("infonce", nt_xent, doc="InfoNCE / NT-Xent on the 2N anchors of both views",
                source="Chen et al. 2020 (SimCLR)", family="contrastive", args={"tau": "tau"},
                checks=True)
LOSSES.register("dcl", dcl, doc="decoupled contrastive loss (no positive in the denominator)",
                source="Yeh et al. 2022", family="contrastive", args={"tau": "tau"},
                checks=True)
LOSSES.register("dclw", dclw, doc="DCL with von Mises-Fisher positive weights",
                source="Yeh et al. 2022", family="contrastive",
                args={"tau": "tau", "sigma": "dclw_sigma"}, checks=True)
LOSSES.register("exact_cov", exact_cov_infonce,
                doc="exact-covariance InfoNCE (stop-gradient pair weights)",
                source="Tian et al. 2020, official code", family="contrastive",
                args={"tau": "tau"}, checks=True)


def align_uniform_loss(z1: Tensor, z2: Tensor, t: float = 2.0, weight: float = 1.0,
                       alpha: float = 2.0) -> Tensor:
    """Differentiable alignment + uniformity loss (Wang & Isola, ICML 2020, arXiv 2005.10242;
    reference code SsnL/align_uniform):

        L = L_align(alpha) + weight * (L_unif(u1; t) + L_unif(u2; t)) / 2,
        L_align = mean_i ||u1_i - u2_i||^alpha,
        L_unif(u; t) = log mean_{i<j} exp(-t ||u_i - u_j||^2)   (``torch.pdist``: i < j pairs),

    with u = z / ||z|| (rows L2-normalised here). The metric versions in
    :mod:`dynamics.metrics.alignment_uniformity` are detached; this one back-propagates.
    Needs N >= 2 rows.

    Args:
        z1: first views, torch tensor (N, d) with N >= 2 (no numpy input, no value checks).
        z2: second views, the shape of ``z1``.
        t: uniformity temperature (default 2).
        weight: weight of the mean uniformity term (default 1).
        alpha: exponent of the alignment distance (default 2).

    Returns:
        Tensor: 0-d loss (negative when uniformity dominates).

    Example:
        >>> import torch
        >>> z1 = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
        >>> z2 = torch.tensor([[1.0, 0.2], [0.0, 1.0], [-1.0, 1.0]])
        >>> align_uniform_loss(z1, z2)
        tensor(-1.1657)
    """
    if z1.ndim != 2 or z1.shape != z2.shape or z1.shape[0] < 2:
        raise ConfigError("z1", f"must be (N, d) with N >= 2 and match z2, got "
                                f"{tuple(z1.shape)} and {tuple(z2.shape)}")
    u1, u2 = F.normalize(z1, dim=1), F.normalize(z2, dim=1)
    align = (u1 - u2).norm(p=2, dim=1).pow(alpha).mean()

    def unif(u: Tensor) -> Tensor:
        return torch.pdist(u, p=2).pow(2).mul(-t).exp().mean().log()

    return align + weight * (unif(u1) + unif(u2)) / 2


LOSSES.register("align_uniform", align_uniform_loss,
                doc="alignment + weight x uniformity of the normalised views",
                source="Wang & Isola 2020", family="contrastive",
                args={"t": "unif_t", "weight": "unif_weight"}, checks=False)
LOSSES.register("nt_xent", nt_xent, doc="alias of infonce", source="Chen et al. 2020 (SimCLR)",
                family="contrastive", args={"tau": "tau"}, checks=True)

"""Measurements of an HLTM-trained tree net: best latent correlations and covariance-operator norms
per node (Tian, Yu, Chen & Ganguli 2020, arXiv 2010.00578; official code luckmatters ``ssl/hltm``).
Public face: :mod:`dynamics.theories.dual_networks.hltm`.

* :func:`best_correlation`: for each latent node mu, max_j |Pearson corr(z_mu, h_mu,j)| over the
  ``hid`` pre-activation outputs of mu's layer (0/0 := 0, as the code's ``StatsCorr``), averaged
  over the nodes of each tree level.
* :func:`operator_norms`: per non-leaf node mu, conn(x) = input_mu(x) (x) J_mu(x), J_mu the
  Jacobian of the root's un-normalised output h_0 with respect to mu's pre-activation output (it
  contains mu's own ReLU gate; J_root = I), averaged per root label into Kbar_g (G = 2 groups,
  weights = label frequencies) and OP_mu = V[Kbar] =
  :func:`~dynamics.theories.dual_networks.operator.covariance_operator` (Kbar, weights).
  ``layout="theory"`` (default) orders conn as K_l of Sec. 1.2, rows = column-major vec(W_mu) (input
  index outer, output index inner), columns = the root's outputs, so OP_mu is the operator in
  vec(dW_mu) = eta OP_mu vec(W_mu); ``layout="code"`` uses the official code's
  ``einsum("ia,ibc->iabc")`` layout (rows = (input, root output), columns = mu's outputs). The two
  are different matrices with different norms (they share only the structure), so compare norms
  within one layout.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from dynamics.errors import check_choice
from dynamics.theories.dual_networks.hltm.data import HLTM, HLTMSample
from dynamics.theories.dual_networks.hltm.net import TreeNet, _check_compatible

LAYOUTS = ("theory", "code")


@dataclass
class LevelStats:
    """A per-node quantity: ``per_node[l]`` (C^l,) and its mean per level ``per_level`` (L,).

    Attributes:
        per_node: one float array per level, ``per_node[l]`` of shape (C^l,).
        per_level: the mean of each level, a float array (L,).
    """

    per_node: list[np.ndarray]
    per_level: np.ndarray

    @classmethod
    def from_nodes(cls, per_node: Sequence[np.ndarray]) -> LevelStats:
        """Build from per-node values, computing the per-level means.

        Args:
            per_node: one array-like per level.

        Returns:
            A :class:`LevelStats`.

        Example:
            >>> LevelStats.from_nodes([[1.0], [0.5, 0.7]]).per_level.tolist()
            [1.0, 0.6]
        """
        per_node = [np.asarray(v, dtype=float) for v in per_node]
        return cls(per_node, np.array([float(np.mean(v)) for v in per_node]))


def pearson_abs_max(z: np.ndarray, h: np.ndarray) -> np.ndarray:
    """max_j |corr(z[:, i], h[:, i, j])| per node i (z (n, N), h (n, N, hid)), with 0/0 := 0 by
    the official ``StatsCorr`` rule (both the product of standard deviations and the covariance
    below 1e-6).

    Args:
        z: latent values (n, N), N nodes.
        h: the nodes' outputs (n, N, hid).

    Returns:
        A float64 array (N,) with values in [0, 1].

    Example:
        >>> z = np.array([[0.0], [1.0], [0.0], [1.0]])
        >>> h = np.array([[[0.0, 1.0]], [[2.0, 1.0]], [[0.0, 1.0]], [[2.0, 1.0]]])
        >>> pearson_abs_max(z, h).tolist()  # output 0 follows z, output 1 is constant
        [1.0]
    """
    z = np.asarray(z, dtype=np.float64)
    h = np.asarray(h, dtype=np.float64)
    zc = z - z.mean(axis=0)
    hc = h - h.mean(axis=0)
    cov = np.einsum("bn,bnj->nj", zc, hc) / z.shape[0]
    sz = np.sqrt(np.mean(zc**2, axis=0))
    sh = np.sqrt(np.mean(hc**2, axis=0))
    denom = sz[:, None] * sh
    with np.errstate(divide="ignore", invalid="ignore"):
        corr = cov / denom
    corr[(denom < 1e-6) & (np.abs(cov) < 1e-6)] = 0.0
    corr = np.clip(np.nan_to_num(corr, nan=0.0), -1.0, 1.0)
    return np.max(np.abs(corr), axis=1)


def best_correlation(
    tree: HLTM,
    net: TreeNet,
    n_samples: int = 8192,
    rng: np.random.Generator | int | None = None,
    sample: HLTMSample | None = None,
) -> LevelStats:
    """Best |Pearson corr| between each latent z_mu and the ``hid`` pre-activation outputs of mu's
    layer, on ``n_samples`` fresh samples (or the given ``sample``); ``per_level[l]`` for
    l = 0 (root) ... L - 1 (parents of leaves).

    Args:
        tree: the :class:`~dynamics.theories.dual_networks.hltm.data.HLTM` (matching ``net``).
        net: the :class:`~dynamics.theories.dual_networks.hltm.net.TreeNet`.
        n_samples: fresh samples to draw when ``sample`` is None.
        rng: a numpy Generator, a seed or None, for the fresh samples.
        sample: an :class:`~dynamics.theories.dual_networks.hltm.data.HLTMSample` to use.

    Returns:
        A :class:`LevelStats` (per_node[l] of shape (C^l,), per_level (L,)).

    Example:
        >>> tree = HLTM(depth=3, seed=0)
        >>> net = TreeNet(tree, hid=4, seed=0)
        >>> best_correlation(tree, net, 512, rng=0).per_level.round(3).tolist()
        [0.774, 0.754, 0.915]
    """
    _check_compatible(tree, net)
    if sample is None:
        sample = tree.sample(n_samples, rng)
    with torch.no_grad():
        acts = net.forward_all(torch.from_numpy(sample.x).to(net.weights[0].dtype))
    per_node = [pearson_abs_max(sample.z[l], acts.pre[l].numpy()) for l in range(tree.depth)]
    return LevelStats.from_nodes(per_node)


@dataclass
class OperatorStats:
    """||OP_mu||_F per node and level (``op``) and ||W_mu||_F (``weight``), see
    :func:`operator_norms`; ``label_freq`` the root-label frequencies (the group weights).

    Attributes:
        op: ||OP_mu||_F, a :class:`LevelStats` over the non-leaf nodes.
        weight: ||W_mu||_F, a :class:`LevelStats`.
        label_freq: frequencies of the root labels present, (G,).
        layout: ``"theory"`` or ``"code"`` (:data:`LAYOUTS`).
    """

    op: LevelStats
    weight: LevelStats
    label_freq: np.ndarray
    layout: str = "theory"


def _op_fro_norm(K: Tensor, w: Tensor, dense_max: int) -> float:
    """||covariance_operator(K, w)||_F; above ``dense_max`` rows the same number from the small
    Gram matrix (||D D^T||_F = ||D^T D||_F with D = [sqrt(w_g)(K_g - mean)]_g)."""
    from dynamics.theories.dual_networks.operator import covariance_operator

    if K.shape[1] <= dense_max:
        return float(torch.linalg.matrix_norm(covariance_operator(K, w)))
    D = (K - torch.einsum("g,gpo->po", w, K)) * w.sqrt()[:, None, None]
    D = D.permute(1, 0, 2).reshape(K.shape[1], -1)
    return float(torch.linalg.matrix_norm(D.T @ D))


def connection_means(
    tree: HLTM, net: TreeNet, sample: HLTMSample, *, layout: str = "theory", max_elems: int = 2**22
) -> tuple[list[Tensor], np.ndarray]:
    """Kbar per level: a list of (G, C^l, P, n_out) float64 tensors (the per-root-label means of
    conn = input (x) J) and the label frequencies (G,) (empty labels dropped).

    Args:
        tree: the :class:`~dynamics.theories.dual_networks.hltm.data.HLTM` (matching ``net``).
        net: the :class:`~dynamics.theories.dual_networks.hltm.net.TreeNet`.
        sample: the :class:`~dynamics.theories.dual_networks.hltm.data.HLTMSample` to average.
        layout: ``"theory"`` or ``"code"`` (module docstring).
        max_elems: bound on the elements per chunk of samples (memory), >= 1.

    Returns:
        (Kbar, freq): L tensors (G, C^l, in_l * hid, hid) and a float array (G,).

    Example:
        >>> tree = HLTM(depth=3, seed=0)
        >>> net = TreeNet(tree, hid=4, seed=0)
        >>> Kbar, freq = connection_means(tree, net, tree.sample(64, 0))
        >>> [tuple(k.shape) for k in Kbar], freq.tolist()
        ([(2, 1, 32, 4), (2, 2, 32, 4), (2, 4, 8, 4)], [0.515625, 0.484375])
    """
    check_choice("layout", layout, LAYOUTS)
    _check_compatible(tree, net)
    labels = sample.root.astype(np.int64)
    present = [g for g in (0, 1) if np.any(labels == g)]
    counts = np.array([np.sum(labels == g) for g in present], dtype=float)
    onehot = torch.from_numpy(
        np.stack([(labels == g) / np.sum(labels == g) for g in present], axis=1)
    ).to(torch.float64)  # (B, G), each column averages one group
    with torch.no_grad():
        acts = net.forward_all(torch.from_numpy(sample.x).to(net.weights[0].dtype))
        B, H, C = len(sample), net.hid, net.num_children
        per_sample = max(1, C ** (tree.depth - 1) * H * H)
        chunk = max(1, min(B, max_elems // per_sample))
        sums: list[Tensor | None] = [None] * tree.depth
        for start in range(0, B, chunk):
            stop = min(B, start + chunk)
            oh = onehot[start:stop]
            for l, J in net.jacobians(acts, start, stop):
                b, n, R, Hc = J.shape
                # Group-weighted inputs (B, n, G*a); one batched matmul over the nodes sums
                # input (x) J over the samples of each group: (n, G*a, R*Hc).
                inp = acts.inputs[l][start:stop].double()
                inp_g = (oh[:, None, :, None] * inp[:, :, None, :]).reshape(b, n, -1)
                part = torch.bmm(
                    inp_g.permute(1, 2, 0), J.double().reshape(b, n, R * Hc).permute(1, 0, 2)
                )
                sums[l] = part if sums[l] is None else sums[l] + part
    G = len(present)
    Kbar = []
    for l, s in enumerate(sums):
        n, a = s.shape[0], net.in_dim(l)
        s = s.reshape(n, G, a, H, H).permute(1, 0, 2, 3, 4)  # (G, n, a, r, c)
        if layout == "theory":  # rows (input a, mu output c) = column-major vec(W_mu); cols r
            Kbar.append(s.permute(0, 1, 2, 4, 3).reshape(G, n, a * H, H))
        else:  # the code's einsum("ia,ibc->iabc"): rows (a, root output r), columns c
            Kbar.append(s.reshape(G, n, a * H, H))
    return Kbar, counts / counts.sum()


def operator_norms(
    tree: HLTM,
    net: TreeNet,
    n_samples: int = 4096,
    rng: np.random.Generator | int | None = None,
    *,
    sample: HLTMSample | None = None,
    layout: str = "theory",
    dense_max: int = 2048,
) -> OperatorStats:
    """||OP_mu||_F per non-leaf node, OP_mu = covariance_operator(Kbar_mu, label frequencies)
    with Kbar_mu the per-root-label mean of conn_mu(x) = input_mu(x) (x) J_mu(x) (see the module
    docstring), and ||W_mu||_F. ``dense_max``: operators with more rows than this are not formed;
    their norm comes from the equivalent small Gram matrix.

    Args:
        tree: the :class:`~dynamics.theories.dual_networks.hltm.data.HLTM` (matching ``net``).
        net: the :class:`~dynamics.theories.dual_networks.hltm.net.TreeNet`.
        n_samples: fresh samples to draw when ``sample`` is None.
        rng: a numpy Generator, a seed or None, for the fresh samples.
        sample: an :class:`~dynamics.theories.dual_networks.hltm.data.HLTMSample` to use.
        layout: ``"theory"`` or ``"code"`` (module docstring).
        dense_max: the most rows of an operator that is formed densely.

    Returns:
        An :class:`OperatorStats` (norm 0 where the sample has one root label only).

    Example:
        >>> tree = HLTM(depth=3, seed=0)
        >>> net = TreeNet(tree, hid=4, seed=0)
        >>> ops = operator_norms(tree, net, 256, rng=0)
        >>> ops.op.per_level.round(4).tolist(), ops.label_freq.tolist()
        ([0.007, 0.0342, 0.0064], [0.49609375, 0.50390625])
    """
    check_choice("layout", layout, LAYOUTS)
    if sample is None:
        sample = tree.sample(n_samples, rng)
    Kbar, freq = connection_means(tree, net, sample, layout=layout)
    w = torch.as_tensor(freq, dtype=torch.float64)
    per_node = []
    for K in Kbar:
        per_node.append(
            np.array(
                [
                    _op_fro_norm(K[:, i], w, dense_max) if K.shape[0] > 1 else 0.0
                    for i in range(K.shape[1])
                ]
            )
        )
    return OperatorStats(
        op=LevelStats.from_nodes(per_node),
        weight=LevelStats.from_nodes(net.weight_norms()),
        label_freq=freq,
        layout=layout,
    )

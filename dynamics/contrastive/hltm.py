"""Hierarchical latent tree model (HLTM) and a tree-shaped ReLU net trained contrastively
(Tian, Yu, Chen & Ganguli 2020, arXiv 2010.00578; official code luckmatters ``ssl/hltm``).

Data. A complete tree of depth L and branching C; every node carries a binary latent z in {0, 1}.
Levels are numbered top-down: level 0 is the root, level L the C^L leaves, and node i of level l
has the children C*i, ..., C*i + C - 1 of level l + 1 (heap order, so a level's values are one
array). The root is uniform; every parent -> child edge has a polarity delta = s*u drawn once per
tree (u ~ U[delta_lower, delta_upper], s = +-1 with probability 1/2) and P(child = parent) =
(1 + delta)/2. The input x is the vector of leaf values as floats. A *positive pair* regenerates
the whole tree twice from the same root value (only z_0 is shared); a *negative* is an independent
sample (its root resampled, so it has the anchor's root label with probability 1/2).

Network (mirrors the tree, as the official code): every non-leaf node mu has one affine map
(``nn.Linear`` with bias, PyTorch's default initialisation U(-1/sqrt(fan_in), 1/sqrt(fan_in)))
over the concatenation of ReLU(children's outputs), a leaf child contributing its 1 value and a
non-leaf child its ``hid`` outputs; node mu outputs ``hid`` pre-activations. The root's output h_0
is normalised, f = h_0 / (||h_0|| + 1e-4). :class:`TreeNet` evaluates one level at a time with a
batched matmul over all its nodes (weights of shape (C^l, hid, in_dim)).

Losses (``pos``/``neg`` below are ``nn.MSELoss`` values, i.e. the mean of (f - f')^2 over the batch
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

Metrics (logged on fresh samples before training and after every epoch):

* :func:`best_correlation`: for each latent node mu, max_j |Pearson corr(z_mu, h_mu,j)| over the
  ``hid`` pre-activation outputs of mu's layer (0/0 := 0, as the code's ``StatsCorr``), averaged
  over the nodes of each tree level.
* :func:`operator_norms`: per non-leaf node mu, conn(x) = input_mu(x) (x) J_mu(x), J_mu the
  Jacobian of the root's un-normalised output h_0 with respect to mu's pre-activation output (it
  contains mu's own ReLU gate; J_root = I), averaged per root label into Kbar_g (G = 2 groups,
  weights = label frequencies) and OP_mu = V[Kbar] =
  :func:`~dynamics.contrastive.operator.covariance_operator` (Kbar, weights). ``layout="theory"``
  (default) orders conn as K_l of Sec. 1.2, rows = column-major vec(W_mu) (input index outer,
  output index inner), columns = the root's outputs, so OP_mu is the operator in
  vec(dW_mu) = eta OP_mu vec(W_mu); ``layout="code"`` uses the official code's
  ``einsum("ia,ibc->iabc")`` layout (rows = (input, root output), columns = mu's outputs). The two
  are different matrices with different norms (they share only the structure), so compare norms
  within one layout.

Everything is deterministic given the seeds: the tree polarities come from ``HLTM(seed)`` (the
uniforms and signs are drawn before scaling, so trees with the same seed, depth and branching but
different delta ranges have the same signs and ranks), the initial weights from
``TreeNet(seed)``, and the training and evaluation samples from two further streams of
``train_hltm(seed)``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from dynamics.errors import ConfigError, check_choice, check_range

LOSSES = ("nce", "subtract", "infonce")
LAYOUTS = ("theory", "code")
NORM_EPS = 1e-4  # f = h0 / (||h0|| + eps), as the official code
BN_EPS = 1e-5


# --------------------------------------------------------------------------------------------
# Validation helpers


def _check_int(field_name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        try:
            fvalue = float(value)
        except (TypeError, ValueError):
            raise ConfigError(field_name, f"must be an integer >= {low}, got {value!r}") from None
        if not fvalue.is_integer():
            raise ConfigError(field_name, f"must be an integer >= {low}, got {value!r}")
        value = int(fvalue)
    if int(value) < low:
        raise ConfigError(field_name, f"must be an integer >= {low}, got {value}")
    return int(value)


def _as_rng(rng: np.random.Generator | int | None) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(rng)


# --------------------------------------------------------------------------------------------
# The generative model


@dataclass
class HLTMSample:
    """``n`` draws of the tree: ``x`` (n, C^L) float32 leaf values and ``z[l]`` (n, C^l) uint8
    latent values of every level l = 0 (root) ... L (leaves; ``z[L]`` equals ``x``)."""

    x: np.ndarray
    z: list[np.ndarray]

    @property
    def root(self) -> np.ndarray:
        """The root values, shape (n,)."""
        return self.z[0][:, 0]

    def __len__(self) -> int:
        return self.x.shape[0]


class HLTM:
    """Complete binary-latent tree of depth ``depth`` and branching ``num_children``.

    ``deltas[l]`` (shape (C^(l+1),)) holds the polarities of the edges from level l to level l+1
    (edge k joins child k of level l+1 to its parent k // C); ``p_same[l] = (1 + deltas[l]) / 2``.
    """

    def __init__(
        self,
        depth: int = 5,
        num_children: int = 2,
        delta_lower: float = 0.7,
        delta_upper: float = 1.0,
        seed: int | None = 0,
    ):
        self.depth = _check_int("depth", depth, 1)
        self.num_children = _check_int("num_children", num_children, 2)
        check_range("delta_lower", delta_lower, low=0.0, high=1.0)
        check_range("delta_upper", delta_upper, low=0.0, high=1.0)
        if delta_lower > delta_upper:
            raise ConfigError(
                "delta_lower", f"must be <= delta_upper ({delta_upper:g}), got {delta_lower:g}"
            )
        if self.num_children**self.depth > 2**20:
            raise ConfigError(
                "depth",
                f"num_children**depth must be <= 2^20 leaves, got {self.num_children}^{self.depth}",
            )
        self.delta_lower = float(delta_lower)
        self.delta_upper = float(delta_upper)
        self.seed = seed
        C, L = self.num_children, self.depth
        n_edges = sum(C ** (l + 1) for l in range(L))
        rng = np.random.default_rng(seed)
        u01 = rng.random(n_edges)
        sign = np.where(rng.random(n_edges) < 0.5, 1.0, -1.0)
        delta = sign * (self.delta_lower + (self.delta_upper - self.delta_lower) * u01)
        bounds = np.cumsum([0] + [C ** (l + 1) for l in range(L)])
        self.deltas: list[np.ndarray] = [delta[bounds[l] : bounds[l + 1]] for l in range(L)]
        self.p_same: list[np.ndarray] = [(1.0 + d) / 2.0 for d in self.deltas]

    # -- shapes
    @property
    def level_sizes(self) -> list[int]:
        """Number of nodes per level, root (1) to leaves (C^L)."""
        return [self.num_children**l for l in range(self.depth + 1)]

    @property
    def n_leaves(self) -> int:
        return self.num_children**self.depth

    def __repr__(self) -> str:
        return (
            f"HLTM(depth={self.depth}, num_children={self.num_children}, "
            f"delta_lower={self.delta_lower:g}, delta_upper={self.delta_upper:g}, "
            f"seed={self.seed})"
        )

    # -- sampling
    def sample(
        self,
        n: int,
        rng: np.random.Generator | int | None = None,
        root: int | np.ndarray | None = None,
    ) -> HLTMSample:
        """``n`` independent trees (vectorised over samples and nodes). ``root``: None (uniform),
        0/1 for all samples, or an array (n,) of root values to condition on."""
        n = _check_int("n", n, 1)
        rng = _as_rng(rng)
        if root is None:
            z0 = rng.integers(0, 2, size=n, dtype=np.uint8)
        else:
            z0 = np.broadcast_to(np.asarray(root), (n,)).astype(np.uint8)
            if np.any(z0 > 1) or np.any(np.asarray(root) < 0):
                raise ConfigError("root", "must be 0 or 1 (or an array of them)")
        z = [z0[:, None].copy()]
        C = self.num_children
        for l in range(self.depth):
            parent = np.repeat(z[-1], C, axis=1)
            same = rng.random(parent.shape) < self.p_same[l]
            z.append(np.where(same, parent, 1 - parent).astype(np.uint8))
        return HLTMSample(x=z[-1].astype(np.float32), z=z)

    def positive_pairs(
        self, n: int, rng: np.random.Generator | int | None = None
    ) -> tuple[HLTMSample, HLTMSample]:
        """Two trees per pair generated from the same (uniform) root value; nothing else shared."""
        rng = _as_rng(rng)
        root = rng.integers(0, 2, size=_check_int("n", n, 1), dtype=np.uint8)
        return self.sample(n, rng, root=root), self.sample(n, rng, root=root)

    def negatives(self, n: int, rng: np.random.Generator | int | None = None) -> HLTMSample:
        """Independent samples (root resampled)."""
        return self.sample(n, rng)

    def triplets(
        self, n: int, rng: np.random.Generator | int | None = None
    ) -> tuple[HLTMSample, HLTMSample, HLTMSample]:
        """(anchor, positive, negative), as one ``__getitem__`` batch of the official code."""
        rng = _as_rng(rng)
        a, p = self.positive_pairs(n, rng)
        return a, p, self.negatives(n, rng)


# --------------------------------------------------------------------------------------------
# The tree-shaped network


@dataclass
class TreeActivations:
    """Everything a forward pass computes, per tree level l = 0 (root) ... L.

    ``pre[l]``: (B, C^l, hid) pre-activation outputs of the nodes of level l (``pre[L]`` = the
    leaves, (B, C^L, 1)); ``gated[l]``: the value fed to the ReLU (``pre`` after batch norm when
    ``bn``, else ``pre`` itself); ``inputs[l]``: (B, C^l, in_dim) the concatenated ReLU(children)
    that node layer l reads (l < L); ``bn_scale[l]``: (C^l, hid) the batch-norm factor
    1/sqrt(var + eps) (None without bn); ``h0``: (B, hid) the root output; ``f``: normalised h0.
    """

    f: Tensor
    h0: Tensor
    pre: list[Tensor]
    gated: list[Tensor]
    inputs: list[Tensor]
    bn_scale: list[Tensor | None] = field(default_factory=list)


class TreeNet(nn.Module):
    """The tree-shaped ReLU net of the official HLTM code, vectorised per level.

    ``weights[l]`` has shape (C^l, hid, in_l) and ``biases[l]`` (C^l, hid), where in_l = C for
    the parents of leaves (l = L - 1) and C * hid above. ``weights[l][i]`` is node i's
    ``nn.Linear.weight`` (output x input) over the concatenation [ReLU(child C*i), ...,
    ReLU(child C*i + C - 1)].

    ``bn=True`` (an ablation; the official HLTM script has none) normalises every non-root node's
    pre-activations with the batch's mean and variance (no affine parameters, no running
    statistics; the same in training and evaluation) before the ReLU.
    """

    def __init__(
        self,
        tree: HLTM,
        hid: int = 10,
        bn: bool = False,
        seed: int | None = 0,
        dtype: torch.dtype = torch.float32,
    ):
        super().__init__()
        if not isinstance(tree, HLTM):
            raise ConfigError("tree", f"must be an HLTM, got {type(tree).__name__}")
        self.hid = _check_int("hid", hid, 1)
        self.bn = bool(bn)
        self.depth = tree.depth
        self.num_children = tree.num_children
        gen = torch.Generator()
        gen.manual_seed(0 if seed is None else int(seed))
        C, L = self.num_children, self.depth
        weights, biases = [], []
        for l in range(L):
            in_dim = C if l == L - 1 else C * self.hid
            bound = 1.0 / math.sqrt(in_dim)  # nn.Linear's default (kaiming_uniform a=sqrt(5))
            w = (torch.rand(C**l, self.hid, in_dim, generator=gen, dtype=dtype) * 2 - 1) * bound
            b = (torch.rand(C**l, self.hid, generator=gen, dtype=dtype) * 2 - 1) * bound
            weights.append(nn.Parameter(w))
            biases.append(nn.Parameter(b))
        self.weights = nn.ParameterList(weights)
        self.biases = nn.ParameterList(biases)

    def in_dim(self, level: int) -> int:
        return self.num_children if level == self.depth - 1 else self.num_children * self.hid

    def _normalise(self, pre: Tensor) -> tuple[Tensor, Tensor]:
        mean = pre.mean(dim=0, keepdim=True)
        var = pre.var(dim=0, unbiased=False, keepdim=True)
        scale = torch.rsqrt(var + BN_EPS)
        return (pre - mean) * scale, scale[0]

    def forward_all(self, x: Tensor) -> TreeActivations:
        """Forward pass keeping every level's pre-activations, gates and inputs."""
        x = torch.as_tensor(x, dtype=self.weights[0].dtype)
        if x.ndim != 2 or x.shape[1] != self.num_children**self.depth:
            raise ConfigError(
                "x",
                f"must have shape (batch, {self.num_children**self.depth}), got {tuple(x.shape)}",
            )
        B, C, L = x.shape[0], self.num_children, self.depth
        pre: list[Tensor] = [x[:, :, None]] * (L + 1)
        gated = list(pre)
        inputs: list[Tensor] = [x] * L
        scales: list[Tensor | None] = [None] * (L + 1)
        h = pre[L]
        for l in range(L - 1, -1, -1):
            a = torch.relu(h).reshape(B, C**l, -1)  # children C*i..C*i+C-1 are contiguous
            out = torch.einsum("bni,noi->bno", a, self.weights[l]) + self.biases[l]
            inputs[l], pre[l] = a, out
            if self.bn and l > 0:
                out, scales[l] = self._normalise(out)
            gated[l] = h = out
        h0 = pre[0][:, 0, :]
        f = h0 / (h0.norm(dim=1, keepdim=True) + NORM_EPS)
        return TreeActivations(f=f, h0=h0, pre=pre, gated=gated, inputs=inputs, bn_scale=scales)

    def forward(self, x: Tensor) -> Tensor:
        """The normalised embedding f (B, hid)."""
        return self.forward_all(x).f

    def weight_norms(self) -> list[np.ndarray]:
        """||W_mu||_F per node, per level (bias excluded, as the code's ``weight.norm()``)."""
        return [w.detach().flatten(1).norm(dim=1).double().numpy() for w in self.weights]

    def jacobians(self, acts: TreeActivations, start: int = 0, stop: int | None = None):
        """Yield ``(level, J)`` top-down, J (B', C^l, hid_root, hid) = d h_0 / d pre_mu for every
        node of the level (J_root = I; each J contains the node's own ReLU gate and, with bn, its
        batch-norm factor taken as fixed), for samples ``start:stop`` of ``acts``."""
        B = acts.h0[start:stop].shape[0]
        C, H = self.num_children, self.hid
        J = torch.eye(H, dtype=acts.h0.dtype).expand(B, 1, H, H)
        yield 0, J
        for l in range(self.depth - 1):
            # Block of parent i's weight that reads child k: (C^l, C, H_out, H_in) -> per child.
            Wb = self.weights[l].detach().reshape(C**l, H, C, H).permute(0, 2, 1, 3)
            Wb = Wb.reshape(C ** (l + 1), H, H)
            gate = (acts.gated[l + 1][start:stop] > 0).to(J.dtype)  # (B, C^(l+1), H)
            if acts.bn_scale[l + 1] is not None:
                gate = gate * acts.bn_scale[l + 1].detach()
            J = torch.einsum("bnrh,nhk->bnrk", J.repeat_interleave(C, dim=1), Wb)
            J = J * gate[:, :, None, :]
            yield l + 1, J


def naive_forward(net: TreeNet, x: Tensor) -> tuple[Tensor, list[Tensor]]:
    """Reference implementation: a Python loop over nodes, as the official code (no bn). Returns
    (f, pre) with pre[l] (B, C^l, hid). For tests; slow."""
    x = torch.as_tensor(x, dtype=net.weights[0].dtype)
    C, L = net.num_children, net.depth
    outs: dict[tuple[int, int], Tensor] = {(L, i): x[:, i : i + 1] for i in range(C**L)}
    for l in range(L - 1, -1, -1):
        for i in range(C**l):
            inp = torch.cat([torch.relu(outs[(l + 1, C * i + k)]) for k in range(C)], dim=1)
            outs[(l, i)] = inp @ net.weights[l][i].T + net.biases[l][i]
    pre = [torch.stack([outs[(l, i)] for i in range(C**l)], dim=1) for l in range(L)]
    h0 = outs[(0, 0)]
    return h0 / (h0.norm(dim=1, keepdim=True) + NORM_EPS), pre


# --------------------------------------------------------------------------------------------
# Metrics


@dataclass
class LevelStats:
    """A per-node quantity: ``per_node[l]`` (C^l,) and its mean per level ``per_level`` (L,)."""

    per_node: list[np.ndarray]
    per_level: np.ndarray

    @classmethod
    def from_nodes(cls, per_node: Sequence[np.ndarray]) -> LevelStats:
        per_node = [np.asarray(v, dtype=float) for v in per_node]
        return cls(per_node, np.array([float(np.mean(v)) for v in per_node]))


def pearson_abs_max(z: np.ndarray, h: np.ndarray) -> np.ndarray:
    """max_j |corr(z[:, i], h[:, i, j])| per node i (z (n, N), h (n, N, hid)), with 0/0 := 0 by
    the official ``StatsCorr`` rule (both the product of standard deviations and the covariance
    below 1e-6)."""
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
    l = 0 (root) ... L - 1 (parents of leaves)."""
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
    :func:`operator_norms`; ``label_freq`` the root-label frequencies (the group weights)."""

    op: LevelStats
    weight: LevelStats
    label_freq: np.ndarray
    layout: str = "theory"


def _op_fro_norm(K: Tensor, w: Tensor, dense_max: int) -> float:
    """||covariance_operator(K, w)||_F; above ``dense_max`` rows the same number from the small
    Gram matrix (||D D^T||_F = ||D^T D||_F with D = [sqrt(w_g)(K_g - mean)]_g)."""
    from dynamics.contrastive.operator import covariance_operator

    if K.shape[1] <= dense_max:
        return float(torch.linalg.matrix_norm(covariance_operator(K, w)))
    D = (K - torch.einsum("g,gpo->po", w, K)) * w.sqrt()[:, None, None]
    D = D.permute(1, 0, 2).reshape(K.shape[1], -1)
    return float(torch.linalg.matrix_norm(D.T @ D))


def connection_means(
    tree: HLTM, net: TreeNet, sample: HLTMSample, *, layout: str = "theory", max_elems: int = 2**22
) -> tuple[list[Tensor], np.ndarray]:
    """Kbar per level: a list of (G, C^l, P, n_out) float64 tensors (the per-root-label means of
    conn = input (x) J) and the label frequencies (G,) (empty labels dropped)."""
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
    their norm comes from the equivalent small Gram matrix."""
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


def _check_compatible(tree: HLTM, net: TreeNet) -> None:
    if net.depth != tree.depth or net.num_children != tree.num_children:
        raise ConfigError(
            "net",
            f"was built for depth {net.depth} and {net.num_children} "
            f"children, the tree has {tree.depth} and {tree.num_children}",
        )


# --------------------------------------------------------------------------------------------
# Losses and training


def hltm_loss(
    f: Tensor, f_pos: Tensor, f_neg: Tensor | None, loss: str = "nce", tau: float = 0.1
) -> tuple[Tensor, Tensor, Tensor]:
    """(L, pos, neg) for a batch of embeddings; see the module docstring for the three losses.
    ``pos``/``neg`` are the batch-and-dimension mean squared distances (``neg`` of ``infonce`` is
    the mean over the in-batch off-diagonal pairs)."""
    pos = torch.mean((f - f_pos) ** 2)
    if loss == "infonce":
        r = 0.5 * torch.cdist(f, f_pos) ** 2  # r_ij = 1/2 ||f_i - f+_j||^2
        target = torch.arange(f.shape[0])
        L = tau * nn.functional.cross_entropy(-r / tau, target)
        B = f.shape[0]
        neg = (2 * r.sum() - 2 * r.diagonal().sum()) / max(1, B * (B - 1)) / f.shape[1]
        return L, pos, neg.detach()
    neg = torch.mean((f - f_neg) ** 2)
    if loss == "nce":  # the official code's quirk: a probability, from batch means
        return -torch.sigmoid((neg - pos) / tau), pos, neg
    if loss == "subtract":
        return pos - neg, pos, neg
    raise ConfigError("loss", f"must be one of {', '.join(LOSSES)}; got {loss!r}")


@dataclass
class HLTMHistory:
    """Per-epoch record of :func:`train_hltm`. Index 0 is before training, index e after epoch e
    (so every array has ``epochs + 1`` rows); ``loss``, ``pos`` and ``neg`` are the means over the
    epoch's SGD steps (NaN at index 0). ``corr[e, l]``: mean best |corr| at level l;
    ``op_norm[e, l]``: mean ||OP_mu||_F at level l (NaN when not tracked); ``weight_norm[e, l]``:
    mean ||W_mu||_F; ``corr_nodes[e][l]`` / ``op_nodes[e][l]``: the per-node values."""

    epoch: np.ndarray
    loss: np.ndarray
    pos: np.ndarray
    neg: np.ndarray
    corr: np.ndarray
    op_norm: np.ndarray
    weight_norm: np.ndarray
    corr_nodes: list[list[np.ndarray]]
    op_nodes: list[list[np.ndarray]]
    settings: dict[str, Any]
    runtime_s: float = float("nan")

    def to_dict(self, nodes: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "epoch": self.epoch,
            "loss": self.loss,
            "pos": self.pos,
            "neg": self.neg,
            "corr": self.corr,
            "op_norm": self.op_norm,
            "weight_norm": self.weight_norm,
            "settings": dict(self.settings),
            "runtime_s": self.runtime_s,
        }
        if nodes:
            out["corr_nodes"] = self.corr_nodes
            out["op_nodes"] = self.op_nodes
        return out


def validate_training(
    loss: str,
    tau: float,
    lr: float,
    batch_size: int,
    epochs: int,
    draws_per_epoch: int,
    eval_samples: int = 8192,
    op_samples: int = 2048,
) -> tuple[int, int, int, int, int]:
    """Check the training settings (ConfigError naming the field); returns the integers."""
    check_choice("loss", loss, LOSSES)
    check_range("tau", tau, low=0.0, low_open=True)
    check_range("lr", lr, low=0.0, low_open=True)
    batch_size = _check_int("batch_size", batch_size, 2 if loss == "infonce" else 1)
    epochs = _check_int("epochs", epochs, 0)
    draws = _check_int("draws_per_epoch", draws_per_epoch, batch_size)
    eval_samples = _check_int("eval_samples", eval_samples, 16)
    op_samples = _check_int("op_samples", op_samples, 0)
    return batch_size, epochs, draws, eval_samples, op_samples


def train_hltm(
    tree: HLTM,
    net: TreeNet,
    loss: str = "nce",
    tau: float = 0.1,
    lr: float = 0.1,
    batch_size: int = 128,
    epochs: int = 20,
    draws_per_epoch: int = 64000,
    seed: int = 1,
    *,
    eval_samples: int = 8192,
    op_samples: int = 2048,
    op_layout: str = "theory",
    log: Callable[[str], None] | None = None,
) -> HLTMHistory:
    """Train ``net`` in place on the tree's contrastive task with plain SGD (no momentum, no
    weight decay), as the official code: each epoch draws ``draws_per_epoch`` fresh (anchor,
    positive, negative) triplets and takes ceil(draws / batch_size) steps (the last batch may be
    smaller). Metrics are taken on fresh samples before training and after each epoch
    (``op_samples=0`` skips the operator norms)."""
    batch_size, epochs, draws, eval_samples, op_samples = validate_training(
        loss, tau, lr, batch_size, epochs, draws_per_epoch, eval_samples, op_samples
    )
    check_choice("op_layout", op_layout, LAYOUTS)
    _check_compatible(tree, net)
    t0 = time.perf_counter()
    data_rng = np.random.default_rng([int(seed), 1])
    eval_rng = np.random.default_rng([int(seed), 2])
    opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.0)
    L = tree.depth
    E = epochs + 1
    hist = {k: np.full(E, np.nan) for k in ("loss", "pos", "neg")}
    corr = np.full((E, L), np.nan)
    opn = np.full((E, L), np.nan)
    wn = np.full((E, L), np.nan)
    corr_nodes: list[list[np.ndarray]] = []
    op_nodes: list[list[np.ndarray]] = []

    def evaluate(e: int) -> None:
        c = best_correlation(tree, net, eval_samples, eval_rng)
        corr[e], wn[e] = c.per_level, LevelStats.from_nodes(net.weight_norms()).per_level
        corr_nodes.append(c.per_node)
        if op_samples > 0:
            o = operator_norms(tree, net, op_samples, eval_rng, layout=op_layout)
            opn[e] = o.op.per_level
            op_nodes.append(o.op.per_node)
        else:
            op_nodes.append([])

    evaluate(0)
    if log:
        log(f"  epoch 0: best corr {_levels(corr[0])}")
    for e in range(1, E):
        a, p, n = tree.triplets(draws, data_rng)
        xa, xp, xn = (torch.from_numpy(s.x) for s in (a, p, n))
        tot = np.zeros(3)
        steps = 0
        for start in range(0, draws, batch_size):
            sl = slice(start, start + batch_size)
            B = xa[sl].shape[0]
            if loss == "infonce":
                if B < 2:
                    continue
                if net.bn:
                    f, fp = net(xa[sl]), net(xp[sl])
                else:
                    f, fp = net(torch.cat([xa[sl], xp[sl]])).split(B)
                fn = None
            elif net.bn:  # separate passes: batch statistics per branch
                f, fp, fn = net(xa[sl]), net(xp[sl]), net(xn[sl])
            else:  # one pass over the three branches (identical without bn, and faster)
                f, fp, fn = net(torch.cat([xa[sl], xp[sl], xn[sl]])).split(B)
            value, pos, neg = hltm_loss(f, fp, fn, loss, tau)
            opt.zero_grad(set_to_none=True)
            value.backward()
            opt.step()
            tot += (float(value.detach()), float(pos.detach()), float(neg.detach()))
            steps += 1
        if not all(torch.isfinite(w).all() for w in net.parameters()):
            raise FloatingPointError(
                f"HLTM training diverged in epoch {e} (non-finite weights); lower lr (got {lr:g})"
            )
        hist["loss"][e], hist["pos"][e], hist["neg"][e] = tot / max(steps, 1)
        evaluate(e)
        if log:
            log(f"  epoch {e}: loss {hist['loss'][e]:.4f}, best corr {_levels(corr[e])}")
    settings = {
        "depth": tree.depth,
        "num_children": tree.num_children,
        "delta_lower": tree.delta_lower,
        "delta_upper": tree.delta_upper,
        "hid": net.hid,
        "bn": net.bn,
        "loss": loss,
        "tau": float(tau),
        "lr": float(lr),
        "batch_size": batch_size,
        "epochs": epochs,
        "draws_per_epoch": draws,
        "seed": int(seed),
        "eval_samples": eval_samples,
        "op_samples": op_samples,
        "op_layout": op_layout,
    }
    return HLTMHistory(
        epoch=np.arange(E),
        loss=hist["loss"],
        pos=hist["pos"],
        neg=hist["neg"],
        corr=corr,
        op_norm=opn,
        weight_norm=wn,
        corr_nodes=corr_nodes,
        op_nodes=op_nodes,
        settings=settings,
        runtime_s=time.perf_counter() - t0,
    )


def _levels(values: np.ndarray) -> str:
    return "[" + " ".join(f"{v:.2f}" for v in values) + "]"


# --------------------------------------------------------------------------------------------
# Grids


# The grid runner (resumable through per-cell records) lives in hltm_grid, which imports this
# module; ``run_grid`` and friends stay importable from here.
_GRID_NAMES = ("Cell", "CellStore", "grid_cells", "run_cell", "run_grid")


def __getattr__(name: str) -> Any:
    if name in _GRID_NAMES:
        from dynamics.contrastive import hltm_grid

        return getattr(hltm_grid, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def summarise_rows(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean over seeds of the per-level correlations, one entry per (depth, delta_lower, hid)
    (plus loss/tau/bn when they vary): keys ``corr_before``/``corr_after`` (means per level),
    ``corr_before_std``/``corr_after_std``, ``root_after_min`` and ``n_seeds``."""
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for r in rows:
        key = (r["depth"], r["delta_lower"], r["hid"], r["loss"], r["tau"], r.get("bn", False))
        groups.setdefault(key, []).append(r)
    out = []
    for (depth, dl, hid, loss, tau, bn), rs in groups.items():
        before = np.array([r["corr_before"] for r in rs], dtype=float)
        after = np.array([r["corr_after"] for r in rs], dtype=float)
        out.append(
            {
                "depth": depth,
                "delta_lower": dl,
                "hid": hid,
                "loss": loss,
                "tau": tau,
                "bn": bn,
                "n_seeds": len(rs),
                "corr_before": before.mean(0).tolist(),
                "corr_after": after.mean(0).tolist(),
                "corr_before_std": before.std(0).tolist(),
                "corr_after_std": after.std(0).tolist(),
                "root_after_min": float(after[:, 0].min()),
            }
        )
    return out

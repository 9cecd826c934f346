"""The tree-shaped ReLU net of the HLTM experiments, vectorised per tree level (Tian, Yu, Chen &
Ganguli 2020, arXiv 2010.00578; official code luckmatters ``ssl/hltm``).
Public face: :mod:`dynamics.theories.dual_networks.hltm`.

The network mirrors the tree, as the official code: every non-leaf node mu has one affine map
(``nn.Linear`` with bias, PyTorch's default initialisation U(-1/sqrt(fan_in), 1/sqrt(fan_in)))
over the concatenation of ReLU(children's outputs), a leaf child contributing its 1 value and a
non-leaf child its ``hid`` outputs; node mu outputs ``hid`` pre-activations. The root's output h_0
is normalised, f = h_0 / (||h_0|| + 1e-4). :class:`TreeNet` evaluates one level at a time with a
batched matmul over all its nodes (weights of shape (C^l, hid, in_dim)); its initial weights come
from ``TreeNet(seed)``. :func:`naive_forward` is the per-node reference loop (for tests).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor, nn

from dynamics.errors import ConfigError
from dynamics.theories.dual_networks.hltm.data import HLTM, _check_int

NORM_EPS = 1e-4  # f = h0 / (||h0|| + eps), as the official code
BN_EPS = 1e-5


@dataclass
class TreeActivations:
    """Everything a forward pass computes, per tree level l = 0 (root) ... L.

    ``pre[l]``: (B, C^l, hid) pre-activation outputs of the nodes of level l (``pre[L]`` = the
    leaves, (B, C^L, 1)); ``gated[l]``: the value fed to the ReLU (``pre`` after batch norm when
    ``bn``, else ``pre`` itself); ``inputs[l]``: (B, C^l, in_dim) the concatenated ReLU(children)
    that node layer l reads (l < L); ``bn_scale[l]``: (C^l, hid) the batch-norm factor
    1/sqrt(var + eps) (None without bn); ``h0``: (B, hid) the root output; ``f``: normalised h0.

    Attributes:
        f: the normalised embedding h0 / (||h0|| + NORM_EPS), (B, hid).
        h0: the root output, (B, hid).
        pre: L + 1 tensors, ``pre[l]`` (B, C^l, hid) (leaves: (B, C^L, 1)).
        gated: L + 1 tensors, the ReLU inputs (``pre`` after batch norm when ``bn``).
        inputs: L tensors, ``inputs[l]`` (B, C^l, in_dim).
        bn_scale: L + 1 entries, (C^l, hid) tensors or None.
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

    Args:
        tree: the :class:`~dynamics.theories.dual_networks.hltm.data.HLTM` it mirrors.
        hid: outputs per node, >= 1.
        bn: batch-normalise every non-root node (ablation).
        seed: seed of the initial weights (None: 0).
        dtype: the weights' torch dtype.

    Example:
        >>> from dynamics.theories.dual_networks.hltm.data import HLTM
        >>> net = TreeNet(HLTM(depth=3, seed=0), hid=4, seed=0)
        >>> [tuple(w.shape) for w in net.weights], net(torch.ones(2, 8)).shape
        ([(1, 4, 8), (2, 4, 8), (4, 4, 2)], torch.Size([2, 4]))
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
        """Input width of a node at ``level``: C leaf values or C * hid child outputs.

        Args:
            level: l in 0..L-1.

        Returns:
            in_l, an int.
        """
        return self.num_children if level == self.depth - 1 else self.num_children * self.hid

    def _normalise(self, pre: Tensor) -> tuple[Tensor, Tensor]:
        mean = pre.mean(dim=0, keepdim=True)
        var = pre.var(dim=0, unbiased=False, keepdim=True)
        scale = torch.rsqrt(var + BN_EPS)
        return (pre - mean) * scale, scale[0]

    def forward_all(self, x: Tensor) -> TreeActivations:
        """Forward pass keeping every level's pre-activations, gates and inputs.

        Args:
            x: leaf values (B, C^L), a tensor or array (cast to the weights' dtype).

        Returns:
            The :class:`TreeActivations` of the batch.
        """
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
        """The normalised embedding f (B, hid).

        Args:
            x: leaf values (B, C^L), a tensor or array.

        Returns:
            f, a tensor (B, hid).
        """
        return self.forward_all(x).f

    def weight_norms(self) -> list[np.ndarray]:
        """||W_mu||_F per node, per level (bias excluded, as the code's ``weight.norm()``).

        Returns:
            L float64 arrays, level l of shape (C^l,).
        """
        return [w.detach().flatten(1).norm(dim=1).double().numpy() for w in self.weights]

    def jacobians(self, acts: TreeActivations, start: int = 0, stop: int | None = None):
        """Yield ``(level, J)`` top-down, J (B', C^l, hid_root, hid) = d h_0 / d pre_mu for every
        node of the level (J_root = I; each J contains the node's own ReLU gate and, with bn, its
        batch-norm factor taken as fixed), for samples ``start:stop`` of ``acts``.

        Args:
            acts: the :class:`TreeActivations` of a forward pass of this net.
            start: first sample.
            stop: end of the samples (None: all).

        Yields:
            (level, J) for level = 0 ... L - 1, J (B', C^level, hid, hid) (detached weights).
        """
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
    (f, pre) with pre[l] (B, C^l, hid). For tests; slow.

    Args:
        net: the :class:`TreeNet` (its ``bn`` is ignored).
        x: leaf values (B, C^L), a tensor or array.

    Returns:
        (f (B, hid), pre): ``pre`` a list of L tensors, levels 0 ... L - 1.

    Example:
        >>> from dynamics.theories.dual_networks.hltm.data import HLTM
        >>> net = TreeNet(HLTM(depth=3, seed=0), hid=4, seed=0)
        >>> x = torch.ones(2, 8)
        >>> torch.allclose(naive_forward(net, x)[0], net(x))
        True
    """
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


def _check_compatible(tree: HLTM, net: TreeNet) -> None:
    if net.depth != tree.depth or net.num_children != tree.num_children:
        raise ConfigError(
            "net",
            f"was built for depth {net.depth} and {net.num_children} "
            f"children, the tree has {tree.depth} and {tree.num_children}",
        )

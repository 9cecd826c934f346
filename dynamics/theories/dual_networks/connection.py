"""Layered bias-free networks and their connection matrices (Tian, Yu, Chen & Ganguli 2020,
arXiv 2010.00578, Sec. 1.3), the building blocks of :mod:`dynamics.theories.dual_networks.operator`
(which re-exports everything public here).

For f_l = h(W_l f_{l-1}) with the ReLU gates fixed, f_L(x) = J_l(x) W_l f_{l-1}(x) =
K_l(x)^T vec(W_l), with the *connection* K_l(x) = f_{l-1}(x) kron J_l(x)^T of shape
(n_{l-1} n_l, n_L) and J_l(x) the Jacobian of the top output w.r.t. the pre-activation output of
layer l: :class:`LayeredNet`, :func:`preactivation_jacobian`, :func:`connection_matrix`, with
the column-major :func:`vec` / :func:`unvec`. Conventions (layer numbering, vec, input casting
to the net's dtype) as listed in :mod:`dynamics.theories.dual_networks.operator`.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from dynamics.errors import ConfigError, check_choice, check_range
from dynamics.inputs import as_tensor, check_finite

ACTIVATIONS = ("relu", "linear")


def vec(W: Tensor) -> Tensor:
    """Column-major vectorisation (stack the columns of W); batched over leading axes.

    Args:
        W: a tensor (..., rows, cols).

    Returns:
        A tensor (..., rows * cols).

    Example:
        >>> vec(torch.tensor([[0, 1, 2], [3, 4, 5]]))
        tensor([0, 3, 1, 4, 2, 5])
    """
    return W.transpose(-1, -2).reshape(*W.shape[:-2], -1)


def unvec(v: Tensor, shape: tuple[int, int]) -> Tensor:
    """Inverse of :func:`vec`: a (rows, cols) matrix from its column-major vectorisation.

    Args:
        v: a tensor (..., rows * cols) (else ConfigError).
        shape: (rows, cols).

    Returns:
        A tensor (..., rows, cols).

    Example:
        >>> unvec(torch.tensor([0, 3, 1, 4, 2, 5]), (2, 3))
        tensor([[0, 1, 2],
                [3, 4, 5]])
    """
    rows, cols = shape
    if v.shape[-1] != rows * cols:
        raise ConfigError("v", f"must have last dimension {rows * cols} for shape {shape}")
    return v.reshape(*v.shape[:-1], cols, rows).transpose(-1, -2)


class LayeredNet(nn.Module):
    """Bias-free layered network f_l = h_l(W_l f_{l-1}), f_0 = x, l = 1..L.

    ``widths`` = [n_0, n_1, ..., n_L]. Hidden layers use ``activation`` ("relu" or "linear"),
    the top layer uses ``top``. W_l (``net.weight(l)``) has shape (n_l, n_{l-1}) and is drawn
    N(0, 1/n_{l-1}) from ``generator`` (or the global RNG). Float64 by default.

    Args:
        widths: [n_0, n_1, ..., n_L], at least two integers >= 1.
        activation: ``"relu"`` or ``"linear"``, for the hidden layers.
        top: ``"relu"`` or ``"linear"``, for the top layer.
        dtype: the weights' torch dtype (inputs are cast to it).
        generator: a torch generator for the initial weights, or None.

    Example:
        >>> net = LayeredNet([3, 4, 2], generator=torch.Generator().manual_seed(0))
        >>> net.num_layers, net.weight(1).shape, net(torch.ones(5, 3)).shape
        (2, torch.Size([4, 3]), torch.Size([5, 2]))
    """

    def __init__(
        self,
        widths: Sequence[int],
        activation: str = "relu",
        top: str = "linear",
        *,
        dtype: torch.dtype = torch.float64,
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        widths = [int(w) for w in widths]
        if len(widths) < 2:
            raise ConfigError("widths", f"needs at least [n_0, n_L], got {widths}")
        check_range("widths", widths, low=1)
        check_choice("activation", activation, ACTIVATIONS)
        check_choice("top", top, ACTIVATIONS)
        self.widths = widths
        self.activation = activation
        self.top = top
        self.weights = nn.ParameterList(
            nn.Parameter(torch.randn(n_out, n_in, dtype=dtype, generator=generator) / n_in**0.5)
            for n_in, n_out in itertools.pairwise(widths)
        )

    @property
    def num_layers(self) -> int:
        """L, the number of weight matrices."""
        return len(self.weights)

    @property
    def is_linear(self) -> bool:
        """True when every layer, the top included, is linear (no ReLU gates)."""
        return self.activation == "linear" and self.top == "linear"

    def as_input(self, x, field: str = "x", *, finite: bool = True) -> Tensor:
        """``x`` (torch or numpy) cast to the net's dtype, on its device (numpy is moved there;
        a torch tensor elsewhere is refused), finite unless ``finite=False`` (e.g. under vmap,
        where a data-dependent check cannot run). Autograd still reaches a torch ``x``.

        Args:
            x: the input, torch or numpy.
            field: the name used in error messages.
            finite: check for NaN/Inf (ConfigError).

        Returns:
            A tensor in the net's dtype, on its device.
        """
        t, was_numpy = as_tensor(field, x, detach=False)
        w = self.weights[0]
        if was_numpy:
            t = t.to(w.device)
        elif t.device != w.device:
            raise ConfigError(field, f"is on {t.device} but the net is on {w.device}; move one")
        t = t.to(w.dtype)
        if finite:
            check_finite(field, t)
        return t

    def _check_layer(self, layer: int) -> int:
        if isinstance(layer, bool) or not hasattr(layer, "__index__"):
            raise ConfigError(
                "layer", f"must be an integer in [1, {self.num_layers}], got {layer!r}"
            )
        layer = layer.__index__()
        if not 1 <= layer <= self.num_layers:
            raise ConfigError(
                "layer", f"must be an integer in [1, {self.num_layers}], got {layer!r}"
            )
        return layer

    def weight(self, layer: int) -> nn.Parameter:
        """W_l, 1-based as in the paper.

        Args:
            layer: l, an integer in 1..L (else ConfigError).

        Returns:
            The parameter W_l, shape (n_l, n_{l-1}).
        """
        return self.weights[self._check_layer(layer) - 1]

    def _act(self, layer: int) -> str:
        return self.top if layer == self.num_layers else self.activation

    def forward_all(self, x: Tensor) -> tuple[list[Tensor], list[Tensor], Tensor]:
        """(inputs, gates, output): inputs[l-1] = f_{l-1}(x), gates[l-1] = h_l'(W_l f_{l-1})
        (0/1 for ReLU, ones for linear), output f_L(x). x has shape (B, n_0) and is cast to the
        net's dtype (:meth:`as_input`; the finiteness check is left to the callers).

        Args:
            x: the inputs (B, n_0), torch or numpy.

        Returns:
            (inputs, gates, output): two lists of L tensors, inputs[l-1] (B, n_{l-1}) and
            gates[l-1] (B, n_l), and the output (B, n_L).
        """
        x = self.as_input(x, finite=False)
        if x.ndim != 2 or x.shape[1] != self.widths[0]:
            raise ConfigError("x", f"must have shape (B, {self.widths[0]}), got {tuple(x.shape)}")
        inputs, gates = [], []
        f = x
        for l_idx, W in enumerate(self.weights, start=1):
            inputs.append(f)
            u = f @ W.T
            if self._act(l_idx) == "relu":
                g = (u > 0).to(u.dtype)
                f = torch.relu(u)
            else:
                g = torch.ones_like(u)
                f = u
            gates.append(g)
        return inputs, gates, f

    def forward(self, x: Tensor) -> Tensor:
        """The output f_L(x), shape (B, n_L).

        Args:
            x: the inputs (B, n_0), torch or numpy.

        Returns:
            f_L(x), a tensor (B, n_L).
        """
        return self.forward_all(x)[2]

    def layer_input(self, x: Tensor, layer: int) -> Tensor:
        """f_{l-1}(x), shape (B, n_{l-1}).

        Args:
            x: the inputs (B, n_0), torch or numpy, finite.
            layer: l, 1-based (1..L).

        Returns:
            f_{l-1}(x), a tensor (B, n_{l-1}) (x itself, cast, for l = 1).
        """
        return self.forward_all(self.as_input(x))[0][self._check_layer(layer) - 1]


def preactivation_jacobian(net: LayeredNet, x: Tensor, layer: int) -> Tensor:
    """J_l(x) = D_L W_L D_{L-1} ... W_{l+1} D_l, shape (B, n_L, n_l): the Jacobian of f_L w.r.t.
    the pre-activation output u_l = W_l f_{l-1} of layer l (D_k = diag of layer k's gates).

    Args:
        net: the :class:`LayeredNet`.
        x: the inputs (B, n_0), torch or numpy, finite.
        layer: l, 1-based (1..L).

    Returns:
        J_l(x), a tensor (B, n_L, n_l).

    Example:
        >>> net = LayeredNet([3, 4, 2], generator=torch.Generator().manual_seed(0))
        >>> preactivation_jacobian(net, torch.ones(5, 3), 1).shape
        torch.Size([5, 2, 4])
    """
    layer = net._check_layer(layer)
    _, gates, _ = net.forward_all(net.as_input(x))
    L = net.num_layers
    M = torch.diag_embed(gates[L - 1])
    for k in range(L, layer, -1):
        M = (M @ net.weight(k)) * gates[k - 2].unsqueeze(1)
    return M


def connection_matrix(net: LayeredNet, x: Tensor, layer: int) -> Tensor:
    """K_l(x) = f_{l-1}(x) kron J_l(x)^T, shape (B, n_{l-1} n_l, n_L), so that
    f_L(x) = K_l(x)^T vec(W_l) (column-major vec): K[b, j n_l + i, o] = f_{l-1}[b, j] J[b, o, i].

    Args:
        net: the :class:`LayeredNet`.
        x: the inputs (B, n_0), torch or numpy, finite.
        layer: l, 1-based (1..L).

    Returns:
        K_l(x), a tensor (B, n_{l-1} n_l, n_L) that keeps the autograd graph.

    Example:
        >>> net = LayeredNet([3, 4, 2], generator=torch.Generator().manual_seed(0))
        >>> x = torch.randn(5, 3, dtype=torch.float64)
        >>> K = connection_matrix(net, x, 2)
        >>> K.shape, torch.allclose(K.transpose(1, 2) @ vec(net.weight(2)), net(x))
        (torch.Size([5, 8, 2]), True)
    """
    layer = net._check_layer(layer)
    x = net.as_input(x)
    f_in = net.forward_all(x)[0][layer - 1]
    J = preactivation_jacobian(net, x, layer)
    B, n_L, n_l = J.shape
    K = torch.einsum("bj,boi->bjio", f_in, J)
    return K.reshape(B, f_in.shape[1] * n_l, n_L)


def _check_x_aug(net: LayeredNet | None, x_aug: Tensor) -> tuple[Tensor, int, int]:
    """x_aug as a finite (N, A, n0) tensor, cast to the net's dtype when there is a net."""
    if net is not None:
        x_aug = net.as_input(x_aug, "x_aug", finite=False)
    else:
        x_aug, _ = as_tensor("x_aug", x_aug, detach=False)
    if x_aug.ndim != 3:
        raise ConfigError("x_aug", f"must have shape (N, A, n0), got {tuple(x_aug.shape)}")
    if net is not None and x_aug.shape[2] != net.widths[0]:
        raise ConfigError(
            "x_aug", f"last dimension must be n0 = {net.widths[0]}, got {x_aug.shape[2]}"
        )
    N, A = x_aug.shape[:2]
    if N < 1 or A < 1:
        raise ConfigError("x_aug", f"needs N >= 1 samples and A >= 1 augmentations, got {N}, {A}")
    check_finite("x_aug", x_aug)
    return x_aug, N, A

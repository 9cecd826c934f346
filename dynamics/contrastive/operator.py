"""Covariance operator of Tian, Yu, Chen & Ganguli 2020, "Understanding Self-supervised Learning
with Dual Deep Networks" (arXiv 2010.00578), the connection-matrix form and its linear special case.

For a layered network without biases, f_l = h(W_l f_{l-1}), the output is linear in each weight
matrix once the ReLU gates are fixed: f_L(x) = J_l(x) W_l f_{l-1}(x) = K_l(x)^T vec(W_l), with the
*connection* K_l(x) = f_{l-1}(x) kron J_l(x)^T of shape (n_{l-1} n_l, n_L) and J_l(x) the Jacobian
of the top output w.r.t. the pre-activation output of layer l. With r = 1/2 ||f(x1) - f(x')||^2 the
expected simple-contrastive update is a covariance operator (Sec. 1.3):

    -grad_{vec W_l} E[L_simp] = 2 V_{x0}[Kbar_l(x0)] vec(W_l),  Kbar_l(x0) = E_aug[K_l(x) | x0],

computed here by :func:`simple_loss_gradient_operator` (= :func:`covariance_operator` of
:func:`augmentation_averaged_connection`). For a general loss of the distances (soft triplet,
InfoNCE) :func:`expected_update_operator` gives the exact expected update on a finite set of
samples x augmentations, enumerating every (anchor, positive, negatives) tuple.

Conventions:

* vec is column-major: vec(A X B) = (B^T kron A) vec(X); :func:`vec` / :func:`unvec`.
* layers are numbered 1..L as in the paper; W_l has shape (n_l, n_{l-1}); f_0 = x.
* r = 1/2 ||f - f'||^2 on raw (un-normalised) outputs: the identities need exactly this.
* "gates fixed": the operators describe the instantaneous update and ignore the dependence of
  the ReLU gates on W. Since gates are piecewise constant, ordinary autograd gives the same
  gradient almost everywhere.
* The operator-valued functions (``simple_loss_gradient_operator``, ``linear_operator``,
  ``expected_update_operator``) return detached tensors (the operator at the current weights);
  ``covariance_operator`` and the connection functions keep the autograd graph.
* The finite set is x_aug of shape (N samples, A augmentations, n0), uniform over samples and
  augmentations; a positive is an independent draw of an augmentation of the anchor's sample
  (it coincides with the anchor with probability 1/A, as the law of total variance needs), a
  negative is any of the N A points (the anchor's own sample with probability 1/N, as in
  V_total).
* Inputs x / x_aug (torch or numpy; :meth:`LayeredNet.as_input`) are CAST TO THE NET'S DTYPE:
  float32 or integer data into the default float64 net is exact; float64 data into a float32
  net is rounded to float32, the precision that net computes in anyway (use a float64 net for
  the exact identities). Numpy input goes to the net's device, a torch tensor on another device
  is refused, NaN/Inf raise :class:`~dynamics.errors.ConfigError`. Outputs are torch tensors.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from dynamics.errors import ConfigError, check_choice, check_range
from dynamics.inputs import as_tensor, check_finite

ACTIVATIONS = ("relu", "linear")
MAX_TUPLES = 5_000_000


def vec(W: Tensor) -> Tensor:
    """Column-major vectorisation (stack the columns of W); batched over leading axes."""
    return W.transpose(-1, -2).reshape(*W.shape[:-2], -1)


def unvec(v: Tensor, shape: tuple[int, int]) -> Tensor:
    """Inverse of :func:`vec`: a (rows, cols) matrix from its column-major vectorisation."""
    rows, cols = shape
    if v.shape[-1] != rows * cols:
        raise ConfigError("v", f"must have last dimension {rows * cols} for shape {shape}")
    return v.reshape(*v.shape[:-1], cols, rows).transpose(-1, -2)


class LayeredNet(nn.Module):
    """Bias-free layered network f_l = h_l(W_l f_{l-1}), f_0 = x, l = 1..L.

    ``widths`` = [n_0, n_1, ..., n_L]. Hidden layers use ``activation`` ("relu" or "linear"),
    the top layer uses ``top``. W_l (``net.weight(l)``) has shape (n_l, n_{l-1}) and is drawn
    N(0, 1/n_{l-1}) from ``generator`` (or the global RNG). Float64 by default.
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
        where a data-dependent check cannot run). Autograd still reaches a torch ``x``."""
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
        """W_l, 1-based as in the paper."""
        return self.weights[self._check_layer(layer) - 1]

    def _act(self, layer: int) -> str:
        return self.top if layer == self.num_layers else self.activation

    def forward_all(self, x: Tensor) -> tuple[list[Tensor], list[Tensor], Tensor]:
        """(inputs, gates, output): inputs[l-1] = f_{l-1}(x), gates[l-1] = h_l'(W_l f_{l-1})
        (0/1 for ReLU, ones for linear), output f_L(x). x has shape (B, n_0) and is cast to the
        net's dtype (:meth:`as_input`; the finiteness check is left to the callers)."""
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
        """The output f_L(x), shape (B, n_L)."""
        return self.forward_all(x)[2]

    def layer_input(self, x: Tensor, layer: int) -> Tensor:
        """f_{l-1}(x), shape (B, n_{l-1})."""
        return self.forward_all(self.as_input(x))[0][self._check_layer(layer) - 1]


def preactivation_jacobian(net: LayeredNet, x: Tensor, layer: int) -> Tensor:
    """J_l(x) = D_L W_L D_{L-1} ... W_{l+1} D_l, shape (B, n_L, n_l): the Jacobian of f_L w.r.t.
    the pre-activation output u_l = W_l f_{l-1} of layer l (D_k = diag of layer k's gates)."""
    layer = net._check_layer(layer)
    _, gates, _ = net.forward_all(net.as_input(x))
    L = net.num_layers
    M = torch.diag_embed(gates[L - 1])
    for k in range(L, layer, -1):
        M = (M @ net.weight(k)) * gates[k - 2].unsqueeze(1)
    return M


def connection_matrix(net: LayeredNet, x: Tensor, layer: int) -> Tensor:
    """K_l(x) = f_{l-1}(x) kron J_l(x)^T, shape (B, n_{l-1} n_l, n_L), so that
    f_L(x) = K_l(x)^T vec(W_l) (column-major vec): K[b, j n_l + i, o] = f_{l-1}[b, j] J[b, o, i]."""
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


def augmentation_averaged_connection(net: LayeredNet, x_aug: Tensor, layer: int) -> Tensor:
    """Kbar_l(x0) = E_aug[K_l(x) | x0] (uniform over the A augmentations), shape (N, P, n_L)
    with P = n_{l-1} n_l, for x_aug of shape (N samples, A augmentations, n0)."""
    x_aug, N, A = _check_x_aug(net, x_aug)
    K = connection_matrix(net, x_aug.reshape(N * A, -1), layer)
    return K.reshape(N, A, *K.shape[1:]).mean(dim=1)


def covariance_operator(Kbar, weights=None) -> Tensor:
    """V[Kbar] = sum_g w_g (Kbar_g - Kbar_mean)(Kbar_g - Kbar_mean)^T, a P x P PSD matrix.

    ``Kbar`` has shape (G, P, n_out): the augmentation-averaged connection matrices of G groups
    (clean samples x0, or root labels); the outer product sums over the n_out columns.
    ``weights`` (G,) are probabilities (non-negative, summing to 1; default uniform 1/G) and
    Kbar_mean = sum_g w_g Kbar_g. With r = 1/2||.||^2, -grad_{vec W_l} E[L_simp] = 2 V[Kbar_l]
    vec(W_l) (Sec. 1.3), i.e. OP_l = V_{x0}[Kbar_l(x0)]. Torch or numpy in (integers become
    float64), torch out in Kbar's dtype; NaN/Inf in Kbar or weights raise ConfigError.
    """
    K, _ = as_tensor("Kbar", Kbar, detach=False)
    if K.ndim != 3:
        raise ConfigError("Kbar", f"must have shape (G, P, n_out), got {tuple(K.shape)}")
    check_finite("Kbar", K)
    G = K.shape[0]
    if G < 1:
        raise ConfigError("Kbar", "needs at least one group (G >= 1)")
    if weights is None:
        w = torch.full((G,), 1.0 / G, dtype=K.dtype, device=K.device)
    else:
        w = as_tensor("weights", weights)[0].to(dtype=K.dtype, device=K.device)
        if w.shape != (G,):
            raise ConfigError(
                "weights", f"must have shape ({G},) to match Kbar, got {tuple(w.shape)}"
            )
        check_range("weights", w, low=0.0)
        total = float(w.sum())
        if abs(total - 1.0) > 1e-6:
            raise ConfigError("weights", f"must sum to 1 (probabilities), got sum {total:.6g}")
    mean = torch.einsum("g,gpo->po", w, K)
    D = K - mean
    V = torch.einsum("g,gpo,gqo->pq", w, D, D)
    return (V + V.T) / 2


def simple_loss_gradient_operator(
    net: LayeredNet, x_aug: Tensor, layer: int, sample_weights=None
) -> Tensor:
    """OP_l = V_{x0}[Kbar_l(x0)] (P x P, PSD) for L_simp = r+ - r- (Tian et al. 2020, Sec. 1.3).

    With r = 1/2 ||.||^2 and gates fixed, -grad_{vec W_l} E[L_simp] = 2 OP_l vec(W_l), i.e. the
    large-batch SGD step is vec(dW_l) = eta OP_l vec(W_l) (factor 2 absorbed in eta).
    ``sample_weights`` (N,) are the probabilities of the clean samples (default uniform).
    """
    with torch.no_grad():
        Kbar = augmentation_averaged_connection(net, x_aug, layer)
    return covariance_operator(Kbar, sample_weights)


def augmentation_averaged_covariance(x_aug: Tensor, sample_weights=None) -> Tensor:
    """Sigma_bar = V_{x0}[E_aug x] (n0 x n0, population 1/N normalisation): the covariance of
    the augmentation-averaged inputs, which drives the linear case (Sec. 1.4)."""
    x_aug, _, _ = _check_x_aug(None, x_aug)
    return covariance_operator(x_aug.mean(dim=1).unsqueeze(-1), sample_weights)


def linear_operator(net: LayeredNet, x_aug: Tensor, layer: int, sample_weights=None) -> Tensor:
    """Closed form of OP_l for a linear network (Sec. 1.4): Sigma_bar_{l-1} kron (J_l^T J_l),
    i.e. OP_l vec(W_l) = vec(J_l^T J_l W_l Sigma_bar_{l-1}), with Sigma_bar_{l-1} =
    V_{x0}[E_aug f_{l-1}]. For one layer the update is dW = eta W Sigma_bar (power iteration)."""
    if not net.is_linear:
        raise ConfigError("net", "linear_operator needs activation='linear' and top='linear'")
    x_aug, N, A = _check_x_aug(net, x_aug)
    layer = net._check_layer(layer)
    with torch.no_grad():
        f_in = net.layer_input(x_aug.reshape(N * A, -1), layer).reshape(N, A, -1)
        sigma = augmentation_averaged_covariance(f_in, sample_weights)
        J = preactivation_jacobian(net, x_aug[:1, 0], layer)[0]
    # .contiguous(): torch.kron rejects some non-contiguous inputs
    return torch.kron(sigma.contiguous(), (J.T @ J).contiguous())


# ---------------------------------------------------------------------------------------------
# exact expectations over a finite set of samples x augmentations
# ---------------------------------------------------------------------------------------------


def enumerate_tuples(N: int, A: int, num_negatives: int = 1) -> tuple[Tensor, Tensor, Tensor]:
    """All equally likely (anchor, positive, negatives) tuples on N samples x A augmentations.

    Points are flat indices n A + a into x_aug.reshape(N A, n0). The anchor is any point, the
    positive any augmentation of the anchor's sample (the anchor itself included, probability
    1/A), each of the H = ``num_negatives`` negatives any point. Returns (anchor (T,),
    positive (T,), negatives (T, H)) with T = N A * A * (N A)^H.
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

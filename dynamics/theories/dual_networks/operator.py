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

Module layout: the covariance operator and its linear closed form are defined here; the
network and connection matrices live in :mod:`dynamics.theories.dual_networks.connection`, the exact
expectations over tuples in :mod:`dynamics.theories.dual_networks.expected_update` (both re-exported
here).
"""

from __future__ import annotations

import torch
from torch import Tensor

from dynamics.errors import ConfigError, check_range
from dynamics.inputs import as_tensor, check_finite
from dynamics.theories.dual_networks.connection import (
    ACTIVATIONS,
    LayeredNet,
    _check_x_aug,
    connection_matrix,
    preactivation_jacobian,
    unvec,
    vec,
)
from dynamics.theories.dual_networks.expected_update import (
    MAX_TUPLES,
    LossOfDistances,
    enumerate_tuples,
    expected_loss,
    expected_update_operator,
)

__all__ = [
    "ACTIVATIONS",
    "MAX_TUPLES",
    "LayeredNet",
    "LossOfDistances",
    "augmentation_averaged_connection",
    "augmentation_averaged_covariance",
    "connection_matrix",
    "covariance_operator",
    "enumerate_tuples",
    "expected_loss",
    "expected_update_operator",
    "linear_operator",
    "preactivation_jacobian",
    "simple_loss_gradient_operator",
    "unvec",
    "vec",
]


def augmentation_averaged_connection(net: LayeredNet, x_aug: Tensor, layer: int) -> Tensor:
    """Kbar_l(x0) = E_aug[K_l(x) | x0] (uniform over the A augmentations), shape (N, P, n_L)
    with P = n_{l-1} n_l, for x_aug of shape (N samples, A augmentations, n0).

    Args:
        net: the :class:`LayeredNet`.
        x_aug: the finite set, (N, A, n0), torch or numpy (cast to the net's dtype).
        layer: l, 1-based (1..L).

    Returns:
        Kbar_l, a tensor (N, n_{l-1} n_l, n_L) that keeps the autograd graph.

    Example:
        >>> net = LayeredNet([3, 4, 2], generator=torch.Generator().manual_seed(0))
        >>> augmentation_averaged_connection(net, torch.randn(5, 2, 3), 1).shape
        torch.Size([5, 12, 2])
    """
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

    Args:
        Kbar: the connection matrices of the G groups, (G, P, n_out), G >= 1.
        weights: probabilities of the groups (G,), or None for uniform.

    Returns:
        V[Kbar], a symmetric PSD tensor (P, P) (keeps the autograd graph of ``Kbar``).

    Example:
        >>> covariance_operator(torch.tensor([[[0.0]], [[2.0]]], dtype=torch.float64))
        tensor([[1.]], dtype=torch.float64)
        >>> covariance_operator(torch.tensor([[[0.0]], [[2.0]]]), [0.25, 0.75])
        tensor([[0.7500]])
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

    Args:
        net: the :class:`LayeredNet`.
        x_aug: the finite set, (N, A, n0), torch or numpy.
        layer: l, 1-based (1..L).
        sample_weights: probabilities of the N clean samples, or None for uniform.

    Returns:
        OP_l, a detached symmetric PSD tensor (P, P), P = n_{l-1} n_l, in the net's dtype.

    Example:
        >>> net = LayeredNet([3, 4, 2], generator=torch.Generator().manual_seed(0))
        >>> x_aug = torch.randn(5, 2, 3, dtype=torch.float64)
        >>> simple_loss_gradient_operator(net, x_aug, 1).shape
        torch.Size([12, 12])
    """
    with torch.no_grad():
        Kbar = augmentation_averaged_connection(net, x_aug, layer)
    return covariance_operator(Kbar, sample_weights)


def augmentation_averaged_covariance(x_aug: Tensor, sample_weights=None) -> Tensor:
    """Sigma_bar = V_{x0}[E_aug x] (n0 x n0, population 1/N normalisation): the covariance of
    the augmentation-averaged inputs, which drives the linear case (Sec. 1.4).

    Args:
        x_aug: the finite set, (N, A, n0), torch or numpy.
        sample_weights: probabilities of the N clean samples, or None for uniform.

    Returns:
        Sigma_bar, a symmetric PSD tensor (n0, n0).

    Example:
        >>> augmentation_averaged_covariance(torch.tensor([[[0.0], [2.0]], [[4.0], [6.0]]]))
        tensor([[4.]])
    """
    x_aug, _, _ = _check_x_aug(None, x_aug)
    return covariance_operator(x_aug.mean(dim=1).unsqueeze(-1), sample_weights)


def linear_operator(net: LayeredNet, x_aug: Tensor, layer: int, sample_weights=None) -> Tensor:
    """Closed form of OP_l for a linear network (Sec. 1.4): Sigma_bar_{l-1} kron (J_l^T J_l),
    i.e. OP_l vec(W_l) = vec(J_l^T J_l W_l Sigma_bar_{l-1}), with Sigma_bar_{l-1} =
    V_{x0}[E_aug f_{l-1}]. For one layer the update is dW = eta W Sigma_bar (power iteration).

    Args:
        net: a linear :class:`LayeredNet` (``activation`` and ``top`` both ``"linear"``, else
            ConfigError).
        x_aug: the finite set, (N, A, n0), torch or numpy.
        layer: l, 1-based (1..L).
        sample_weights: probabilities of the N clean samples, or None for uniform.

    Returns:
        OP_l, a detached tensor (P, P), P = n_{l-1} n_l.

    Example:
        >>> lin = LayeredNet([3, 4, 2], "linear", generator=torch.Generator().manual_seed(0))
        >>> x_aug = torch.randn(5, 2, 3, dtype=torch.float64)
        >>> torch.allclose(linear_operator(lin, x_aug, 1),
        ...                simple_loss_gradient_operator(lin, x_aug, 1))
        True
    """
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

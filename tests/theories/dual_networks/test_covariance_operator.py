"""Covariance operator of Tian, Yu, Chen & Ganguli 2020 (THEORY doc Sec. 1.2-1.4, checks 1.10.1-2).

Every expectation is exact: enumeration over a finite set of N samples x A augmentations.
"""

import pytest
import torch
from torch.func import functional_call, jacrev, vmap

from dynamics.errors import ConfigError
from dynamics.losses.distance import infonce_from_distances, simple_contrastive, soft_triplet
from dynamics.theories.dual_networks.operator import (
    LayeredNet,
    augmentation_averaged_connection,
    augmentation_averaged_covariance,
    connection_matrix,
    covariance_operator,
    enumerate_tuples,
    expected_loss,
    expected_update_operator,
    linear_operator,
    preactivation_jacobian,
    simple_loss_gradient_operator,
    unvec,
    vec,
)

DT = torch.float64


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def _simp(rp, rn):
    return simple_contrastive(rp, rn[:, 0])


def _relu_setup(seed=0, widths=(5, 6, 5, 3), N=6, A=4):
    g = _gen(seed)
    net = LayeredNet(list(widths), activation="relu", top="linear", generator=g)
    x0 = torch.randn(N, 1, widths[0], dtype=DT, generator=g)
    x_aug = x0 + 0.5 * torch.randn(N, A, widths[0], dtype=DT, generator=g)
    return net, x_aug


def _rel(a, b):
    a, b = a.detach(), b.detach()
    return float((a - b).norm() / b.norm())


# ----------------------------------------------------------------------------- covariance_operator


def test_covariance_operator_matches_definition_and_weights():
    g = _gen(1)
    Kbar = torch.randn(7, 4, 3, dtype=DT, generator=g)
    w = torch.rand(7, dtype=DT, generator=g)
    w = w / w.sum()
    V = covariance_operator(Kbar, w)
    mean = sum(w[i] * Kbar[i] for i in range(7))
    ref = sum(w[i] * (Kbar[i] - mean) @ (Kbar[i] - mean).T for i in range(7))
    assert V.shape == (4, 4)
    torch.testing.assert_close(V, ref, rtol=1e-12, atol=1e-12)
    assert torch.linalg.eigvalsh(V)[0] > -1e-12
    # default weights are uniform; V of a 1-column Kbar is the population covariance
    torch.testing.assert_close(
        covariance_operator(Kbar), covariance_operator(Kbar, torch.full((7,), 1 / 7, dtype=DT))
    )
    X = Kbar[:, :, 0]
    torch.testing.assert_close(covariance_operator(X.unsqueeze(-1)), torch.cov(X.T, correction=0))
    # weights (2/3, 1/3) on two groups == uniform over three groups with the first duplicated
    K2 = Kbar[:2]
    torch.testing.assert_close(
        covariance_operator(K2, [2 / 3, 1 / 3]), covariance_operator(K2[[0, 0, 1]])
    )


@pytest.mark.parametrize(
    "Kbar, weights, field",
    [
        (torch.zeros(3, 4), None, "Kbar"),
        (torch.zeros(3, 4, 2), [0.5, 0.5], "weights"),
        (torch.zeros(3, 4, 2), [0.5, 0.7, -0.2], "weights"),
        (torch.zeros(3, 4, 2), [0.5, 0.5, 0.5], "weights"),
    ],
)
def test_covariance_operator_rejects_bad_input(Kbar, weights, field):
    with pytest.raises(ConfigError) as exc:
        covariance_operator(Kbar, weights)
    assert exc.value.field == field


# ----------------------------------------------------------------------------- connections


def test_vec_is_column_major():
    g = _gen(2)
    A, X, B = (torch.randn(s, dtype=DT, generator=g) for s in [(3, 4), (4, 5), (5, 2)])
    torch.testing.assert_close(vec(A @ X @ B), torch.kron(B.T.contiguous(), A) @ vec(X))
    torch.testing.assert_close(unvec(vec(X), (4, 5)), X)
    assert vec(torch.tensor([[1.0, 2.0], [3.0, 4.0]])).tolist() == [1.0, 3.0, 2.0, 4.0]


@pytest.mark.parametrize(
    "activation, top", [("relu", "linear"), ("relu", "relu"), ("linear", "linear")]
)
def test_connection_identity_and_autograd_jacobian(activation, top):
    g = _gen(3)
    net = LayeredNet([4, 6, 5, 3], activation=activation, top=top, generator=g)
    x = torch.randn(10, 4, dtype=DT, generator=g)
    f = net(x)
    for layer in (1, 2, 3):
        W = net.weight(layer)
        K = connection_matrix(net, x, layer)
        assert K.shape == (10, W.shape[0] * W.shape[1], 3)
        # f_L(x) = K_l(x)^T vec(W_l)
        torch.testing.assert_close(torch.einsum("bpo,p->bo", K, vec(W.detach())), f.detach())
        # K_l^T = d f_L / d vec(W_l), by autograd (torch.func)
        name = f"weights.{layer - 1}"
        params = {k: v.detach() for k, v in net.named_parameters()}

        def out(Wl, xi, name=name, params=params):
            return functional_call(net, {**params, name: Wl}, (xi.unsqueeze(0),))[0]

        dW = vmap(jacrev(out), in_dims=(None, 0))(params[name], x)  # (B, n_L, n_l, n_{l-1})
        torch.testing.assert_close(vec(dW).transpose(1, 2), K)
        # f_L = J_l u_l exactly (homogeneity): J_l times the pre-activation of layer l
        f_in = net.layer_input(x, layer)
        J = preactivation_jacobian(net, x, layer)
        torch.testing.assert_close(torch.einsum("boi,bi->bo", J, f_in @ W.T), f)


def test_augmentation_averaged_connection_shape_and_mean():
    net, x_aug = _relu_setup()
    Kbar = augmentation_averaged_connection(net, x_aug, 2)
    assert Kbar.shape == (6, 6 * 5, 3)
    K = connection_matrix(net, x_aug[2], 2)
    torch.testing.assert_close(Kbar[2], K.mean(0))


# ----------------------------------------------------------------------------- headline identity


def test_enumeration_is_the_stated_distribution():
    anchor, positive, negatives = enumerate_tuples(3, 2, 2)
    assert anchor.shape == (6 * 2 * 36,) and negatives.shape == (6 * 2 * 36, 2)
    assert torch.equal(anchor // 2, positive // 2)  # positive: same sample
    assert float((anchor == positive).double().mean()) == pytest.approx(1 / 2)  # 1/A
    assert float((negatives[:, 0] // 2 == anchor // 2).double().mean()) == pytest.approx(1 / 3)


def test_simple_loss_gradient_is_twice_covariance_operator():
    """-grad_{W_l} E[L_simp] = 2 V_{x0}[Kbar_l] vec(W_l) for every layer, OP_l PSD (Sec. 1.3)."""
    net, x_aug = _relu_setup()
    _, gates, _ = net.forward_all(x_aug.reshape(-1, 5))
    for gate in gates[:-1]:  # the ReLU gates do vary over the finite set
        assert 0.15 < float(gate.mean()) < 0.85
    loss = expected_loss(net, x_aug, _simp)
    grads = torch.autograd.grad(loss, list(net.weights))
    for layer in (1, 2, 3):
        W = net.weight(layer).detach()
        OP = simple_loss_gradient_operator(net, x_aug, layer)
        assert OP.shape == (W.numel(), W.numel())
        rhs = 2 * OP @ vec(W)
        assert _rel(-vec(grads[layer - 1]), rhs) < 1e-8
        assert torch.allclose(OP, OP.T, atol=1e-14)
        lam = torch.linalg.eigvalsh(OP)
        assert lam[0] >= -1e-10 * lam[-1]
        assert lam[-1] > 1e-3  # non-trivial
        # the enumerated expected update of L_simp is the same operator
        M = expected_update_operator(net, x_aug, layer, _simp)
        torch.testing.assert_close(M, 2 * OP, rtol=1e-10, atol=1e-12)


def test_simple_loss_gradient_matches_finite_differences():
    """Finite differences of the exact E[L_simp] (gates locally constant) vs -2 OP vec(W)."""
    net, x_aug = _relu_setup(seed=4)
    layer = 2
    W = net.weight(layer)
    OP = simple_loss_gradient_operator(net, x_aug, layer)
    pred = -2 * unvec(OP @ vec(W.detach()), tuple(W.shape))
    eps = 1e-6
    with torch.no_grad():
        for i, j in [(0, 0), (1, 3), (4, 5), (2, 2)]:
            W[i, j] += eps
            up = expected_loss(net, x_aug, _simp)
            W[i, j] -= 2 * eps
            down = expected_loss(net, x_aug, _simp)
            W[i, j] += eps
            fd = (up - down) / (2 * eps)
            assert abs(float(fd - pred[i, j])) < 1e-7 * max(1.0, float(pred.abs().max()))


@pytest.mark.parametrize(
    "loss_fn, H",
    [
        (lambda rp, rn: soft_triplet(rp, rn[:, 0], tau=0.5, margin=0.2), 1),
        (lambda rp, rn: infonce_from_distances(rp, rn, tau=0.5), 1),
        (lambda rp, rn: infonce_from_distances(rp, rn, tau=0.3), 2),
    ],
    ids=["triplet", "infonce-H1", "infonce-H2"],
)
def test_weighted_update_is_minus_the_gradient(loss_fn, H):
    """E[sum_k xi_k (d_k d_k^T - d_+ d_+^T)] vec(W_l) = -grad_{W_l} E[L] (exact expected update)."""
    net, x_aug = _relu_setup(seed=5, N=5, A=3)
    loss = expected_loss(net, x_aug, loss_fn, num_negatives=H)
    grads = torch.autograd.grad(loss, list(net.weights))
    for layer in (1, 2, 3):
        W = net.weight(layer).detach()
        M = expected_update_operator(net, x_aug, layer, loss_fn, num_negatives=H)
        assert torch.allclose(M, M.T, atol=1e-14)
        assert _rel(-vec(grads[layer - 1]), M @ vec(W)) < 1e-8
        # with sample-dependent weights it is not the simple operator
        OP = simple_loss_gradient_operator(net, x_aug, layer)
        c = float((M * OP).sum() / (OP * OP).sum())
        assert _rel(M, c * OP) > 1e-3


def test_infonce_h1_operator_equals_triplet_margin0():
    net, x_aug = _relu_setup(seed=6, N=4, A=3)
    m_nce = expected_update_operator(
        net, x_aug, 1, lambda rp, rn: infonce_from_distances(rp, rn, tau=0.7)
    )
    m_tri = expected_update_operator(net, x_aug, 1, lambda rp, rn: soft_triplet(rp, rn[:, 0], 0.7))
    torch.testing.assert_close(m_nce, m_tri, rtol=1e-10, atol=1e-13)


def test_bad_layer_and_shapes():
    net, x_aug = _relu_setup()
    for bad in (0, 4):
        with pytest.raises(ConfigError) as exc:
            connection_matrix(net, x_aug[0], bad)
        assert exc.value.field == "layer"
    with pytest.raises(ConfigError):
        augmentation_averaged_connection(net, x_aug[..., :3], 1)
    with pytest.raises(ConfigError):
        LayeredNet([3, 4], activation="tanh")
    with pytest.raises(ConfigError):
        expected_loss(net, x_aug, _simp, num_negatives=4)  # too many tuples


# ----------------------------------------------------------------------------- linear case (1.4)


def test_linear_network_operator_is_kronecker_closed_form():
    g = _gen(7)
    net = LayeredNet([4, 5, 3], activation="linear", generator=g)
    x_aug = torch.randn(6, 3, 4, dtype=DT, generator=g)
    for layer in (1, 2):
        torch.testing.assert_close(
            simple_loss_gradient_operator(net, x_aug, layer),
            linear_operator(net, x_aug, layer),
            rtol=1e-10,
            atol=1e-12,
        )
    relu = LayeredNet([4, 5, 3], generator=g)
    with pytest.raises(ConfigError):
        linear_operator(relu, x_aug, 1)


def _orth_rows(W):
    """Orthonormalise the rows of W (QR): the 'normalise' step of subspace power iteration."""
    q, r = torch.linalg.qr(W.T)
    return (q * torch.sign(torch.diagonal(r))).T


def _cos_principal_angles(W, U):
    return torch.linalg.svdvals(_orth_rows(W) @ U)


def _contrastive_iterate(W, x_aug, steps, lr):
    """W <- orth(W - lr grad E[L_simp]) with the exact gradient by autograd (one linear layer)."""
    net = LayeredNet([W.shape[1], W.shape[0]], activation="linear")
    with torch.no_grad():
        net.weight(1).copy_(W)
    for _ in range(steps):
        (grad,) = torch.autograd.grad(expected_loss(net, x_aug, _simp), [net.weight(1)])
        with torch.no_grad():
            net.weight(1).copy_(_orth_rows(net.weight(1) - lr * grad))
    return net.weight(1).detach()


def test_linear_layer_is_power_iteration_on_augmentation_averaged_covariance():
    """One linear layer: -grad E[L_simp] = 2 W Sigma_bar, and iterating aligns the rows of W with
    the top eigenvectors of Sigma_bar = V_{x0}[E_aug x] (principal angles ~ 0)."""
    g = _gen(8)
    n0, k, N, A = 8, 3, 20, 3
    Q, _ = torch.linalg.qr(torch.randn(n0, n0, dtype=DT, generator=g))
    scales = torch.tensor([3.0, 2.5, 2.0, 0.8, 0.6, 0.5, 0.4, 0.3], dtype=DT)
    x0 = (torch.randn(N, n0, dtype=DT, generator=g) * scales) @ Q.T
    x_aug = x0.unsqueeze(1) + 0.3 * torch.randn(N, A, n0, dtype=DT, generator=g)
    sigma_bar = augmentation_averaged_covariance(x_aug)
    evals, evecs = torch.linalg.eigh(sigma_bar)
    assert evals[-k] / evals[-k - 1] > 1.5  # a clear gap
    top = evecs[:, -k:]

    W0 = torch.randn(k, n0, dtype=DT, generator=g)
    net = LayeredNet([n0, k], activation="linear")
    with torch.no_grad():
        net.weight(1).copy_(W0)
    (grad,) = torch.autograd.grad(expected_loss(net, x_aug, _simp), [net.weight(1)])
    torch.testing.assert_close(-grad, 2 * W0 @ sigma_bar, rtol=1e-10, atol=1e-12)

    assert float(_cos_principal_angles(W0, top).min()) < 0.9
    W = _contrastive_iterate(W0, x_aug, steps=60, lr=10.0 / float(evals[-1]))
    assert float(_cos_principal_angles(W, top).min()) > 1 - 1e-8


def test_augmentation_only_variance_does_not_attract_weights():
    """A direction with large variance only WITHIN augmentations (E_aug x constant over samples)
    dominates the naive data covariance but is invisible to V_{x0}[E_aug x]: W's component
    along it decays (relative to the rest) instead of growing."""
    g = _gen(9)
    n0, k, N = 6, 2, 16
    e_aug = torch.zeros(n0, dtype=DT)
    e_aug[5] = 1.0
    x0 = torch.randn(N, n0, dtype=DT, generator=g) * torch.tensor([2.0, 1.5, 1.0, 0.7, 0.5, 0.0])
    offsets = torch.tensor([-6.0, -3.0, 3.0, 6.0], dtype=DT)  # symmetric: E_aug is exactly x0
    noise = 0.2 * torch.randn(N, 4, n0, dtype=DT, generator=g)
    noise = noise - noise.mean(dim=1, keepdim=True)
    noise[..., 5] = 0.0
    x_aug = x0.unsqueeze(1) + noise + offsets.view(1, 4, 1) * e_aug

    # the naive covariance of all augmented points picks the augmentation direction ...
    naive = torch.cov(x_aug.reshape(-1, n0).T, correction=0)
    assert float(torch.linalg.eigh(naive)[1][:, -1].abs() @ e_aug) > 0.99
    # ... the augmentation-averaged one does not see it at all
    sigma_bar = augmentation_averaged_covariance(x_aug)
    assert float(sigma_bar[5].abs().max()) < 1e-12

    W0 = torch.randn(k, n0, dtype=DT, generator=g)
    W0[:, 5] = 2.0  # start strongly aligned with the augmentation direction
    W0 = _orth_rows(W0)
    start = float(W0[:, 5].norm())
    lr = 0.5 / float(torch.linalg.eigvalsh(sigma_bar)[-1])
    W = _contrastive_iterate(W0, x_aug, steps=120, lr=lr)
    assert start > 0.5
    assert float(W[:, 5].norm()) < 1e-4
    top = torch.linalg.eigh(sigma_bar)[1][:, -k:]
    assert float(_cos_principal_angles(W, top).min()) > 1 - 1e-6

"""Dimensional collapse of linear InfoNCE (Jing, Vincent, LeCun & Tian 2022): the gradient
identity, the large-batch closed form, the two-layer rates and half-times, each against autograd,
the flow and SGD; the real-network helpers on a tiny trained run."""

import numpy as np
import pytest
import torch

from dynamics.errors import ConfigError
from dynamics.theories.dimensional_collapse import model as dc
from dynamics.theories.dimensional_collapse.symbolic import collapse_identities


def test_symbolic_derivations():
    res = collapse_identities()
    assert set(res) >= {"gradient_identity", "annealed_gradient", "fixed_point", "balance",
                        "half_time_2"}
    assert all(v == 0 for v in res.values()), res


def test_gradient_identity_matches_autograd():
    rng = np.random.default_rng(3)
    W, x1 = rng.normal(size=(3, 5)), rng.normal(size=(9, 5))
    x2 = x1 + 0.4 * rng.normal(size=(9, 5))
    Wt = torch.tensor(W, requires_grad=True)
    loss = dc.infonce(torch.tensor(x1) @ Wt.T, torch.tensor(x2) @ Wt.T, 0.2)
    (g,) = torch.autograd.grad(loss, Wt)
    np.testing.assert_allclose(g.numpy(), -W @ dc.x_matrix(W, x1, x2, 0.2) / 0.2, atol=1e-12)


def test_annealed_fixed_point_minimises_and_gives_tau_times_signal_share():
    rng = np.random.default_rng(0)
    B = rng.normal(size=(3, 3))
    A = B @ B.T + 0.1 * np.eye(3)
    S = np.diag([0.2, 1.0, 3.0])
    C, tau = A + S, 0.3
    Gs = dc.annealed_fixed_point(A, C, tau)
    assert np.abs(dc.annealed_x(Gs, A, C, tau)).max() < 1e-12
    base = dc.annealed_loss(Gs, A, C, tau)
    for _ in range(5):
        P = rng.normal(size=(3, 3)) * 1e-3
        assert dc.annealed_loss(Gs + P @ P.T, A, C, tau) > base
    W = np.linalg.cholesky(Gs).T  # any W with W^T W = G*
    emb = np.sort(np.linalg.eigvalsh(W @ C @ W.T))[::-1]
    np.testing.assert_allclose(emb, dc.annealed_embedding_spectrum(A, C, tau), rtol=1e-10)
    a, s2 = np.array([1.0, 2.0, 0.5]), np.array([1.0, 0.0, 4.5])
    np.testing.assert_allclose(dc.annealed_embedding_spectrum(np.diag(a), np.diag(a + s2), tau),
                               np.sort(tau * a / (a + s2))[::-1])


@pytest.mark.parametrize("layers", [1, 2])
def test_half_time_closed_form_equals_the_flow(layers):
    s0, tau = np.array([0.05, 0.02, 0.01]), 0.5
    start = ([np.diag(s0)] if layers == 1 else [np.diag(np.sqrt(s0))] * 2)
    t_half = dc.half_time(s0, 1.0, 1.0, tau, layers)
    tr = dc.simulate_annealed(start, 1.0, 1.0, tau, t_end=1.1 * t_half.max(), n_save=4001)
    level = 0.5 * np.sqrt(tau)
    crossed = [tr.t[np.argmax(tr.sv[:, k] >= level)] for k in range(3)]
    np.testing.assert_allclose(crossed, t_half, rtol=2e-3)
    # one layer: log(1/sigma0) timescale; two layers: 1/sigma0 (the collapse mechanism)
    if layers == 2:
        assert t_half[2] / t_half[0] > 4.0
    else:
        assert t_half[2] / t_half[0] < 2.0


def test_two_layer_flow_conserves_the_balance():
    rng = np.random.default_rng(1)
    W1, W2 = dc.spectral_init(6, 0.3, rng), dc.spectral_init(6, 0.3, rng)
    tr = dc.simulate_annealed([W1, W2], 1.0, 1.2, 0.2, t_end=5.0, n_save=11)
    res = dc.balance_residual(tr.layers[0][-1], tr.layers[1][-1], W1, W2)
    assert res < 1e-7
    assert dc.balance_residual(tr.layers[0][-1], 2 * tr.layers[1][-1], W1, W2) > 1e-2


def test_sgd_half_times_match_the_closed_form_for_two_layers():
    s0, tau = np.array([0.05, 0.02]), 0.5
    t_half = dc.half_time(s0, 1.0, 1.0, tau, 2)
    lr = 0.02
    run = dc.sgd_train([np.diag(np.sqrt(s0))] * 2, 1.0, 0.0, tau, batch_size=512, lr=lr,
                       steps=round(1.15 * t_half.max() / lr), record_every=5, seed=4)
    crossed = [run.t[np.argmax(run.sv[:, k] >= 0.5 * np.sqrt(tau))] for k in range(2)]
    np.testing.assert_allclose(crossed, t_half, rtol=0.12)


def test_collapsed_count_and_annealed_modes_limits():
    assert dc.collapsed_count([1.0, 0.5, 1e-3]).item() == 1
    u = dc.annealed_modes([0.0, 1e3], 0.02, [1.0, 0.0], [0.5, 1.0], 0.5)
    np.testing.assert_allclose(u[0], [0.02, 0.02])
    np.testing.assert_allclose(u[1, 0], 0.5 / 1.5**2, rtol=1e-9)  # u* = a tau / c^2
    assert u[1, 1] < 1e-4  # the a = 0 direction decays algebraically to 0


def test_bad_input_names_the_field():
    with pytest.raises(ConfigError, match="layers"):
        dc.simulate_annealed([np.eye(2), np.eye(3)], 1.0, 1.0, 0.5, t_end=1.0)
    with pytest.raises(ConfigError, match="sigma0"):
        dc.half_time(10.0, 1.0, 1.0, 0.5, 2)
    with pytest.raises(ConfigError, match="A"):
        dc.simulate_annealed([np.eye(2)], np.ones(3), 1.0, 0.5, t_end=1.0)
    with pytest.raises(ConfigError, match="lr"):
        dc.sgd_train([np.eye(2)], 1.0, 0.0, 0.5, batch_size=8, lr=0.0, steps=1)


def test_loss_embedding_spectrum_of_a_directclr_run(smoke_cfg, tmp_path):
    from dynamics.theories.dimensional_collapse.predictions import collapsed_dims, normalized_erank
    from dynamics.train.trainer import train
    from dynamics.verify.run_data import loss_embedding_spectrum

    cfg = smoke_cfg(tmp_path, "method.name=simclr", "method.loss=infonce", "method.ema=0",
                    "predictor.kind=none", "model.projector=false", "method.directclr_dim=8",
                    "optim.epochs=1")
    train(cfg)
    eig = loss_embedding_spectrum(cfg.run_dir)
    assert eig.shape == (8,) and np.all(np.diff(eig) <= 0) and eig[0] > 0
    assert 1 / 8 <= normalized_erank(eig) <= 1.0
    assert normalized_erank(np.ones(8)) == pytest.approx(1.0)
    assert normalized_erank(np.r_[1.0, np.zeros(7)]) == pytest.approx(1 / 8)
    assert collapsed_dims(np.array([1.0, 0.5, 2e-3, 5e-4, 0.0])) == 2
    assert collapsed_dims(eig) <= 8
    # LiDAR of the same run's projector outputs (here the representation itself, 4 * width)
    from dynamics.verify.run_data import lidar_of_run

    value = lidar_of_run(cfg.run_dir, n_images=32, n_views=4)
    assert 1.0 <= value <= 4 * cfg.model.width

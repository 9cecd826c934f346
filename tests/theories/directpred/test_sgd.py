"""Discrete minibatch SGD of the linear model tracks the gradient flow (theory == training)."""

import numpy as np
import pytest
from conftest import random_psd

from dynamics.errors import ConfigError
from dynamics.numerics.data_models import AdditiveGaussian, MultiplicativeScrambling
from dynamics.theories.directpred.matrix_flow import MatrixFlowConfig, simulate_matrix
from dynamics.theories.directpred.sgd import ema_momentum, simulate_sgd


def _rel_err(a, b):
    return np.linalg.norm(a - b, axis=(-2, -1)) / np.linalg.norm(b, axis=(-2, -1))


@pytest.mark.parametrize(
    "cfg",
    [
        MatrixFlowConfig(alpha_p=1.0, beta=0.5, eta=0.02),
        MatrixFlowConfig(alpha_p=2.0, eta=0.02, target="simsiam", predictor="symmetric"),
    ],
    ids=["byol-ema", "simsiam-sym"],
)
def test_sgd_tracks_ode(rng, cfg):
    """Stated tolerance: with lr = 2e-3 and batch 1024 the max relative error of W(t) and
    F(t) over t in [0, 5] is below 1%; errors shrink with lr and 1/batch."""
    n1, n2 = 6, 4
    data = AdditiveGaussian(random_psd(rng, n1), random_psd(rng, n1, 0.3))
    W0, Wp0 = 0.5 * rng.standard_normal((n2, n1)), 0.5 * rng.standard_normal((n2, n2))
    ode = simulate_matrix(W0, data.X, data.Xprime, cfg, Wp0=Wp0, t_end=5, n_save=11)
    coarse = simulate_sgd(W0, data, cfg, Wp0=Wp0, lr=0.02, batch_size=64, t_end=5, n_save=11)
    fine = simulate_sgd(W0, data, cfg, Wp0=Wp0, lr=0.002, batch_size=1024, t_end=5, n_save=11)
    np.testing.assert_allclose(fine.t, ode.t)
    assert _rel_err(fine.W, ode.W).max() < 0.01
    assert _rel_err(fine.F, ode.F).max() < 0.01
    assert _rel_err(fine.F, ode.F).max() < _rel_err(coarse.F, ode.F).max()
    # and the trajectory moved far more than the tolerance
    assert _rel_err(ode.F[-1:], ode.F[:1]).item() > 0.2


def test_sgd_invariant_approximately_holds(rng):
    """Theorem 1 in training: W W^T - Wp^T Wp/alpha_p - e^{-2 eta t} C stays small."""
    data = AdditiveGaussian.isotropic(5, 0.2)
    cfg = MatrixFlowConfig(alpha_p=1.5, beta=0.5, eta=0.05)
    tr = simulate_sgd(0.5 * rng.standard_normal((3, 5)), data, cfg,
                      Wp0=0.5 * rng.standard_normal((3, 3)), lr=0.002, batch_size=512,
                      t_end=10, n_save=6)
    assert tr.invariant_residual().max() < 0.02


def test_no_predictor_collapses_in_training(rng):
    data = AdditiveGaussian.isotropic(5, 0.5)
    cfg = MatrixFlowConfig(predictor="identity", target="simsiam", eta=0.01)
    tr = simulate_sgd(rng.standard_normal((3, 5)), data, cfg, lr=0.01, batch_size=128,
                      t_end=20, n_save=5)
    assert tr.W_norm()[-1] < 0.01 * tr.W_norm()[0]


def test_ema_mapping_and_errors():
    assert ema_momentum(0.03, 0.004 / 0.03) == pytest.approx(0.996)
    data = AdditiveGaussian.isotropic(3, 0.1)
    with pytest.raises(ConfigError, match="^lr: "):
        simulate_sgd(np.eye(3), data, lr=0.0)
    with pytest.raises(ConfigError, match="^batch_size: "):
        simulate_sgd(np.eye(3), data, batch_size=0)
    with pytest.raises(ConfigError, match="^beta: "):
        simulate_sgd(np.eye(3), data, MatrixFlowConfig(beta=200.0), lr=0.01)


def test_blowup_stops_with_message():
    data = AdditiveGaussian.isotropic(3, 0.1)
    tr = simulate_sgd(50 * np.eye(3), data, MatrixFlowConfig(), Wp0=50 * np.eye(3), lr=0.5,
                      batch_size=8, t_end=50)
    assert not tr.ok and "blew up" in tr.status
    assert np.all(np.isfinite(tr.W))


@pytest.mark.parametrize("model", ["additive", "scrambling"])
def test_data_model_statistics_monte_carlo(rng, model):
    """The exact X, X' of each data model match Monte-Carlo estimates of E[x1 x2^T], E[x1 x1^T]."""
    d = 5
    if model == "additive":
        data = AdditiveGaussian(random_psd(rng, d), random_psd(rng, d, 0.5))
    else:
        U = np.linalg.qr(rng.standard_normal((d, 2)))[0]
        data = MultiplicativeScrambling(random_psd(rng, d), U, b_std=0.7)
    x1, x2 = data.sample(400_000, np.random.default_rng(1))
    n = x1.shape[1]
    cross = (x1 @ x2.T + x2 @ x1.T) / (2 * n)
    same = x1 @ x1.T / n
    scale = np.abs(data.X + data.Xprime).max()
    np.testing.assert_allclose(cross, data.X, atol=0.02 * scale)
    np.testing.assert_allclose(same, data.X + data.Xprime, atol=0.02 * scale)


def test_data_model_errors():
    with pytest.raises(ConfigError, match="^Sigma_n: "):
        AdditiveGaussian(np.eye(3), -np.eye(3))
    with pytest.raises(ConfigError, match="^U: .*orthonormal"):
        MultiplicativeScrambling(np.eye(3), np.ones((3, 1)))

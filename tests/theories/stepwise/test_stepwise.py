"""Stepwise learning in linear Barlow Twins (Simon et al. 2023): closed form == ODE == gradient
descent, the step-time formula for small unaligned starts, the whitened limit, sympy."""

import numpy as np
import pytest
import torch
from scipy.integrate import solve_ivp

from dynamics.errors import ConfigError
from dynamics.theories.stepwise import model as sw
from dynamics.theories.stepwise.symbolic import stepwise_identities

GAMMA = np.array([1.0, 0.8, 0.6, 0.4, 0.2, 0.1, 0.05, 0.02])


def _gamma_matrix(seed=0, gamma=GAMMA):
    return sw.rotated_gamma(gamma, seed)


def test_symbolic_derivation():
    assert all(v == 0 for v in stepwise_identities().values())


def test_gradient_matches_finite_differences_and_torch_autograd():
    G, _ = _gamma_matrix()
    W = np.random.default_rng(1).normal(size=(3, 8)) * 0.3
    Wt = torch.tensor(W, requires_grad=True)
    sw.barlow_loss(Wt, torch.tensor(G)).backward()
    np.testing.assert_allclose(-Wt.grad.numpy(), sw.barlow_flow(W, G), rtol=1e-12, atol=1e-14)
    h, (i, j) = 1e-6, (1, 4)
    E = np.zeros_like(W)
    E[i, j] = h
    fd = (sw.barlow_loss(W + E, G) - sw.barlow_loss(W - E, G)) / (2 * h)
    assert -sw.barlow_flow(W, G)[i, j] == pytest.approx(fd, rel=1e-7)


def test_aligned_start_follows_the_logistic_closed_form():
    G, U = _gamma_matrix()
    d = 4
    s0 = np.array([1e-2, 3e-2, 1e-3, 0.5])
    W0 = np.diag(s0) @ U[:, :d].T
    tr = sw.simulate_flow(W0, G, t_end=12.0, n_save=241, rtol=1e-10)
    lam0 = GAMMA[:d] * s0**2
    closed = sw.logistic_eigenvalue(tr.t[:, None], GAMMA[:d], lam0)
    # the eigenvalues are sorted; compare as sets per time
    np.testing.assert_allclose(tr.eig[:, 0], np.sort(closed, axis=1)[:, ::-1], atol=1e-7)
    # crossing times of the closed form are the step-time formula
    t_cross = sw.crossing_times(tr.t, closed, 0.5)
    np.testing.assert_allclose(t_cross, sw.step_time(GAMMA[:d], lam0), atol=2e-3)


def test_batched_flow_equals_scipy_per_start():
    G, _ = _gamma_matrix(2)
    W0 = np.random.default_rng(3).normal(size=(3, 2, 8)) * 0.05
    tr = sw.simulate_flow(W0, G, t_end=5.0, n_save=11, rtol=1e-10)
    for k in range(3):
        sol = solve_ivp(lambda t, w: sw.barlow_flow(w.reshape(2, 8), G).ravel(), (0, 5.0),
                        W0[k].ravel(), t_eval=tr.t, rtol=1e-11, atol=1e-13, method="DOP853")
        np.testing.assert_allclose(tr.W[:, k].reshape(11, -1), sol.y.T, atol=1e-7)


@pytest.mark.parametrize("scale", [1e-3, 1e-5])
def test_small_unaligned_start_step_times_match_the_effective_start_formula(scale):
    G, _ = _gamma_matrix(4)
    W0 = scale * np.random.default_rng(5).normal(size=(4, 4, 8))
    tr = sw.simulate_flow(W0, G, t_end=12.0, n_save=4801, rtol=1e-9)
    sim = tr.crossing_times()
    pred = np.array([sw.predicted_step_times(w, G) for w in W0])
    np.testing.assert_allclose(sim, pred, rtol=0.05)
    # stepwise: one at a time, in the order of gamma, separated
    assert (np.diff(sim, axis=1) > 0).all()


def test_limit_whitens_and_approaches_the_top_d_eigenspace_as_the_start_shrinks():
    G, _ = _gamma_matrix(6)
    d, shares = 3, []
    for scale in (1e-4, 1e-6, 1e-8):
        W0 = scale * np.random.default_rng(7).normal(size=(3, d, 8))
        t_end = 3 * np.max([sw.predicted_step_times(w, G) for w in W0]) + 20
        tr = sw.simulate_flow(W0, G, t_end=t_end, n_save=2)
        res = np.array([sw.limit_residuals(tr.W[-1, k], G) for k in range(3)])
        assert res[:, 0].max() < 1e-6 and tr.loss[-1].max() < 1e-12
        shares.append(res[:, 1])
    slope = np.log(shares[1] / shares[2]) / np.log(100.0)
    assert np.all(np.abs(slope - sw.off_subspace_exponent(G, d)) < 0.05)
    assert np.all(shares[2] < 1e-3)


def test_gradient_descent_converges_to_the_flow_at_first_order():
    gamma = np.array([1.0, 0.5, 0.25, 0.1])
    X, Xp, _ = sw.pair_data(400, gamma, noise=0.3, seed=0)
    G = sw.pair_correlation(X, Xp)
    W0 = 1e-2 * np.random.default_rng(1).normal(size=(2, 4))
    ref = sw.simulate_flow(W0, G, t_end=4.0, n_save=2, rtol=1e-11).W[-1, 0]
    errs = []
    for lr in (0.02, 0.01, 0.005):
        gd = sw.sgd_train(X, Xp, W0, lr=lr, steps=round(4.0 / lr), record_every=10)
        errs.append(np.abs(gd.W[-1, 0] - ref).max())
    assert errs[0] > errs[1] > errs[2]
    assert 1.7 < errs[0] / errs[1] < 2.3 and 1.7 < errs[1] / errs[2] < 2.3
    # minibatch SGD keeps the staircase: same order, step times within 15% of the flow's
    sgd = sw.sgd_train(X, Xp, W0, lr=0.005, steps=1600, batch_size=100, seed=2)
    full = sw.simulate_flow(W0, G, t_end=8.0, n_save=1601)
    np.testing.assert_allclose(sgd.crossing_times()[0], full.crossing_times()[0], rtol=0.15)


def test_pair_data_has_the_requested_cross_correlation():
    gamma = np.array([2.0, 1.0, 0.5])
    X, Xp, U = sw.pair_data(200_000, gamma, noise=1.0, seed=3)
    np.testing.assert_allclose(sw.pair_correlation(X, Xp), U @ np.diag(gamma) @ U.T, atol=0.02)


@pytest.mark.parametrize("call, field", [
    (lambda G: sw.simulate_flow(np.zeros((2, 3)), G, t_end=1.0), "Gamma"),
    (lambda G: sw.simulate_flow(np.zeros((2, 8)), G, t_end=-1.0), "t_end"),
    (lambda G: sw.simulate_flow(np.zeros((2, 8)), G, t_end=1.0, n_save=1), "n_save"),
    (lambda G: sw.effective_start(np.zeros((9, 8)), G), "W0"),
    (lambda G: sw.step_time(1.0, 0.1, level=1.5), "level"),
    (lambda G: sw.pair_data(1, [1.0]), "n"),
    (lambda G: sw.pair_data(10, [-1.0]), "gamma"),
])
def test_bad_input_names_the_field(call, field):
    G, _ = _gamma_matrix()
    with pytest.raises(ConfigError, match=field):
        call(G)


def test_sgd_bad_input():
    X, Xp, _ = sw.pair_data(10, [1.0, 0.5])
    with pytest.raises(ConfigError, match="batch_size"):
        sw.sgd_train(X, Xp, np.zeros((1, 2)), lr=0.1, steps=2, batch_size=11)
    with pytest.raises(ConfigError, match="lr"):
        sw.sgd_train(X, Xp, np.ones((1, 2)) * 10, lr=100.0, steps=50)


def test_staircase_detects_one_at_a_time_and_rejects_simultaneous_rises():
    t = np.linspace(0, 12, 121)
    lam0 = np.array([1e-4, 1e-4, 1e-4])
    stair = sw.logistic_eigenvalue(t[:, None], np.array([1.0, 0.5, 0.3]), lam0)
    st = sw.staircase(t, stair)
    assert st.n_steps == 3 and st.stepwise
    np.testing.assert_allclose(st.onsets, sw.step_time([1.0, 0.5, 0.3], lam0), atol=0.11)
    together = sw.logistic_eigenvalue(t[:, None], np.array([1.0, 0.95, 0.9]), lam0)
    assert not sw.staircase(t, together).stepwise
    # the gradient flow from a small start is a staircase by the same measure
    G, _ = _gamma_matrix(8)
    tr = sw.simulate_flow(1e-4 * np.random.default_rng(9).normal(size=(4, 8)), G, t_end=15,
                          n_save=301)
    assert sw.staircase(tr.t, tr.eig[:, 0]).stepwise

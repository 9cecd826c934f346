"""Appendix D of Tian, Chen & Ganguli (ICML 2021): non-isotropic data and the scalar model
(dynamics.theories.directpred.nonisotropic), checked against the matrix flow and the mode system."""

from __future__ import annotations

import numpy as np
import pytest
import sympy
import torch

from dynamics.errors import ConfigError
from dynamics.theories.directpred import nonisotropic as ni
from dynamics.theories.directpred.matrix_flow import MatrixFlowConfig, lemma1_rhs, simulate_matrix
from dynamics.theories.directpred.modes import dp_dt, ds_dt, dtau_dt, simulate_modes


def _random_psd(rng, n, scale=1.0, ridge=0.1):
    A = rng.normal(size=(n, n))
    return scale * A @ A.T / n + ridge * np.eye(n)


def _additive(seed, n1=5):
    rng = np.random.default_rng(seed)
    return ni.additive_noise_statistics(_random_psd(rng, n1), _random_psd(rng, n1, 0.5, 0.05))


def _principal_cosines(A, B):
    """Cosines of the principal angles between the row spaces of A and B."""
    qa, _ = np.linalg.qr(A.T)
    qb, _ = np.linalg.qr(B.T)
    return np.linalg.svd(qa.T @ qb, compute_uv=False)


# --------------------------------------------------------------------------------------------
# Matrix fixed points


def test_predictor_target_and_special_fixed_point():
    Ss, Sd = _additive(0)
    M = ni.predictor_target_matrix(Sd, Ss)
    np.testing.assert_allclose(M @ Ss, Sd, atol=1e-12)
    lam, rows = ni.generalized_eigh(Sd, Ss)
    assert np.all(np.diff(lam) <= 0) and np.all((lam > 0) & (lam < 1))  # additive: 0 < l < 1
    np.testing.assert_allclose(np.sort(np.linalg.eigvals(M).real), np.sort(lam), rtol=1e-10)
    np.testing.assert_allclose(rows @ M, lam[:, None] * rows, atol=1e-12)  # left eigenvectors
    W, Wp = ni.special_fixed_point(Sd, Ss, 3)
    assert W.shape == (3, 5) and Wp.shape == (3, 3)
    np.testing.assert_allclose(np.diag(Wp), lam[:3])
    assert ni.fixed_point_residual(W, Wp, Sd, Ss) < 1e-13
    # It is a fixed point of Lemma 1 (Eqs. 2-4) with Wa = W, and so is S W, S Wp S^-1.
    S = np.random.default_rng(1).normal(size=(3, 3)) + 3 * np.eye(3)
    for W_, Wp_ in ((W, Wp), (S @ W, S @ Wp @ np.linalg.inv(S))):
        dW, dWp, dWa = lemma1_rhs(W_, Wp_, W_, Sd, Ss - Sd, alpha_p=1.3, beta=0.7, eta=0.0)
        assert max(np.abs(dW).max(), np.abs(dWp).max(), np.abs(dWa).max()) < 1e-12
        assert ni.fixed_point_residual(W_, Wp_, Sd, Ss) < 1e-12
    assert ni.fixed_point_residual(np.zeros((3, 5)), np.zeros((3, 3)), Sd, Ss) == 0.0
    assert ni.fixed_point_residual(W, Wp + 0.1 * np.eye(3), Sd, Ss) > 0.01


def test_statistics_come_from_the_data_models():
    rng = np.random.default_rng(2)
    Sx, Sn = _random_psd(rng, 4), _random_psd(rng, 4, 0.3)
    Ss, Sd = ni.additive_noise_statistics(Sx, Sn)
    np.testing.assert_allclose(Ss, Sx + Sn)
    np.testing.assert_allclose(Sd, Sx)
    assert not ni.no_predictor_noncollapsed_possible(Sd, Ss)
    assert ni.no_predictor_noncollapsed_possible(Sx, Sx)  # no augmentation: M = I


@pytest.mark.parametrize("target", ["ema", "simsiam"])
def test_learned_predictor_converges_to_appendix_d_fixed_point(target):
    Ss, Sd = _additive(3)
    rng = np.random.default_rng(4)
    n2 = 3
    W0 = 0.3 * rng.normal(size=(n2, 5))
    Wp0 = 0.3 * np.eye(n2) + 0.1 * rng.normal(size=(n2, n2))
    cfg = MatrixFlowConfig(alpha_p=1.0, beta=1.0, eta=0.0, predictor="learned", target=target)
    tr = simulate_matrix(W0, Sd, Ss - Sd, cfg, Wp0=Wp0, t_end=200.0, n_save=3, rtol=1e-9,
                         atol=1e-11)
    assert tr.ok
    W, Wp, Wa = tr.W[-1], tr.Wp[-1], tr.Wa[-1]
    assert np.linalg.norm(W) > 0.5  # not collapsed
    assert ni.fixed_point_residual(W, Wp, Sd, Ss) < 1e-4
    assert np.linalg.norm(W - Wa) / np.linalg.norm(W) < 1e-4
    # Generic init picks the top-n2 modes of Sigma_d Sigma_s^{-1}.
    lam, rows = ni.generalized_eigh(Sd, Ss)
    np.testing.assert_allclose(np.sort(np.linalg.eigvals(Wp).real), np.sort(lam[:n2]),
                               atol=1e-5)
    np.testing.assert_allclose(_principal_cosines(W, rows[:n2]), 1.0, atol=1e-6)


def test_scrambling_learns_preserved_subspace():
    rng = np.random.default_rng(5)
    d, k, n2 = 6, 2, 3
    Q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    U = Q[:, :k]
    Pc = np.eye(d) - U @ U.T
    # Sigma_x commuting with P^c: block-diagonal in (range P^c, range U).
    Sx = Pc @ _random_psd(rng, d) @ Pc + U @ _random_psd(rng, k, 1.0, 1.0) @ U.T
    assert np.linalg.norm(Sx @ Pc - Pc @ Sx) < 1e-12
    Ss, Sd = ni.scrambling_statistics(Sx, U, b_std=0.7)
    M = ni.predictor_target_matrix(Sd, Ss)
    np.testing.assert_allclose(M, Pc, atol=1e-12)
    assert ni.no_predictor_noncollapsed_possible(Sd, Ss)  # eigenvalue 1 on range(P^c)
    for target in ("ema", "simsiam"):
        W0 = 0.3 * rng.normal(size=(n2, d))
        Wp0 = 0.3 * np.eye(n2) + 0.1 * rng.normal(size=(n2, n2))
        tr = simulate_matrix(W0, Sd, Ss - Sd, MatrixFlowConfig(predictor="learned", target=target),
                             Wp0=Wp0, t_end=200.0, n_save=3, rtol=1e-9, atol=1e-11)
        W = tr.W[-1]
        assert np.linalg.norm(W) > 0.5
        assert np.linalg.norm(W @ U) / np.linalg.norm(W) < 1e-6  # rows in range(P^c)
        assert ni.fixed_point_residual(W, tr.Wp[-1], Sd, Ss) < 1e-6


def test_no_predictor_additive_noise_collapses():
    rng = np.random.default_rng(6)
    Sx, Sn = _random_psd(rng, 5), _random_psd(rng, 5, 0.3, 0.2)
    Ss, Sd = ni.additive_noise_statistics(Sx, Sn)
    assert not ni.no_predictor_noncollapsed_possible(Sd, Ss)
    W0 = rng.normal(size=(3, 5))
    tr = simulate_matrix(W0, Sd, Ss - Sd, MatrixFlowConfig(predictor="identity", target="simsiam"),
                         t_end=60.0, n_save=7)
    norms = tr.W_norm()
    assert np.all(np.diff(norms) < 0) and norms[-1] < 1e-4 * norms[0]
    # dW/dt = -W X' (no predictor, stop-grad): ||W(t)|| <= e^{-lambda_min(X') t} ||W(0)||.
    lam_min = np.linalg.eigvalsh(Sn)[0]
    assert np.all(norms <= np.exp(-lam_min * tr.t) * norms[0] * (1 + 1e-8))


def test_matrix_errors():
    Ss, Sd = _additive(7)
    with pytest.raises(ConfigError, match="^n2:"):
        ni.special_fixed_point(Sd, Ss, 9)
    with pytest.raises(ConfigError, match="^Sigma_s:"):
        ni.predictor_target_matrix(Sd, np.diag([1.0, 1, 1, 1, 0]))
    with pytest.raises(ConfigError, match="^Sigma_d:"):
        ni.predictor_target_matrix(-np.eye(5), Ss)
    with pytest.raises(ConfigError, match="^W:"):
        ni.fixed_point_residual(np.zeros((2, 4)), np.eye(2), Sd, Ss)


# --------------------------------------------------------------------------------------------
# Scalar model, Eqs. 104-106


def test_scalar_rhs_is_the_mode_system_symbolically():
    """Under s = w^2, p = wp, tau = wa/w, lambda_s = 1 + sigma2, lambda_d = 1, Eqs. 104-106 are
    Eqs. 11-13 (sympy, with weight decay)."""
    wp, w, wa = sympy.symbols("wp w wa", positive=True)
    a, b, s2, eta = sympy.symbols("alpha_p beta sigma2 eta", positive=True)
    dwp, dw, dwa = ni.scalar_rhs(wp, w, wa, alpha_p=a, beta=b, lambda_s=1 + s2, lambda_d=1,
                                 eta=eta)
    p, s, tau = ni.scalar_to_modes(wp, w, wa)
    assert sympy.simplify(dwp - dp_dt(p, s, tau, a, eta, s2)) == 0
    assert sympy.simplify(2 * w * dw - ds_dt(p, s, tau, eta, s2)) == 0
    dtau = dwa / w - wa * dw / w**2
    assert sympy.simplify(dtau - dtau_dt(p, tau, b, eta, s2)) == 0


def test_scalar_fixed_points():
    fp = ni.scalar_fixed_points(1.0, 0.5)
    kw = {"alpha_p": 1.0, "beta": 1.0, "lambda_s": 1.0, "lambda_d": 0.5}
    for w in (-1.0, 0.3, 2.0):
        assert all(v == 0 for v in ni.scalar_rhs(*fp.point(w), **kw))
        assert all(v == 0 for v in ni.scalar_rhs(w, 0.0, 0.0, **kw))  # collapsed line
    assert fp.tied_attractor == (0.5, 0.5, 0.5)
    assert fp.no_predictor_origin_stable()
    assert not ni.scalar_fixed_points(1.0, 1.5).no_predictor_origin_stable()
    with pytest.raises(ConfigError, match="^lambda_s:"):
        ni.scalar_fixed_points(0.0, 0.5)


def test_scalar_tied_start_converges_to_lambda_ratio():
    """Fig. 10 middle: alpha_p = 1 and w = wp keeps w = wp; w = wa = lambda_d/lambda_s attracts."""
    w0 = np.array([0.1, 0.3, 1.0, 2.0])
    wa0 = np.array([0.0, 0.5, 2.0, 0.1])
    tr = ni.simulate_scalar(w0, w0, wa0, alpha_p=1.0, beta=1.0, lambda_s=1.0, lambda_d=0.5,
                            t_end=150.0, n_save=41)
    assert tr.ok and tr.w.shape == (41, 4)
    np.testing.assert_allclose(tr.w, tr.wp, atol=1e-9)  # invariant set
    np.testing.assert_allclose([tr.wp[-1], tr.w[-1], tr.wa[-1]], 0.5, atol=1e-6)


def test_scalar_no_predictor_collapses_when_lambda_d_below_lambda_s():
    """Fig. 10 right: wp = 1 held fixed, only the origin is stable (lambda_d < lambda_s)."""
    w0 = np.array([-1.0, 0.2, 1.0, 3.0])
    tr = ni.simulate_scalar(np.full(4, 7.0), w0, 0.5 * w0, lambda_s=1.0, lambda_d=0.5,
                            t_end=60.0, n_save=5, predictor=False)
    assert tr.ok
    np.testing.assert_array_equal(tr.wp, 1.0)  # wp0 ignored, wp frozen at 1
    assert np.all(np.abs(tr.w[-1]) < 1e-6) and np.all(np.abs(tr.wa[-1]) < 1e-6)
    # lambda_d = lambda_s: the line w = wa is fixed, no collapse.
    tr = ni.simulate_scalar(1.0, 1.0, 1.0, lambda_s=0.8, lambda_d=0.8, t_end=10.0,
                            predictor=False)
    np.testing.assert_allclose(tr.w[-1], 1.0, rtol=1e-12)


@pytest.mark.parametrize("lambda_d", [1.0, 0.5])
def test_scalar_model_equals_mode_system(lambda_d):
    """s = w^2, tau = wa/w, p = wp; lambda_s = 1 + sigma2, lambda_d = 1 (time rescaled by
    lambda_d otherwise), EMA case beta > 0, with weight decay."""
    wp0 = np.array([0.2, 0.6, 1.1])
    w0 = np.array([0.5, 0.8, 1.3])
    wa0 = np.array([0.1, 0.8, 0.4])
    lambda_s, beta, alpha_p, eta = 1.3, 0.7, 1.5, 0.03
    t_end = 20.0
    tr = ni.simulate_scalar(wp0, w0, wa0, alpha_p=alpha_p, beta=beta, lambda_s=lambda_s,
                            lambda_d=lambda_d, eta=eta, t_end=t_end, n_save=21)
    par = ni.mode_parameters(lambda_s=lambda_s, lambda_d=lambda_d, beta=beta, eta=eta)
    p0, s0, tau0 = ni.scalar_to_modes(wp0, w0, wa0)
    md = simulate_modes(p0, s0, tau0=tau0, alpha_p=alpha_p, beta=par["beta"], eta=par["eta"],
                        sigma2=par["sigma2"], t_eval=tr.t * par["time_scale"])
    assert md.ok and tr.ok
    p, s, tau = tr.to_modes()
    np.testing.assert_allclose(p, md.p, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(s, md.s, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(tau, md.tau, rtol=1e-6, atol=1e-9)


def test_simulate_scalar_torch_and_errors():
    tr = ni.simulate_scalar(torch.tensor([0.5]), 0.5, 0.0, t_end=5.0, n_save=3)
    assert isinstance(tr.w, torch.Tensor) and tr.w.shape == (3, 1)
    with pytest.raises(ConfigError, match="^beta:"):
        ni.simulate_scalar(0.5, 0.5, 0.0, beta=0.0)
    with pytest.raises(ConfigError, match="^predictor:"):
        ni.simulate_scalar(0.5, 0.5, 0.0, predictor="no")
    with pytest.raises(ConfigError, match="^w0:"):
        ni.simulate_scalar(0.5, np.nan, 0.0)

"""DirectPred measurements: correlation estimator, predictor/F alignment, symmetry, slope 1/2,
and theory == measurement along the matrix flow of the linear model."""

import math

import numpy as np
import pytest
import torch
from scipy.linalg import expm

from dynamics.errors import ConfigError
from dynamics.metrics.directpred import (
    CorrelationEstimator,
    directpred_summary,
    eigenvalue_slope,
    mean_alignment,
    predictor_asymmetry,
    predictor_eigenspace_alignment,
    predictor_min_sym_eigenvalue,
    relative_commutator,
)
from dynamics.theories.directpred.matrix_flow import MatrixFlowConfig, simulate_matrix


def random_orthogonal(rng, n):
    return np.linalg.qr(rng.standard_normal((n, n)))[0]


def aligned_pair(rng, n=8, c=1.7, spectrum=None):
    """F = U diag(s) U^T and Wp = U diag(c sqrt(s)) U^T (the DirectPred / invariant-parabola
    predictor)."""
    U = random_orthogonal(rng, n)
    s = np.geomspace(4.0, 0.01, n) if spectrum is None else np.asarray(spectrum, float)
    F = U @ np.diag(s) @ U.T
    Wp = U @ np.diag(c * np.sqrt(s)) @ U.T
    return Wp, F, U, s


# --------------------------------------------------------------------------------------------
# CorrelationEstimator


@pytest.mark.parametrize("centered", [False, True])
@pytest.mark.parametrize("rho", [0.0, 0.3, 1.0])
def test_estimator_is_the_recursion(rng, rho, centered):
    batches = [rng.standard_normal((int(rng.integers(3, 20)), 5)) + 0.5 for _ in range(6)]
    est = CorrelationEstimator(5, rho=rho, centered=centered)
    F = None
    for b in batches:
        est.update(torch.from_numpy(b))
        c = b - b.mean(axis=0) if centered else b
        FB = c.T @ c / len(b)
        F = FB if F is None else rho * F + (1 - rho) * FB  # first update: F = F_B
        np.testing.assert_allclose(est.F.numpy(), F, rtol=1e-14, atol=1e-15)
    assert est.n_updates == 6
    if rho == 0.0:
        last = batches[-1] - (batches[-1].mean(0) if centered else 0)
        np.testing.assert_allclose(est.F.numpy(), last.T @ last / len(last), rtol=1e-14)


def test_estimator_converges_to_second_moment():
    g = torch.Generator().manual_seed(0)
    d = 6
    A = torch.randn(d, d, generator=g, dtype=torch.float64) / math.sqrt(d)
    mu = torch.linspace(-1, 1, d, dtype=torch.float64)
    sigma = A @ A.T
    unc, cen = CorrelationEstimator(d, rho=0.9), CorrelationEstimator(d, rho=0.9, centered=True)
    for _ in range(40):
        f = torch.randn(4096, d, generator=g, dtype=torch.float64) @ A.T + mu
        unc.update(f)
        cen.update(f)
    target_u = sigma + torch.outer(mu, mu)
    err_u = torch.linalg.matrix_norm(unc.F - target_u) / torch.linalg.matrix_norm(target_u)
    err_c = torch.linalg.matrix_norm(cen.F - sigma) / torch.linalg.matrix_norm(sigma)
    assert float(err_u) < 0.02 and float(err_c) < 0.02


def test_estimator_eigh_state_and_types(rng):
    est = CorrelationEstimator(4, rho=0.5)
    est.update(rng.standard_normal((10, 4)))  # numpy in -> numpy out
    est.update(rng.standard_normal((12, 4)))
    s, U = est.eigh()
    assert isinstance(s, np.ndarray) and isinstance(est.F, np.ndarray)
    assert np.all(np.diff(s) <= 0)
    np.testing.assert_allclose(U @ np.diag(s) @ U.T, est.F, atol=1e-12)

    state = est.state_dict()
    clone = CorrelationEstimator(4, rho=0.5)
    clone.load_state_dict(state)
    nxt = rng.standard_normal((7, 4))
    est.update(nxt)
    clone.update(nxt)
    np.testing.assert_array_equal(est.F, clone.F)
    assert clone.n_updates == 3

    t32 = CorrelationEstimator(4, dtype=torch.float32).update(torch.randn(5, 4))
    assert t32.F.dtype == torch.float32 and isinstance(t32.eigh()[1], torch.Tensor)


def test_estimator_errors():
    with pytest.raises(ConfigError, match="^rho: must be in"):
        CorrelationEstimator(3, rho=1.5)
    with pytest.raises(ConfigError, match="^dim: "):
        CorrelationEstimator(0)
    est = CorrelationEstimator(3)
    with pytest.raises(ConfigError, match="^F: is undefined before the first update"):
        est.F  # noqa: B018
    with pytest.raises(ConfigError, match="^f: must have 3 columns"):
        est.update(torch.ones(4, 2))
    with pytest.raises(ConfigError, match="^f: needs at least 2"):
        CorrelationEstimator(3, centered=True).update(torch.ones(1, 3))
    with pytest.raises(ConfigError, match="^rho: "):
        est.load_state_dict({**CorrelationEstimator(3, rho=0.5).state_dict()})


# --------------------------------------------------------------------------------------------
# Alignment, symmetry, slope on constructed matrices


def test_directpred_predictor_is_aligned_with_slope_half(rng):
    for c in (0.3, 1.0, 5.0):
        Wp, F, U, s = aligned_pair(rng, c=c)
        cos = predictor_eigenspace_alignment(Wp, F)
        assert isinstance(cos, np.ndarray)
        np.testing.assert_allclose(cos, 1.0, atol=1e-12)
        assert mean_alignment(Wp, F) == pytest.approx(1.0, abs=1e-12)
        assert mean_alignment(Wp, F, weighted=True) == pytest.approx(1.0, abs=1e-12)
        assert eigenvalue_slope(Wp, F) == pytest.approx(0.5, abs=1e-12)
        assert relative_commutator(Wp, F) == pytest.approx(0.0, abs=1e-12)
        assert predictor_asymmetry(Wp) == pytest.approx(0.0, abs=1e-12)
        assert predictor_min_sym_eigenvalue(Wp) == pytest.approx(c * math.sqrt(s.min()))
    # other powers: Wp = U diag(s^a) U^T has slope a (DirectSet(alpha), DirectCopy a = 1)
    Wp, F, U, s = aligned_pair(rng)
    assert eigenvalue_slope(U @ np.diag(s) @ U.T, F) == pytest.approx(1.0, abs=1e-12)


def test_random_predictor_is_not_aligned(rng):
    Wp = rng.standard_normal((8, 8))
    _, F, _, _ = aligned_pair(rng)
    assert mean_alignment(Wp, F) < 0.5
    assert relative_commutator(Wp, F) > 0.1
    assert 0.5 < predictor_asymmetry(Wp) < 2


def test_alignment_conventions(rng):
    n = 5
    U = np.eye(n)[:, [2, 0, 4, 1, 3]]  # a permutation: eigh then finds U's columns exactly
    s = np.array([5.0, 3.0, 2.0, 1e-6, 0.0])
    F = U @ np.diag(s) @ U.T
    p = np.array([-1.0, 2.0, 0.0, 3.0, 1.0])  # negative top mode, a zero mode
    Wp = U @ np.diag(p) @ U.T
    cos = predictor_eigenspace_alignment(torch.from_numpy(Wp), torch.from_numpy(F))
    assert isinstance(cos, torch.Tensor)
    # ordered by descending s; sign kept; Wp u = 0 -> 0
    np.testing.assert_allclose(cos.numpy(), [-1, 1, 0, 1, 1], atol=1e-9)
    # null modes (s_j <= 1e-3 s_max) are excluded from the mean
    assert mean_alignment(Wp, F) == pytest.approx(0.0, abs=1e-9)
    assert mean_alignment(Wp, F, weighted=True) == pytest.approx((-5 + 3) / 10, abs=1e-9)
    assert mean_alignment(Wp, F, rel_tol=0.0) == pytest.approx(1 / 4, abs=1e-9)  # s_j > 0
    # slope over modes with p_j > 0 among the non-null ones: only one mode -> undefined
    assert math.isnan(eigenvalue_slope(Wp, F))
    # scrambling the null space does not change the non-null measurement
    V = np.eye(n)
    V[3:, 3:] = random_orthogonal(rng, 2)
    Wp2 = (U @ V) @ np.diag(p) @ (U @ V).T
    assert mean_alignment(Wp2, F) == pytest.approx(0.0, abs=1e-9)
    assert math.isnan(mean_alignment(Wp, np.zeros((n, n))))


def test_asymmetry_values():
    S = np.array([[2.0, 1.0], [1.0, 3.0]])
    K = np.array([[0.0, 1.0], [-1.0, 0.0]])
    assert predictor_asymmetry(S) == 0.0
    assert predictor_asymmetry(K) == math.inf  # skew: symmetric part exactly 0
    assert predictor_asymmetry(np.zeros((3, 3))) == 0.0  # the zero matrix counts as symmetric
    Kn = K * np.linalg.norm(S) / np.linalg.norm(K)
    assert predictor_asymmetry(S + Kn) == pytest.approx(1.0)
    assert predictor_asymmetry(S + 0.1 * Kn) == pytest.approx(0.1)
    assert predictor_min_sym_eigenvalue(S + 5 * K) == pytest.approx((5 - math.sqrt(5)) / 2)
    assert predictor_min_sym_eigenvalue(torch.from_numpy(-S)) == pytest.approx(
        -(5 + math.sqrt(5)) / 2)


def test_slope_edge_cases(rng):
    Wp, F, U, s = aligned_pair(rng, n=6, spectrum=np.full(6, 2.0))
    assert math.isnan(eigenvalue_slope(Wp, F))  # all s_j equal: undefined
    Wp, F, U, s = aligned_pair(rng)
    noisy = Wp + 1e-3 * rng.standard_normal(Wp.shape)
    assert eigenvalue_slope(noisy, F, min_cos=0.9) == pytest.approx(0.5, abs=0.05)
    with pytest.raises(ConfigError, match="^min_cos: "):
        eigenvalue_slope(Wp, F, min_cos=2)
    with pytest.raises(ConfigError, match="^rel_tol: "):
        mean_alignment(Wp, F, rel_tol=-1)


def test_summary_matches_functions(rng):
    Wp = rng.standard_normal((6, 6)) + 3 * np.eye(6)
    _, F, _, _ = aligned_pair(rng, n=6)
    summ = directpred_summary(Wp, F)
    assert summ["mean_alignment"] == pytest.approx(mean_alignment(Wp, F))
    assert summ["weighted_alignment"] == pytest.approx(mean_alignment(Wp, F, weighted=True))
    assert summ["relative_commutator"] == pytest.approx(relative_commutator(Wp, F))
    assert summ["asymmetry"] == pytest.approx(predictor_asymmetry(Wp))
    assert summ["min_sym_eigenvalue"] == pytest.approx(predictor_min_sym_eigenvalue(Wp))
    assert summ["slope"] == pytest.approx(eigenvalue_slope(Wp, F), nan_ok=True)
    assert summ["n_modes"] == 6


def test_pair_errors():
    with pytest.raises(ConfigError, match="^Wp: must be a square"):
        mean_alignment(np.ones((2, 3)), np.eye(2))
    with pytest.raises(ConfigError, match="^F: must be 2x2"):
        mean_alignment(np.eye(2), np.eye(3))
    with pytest.raises(ConfigError, match="^Wp: must be finite"):
        predictor_asymmetry(np.array([[np.nan]]))


# --------------------------------------------------------------------------------------------
# Theory == measurement along the matrix flow (Lemma 1; Theorems 1 and 3)


def test_alignment_and_slope_along_balanced_flow():
    """Start on Theorem 1's balanced manifold (C = 0: W W^T = Wp^T Wp / alpha_p) with a rotated,
    non-symmetric predictor. With X = I, F = W W^T, so once Wp is symmetric and commutes with F,
    Wp^2 = alpha_p F: the measured alignment must rise to 1 and the slope tend to 1/2."""
    rng = np.random.default_rng(1)
    n, alpha_p = 8, 1.5
    W0 = 0.5 * rng.standard_normal((n, n))
    lam, V = np.linalg.eigh(W0 @ W0.T)
    A = rng.standard_normal((n, n))
    Q = expm(0.4 * (A - A.T))  # a rotation away from the identity
    Wp0 = math.sqrt(alpha_p) * Q @ V @ np.diag(np.sqrt(lam)) @ V.T
    cfg = MatrixFlowConfig(alpha_p=alpha_p, beta=1.0, eta=0.05, predictor="learned")
    traj = simulate_matrix(W0, np.eye(n), 0.5 * np.eye(n), cfg, Wp0=Wp0, t_end=40, n_save=9)
    assert traj.ok and np.max(traj.invariant_residual()) < 1e-9

    align = np.array([mean_alignment(Wp, F) for Wp, F in zip(traj.Wp, traj.F, strict=True)])
    slope_err = np.array([abs(eigenvalue_slope(Wp, F) - 0.5)
                          for Wp, F in zip(traj.Wp, traj.F, strict=True)])
    sym = np.array([predictor_asymmetry(Wp) for Wp in traj.Wp])
    comm = np.array([relative_commutator(Wp, F) for Wp, F in zip(traj.Wp, traj.F, strict=True)])
    assert align[0] < 0.6
    assert np.all(np.diff(align) > -1e-6)  # rises monotonically (at the saved times) ...
    assert align[-1] > 0.9999  # ... to 1
    assert np.all(np.diff(slope_err[1:]) < 1e-6) and slope_err[-1] < 1e-4
    assert sym[-1] < 1e-2 * sym[0]  # the skew part decays (Fig. 8)
    assert comm[-1] < 1e-2 * comm[0]  # Theorem 3
    assert predictor_min_sym_eigenvalue(traj.Wp[-1]) > -1e-6  # PSD on the surviving modes


def test_alignment_along_generic_flow():
    """Generic start (C != 0), learned predictor, EMA target, eta > 0: the measured eigenspace
    alignment rises to 1 (prediction 13) and the predictor becomes symmetric (prediction 14).

    The slope is not checked here: p_j = sqrt(alpha_p s_j) needs e^{-2 eta t} C to be small
    against the spread of the s_j, but collapsing modes decay at the same rate 2 eta as C, and
    the surviving ones converge to a common fixed point, so for a generic start the slope has
    no clean limit (it wanders between ~0.35 and ~0.5 for these settings)."""
    rng = np.random.default_rng(3)
    n = 8
    W0 = 0.5 * rng.standard_normal((n, n))
    Wp0 = 0.5 * np.eye(n) + 0.3 * rng.standard_normal((n, n))
    cfg = MatrixFlowConfig(alpha_p=1.0, beta=1.0, eta=0.1, predictor="learned")
    traj = simulate_matrix(W0, np.eye(n), 0.2 * np.eye(n), cfg, Wp0=Wp0, t_end=50, n_save=6)
    assert traj.ok
    align = [mean_alignment(Wp, F) for Wp, F in zip(traj.Wp, traj.F, strict=True)]
    comm = [relative_commutator(Wp, F) for Wp, F in zip(traj.Wp, traj.F, strict=True)]
    assert align[0] < 0.6 and align[-1] > 0.9999
    assert comm[-1] < 1e-3 * comm[0]
    assert predictor_asymmetry(traj.Wp[-1]) < 1e-3 * predictor_asymmetry(traj.Wp[0])

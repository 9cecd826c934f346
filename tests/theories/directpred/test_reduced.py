"""Reduced flows (Eqs. 62 and 67) and Theorem 3 (eigenspace alignment)."""

import numpy as np
import pytest

from dynamics.theories.directpred.matrix_flow import MatrixFlowConfig, simulate_matrix
from dynamics.theories.directpred.reduced import (
    commutator,
    eq62_rhs,
    eq67_rhs,
    simulate_reduced,
    theorem3_K,
)


def _sym(rng, n, scale=1.0):
    A = rng.standard_normal((n, n))
    return scale * (A + A.T) / 2


def test_commutator_ode_holds_pointwise(rng):
    """dL/dt = -K L - L K for L = [F, Wp] under the symmetrised flow (any symmetric F, Wp)."""
    kw = dict(alpha_p=1.3, eta=0.07, sigma2=0.4, tau=0.6)
    for _ in range(5):
        Wp, F = _sym(rng, 4), _sym(rng, 4)
        F = F @ F.T
        dWp, dF = eq67_rhs(Wp, F, **kw)
        dL = commutator(dF, Wp) + commutator(F, dWp)
        L = commutator(F, Wp)
        K = theorem3_K(Wp, F, **kw)
        np.testing.assert_allclose(dL, -K @ L - L @ K, atol=1e-12)


def test_eq62_is_lemma1_under_A1_A2(rng):
    """Eq. 62 = Lemma 1 with X = I, X' = sigma2 I, Wa = tau W and F = W W^T."""
    from dynamics.theories.directpred.matrix_flow import lemma1_rhs

    n1, n2, sigma2, tau = 5, 3, 0.3, 0.7
    W, Wp = rng.standard_normal((n2, n1)), rng.standard_normal((n2, n2))
    dW, dWp, _ = lemma1_rhs(W, Wp, tau * W, np.eye(n1), sigma2 * np.eye(n1), alpha_p=1.4,
                            beta=1.0, eta=0.05)
    dWp62, dF62 = eq62_rhs(Wp, W @ W.T, alpha_p=1.4, eta=0.05, sigma2=sigma2, tau=tau)
    np.testing.assert_allclose(dWp, dWp62, atol=1e-12)
    np.testing.assert_allclose(dW @ W.T + W @ dW.T, dF62, atol=1e-12)


def test_commutator_decays_when_K_positive_definite(rng):
    """Theorem 3: lambda_min(K) >= lambda_0 > 0 gives ||L(t)|| <= e^{-2 lambda_0 t} ||L(0)||."""
    n = 4
    A = rng.standard_normal((n, n))
    F0 = A @ A.T / n + 0.5 * np.eye(n)
    Wp0 = _sym(rng, n, 0.3)
    tr = simulate_reduced(Wp0, F0, kind="eq67", alpha_p=2.0, eta=0.3, sigma2=0.5, tau=0.5,
                          t_end=10, n_save=101)
    assert tr.status == "completed"
    kmin = tr.K_min_eig()
    assert kmin.min() > 0
    L = tr.commutator_norm()
    bound = L[0] * np.exp(-2 * kmin.min() * tr.t)
    assert np.all(L <= bound * (1 + 1e-6) + 1e-12)
    assert L[-1] < 1e-3 * L[0]


def test_commutator_can_grow_when_K_indefinite(rng):
    """Fig. 9: zero weight decay and tau = 1 with a negative predictor mode: K is indefinite
    and the misalignment grows."""
    n = 3
    F0 = np.diag([0.01, 0.02, 0.03]) + 1e-3 * _sym(rng, n)
    Wp0 = np.diag([0.5, -0.1, 0.3]) + 0.05 * _sym(rng, n)
    tr = simulate_reduced(Wp0, F0, kind="eq67", alpha_p=1.0, eta=0.0, sigma2=0.0, tau=1.0,
                          t_end=3, n_save=31)
    assert tr.K_min_eig()[0] < 0
    L = tr.commutator_norm()
    assert L.max() > 1.5 * L[0]


@pytest.mark.parametrize("tau", [0.3, 1.0])
def test_fig8_skew_part_vanishes(rng, tau):
    """Prediction 4: under Eq. 62 on the balanced manifold the skew part of Wp -> 0."""
    Wp0 = 0.5 * rng.standard_normal((4, 4))
    tr = simulate_reduced(Wp0, kind="balanced", alpha_p=1.0, eta=0.01, sigma2=0.0, tau=tau,
                          t_end=200, n_save=11)
    sym, skew = tr.sym_skew_norms()
    assert skew[0] > 0.1
    assert skew[-1] < 1e-2 * skew[0]


def test_balanced_flow_matches_full_matrix_flow(rng):
    """Fig. 8's balanced flow is the full flow started on W W^T = Wp^T Wp (C = 0, alpha_p = 1,
    SimSiam-like constant tau = 1 means Wa = W)."""
    n = 3
    Wp0 = 0.6 * rng.standard_normal((n, n))
    # choose W0 with W0 W0^T = Wp0^T Wp0: W0 = Q (Wp0^T Wp0)^{1/2}, any orthogonal Q on the right
    lam, U = np.linalg.eigh(Wp0.T @ Wp0)
    W0 = U @ np.diag(np.sqrt(lam)) @ U.T
    cfg = MatrixFlowConfig(alpha_p=1.0, eta=0.02, target="simsiam")
    full = simulate_matrix(W0, np.eye(n), 0.1 * np.eye(n), cfg, Wp0=Wp0, t_end=5, n_save=11)
    red = simulate_reduced(Wp0, kind="balanced", alpha_p=1.0, eta=0.02, sigma2=0.1, tau=1.0,
                           t_end=5, n_save=11)
    np.testing.assert_allclose(full.Wp, red.Wp, atol=1e-8)
    np.testing.assert_allclose(full.F, red.F, atol=1e-8)

"""Symbolic derivations (dynamics.theories.directpred.symbolic) against the numeric theory code.

Each symbolic result is checked twice: as an exact identity (the difference expands to zero) and
numerically, lambdified and compared in float64 with closed_form, modes, matrix_flow, reduced
and with simulations.
"""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from scipy.integrate import solve_ivp

from dynamics.theories.directpred import closed_form, matrix_flow, modes, nonisotropic, reduced
from dynamics.theories.directpred import symbolic as S
from dynamics.theories.directpred.symbolic import scalar as SS


def _spd(rng, n):
    A = rng.normal(size=(n, n))
    return A @ A.T + 0.1 * np.eye(n)


def _sym(rng, n):
    A = rng.normal(size=(n, n))
    return (A + A.T) / 2


# --------------------------------------------------------------------------------------------
# helpers


def test_exact_and_is_zero():
    x = sp.Symbol("x")
    assert S.exact(0.5 * x) == x / 2
    assert S.is_zero(0.5 * x * 2 - x)
    assert not S.is_zero(x + 1)
    assert S.is_zero(sp.sqrt(x**2 + 2 * x + 1) ** 2 - (x + 1) ** 2)
    assert S.is_zero(sp.Matrix([[1.5 * x - sp.Rational(3, 2) * x]]))


@pytest.mark.parametrize(
    ("eigs", "n_neutral", "expected"),
    [
        ([-1.0, -2.0], 0, "stable"),
        ([1.0, 2.0], 0, "unstable"),
        ([-1.0, 2.0], 0, "saddle"),
        ([0.0, -2.0], 0, "non-hyperbolic"),
        ([-1 + 3j, -1 - 3j], 0, "stable"),
        ([0.0, -2.0], 1, "stable"),
        ([0.0, 2.0], 1, "unstable"),
        ([np.nan, -1.0], 0, "absent"),
    ],
)
def test_classify_eigenvalues(eigs, n_neutral, expected):
    assert S.classify_eigenvalues(eigs, n_neutral=n_neutral) == expected


def test_lambdify_expr_broadcasts_and_goes_complex():
    x, y = sp.symbols("x y")
    f = S.lambdify_expr(sp.sqrt(x) + y, (x, y))
    out = f(x=np.array([4.0, -4.0]), y=1.0)
    np.testing.assert_allclose(out, [3.0, 1 + 2j], rtol=0, atol=1e-15)
    with pytest.raises(TypeError):
        f(x=1.0)


# --------------------------------------------------------------------------------------------
# 1. Lemma 1 / Theorem 2 derived from the loss


@pytest.mark.parametrize(("n1", "n2"), [(2, 2), (2, 1), (1, 2)])
def test_lemma1_derived_from_loss_is_exact(n1, n2):
    flow = S.gradient_flow_from_loss(n1, n2)
    rW, rWp = flow.residual()
    assert rW == sp.zeros(n2, n1)
    assert rWp == sp.zeros(n2, n2)
    # stop-gradient: Wa is in the loss, only excluded from differentiation
    assert all(sym in flow.J.free_symbols for sym in flow.Wa)


def test_theorem2_derived_without_stop_grad_is_exact():
    flow = S.gradient_flow_from_loss(2, 2, stop_grad=False)
    assert flow.Wa is flow.W
    rW, rWp = flow.residual()
    assert rW == sp.zeros(2, 2)
    assert rWp == sp.zeros(2, 2)
    # And it genuinely differs from the stop-gradient flow.
    sg = S.gradient_flow_from_loss(2, 2)
    diff = (flow.dW - sg.dW.subs({a: w for a, w in zip(sg.Wa, sg.W, strict=True)}))
    assert not S.is_zero(diff)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gradient_flow_numeric_matches_lemma1_and_theorem2(seed):
    rng = np.random.default_rng(seed)
    n1, n2 = 3, 2
    W, Wp, Wa = rng.normal(size=(n2, n1)), rng.normal(size=(n2, n2)), rng.normal(size=(n2, n1))
    X, Xp = _spd(rng, n1), _spd(rng, n1)
    alpha_p, eta = float(rng.uniform(0.3, 3)), float(rng.uniform(0, 0.5))

    flow = S.gradient_flow_from_loss(n1, n2)
    dW, dWp = flow.numeric(W, Wp, Wa, X, Xp, alpha_p=alpha_p, eta=eta)
    ref_W, ref_Wp, _ = matrix_flow.lemma1_rhs(W, Wp, Wa, X, Xp, alpha_p=alpha_p, beta=1.0,
                                              eta=eta)
    np.testing.assert_allclose(dW, ref_W, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dWp, ref_Wp, rtol=1e-12, atol=1e-12)

    ns = S.gradient_flow_from_loss(n1, n2, stop_grad=False)
    dW2, dWp2 = ns.numeric(W, Wp, Wa, X, Xp, alpha_p=alpha_p, eta=eta)
    cfg = matrix_flow.MatrixFlowConfig(alpha_p=alpha_p, eta=eta, target="simsiam",
                                       stop_grad=False)
    ref_W2, ref_Wp2, _ = matrix_flow.flow_rhs(W, Wp, Wa, X, Xp, cfg)
    np.testing.assert_allclose(dW2, ref_W2, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dWp2, ref_Wp2, rtol=1e-12, atol=1e-12)


def test_theorem2_H_is_minus_jacobian_of_derived_flow():
    """Without stop-gradient the derived dW is linear in W: d vec(W)/dt = -H vec(W) (Theorem 2,
    column-major vec), H = matrix_flow.theorem2_H, symmetric PSD."""
    flow = S.gradient_flow_from_loss(2, 2, stop_grad=False)
    vecW = flow.W.T.reshape(4, 1)  # column-major vec
    H_sym = -flow.dW.T.reshape(4, 1).jacobian(vecW)
    assert not (H_sym.free_symbols & set(flow.W))  # linear in W
    rng = np.random.default_rng(9)
    Wp, X, Xp, eta = rng.normal(size=(2, 2)), _spd(rng, 2), _spd(rng, 2), 0.2
    subs = {flow.eta: eta}
    for M, A in ((flow.Wp, Wp), (flow.X, X), (flow.Xp, Xp)):
        subs.update({M[i, j]: A[i, j] for i in range(2) for j in range(2)})
    H = np.array(H_sym.subs(subs).evalf(), dtype=float)
    np.testing.assert_allclose(H, matrix_flow.theorem2_H(Wp, X, Xp, eta), rtol=1e-13,
                               atol=1e-13)
    assert np.linalg.eigvalsh((H + H.T) / 2).min() >= eta - 1e-12


def test_derived_gradient_matches_finite_difference_of_loss():
    rng = np.random.default_rng(5)
    n1, n2 = 2, 2
    W, Wp, Wa = rng.normal(size=(n2, n1)), rng.normal(size=(n2, n2)), rng.normal(size=(n2, n1))
    X, Xp = _spd(rng, n1), _spd(rng, n1)
    flow = S.gradient_flow_from_loss(n1, n2)
    dW, dWp = flow.numeric(W, Wp, Wa, X, Xp, alpha_p=1.0, eta=0.0)
    h = 1e-6
    for M, dM in ((W, dW), (Wp, dWp)):
        fd = np.zeros_like(M)
        for idx in np.ndindex(M.shape):
            M[idx] += h
            jp = matrix_flow.loss_J(W, Wp, Wa, X, Xp)
            M[idx] -= 2 * h
            jm = matrix_flow.loss_J(W, Wp, Wa, X, Xp)
            M[idx] += h
            fd[idx] = -(jp - jm) / (2 * h)
        np.testing.assert_allclose(dM, fd, rtol=1e-7, atol=1e-8)


# --------------------------------------------------------------------------------------------
# 2. Mode fixed points (Eqs. 11-12) and Eq. 16


def _grid():
    tau = np.array([0.3, 1.0, 1.7])[:, None, None, None]
    sigma2 = np.array([0.0, 0.25, 2.0])[None, :, None, None]
    frac = np.array([0.05, 0.5, 0.9, 0.999, 1.001, 1.5, 4.0])[None, None, :, None]
    alpha_p = np.array([0.5, 1.0, 3.0])[None, None, None, :]
    eta = frac * closed_form.collapse_threshold(tau, sigma2)
    return [*np.broadcast_arrays(tau, sigma2, eta, alpha_p, frac)]


def test_mode_fixed_points_symbolic_form():
    fp = S.mode_fixed_points_symbolic()
    p, s = fp.state
    tau, alpha_p, eta, sigma2 = fp.params
    assert fp.labels == ["origin", "p_minus", "p_plus"]
    assert fp["origin"].coords == {p: 0, s: 0}
    assert fp["origin"].eigenvalues == [-eta, -2 * eta]
    root = sp.sqrt(tau**2 - 4 * eta * (1 + sigma2))
    for label, sign in (("p_minus", -1), ("p_plus", 1)):
        pt = fp[label]
        expected = (tau + sign * root) / (2 * (1 + sigma2))
        assert S.is_zero(pt.coords[p] - expected)
        assert S.is_zero(pt.coords[s] - expected**2 / alpha_p)
        assert fp.checks[f"{label}: s - p^2/alpha_p"] == 0
        # the point zeroes both right-hand sides exactly
        assert all(S.is_zero(e, simplify=True) for e in fp.rhs.subs(pt.coords))
        # eigenvalues -2 eta and d/dp of Eq. 16 at p*: eta - (1+sigma2) p*^2
        ev = pt.eigenvalues
        assert S.is_zero(ev[0] + 2 * eta)
        assert S.is_zero(ev[1] - (eta - (1 + sigma2) * expected**2))


def test_mode_fixed_points_agree_with_plain_sympy_solve():
    fp = S.mode_fixed_points_symbolic()
    p, s = fp.state
    tau, alpha_p, eta, sigma2 = fp.params
    sols = sp.solve(list(fp.rhs), [p, s], dict=True)
    subs = {tau: 1.3, alpha_p: 0.7, eta: 0.05, sigma2: 0.4}
    plain = sorted((float(sp.N(d[p].subs(subs))), float(sp.N(d[s].subs(subs)))) for d in sols)
    ours = sorted((float(sp.N(pt.coords[p].subs(subs))), float(sp.N(pt.coords[s].subs(subs))))
                  for pt in fp.points)
    np.testing.assert_allclose(ours, plain, rtol=1e-13, atol=1e-15)


def test_mode_fixed_points_match_closed_form_on_grid():
    tau, sigma2, eta, alpha_p, frac = _grid()
    num = S.mode_fixed_points_lambdified(tau, sigma2, eta, alpha_p)
    pm, pp = closed_form.fixed_points(tau, sigma2, eta)
    np.testing.assert_allclose(num["p_minus"]["p"], pm, rtol=1e-12, atol=1e-15, equal_nan=True)
    np.testing.assert_allclose(num["p_plus"]["p"], pp, rtol=1e-12, atol=1e-15, equal_nan=True)
    np.testing.assert_allclose(num["p_plus"]["s"], pp**2 / alpha_p, rtol=1e-12, atol=1e-15,
                               equal_nan=True)
    np.testing.assert_allclose(num["p_minus"]["s"], pm**2 / alpha_p, rtol=1e-12, atol=1e-15,
                               equal_nan=True)
    above = frac > 1
    assert np.all(np.isnan(num["p_plus"]["p"]) == above)
    assert np.all(np.isnan(num["p_minus"]["eigenvalues"]).all(axis=0) == above)
    assert np.all(num["origin"]["p"] == 0) and np.all(num["origin"]["s"] == 0)
    # the numeric right-hand side vanishes at every existing fixed point
    for label in ("origin", "p_minus", "p_plus"):
        ok = ~np.isnan(num[label]["p"])
        dp, ds, _ = modes.mode_rhs(num[label]["p"][ok], num[label]["s"][ok], tau[ok],
                                   alpha_p=alpha_p[ok], eta=eta[ok], sigma2=sigma2[ok])
        np.testing.assert_allclose(dp, 0, atol=1e-13)
        np.testing.assert_allclose(ds, 0, atol=1e-13)


def _fd_jacobian(p, s, tau, alpha_p, eta, sigma2, h=1e-6):
    def f(x):
        dp, ds, _ = modes.mode_rhs(x[0], x[1], tau, alpha_p=alpha_p, eta=eta, sigma2=sigma2)
        return np.array([dp, ds])

    x0 = np.array([p, s], dtype=float)
    J = np.empty((2, 2))
    for k in range(2):
        e = np.zeros(2)
        e[k] = h
        J[:, k] = (f(x0 + e) - f(x0 - e)) / (2 * h)
    return J


def test_mode_jacobian_eigenvalues_match_finite_differences():
    tau, sigma2, eta, alpha_p, frac = _grid()
    num = S.mode_fixed_points_lambdified(tau, sigma2, eta, alpha_p)
    checked = 0
    for idx in np.ndindex(tau.shape):
        if frac[idx] > 0.95:  # near-degenerate / absent points are covered elsewhere
            continue
        args = (tau[idx], alpha_p[idx], eta[idx], sigma2[idx])
        for label in ("origin", "p_minus", "p_plus"):
            p, s = num[label]["p"][idx], num[label]["s"][idx]
            J = _fd_jacobian(p, s, *args)
            fd = np.sort(np.linalg.eigvals(J).real)
            sym = num[label]["eigenvalues"][(slice(None),) + idx]
            np.testing.assert_allclose(np.abs(sym.imag), 0, atol=1e-15)
            np.testing.assert_allclose(np.sort(sym.real), fd, rtol=1e-7, atol=1e-9)
            checked += 1
    assert checked == 3 * 3 * 3 * 3 * 3


def test_p_star_eigenvalue_is_the_parabola_flow_derivative():
    """The non-trivial eigenvalue at p*_pm equals d/dp of Eq. 16 (closed_form.parabola_flow)."""
    tau, sigma2, eta = 1.2, 0.3, 0.1
    num = S.mode_fixed_points_lambdified(tau, sigma2, eta, 2.0)
    h = 1e-6
    for label in ("p_minus", "p_plus"):
        p = num[label]["p"]
        deriv = (closed_form.parabola_flow(p + h, tau, sigma2, eta)
                 - closed_form.parabola_flow(p - h, tau, sigma2, eta)) / (2 * h)
        ev = num[label]["eigenvalues"].real
        np.testing.assert_allclose(ev[0], -2 * eta, rtol=1e-14)
        np.testing.assert_allclose(ev[1], deriv, rtol=1e-8)


def test_mode_stability_classification():
    fp = S.mode_fixed_points_symbolic()
    par = {"tau": 1.0, "sigma2": 0.5, "alpha_p": 1.0}
    for eta in (0.01, 0.05, 0.15):
        assert fp.classify("origin", eta=eta, **par) == "stable"
        assert fp.classify("p_minus", eta=eta, **par) == "saddle"
        assert fp.classify("p_plus", eta=eta, **par) == "stable"
    # exactly at the threshold (tau = 1, sigma2 = 0: eta_c = 1/4) p*_- = p*_+ = 1/2, det J = 0
    at = {"tau": 1.0, "sigma2": 0.0, "alpha_p": 1.0, "eta": 0.25}
    assert fp.classify("p_minus", **at) == "non-hyperbolic"
    assert fp.classify("p_plus", **at) == "non-hyperbolic"
    # above it only the (stable) origin exists
    above = {**par, "eta": 1.5 * closed_form.collapse_threshold(1.0, 0.5)}
    assert fp.classify("p_plus", **above) == "absent"
    assert fp.classify("p_minus", **above) == "absent"
    assert fp.classify("origin", **above) == "stable"


def test_eta_zero_lines_of_fixed_points():
    fz = S.mode_fixed_points_symbolic(eta_zero=True)
    p, s = fz.state
    tau, alpha_p, eta, sigma2 = fz.params
    assert sorted(fz.labels) == ["collapsed", "noncollapsed"]
    assert fz["collapsed"].coords == {s: 0} and fz["collapsed"].free == (p,)
    assert S.is_zero(fz["noncollapsed"].coords[p] - tau / (1 + sigma2))
    assert fz["noncollapsed"].free == (s,)
    for label in fz.labels:  # the whole line is fixed
        assert all(S.is_zero(e) for e in fz.rhs.subs(fz[label].coords))
    par = {"tau": 1.0, "sigma2": 0.25, "alpha_p": 2.0, "eta": 0.0}
    pstar = 1.0 / 1.25
    # s = 0 line: normally unstable between 0 and tau/(1+sigma2), normally stable outside
    assert fz.classify("collapsed", p=0.5 * pstar, **par) == "unstable"
    assert fz.classify("collapsed", p=-0.3, **par) == "stable"
    assert fz.classify("collapsed", p=1.5 * pstar, **par) == "stable"
    assert fz.classify("noncollapsed", s=0.7, **par) == "stable"
    # the normal eigenvalue against finite differences
    for p0 in (-0.3, 0.2, 1.1):
        J = _fd_jacobian(p0, 0.0, 1.0, 2.0, 0.0, 0.25)
        _, ev = fz.evaluate("collapsed", p=p0, **par)
        np.testing.assert_allclose(np.sort(ev.real), np.sort(np.linalg.eigvals(J).real),
                                   atol=1e-9)


def test_stability_matches_simulate_modes_end_states():
    tau, sigma2, eta, alpha_p = 1.0, 0.5, 0.05, 1.0
    fp = S.mode_fixed_points_symbolic()
    num = S.mode_fixed_points_lambdified(tau, sigma2, eta, alpha_p)
    rng = np.random.default_rng(3)
    p0, s0, where = [], [], []
    # The origin's Jacobian [[-eta, alpha_p tau], [0, -2 eta]] is far from normal: an s-kick of
    # size ds pushes p by ~ alpha_p tau ds / eta, so its basin is thin in s; kick it gently.
    for label, size in (("origin", 1e-4), ("p_plus", 1e-2)):
        for _ in range(6):
            dp, ds = rng.normal(size=2) * size
            p0.append(num[label]["p"] + dp)
            s0.append(abs(num[label]["s"] + ds))
            where.append(label)
    # saddle: perturb along the unstable eigenvector, both ways
    pm, sm = float(num["p_minus"]["p"]), float(num["p_minus"]["s"])
    J = np.array(fp["p_minus"].jacobian.subs(dict(zip(
        fp.params, (tau, alpha_p, eta, sigma2), strict=True))).evalf(), dtype=float)
    vals, vecs = np.linalg.eig(J)
    assert S.classify_eigenvalues(vals) == "saddle"
    v = vecs[:, np.argmax(vals.real)].real
    v = v * np.sign(v[0])
    for sign in (1, -1):
        p0.append(pm + sign * 1e-4 * v[0])
        s0.append(sm + sign * 1e-4 * v[1])
        where.append("escape_up" if sign > 0 else "escape_down")
    traj = modes.simulate_modes(np.array(p0), np.array(s0), alpha_p=alpha_p, eta=eta,
                                sigma2=sigma2, tau0=tau, t_end=1000.0, n_save=3)
    assert traj.ok
    end_p, end_s = traj.p[-1], traj.s[-1]
    for i, label in enumerate(where):
        if label in ("origin", "escape_down"):
            assert abs(end_p[i]) < 1e-8 and abs(end_s[i]) < 1e-8, (label, end_p[i], end_s[i])
        else:
            np.testing.assert_allclose([end_p[i], end_s[i]],
                                       [num["p_plus"]["p"], num["p_plus"]["s"]], rtol=1e-7)
    # above the collapse threshold even a large mode collapses (p*_pm absent)
    eta_hi = 1.5 * closed_form.collapse_threshold(tau, sigma2)
    assert np.isnan(S.mode_fixed_points_lambdified(tau, sigma2, eta_hi, alpha_p)["p_plus"]["p"])
    hi = modes.simulate_modes(np.array([0.6, 2.0]), np.array([0.4, 4.0]), alpha_p=alpha_p,
                              eta=eta_hi, sigma2=sigma2, tau0=tau, t_end=1000.0, n_save=3)
    assert hi.ok and np.all(np.abs(hi.p[-1]) < 1e-8) and np.all(hi.s[-1] < 1e-8)


def test_parabola_fixed_points_and_stability():
    pa = S.parabola_fixed_points_symbolic()
    assert pa.labels == ["origin", "p_minus", "p_plus"]
    assert pa.checks["Eq. 16 - Eq. 11 on parabola"] == 0
    tau, alpha_p, eta, sigma2 = pa.params
    assert pa["origin"].eigenvalues == [-eta]
    rng = np.random.default_rng(7)
    h = 1e-6
    for _ in range(10):
        t_, s2 = rng.uniform(0.2, 2.0), rng.uniform(0.0, 2.0)
        e_ = rng.uniform(0.01, 0.99) * closed_form.collapse_threshold(t_, s2)
        par = {"tau": t_, "sigma2": s2, "eta": e_, "alpha_p": 1.0}
        ref = dict(zip(("p_minus", "p_plus"), closed_form.fixed_points(t_, s2, e_), strict=True))
        for label in pa.labels:
            (pv,), (ev,) = pa.evaluate(label, **par)
            np.testing.assert_allclose(pv, ref.get(label, 0.0), rtol=1e-12, atol=1e-15)
            fd = (closed_form.parabola_flow(pv + h, t_, s2, e_)
                  - closed_form.parabola_flow(pv - h, t_, s2, e_)) / (2 * h)
            np.testing.assert_allclose(ev.real, fd, rtol=1e-7, atol=1e-10)
        assert pa.classify("origin", **par) == "stable"
        assert pa.classify("p_minus", **par) == "unstable"
        assert pa.classify("p_plus", **par) == "stable"
    pz = S.parabola_fixed_points_symbolic(eta_zero=True)
    assert pz.labels == ["origin", "p_plus"]
    assert pz["origin"].eigenvalues == [0]
    assert S.is_zero(pz["p_plus"].coords[pz.state[0]] - tau / (1 + sigma2))
    assert pz.classify("origin", tau=1.0, sigma2=0.0, eta=0.0, alpha_p=1.0) == "non-hyperbolic"
    assert pz.classify("p_plus", tau=1.0, sigma2=0.0, eta=0.0, alpha_p=1.0) == "stable"


# --------------------------------------------------------------------------------------------
# 3. invariant parabola, 4. Theorem 3


@pytest.mark.parametrize("ema", [False, True])
def test_prove_invariant(ema):
    residual, holds = S.prove_invariant(ema=ema)
    assert holds is True
    assert residual == 0


@pytest.mark.parametrize("n", [2, 3])
def test_commutator_identity(n):
    res = S.check_commutator_identity(n)
    assert res.holds
    assert res.difference == sp.zeros(n, n)
    assert res.K_symmetric
    # and the identity is not vacuous: L itself is not zero
    assert not S.is_zero(res.L)


def test_symbolic_K_matches_numeric_theorem3_K():
    res = S.check_commutator_identity(2)
    names = ("alpha_p", "eta", "sigma2", "tau")
    params = {k: sym for sym in res.K.free_symbols for k in names if sym.name == k}
    rng = np.random.default_rng(11)
    F, Wp = _spd(rng, 2), _sym(rng, 2)
    vals = {"alpha_p": 1.7, "eta": 0.03, "sigma2": 0.4, "tau": 0.8}
    subs = {params[k]: v for k, v in vals.items()}
    subs.update({res.F[i, j]: F[i, j] for i in range(2) for j in range(2)})
    subs.update({res.Wp[i, j]: Wp[i, j] for i in range(2) for j in range(2)})
    K_sym = np.array(res.K.subs(subs).evalf(), dtype=float)
    K_num = reduced.theorem3_K(Wp, F, **vals)
    np.testing.assert_allclose(K_sym, K_num, rtol=1e-13, atol=1e-14)
    # numeric check of the identity itself at this point
    dWp, dF = reduced.eq67_rhs(Wp, F, **vals)
    L = reduced.commutator(F, Wp)
    dL = reduced.commutator(dF, Wp) + reduced.commutator(F, dWp)
    np.testing.assert_allclose(dL, -K_num @ L - L @ K_num, atol=1e-12)


def test_mode_k_eigenvalue_matches_closed_form():
    k, diff = S.mode_k_eigenvalue()
    assert diff == 0
    syms = sorted(k.free_symbols, key=lambda x: x.name)
    f = S.lambdify_expr(k, syms)
    rng = np.random.default_rng(13)
    vals = {"p": rng.normal(size=50), "s": rng.uniform(0, 2, 50), "tau": rng.uniform(0, 2, 50),
            "alpha_p": rng.uniform(0.2, 3, 50), "eta": rng.uniform(0, 0.5, 50),
            "sigma2": rng.uniform(0, 2, 50)}
    ref = closed_form.k_eigenvalue(vals["p"], vals["s"], vals["tau"], vals["alpha_p"],
                                   vals["eta"], vals["sigma2"])
    np.testing.assert_allclose(f(**vals).real, ref, rtol=1e-13, atol=1e-14)
    # eigenvalues of the numeric K in an aligned state are the per-mode k_eigenvalue
    U, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    p, s = rng.normal(size=3), rng.uniform(0, 2, 3)
    par = {"alpha_p": 1.3, "eta": 0.07, "sigma2": 0.6, "tau": 0.9}
    K = reduced.theorem3_K(U @ np.diag(p) @ U.T, U @ np.diag(s) @ U.T, **par)
    ref = closed_form.k_eigenvalue(p, s, par["tau"], par["alpha_p"], par["eta"], par["sigma2"])
    np.testing.assert_allclose(np.linalg.eigvalsh(K), np.sort(ref), rtol=1e-12, atol=1e-13)


# --------------------------------------------------------------------------------------------
# 5. Appendix D scalar model


SC = {"alpha_p": 1.0, "beta": 1.0, "lambda_s": 1.0, "lambda_d": 0.5}


def test_scalar_model_fixed_points():
    fa = SS.scalar_model_fixed_points()
    wp, w, wa = fa.state
    _, _, lambda_s, lambda_d = fa.params
    assert sorted(fa.labels) == ["collapsed", "noncollapsed"]
    assert fa["collapsed"].coords == {w: 0, wa: 0} and fa["collapsed"].free == (wp,)
    nc = fa["noncollapsed"]
    assert nc.coords == {wp: lambda_d / lambda_s, w: wa} and nc.free == (wa,)
    for label in fa.labels:
        assert all(S.is_zero(e) for e in fa.rhs.subs(fa[label].coords))
    # Normal stability of the collapsed line: the two non-zero eigenvalues have product
    # beta wp (lambda_s wp - lambda_d).
    for wp0 in (-0.4, 0.2, 0.4, 0.8):
        _, ev = fa.evaluate("collapsed", wp=wp0, **SC)
        ev = ev[np.argsort(np.abs(ev))]
        assert abs(ev[0]) < 1e-15
        prod = SC["beta"] * wp0 * (SC["lambda_s"] * wp0 - SC["lambda_d"])
        np.testing.assert_allclose((ev[1] * ev[2]).real, prod, rtol=1e-12)
        expected = "saddle" if 0 < wp0 < SC["lambda_d"] / SC["lambda_s"] else "stable"
        assert fa.classify("collapsed", wp=wp0, **SC) == expected
    for wa0 in (-1.0, 0.3, 2.0):
        assert fa.classify("noncollapsed", wa=wa0, **SC) == "stable"
    # the branch against nonisotropic.scalar_fixed_points
    for ls, ld in ((1.0, 0.5), (2.0, 3.0), (0.7, 0.1)):
        ref = nonisotropic.scalar_fixed_points(ls, ld)
        coords, _ = fa.evaluate("noncollapsed", wa=0.9, **{**SC, "lambda_s": ls, "lambda_d": ld})
        np.testing.assert_allclose(coords, ref.point(0.9), rtol=1e-15)
        coords, _ = fa.evaluate("collapsed", wp=0.4, **{**SC, "lambda_s": ls, "lambda_d": ld})
        np.testing.assert_allclose(coords, (0.4, *ref.origin[1:]), rtol=1e-15)
    # numeric Jacobian eigenvalues against finite differences of scalar_model_rhs
    h = 1e-6
    x0 = np.array([0.5, 0.8, 0.8])

    def f(x):
        return np.array(nonisotropic.scalar_rhs(*x, **SC))

    J = np.column_stack([(f(x0 + h * e) - f(x0 - h * e)) / (2 * h) for e in np.eye(3)])
    _, ev = fa.evaluate("noncollapsed", wa=0.8, **SC)
    np.testing.assert_allclose(np.sort(ev.real), np.sort(np.linalg.eigvals(J).real), atol=1e-8)


def test_tied_scalar_model():
    ta = SS.tied_scalar_model()
    w, wa = ta.state
    beta, lambda_s, lambda_d = ta.params
    assert ta.checks["d(w - wp)/dt on w = wp"] == 0
    assert ta["nontrivial"].coords == {w: lambda_d / lambda_s, wa: lambda_d / lambda_s}
    assert ta["origin"].coords == {w: 0, wa: 0}
    assert sorted(ta["origin"].eigenvalues, key=str) == sorted([0, -beta], key=str)
    for b, ls, ld in ((1.0, 1.0, 0.5), (0.1, 2.0, 1.5), (3.0, 1.0, 2.0)):
        par = {"beta": b, "lambda_s": ls, "lambda_d": ld}
        assert ta.classify("nontrivial", **par) == "stable"
        assert ta.classify("origin", **par) == "non-hyperbolic"
        coords, _ = ta.evaluate("nontrivial", **par)
        ref = nonisotropic.scalar_fixed_points(ls, ld).tied_attractor
        np.testing.assert_allclose(coords, ref[1:], rtol=1e-15)
    # integrate the full 3-D model from tied starts: ends at w = wp = wa = lambda_d/lambda_s
    sol = solve_ivp(lambda _t, y: nonisotropic.scalar_rhs(*y, **SC), (0, 200),
                    [0.3, 0.3, 0.1], rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(sol.y[:, -1], 0.5, rtol=1e-7)
    np.testing.assert_allclose(sol.y[0], sol.y[1], atol=1e-9)  # w = wp stays invariant
    w0 = np.array([0.05, 0.3, 1.0, 2.0])
    tr = nonisotropic.simulate_scalar(w0, w0, 0.5 * w0, t_end=300.0, n_save=2, **SC)
    assert tr.ok
    for arr in (tr.wp, tr.w, tr.wa):
        np.testing.assert_allclose(arr[-1], 0.5, rtol=1e-7)


def test_no_predictor_scalar_model():
    na = SS.no_predictor_scalar_model()
    assert na.labels == ["origin"]
    assert na.classify("origin", beta=1.0, lambda_s=1.0, lambda_d=0.5) == "stable"
    assert na.classify("origin", beta=1.0, lambda_s=1.0, lambda_d=1.5) == "saddle"
    eq = SS.no_predictor_scalar_model(equal_lambdas=True)
    w, wa = eq.state
    assert eq.labels == ["line"] and eq["line"].coords == {w: wa}
    # simulation with wp = 1 fixed collapses for lambda_d < lambda_s
    def rhs(_t, y):
        _, dw, dwa = nonisotropic.scalar_rhs(1.0, y[0], y[1], **SC)
        return [dw, dwa]

    sol = solve_ivp(rhs, (0, 100), [0.3, 0.1], rtol=1e-10, atol=1e-14)
    assert np.all(np.abs(sol.y[:, -1]) < 1e-8)
    for ld in (0.2, 0.5, 0.9, 1.2, 3.0):
        stable = na.classify("origin", beta=0.7, lambda_s=1.0, lambda_d=ld) == "stable"
        assert stable == nonisotropic.scalar_fixed_points(1.0, ld).no_predictor_origin_stable()
    tr = nonisotropic.simulate_scalar(0.0, np.array([0.3, -1.0, 2.0]), 0.1, predictor=False,
                                      t_end=100.0, n_save=2, **SC)
    assert tr.ok and np.all(np.abs(tr.w[-1]) < 1e-8) and np.all(np.abs(tr.wa[-1]) < 1e-8)


def test_scalar_model_is_the_mode_system():
    res = SS.scalar_model_vs_modes()
    assert res == {"ds": 0, "dp": 0, "dtau": 0}


def test_scalar_model_rhs_numeric_matches_modes():
    rng = np.random.default_rng(17)
    wp, w, wa = rng.normal(size=3)
    sigma2, alpha_p, beta = 0.3, 1.4, 0.6
    dwp, dw, dwa = nonisotropic.scalar_rhs(wp, w, wa, alpha_p=alpha_p, beta=beta,
                                      lambda_s=1 + sigma2, lambda_d=1.0)
    dp, ds, dtau = modes.mode_rhs(wp, w**2, wa / w, alpha_p=alpha_p, eta=0.0, sigma2=sigma2,
                                  beta=beta)
    np.testing.assert_allclose([dwp, 2 * w * dw, (dwa * w - wa * dw) / w**2], [dp, ds, dtau],
                               rtol=1e-13)


# --------------------------------------------------------------------------------------------
# 7. Eqs. 11-13 as the scalar case of Lemma 1


def test_modes_from_lemma1():
    res, holds = S.modes_from_lemma1()
    assert holds
    assert res == {"ds": 0, "dp": 0, "dtau": 0}
    # numeric spot check with 1x1 numpy matrices
    w, p, tau = 0.7, 0.4, 0.6
    kw = {"alpha_p": 2.0, "eta": 0.05, "sigma2": 0.3}
    dW, dWp, dWa = matrix_flow.lemma1_rhs(np.array([[w]]), np.array([[p]]),
                                          np.array([[tau * w]]), np.eye(1),
                                          kw["sigma2"] * np.eye(1), beta=0.9,
                                          alpha_p=kw["alpha_p"], eta=kw["eta"])
    dp, ds, dtau = modes.mode_rhs(p, w**2, tau, beta=0.9, **kw)
    np.testing.assert_allclose(
        [dWp[0, 0], 2 * w * dW[0, 0], (dWa[0, 0] * w - tau * w * dW[0, 0]) / w**2],
        [dp, ds, dtau], rtol=1e-13)

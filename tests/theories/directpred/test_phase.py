"""Phase portraits and phase diagrams of the eigenmode dynamics
(dynamics.theories.directpred.phase).

Tian, Chen & Ganguli (ICML 2021): Eqs. 11-16, Figs. 3-5, Obs. 4-5, App. B.2.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from scipy.integrate import solve_ivp

from dynamics.errors import ConfigError
from dynamics.theories.directpred import phase
from dynamics.theories.directpred.closed_form import (
    collapse_threshold,
    eta0_final_s,
    fixed_points,
    parabola_end_state,
    parabola_flow,
)
from dynamics.theories.directpred.modes import dp_dt, ds_dt, mode_rhs

PARAMS = {"tau": 1.2, "alpha_p": 0.7, "sigma2": 0.3}


# --------------------------------------------------------------------------------------------
# Flow field and Jacobian


def test_flow_field_equals_mode_equations():
    P, S = np.meshgrid(np.linspace(-1, 2, 7), np.linspace(0, 2, 5))
    kw = {"tau": 0.8, "alpha_p": 1.7, "eta": 0.05, "sigma2": 0.4}
    dp, ds = phase.flow_field(P, S, **kw)
    assert dp.shape == ds.shape == P.shape
    np.testing.assert_array_equal(dp, dp_dt(P, S, 0.8, 1.7, 0.05, 0.4))
    np.testing.assert_array_equal(ds, ds_dt(P, S, 0.8, 0.05, 0.4))
    tdp, tds = phase.flow_field(torch.as_tensor(P), torch.as_tensor(S), **kw)
    assert isinstance(tdp, torch.Tensor) and isinstance(tds, torch.Tensor)
    np.testing.assert_allclose(tdp.numpy(), dp, rtol=1e-15, atol=0)
    lp, ls = phase.flow_field([0.5], [0.25], **kw)
    assert lp.shape == ls.shape == (1,)


def test_jacobian_matches_central_differences():
    rng = np.random.default_rng(0)
    p, s = rng.uniform(-1, 2, 20), rng.uniform(0, 2, 20)
    kw = {"tau": 0.9, "alpha_p": 1.3, "eta": 0.07, "sigma2": 0.2}
    J = phase.jacobian(p, s, **kw)
    assert J.shape == (20, 2, 2)
    h = 1e-6
    for k, (ep, es) in enumerate(((h, 0.0), (0.0, h))):
        fp = np.array(phase.flow_field(p + ep, s + es, **kw))
        fm = np.array(phase.flow_field(p - ep, s - es, **kw))
        np.testing.assert_allclose(J[:, :, k].T, (fp - fm) / (2 * h), rtol=1e-7, atol=1e-8)


# --------------------------------------------------------------------------------------------
# Fixed points of the (p, s) plane (Fig. 3) and of Eq. 16 (Fig. 4)


@pytest.mark.parametrize("eta", [0.02, 0.1, 0.2])
def test_mode_fixed_points_below_threshold(eta):
    fps = phase.mode_fixed_points(eta=eta, **PARAMS)
    pm, pp = fixed_points(PARAMS["tau"], PARAMS["sigma2"], eta)
    assert eta < collapse_threshold(PARAMS["tau"], PARAMS["sigma2"])
    assert [fp.kind for fp in fps] == ["stable", "saddle", "stable"]
    np.testing.assert_allclose([fp.p for fp in fps], [0.0, pm, pp], rtol=1e-14)
    for fp in fps:
        assert fp.s == pytest.approx(fp.p**2 / PARAMS["alpha_p"], rel=1e-14, abs=0)
        dp, ds = phase.flow_field(fp.p, fp.s, eta=eta, **PARAMS)
        assert abs(dp) < 1e-14 and abs(ds) < 1e-14
        # Kinds agree with the Jacobian's trace/determinant.
        J = phase.jacobian(fp.p, fp.s, eta=eta, **PARAMS)
        det, tr = np.linalg.det(J), np.trace(J)
        if fp.kind == "saddle":
            assert det < 0
        else:
            assert det > 0 and tr < 0
        np.testing.assert_allclose(np.sort(fp.eigenvalues.real),
                                   np.sort(np.linalg.eigvals(J).real), rtol=1e-12)
    # Origin: eigenvalues -2 eta and -eta (decay of s like e^{-2 eta t}).
    np.testing.assert_allclose(fps[0].eigenvalues.real, [-2 * eta, -eta], rtol=1e-12)


def test_mode_fixed_points_at_and_above_threshold():
    tau, sigma2 = 1.0, 0.1
    eta_c = collapse_threshold(tau, sigma2)
    at = phase.mode_fixed_points(tau=tau, alpha_p=1.0, eta=eta_c, sigma2=sigma2)
    assert [fp.kind for fp in at] == ["stable", "saddle-node"]
    assert at[1].p == pytest.approx(tau / (2 * (1 + sigma2)), rel=1e-12)
    above = phase.mode_fixed_points(tau=tau, alpha_p=1.0, eta=1.01 * eta_c, sigma2=sigma2)
    assert len(above) == 1 and above[0].kind == "stable" and above[0].p == 0.0


def test_mode_fixed_points_eta0_lines():
    fps = phase.mode_fixed_points(eta=0.0, **PARAMS)
    assert [fp.kind for fp in fps] == ["non-isolated", "non-isolated"]
    s_line, p_line = fps
    p_star = PARAMS["tau"] / (1 + PARAMS["sigma2"])
    assert s_line.line == "s = 0" and s_line.s == 0.0 and np.isnan(s_line.p)
    assert p_line.p == pytest.approx(p_star) and np.isnan(p_line.s)
    # Both lines are made of fixed points.
    grid = np.linspace(-2, 3, 11)
    for p_arr, s_arr in ((grid, 0 * grid), (p_star + 0 * grid, np.abs(grid))):
        dp, ds = phase.flow_field(p_arr, s_arr, eta=0.0, **PARAMS)
        assert np.max(np.abs(dp)) < 1e-14 and np.max(np.abs(ds)) < 1e-14
    assert [(lo, kind) for lo, _, kind in s_line.segments] == [
        (-np.inf, "stable"), (0.0, "unstable"), (pytest.approx(p_star), "stable")]
    assert p_line.segments == ((0.0, np.inf, "stable"),)
    # Segment kinds = sign of ds/dt just above the line s = 0.
    for lo, hi, kind in s_line.segments:
        mid = (max(lo, -5.0) + min(hi, 5.0)) / 2
        _, ds = phase.flow_field(mid, 1e-6, eta=0.0, **PARAMS)
        assert (ds < 0) == (kind == "stable")
    json.dumps([fp.to_dict() for fp in fps])  # serialisable (inf -> Infinity is fine)


@pytest.mark.parametrize(("eta", "kinds"), [
    (0.0, ["saddle-node", "stable"]),
    (0.1, ["stable", "unstable", "stable"]),
    (0.25, ["stable", "saddle-node"]),
    (0.4, ["stable"]),
])
def test_parabola_fixed_points_fig4(eta, kinds):
    tau, sigma2 = 1.0, 0.0
    fps = phase.parabola_fixed_points(tau=tau, eta=eta, sigma2=sigma2)
    assert [fp.kind for fp in fps] == kinds
    h = 1e-6
    for fp in fps:
        assert parabola_flow(fp.p, tau, sigma2, eta) == pytest.approx(0.0, abs=1e-15)
        fd = (parabola_flow(fp.p + h, tau, sigma2, eta)
              - parabola_flow(fp.p - h, tau, sigma2, eta)) / (2 * h)
        assert fp.derivative == pytest.approx(fd, abs=1e-8)


def test_fixed_point_errors():
    with pytest.raises(ConfigError, match="eta"):
        phase.mode_fixed_points(tau=1.0, alpha_p=1.0, eta=-0.1, sigma2=0.0)
    with pytest.raises(ConfigError, match="alpha_p"):
        phase.mode_fixed_points(tau=1.0, alpha_p=0.0, eta=0.1, sigma2=0.0)
    with pytest.raises(ConfigError, match="tau"):
        phase.parabola_fixed_points(tau=np.array([1.0, 2.0]), eta=0.1, sigma2=0.0)


# --------------------------------------------------------------------------------------------
# Basins of collapse


@pytest.mark.parametrize(("tau", "alpha_p", "sigma2", "eta"), [
    (1.0, 1.0, 0.0, 0.02),
    (1.0, 1.0, 0.0, 0.1),
    (1.0, 1.0, 0.0, 0.2),
    (1.0, 1.0, 0.0, 0.3),    # above tau^2/(4(1+sigma2)) = 0.25: everything collapses
    (0.8, 2.0, 0.5, 0.05),
])
def test_basin_grid_on_parabola_matches_parabola_end_state(tau, alpha_p, sigma2, eta):
    p0 = np.linspace(-0.3, 1.2, 31)
    s0 = p0**2 / alpha_p  # diagonal (i, i) of the grid lies on the invariant parabola
    b = phase.basin_grid(p0, s0, tau=tau, alpha_p=alpha_p, eta=eta, sigma2=sigma2)
    assert b.p.shape == b.s.shape == b.collapsed.shape == (31, 31)
    assert np.all(b.status == 0) and np.all(b.settled)
    end = parabola_end_state(p0, tau, sigma2, eta)
    pm, pp = fixed_points(tau, sigma2, eta)
    away = ~(np.abs(p0 - pm) < 0.02)  # no point sits on the unstable p*_-
    diag_c = np.diag(b.collapsed)
    np.testing.assert_array_equal(diag_c[away], (end == 0)[away])
    # Final states are the predicted ones: p -> 0 (collapse) or p -> p*_+, s -> p*_+^2/alpha_p.
    dp = np.diag(b.p)[away]
    np.testing.assert_allclose(dp, end[away], atol=2e-3)
    if np.isfinite(pp):
        np.testing.assert_allclose(np.diag(b.s)[away & ~diag_c], pp**2 / alpha_p, rtol=1e-6)
    # Theory certificate (exact on the parabola) agrees everywhere it decides.
    decided = ~np.isnan(b.predicted)
    np.testing.assert_array_equal(b.collapsed[decided], b.predicted[decided] == 1)
    if eta > collapse_threshold(tau, sigma2):
        assert b.collapsed.all()


@pytest.mark.parametrize("eta", [0.0, 0.05])
def test_basin_grid_off_parabola_agrees_with_theory(eta):
    p0 = np.linspace(-0.5, 1.5, 21)
    s0 = np.linspace(0.0, 1.0, 21)
    b = phase.basin_grid(p0, s0, eta=eta, sigma2=0.2, tau=1.0)
    decided = ~np.isnan(b.predicted)
    assert decided.mean() > 0.3
    assert np.all(b.collapsed[s0 == 0])
    ok = b.collapsed[decided] == (b.predicted[decided] == 1)
    if eta == 0:
        # Exact outcome from Eq. 14; skip the marginal points whose collapse is only algebraic.
        c = s0[:, None] - p0[None, :] ** 2
        s_inf = eta0_final_s(p0[None, :], s0[:, None], 1.0, 0.2, 1.0)
        marginal = (np.abs(c) < 1e-3) | (np.abs(s_inf) < 1e-2)
        assert np.all(ok[~marginal[decided]])
        surv = ~b.collapsed & ~marginal
        np.testing.assert_allclose(b.s[surv], s_inf[surv], rtol=1e-5)
        np.testing.assert_allclose(b.p[surv], 1.0 / 1.2, rtol=1e-6)
    else:
        assert np.all(ok)


def test_basin_boundary_tracks_p_minus():
    """Obs. 4 / App. B.2: the collapse basin boundary on the parabola is p*_-, which grows with
    eta and shrinks with tau."""
    p0 = np.linspace(0.03, 0.21, 24)

    def boundary(tau, eta):
        b = phase.basin_grid(p0, p0**2, tau=tau, eta=eta)
        d = np.diag(b.collapsed)
        k = int(np.argmin(d))  # first survivor; all before it collapse, all after survive
        assert not d[k:].any() and d[:k].all() and k > 0
        edge = (p0[k - 1] + p0[k]) / 2
        assert abs(edge - fixed_points(tau, 0.0, eta)[0]) <= p0[1] - p0[0]
        return edge

    by_eta = [boundary(1.0, eta) for eta in (0.04, 0.08, 0.12)]
    by_tau = [boundary(tau, 0.08) for tau in (0.8, 1.2)]
    assert by_eta[0] < by_eta[1] < by_eta[2]
    assert by_tau[0] > by_eta[1] > by_tau[1]


def test_basin_grid_equals_individual_solve_ivp():
    p0 = np.array([-0.2, 0.15, 0.6, 1.3])
    s0 = np.array([0.05, 0.4, 1.1])
    for kw in ({"tau": 0.9, "alpha_p": 1.5, "eta": 0.06, "sigma2": 0.3},
               {"beta": 0.5, "tau0": 0.0, "alpha_p": 1.0, "eta": 0.04, "sigma2": 0.1}):
        b = phase.basin_grid(p0, s0, t_end=30.0, **kw)
        beta = kw.get("beta")
        tau_start = kw.get("tau", kw.get("tau0"))
        for i, j in ((0, 0), (1, 2), (2, 1), (0, 3)):
            def rhs(_t, y, kw=kw, beta=beta):
                return mode_rhs(y[0], y[1], y[2], alpha_p=kw["alpha_p"], eta=kw["eta"],
                                sigma2=kw["sigma2"], beta=beta)
            sol = solve_ivp(rhs, (0.0, 30.0), [p0[j], s0[i], tau_start], method="DOP853",
                            rtol=1e-12, atol=1e-14)
            np.testing.assert_allclose([b.p[i, j], b.s[i, j], b.tau[i, j]], sol.y[:, -1],
                                       rtol=1e-6, atol=1e-9)


def test_small_s_between_fixed_points_is_not_settled():
    """A mode with s < s_tol at t_end but p between p*_- and p*_+ grows back (ds/dt = 2 s Delta,
    Delta > 0 there), so the basin must not count it as settled; below p*_- it is."""
    kw = {"tau": 1.0, "alpha_p": 1.0, "eta": 0.01, "sigma2": 0.0}
    short = phase.basin_grid([0.5, -0.5], [1e-8], **kw, t_end=1.0)
    assert short.collapsed.all()
    assert list(short.settled[0]) == [False, True]
    # the unsettled one recovers, the settled one stays collapsed
    later = phase.basin_grid([0.5, -0.5], [1e-8], **kw, t_end=400.0)
    pp = fixed_points(1.0, 0.0, 0.01)[1]
    assert abs(later.p[0, 0] - pp) < 1e-3 * pp and later.s[0, 0] > 0.5
    assert later.s[0, 1] < 1e-8 and later.settled.all()


def test_basin_grid_save_roundtrip_atomic(tmp_path):
    b = phase.basin_grid(np.linspace(-0.2, 1.0, 5), np.linspace(0, 1, 4), eta=0.1, t_end=50.0)
    d = b.to_dict()
    assert d["collapsed"].shape == (4, 5) and d["params"]["eta"] == 0.1
    for name in ("basin.npz", "basin.json"):
        path = b.save(tmp_path / name)
        back = phase.BasinDiagram.load(path)
        np.testing.assert_array_equal(back.collapsed, b.collapsed)
        np.testing.assert_allclose(back.s, b.s, rtol=1e-15)
        assert back.params["eta"] == 0.1 and back.params["beta"] is None
    json.loads((tmp_path / "basin.json").read_text())  # strict JSON (NaN written as null)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["basin.json", "basin.npz"]
    with pytest.raises(ConfigError, match="suffix"):
        b.save(tmp_path / "basin.txt")


def test_basin_grid_errors():
    with pytest.raises(ConfigError, match="p0"):
        phase.basin_grid(np.zeros((2, 2)), np.zeros(3))
    with pytest.raises(ConfigError, match="eta"):
        phase.basin_grid(np.zeros(2), np.zeros(3), eta=np.array([0.1, 0.2]))
    with pytest.raises(ConfigError, match="tau0"):
        phase.basin_grid(np.zeros(2), np.zeros(3), tau0=0.5)
    with pytest.raises(ConfigError, match="s0"):
        phase.basin_grid(np.zeros(2), -np.ones(3))


def test_default_t_end():
    assert phase.default_t_end(0.0) == phase.T_END_ETA0
    t = phase.default_t_end(np.array([0.05, 0.1]), s_tol=1e-6)
    assert t == pytest.approx(200 + 2 * np.log(1e6) / 0.1)
    assert phase.default_t_end(np.array([0.0, 0.5])) == phase.T_END_ETA0
    assert phase.default_t_end(1e-6) == phase.T_END_MAX
    assert phase.default_t_end(0.1, beta=np.array([0.5, 1.0])) == pytest.approx(
        phase.default_t_end(0.1) + 20.0)


# --------------------------------------------------------------------------------------------
# Hyper-parameter phase diagrams


def test_collapse_threshold_eta_grid():
    """Obs. 5: just below eta_c = tau^2/(4(1+sigma2)) good modes survive, just above all die."""
    eta_c = collapse_threshold(1.0, 0.0)
    ratios = np.array([0.9, 0.98, 1.02, 1.1])
    p0 = np.array([0.6, 0.9, 1.2])
    d = phase.hyperparameter_diagram(("eta", ratios * eta_c), ("alpha_p", [1.0, 2.0]),
                                     p0=p0, s0=p0**2, fixed={"tau": 1.0, "sigma2": 0.0})
    assert d.fraction_collapsed.shape == (2, 4)
    np.testing.assert_array_equal(d.fraction_collapsed, [[0, 0, 1, 1], [0, 0, 1, 1]])
    np.testing.assert_array_equal(d.predicted_fraction, d.fraction_collapsed)
    assert np.all(d.fraction_settled == 1)
    assert np.all(d.mean_final_s[:, :2] > 0.1) and np.all(d.mean_final_s[:, 2:] < d.s_tol)


def test_hyperparameter_diagram_values_and_bounds():
    rng = np.random.default_rng(3)
    p0, s0 = rng.uniform(-0.2, 1.0, 24), rng.uniform(0.0, 1.0, 24)
    xs, ys = np.array([0.0, 0.05, 0.15, 0.3]), np.array([0.5, 1.0, 1.5])
    d = phase.hyperparameter_diagram(("eta", xs), ("tau", ys), p0=p0, s0=s0,
                                     fixed={"sigma2": 0.1, "alpha_p": 1.2})
    assert d.fraction_collapsed.shape == d.mean_final_s.shape == (3, 4)
    assert d.p_final.shape == d.s_final.shape == d.collapsed.shape == (3, 4, 24)
    np.testing.assert_array_equal(d.x_values, xs)
    np.testing.assert_array_equal(d.y_values, ys)
    assert d.fixed == {"sigma2": 0.1, "alpha_p": 1.2}
    tol = 1e-12
    assert np.all(d.fraction_collapsed >= d.predicted_lower - tol)
    assert np.all(d.fraction_collapsed <= d.predicted_upper + tol)
    # Beyond the threshold (e.g. tau = 0.5, eta >= 0.15) the theory says: all collapse.
    over = xs[None, :] > collapse_threshold(ys[:, None], 0.1)
    assert np.all(d.predicted_fraction[over] == 1) and np.all(d.fraction_collapsed[over] == 1)
    # eta = 0 column: exact theory (Eq. 14).
    np.testing.assert_array_equal(d.fraction_collapsed[:, 0], d.predicted_fraction[:, 0])
    # Cells equal a direct basin computation for the same modes (same batched integrator).
    b = phase.basin_grid(p0[:3], s0[:1], tau=1.0, eta=0.05, sigma2=0.1, alpha_p=1.2,
                         t_end=d.t_end)
    np.testing.assert_allclose(b.s[0], d.s_final[1, 1, :3], rtol=1e-7, atol=1e-12)


def test_hyperparameter_diagram_ema(tmp_path):
    p0 = np.array([0.05, 0.2, 0.5, 1.0])
    s0 = p0**2 + 0.01
    d = phase.hyperparameter_diagram(("eta", [0.0, 0.08]), ("beta", [0.2, 1.0]), p0=p0, s0=s0,
                                     t_end=300.0)
    assert d.fixed["tau0"] == 0.0 and "tau" not in d.fixed
    assert d.fraction_collapsed.shape == (2, 2)
    assert np.all(d.fraction_collapsed[:, 0] == 0)  # eta = 0: s only grows (c > 0)
    assert np.all(np.isnan(d.predicted_fraction))
    assert np.all(d.status == 0)
    d.save(tmp_path / "pd.npz")
    back = phase.PhaseDiagram.load(tmp_path / "pd.npz")
    assert back.x_name == "eta" and back.y_name == "beta"
    np.testing.assert_array_equal(back.fraction_collapsed, d.fraction_collapsed)


def test_hyperparameter_diagram_errors():
    kw = {"p0": [0.5], "s0": [0.25]}
    with pytest.raises(ConfigError, match=r"^x: must be one of eta, alpha_p, beta, sigma2, tau"):
        phase.hyperparameter_diagram(("lr", [0.1]), ("tau", [1.0]), **kw)
    with pytest.raises(ConfigError, match="^y: must differ"):
        phase.hyperparameter_diagram(("eta", [0.1]), ("eta", [0.2]), **kw)
    with pytest.raises(ConfigError, match="^fixed: must be one of"):
        phase.hyperparameter_diagram(("eta", [0.1]), ("tau", [1.0]), fixed={"gamma": 1}, **kw)
    with pytest.raises(ConfigError, match="^fixed: 'eta' is also an axis"):
        phase.hyperparameter_diagram(("eta", [0.1]), ("tau", [1.0]), fixed={"eta": 1}, **kw)
    with pytest.raises(ConfigError, match="^tau:"):
        phase.hyperparameter_diagram(("beta", [0.1]), ("tau", [1.0]), **kw)
    with pytest.raises(ConfigError, match="^tau0:"):
        phase.hyperparameter_diagram(("eta", [0.1]), ("tau", [1.0]), fixed={"tau0": 0}, **kw)
    with pytest.raises(ConfigError, match="^x: values"):
        phase.hyperparameter_diagram(("eta", []), ("tau", [1.0]), **kw)
    with pytest.raises(ConfigError, match="^eta:"):
        phase.hyperparameter_diagram(("eta", [-0.1]), ("tau", [1.0]), **kw)


def test_torch_inputs_and_device_give_numpy():
    p0, s0 = np.linspace(-0.2, 1.0, 4), np.linspace(0.0, 1.0, 3)
    ref = phase.basin_grid(p0, s0, eta=0.1, t_end=40.0)
    for kw in ({"p0": torch.as_tensor(p0), "s0": torch.as_tensor(s0)},
               {"p0": p0, "s0": s0, "device": "cpu"}):
        b = phase.basin_grid(eta=0.1, t_end=40.0, **kw)
        assert isinstance(b.s, np.ndarray) and isinstance(b.collapsed, np.ndarray)
        np.testing.assert_allclose(b.s, ref.s, rtol=1e-12, atol=1e-15)
    d = phase.hyperparameter_diagram(("eta", [0.1]), ("tau", [1.0]), p0=p0, s0=p0**2,
                                     t_end=40.0, device="cpu")
    assert isinstance(d.fraction_collapsed, np.ndarray) and d.fraction_collapsed.shape == (1, 1)

"""Decoupled mode ODEs (Eqs. 11-13), the batched integrator and the closed forms (Eqs. 14-17)."""

import numpy as np
import pytest
import torch
from scipy.integrate import solve_ivp

from dynamics.errors import ConfigError
from dynamics.numerics.integrate import STATUS_BLOWUP, STATUS_OK, integrate_batched
from dynamics.theories.directpred import closed_form as cf
from dynamics.theories.directpred.modes import dp_dt, ds_dt, dtau_dt, mode_rhs, simulate_modes


def _scipy_mode(p0, s0, tau0, *, alpha_p, eta, sigma2, beta, t_end, rtol=1e-10, atol=1e-12):
    def f(_t, y):
        return list(mode_rhs(y[0], y[1], y[2], alpha_p=alpha_p, eta=eta, sigma2=sigma2,
                             beta=beta))

    return solve_ivp(f, (0, t_end), [p0, s0, tau0], method="DOP853", rtol=rtol, atol=atol).y[:, -1]


@pytest.mark.parametrize("beta", [None, 0.4])
def test_batched_matches_scipy_per_point(rng, beta):
    n = 12
    p0 = rng.uniform(-0.5, 1.5, n)
    s0 = rng.uniform(0.0, 1.5, n)
    alpha_p = rng.uniform(0.5, 3, n)
    eta = rng.uniform(0, 0.1, n)
    sigma2 = rng.uniform(0, 0.5, n)
    tau0 = 1.0 if beta is None else 0.0
    tr = simulate_modes(p0, s0, alpha_p=alpha_p, eta=eta, sigma2=sigma2, tau0=tau0, beta=beta,
                        t_end=40, n_save=5, rtol=1e-10, atol=1e-12)
    assert tr.ok
    for i in range(n):
        ref = _scipy_mode(p0[i], s0[i], tau0, alpha_p=alpha_p[i], eta=eta[i],
                          sigma2=sigma2[i], beta=beta, t_end=40)
        np.testing.assert_allclose([tr.p[-1, i], tr.s[-1, i], tr.tau[-1, i]], ref,
                                   rtol=1e-6, atol=1e-8)


def test_broadcasting_over_modes_and_hyperparameters():
    eta = np.array([0.0, 0.02, 0.3])[:, None]
    p0 = np.linspace(0.05, 1.0, 4)[None, :]
    tr = simulate_modes(p0, p0**2, eta=eta, t_end=10, n_save=3)
    assert tr.p.shape == (3, 3, 4) and tr.eta.shape == (3, 4)
    # each element equals a run with its own scalar parameters
    single = simulate_modes(p0[0, 2], p0[0, 2] ** 2, eta=0.02, t_end=10, n_save=3)
    np.testing.assert_allclose(tr.p[:, 1, 2], single.p, rtol=1e-9)


def test_torch_in_torch_out_and_same_numbers():
    p0 = np.linspace(-0.3, 1.2, 9)
    ref = simulate_modes(p0, 0.4, eta=0.01, beta=0.5, tau0=0.0, t_end=20, n_save=4)
    out = simulate_modes(torch.as_tensor(p0), 0.4, eta=0.01, beta=0.5, tau0=0.0, t_end=20,
                         n_save=4)
    assert isinstance(out.p, torch.Tensor) and out.p.dtype == torch.float64
    np.testing.assert_allclose(out.p.numpy(), ref.p, rtol=1e-12)
    assert isinstance(ref.p, np.ndarray)


def test_equations_are_the_scalar_case_of_lemma1():
    """Eqs. 11-13 are the n1 = n2 = 1 case of Eqs. 2-4 with W^2 = s, Wp = p, Wa = tau W."""
    from dynamics.theories.directpred.matrix_flow import lemma1_rhs

    for p, w, tau, alpha_p, eta, sigma2, beta in [(0.3, 0.7, 0.4, 1.5, 0.02, 0.3, 0.6),
                                                  (-0.2, 1.3, 1.1, 0.5, 0.0, 0.0, 2.0)]:
        one = lambda v: np.array([[v]])  # noqa: E731
        dW, dWp, dWa = lemma1_rhs(one(w), one(p), one(tau * w), one(1.0), one(sigma2),
                                  alpha_p=alpha_p, beta=beta, eta=eta)
        s = w * w
        assert dWp[0, 0] == pytest.approx(dp_dt(p, s, tau, alpha_p, eta, sigma2), rel=1e-12)
        assert 2 * w * dW[0, 0] == pytest.approx(ds_dt(p, s, tau, eta, sigma2), rel=1e-12)
        dtau = (dWa[0, 0] - tau * dW[0, 0]) / w  # d(Wa/W)/dt
        assert dtau == pytest.approx(dtau_dt(p, tau, beta, eta, sigma2), rel=1e-12)


@pytest.mark.parametrize("beta", [None, 0.3])
@pytest.mark.parametrize("eta", [0.0, 0.05])
def test_invariant_parabola_eq14(beta, eta):
    p0 = np.linspace(-0.4, 1.3, 8)
    s0 = np.linspace(0.05, 1.0, 8)
    tr = simulate_modes(p0, s0, alpha_p=1.7, eta=eta, sigma2=0.2, beta=beta,
                        tau0=0.0 if beta else 1.0, t_end=30, n_save=61)
    assert tr.ok
    assert tr.invariant_residual().max() < 1e-7
    assert np.abs(tr.p[-1] - tr.p[0]).max() > 0.2  # non-trivial motion


def test_eta0_ends_on_noncollapsed_branch_and_obs2():
    """Prediction 6/9: above the parabola, eta = 0 ends at p = tau/(1+sigma2) with
    s(inf) = s0 + (p_inf^2 - p0^2)/alpha_p; larger alpha_p grows s less."""
    sigma2, tau = 0.25, 1.0
    alpha_p = np.array([0.5, 1.0, 4.0])[:, None]
    p0 = np.array([-0.3, 0.1, 0.5])[None, :]
    s0 = p0**2 / alpha_p + 0.3  # strictly above the parabola
    tr = simulate_modes(p0, s0, alpha_p=alpha_p, sigma2=sigma2, t_end=400, n_save=2)
    np.testing.assert_allclose(tr.p[-1], tau / (1 + sigma2), atol=1e-6)
    np.testing.assert_allclose(tr.s[-1], cf.eta0_final_s(p0, s0, tau, sigma2, alpha_p),
                               rtol=1e-6)
    growth = tr.s[-1] - s0
    assert np.all(np.diff(growth[:, 0]) < 0)  # Obs. 2: larger alpha_p, smaller growth of s


def test_fixed_points_and_threshold_on_parabola_grid():
    """Eq. 16 fixed points / collapse threshold vs the batched ODE's end states."""
    tau, sigma2, alpha_p = 1.0, 0.2, 1.0
    eta_c = cf.collapse_threshold(tau, sigma2)
    eta = np.array([0.02, 0.08, 0.15, 0.9 * eta_c, 1.05 * eta_c, 1.5 * eta_c])[:, None]
    p0 = np.linspace(0.01, 1.2, 40)[None, :]
    tr = simulate_modes(p0, p0**2 / alpha_p, alpha_p=alpha_p, eta=eta, sigma2=sigma2, tau0=tau,
                        t_end=3000, n_save=2)
    assert tr.ok
    predicted = cf.parabola_end_state(p0, tau, sigma2, eta)
    pm, pp = cf.fixed_points(tau, sigma2, eta)
    # exclude points within 2% of the unstable fixed point p*_- (slow escape)
    far = ~(np.abs(p0 - pm) < 0.02 * np.nan_to_num(pm, nan=1.0))
    np.testing.assert_allclose(tr.p[-1][far], predicted[far], atol=2e-3)
    # above the threshold every mode collapses; below it, some survive
    assert np.all(tr.p[-1][-2:] < 1e-3)
    assert np.all(tr.p[-1][:4].max(axis=1) > 0.4)
    # fixed points are roots of Eq. 16 and p*_- grows with eta, shrinks with tau
    np.testing.assert_allclose(cf.parabola_flow(pm[:4], tau, sigma2, eta[:4]), 0, atol=1e-12)
    np.testing.assert_allclose(cf.parabola_flow(pp[:4], tau, sigma2, eta[:4]), 0, atol=1e-12)
    assert np.all(np.diff(pm[:4, 0]) > 0)
    assert cf.fixed_points(1.2, sigma2, 0.05)[0] < cf.fixed_points(1.0, sigma2, 0.05)[0]
    assert np.all(np.isnan(pm[-2:]))


def test_threshold_value_prediction8():
    assert cf.collapse_threshold(1.0, 0.0) == pytest.approx(0.25)
    assert cf.collapse_threshold(0.5, 1.0) == pytest.approx(0.25 / 8)
    # just below the threshold the two fixed points nearly merge at tau/(2(1+sigma2))
    pm, pp = cf.fixed_points(1.0, 0.0, 0.25 - 1e-10)
    assert pm == pytest.approx(0.5, abs=1e-4) and pp == pytest.approx(0.5, abs=1e-4)


def test_k_eigenvalue_and_eq17_are_consistent(rng):
    from dynamics.theories.directpred.reduced import theorem3_K

    n = 5
    U = np.linalg.qr(rng.standard_normal((n, n)))[0]
    p, s = rng.uniform(-1, 2, n), rng.uniform(0, 2, n)
    kw = dict(alpha_p=1.3, eta=0.04, sigma2=0.3, tau=0.8)
    K = theorem3_K(U @ np.diag(p) @ U.T, U @ np.diag(s) @ U.T, **kw)
    np.testing.assert_allclose(np.diag(U.T @ K @ U),
                               cf.k_eigenvalue(p, s, kw["tau"], kw["alpha_p"], kw["eta"],
                                               kw["sigma2"]), atol=1e-12)
    stable = cf.eq17_alignment_stable(p, s, kw["tau"], kw["alpha_p"], kw["eta"], kw["sigma2"])
    np.testing.assert_array_equal(stable, cf.k_eigenvalue(p, s, kw["tau"], kw["alpha_p"],
                                                          kw["eta"], kw["sigma2"]) > 0)


def test_tau_ema_eq15_matches_simulated_ratio():
    """Prediction 10: on the parabola with Wa(0) = 0, Eq. 15 reproduces the simulated tau."""
    p0 = np.array([0.2, 0.5, 0.9])
    tr = simulate_modes(p0, p0**2, eta=0.01, beta=0.5, tau0=0.0, t_end=20, n_save=4001)
    tau_closed = cf.tau_ema(tr.t, tr.p, 0.5)
    np.testing.assert_allclose(tau_closed[1:], tr.tau[1:], atol=1e-5)
    assert tr.tau[0].max() == 0 and tr.tau[-1].min() > 0.9  # curriculum: 0 -> ~1


def test_blowup_is_reported_and_partial_kept():
    # s grows from 1 towards 1 + (1 - 0.6^2) = 1.64 for the second mode; a blow-up limit of 1.2
    # on the state (p, w = sqrt(s)) stops that element (only) and keeps what it computed before.
    tr = simulate_modes(np.array([0.9, 0.6]), np.array([1.0, 1.0]), t_end=20, n_save=21,
                        blowup=1.2)
    assert tr.status[0] == STATUS_OK and tr.status[1] == STATUS_BLOWUP
    assert not tr.ok
    last = tr.last_valid()
    assert 1.0 < last["s"][1] <= 1.2**2 and 0 < last["t"][1] < 20
    assert np.isnan(tr.s[-1, 1]) and np.isfinite(tr.s[-1, 0])


def test_ema_collapsing_mode_with_negative_p_stays_regular():
    """With EMA a mode with p < 0 drives w through 0; tau = wa/w diverges there, so the
    solver works in (p, w, wa). The run completes and the mode collapses (s -> 0)."""
    # s falls to ~3e-17, so the residual (relative to s) is bounded by atol, not rtol
    tr = simulate_modes(-0.4, 0.05, alpha_p=1.7, sigma2=0.2, beta=0.3, tau0=0.0, eta=0.05,
                        t_end=200, n_save=401, atol=1e-13)
    assert tr.ok
    assert tr.s[-1] < 1e-3 * tr.s[0]
    assert tr.invariant_residual().max() < 1e-7


def test_scalar_form_equals_eqs_11_13():
    from dynamics.theories.directpred.modes import scalar_rhs

    p, w, wa, alpha_p, beta, eta, sigma2 = 0.3, 0.8, 0.5, 1.4, 0.7, 0.03, 0.2
    dwp, dw, dwa = scalar_rhs(p, w, wa, alpha_p=alpha_p, beta=beta, lambda_s=1 + sigma2,
                              lambda_d=1.0, eta=eta)
    s, tau = w * w, wa / w
    assert dwp == pytest.approx(dp_dt(p, s, tau, alpha_p, eta, sigma2), rel=1e-12)
    assert 2 * w * dw == pytest.approx(ds_dt(p, s, tau, eta, sigma2), rel=1e-12)
    assert (dwa * w - wa * dw) / w**2 == pytest.approx(dtau_dt(p, tau, beta, eta, sigma2),
                                                       rel=1e-12)


def test_integrator_exact_for_linear_ode():
    """dy/dt = -k y: the batched DOPRI5 reaches exp(-k t) to the requested tolerance."""
    k = torch.tensor([0.1, 1.0, 5.0], dtype=torch.float64)
    sol = integrate_batched(lambda y, aux: -aux["k"][:, None] * y,
                            torch.ones(3, 1, dtype=torch.float64),
                            torch.tensor([0.0, 1.0, 2.0], dtype=torch.float64), {"k": k},
                            rtol=1e-10, atol=1e-14)
    expect = torch.exp(-k[None, :] * torch.tensor([0.0, 1.0, 2.0])[:, None])
    torch.testing.assert_close(sol.y[..., 0], expect.to(torch.float64), rtol=1e-8, atol=1e-14)
    assert torch.all(sol.status == STATUS_OK)


def test_dense_output_needs_no_extra_steps_and_keeps_the_tolerance():
    """Output times come from the Dormand-Prince interpolant: 4,001 of them cost no more steps
    than 2 (landing on each one took 4,000 steps), and every output stays within the
    tolerance of the exact solution of dy/dt = (-k y, -z^2)."""
    k = torch.tensor([0.5, 1.0, 2.0], dtype=torch.float64)

    def rhs(y, aux):
        return torch.stack((-aux["k"] * y[:, 0], -y[:, 1] ** 2), dim=-1)

    y0 = torch.ones(3, 2, dtype=torch.float64)
    steps = {}
    for n in (2, 4001):
        t = torch.linspace(0.0, 10.0, n, dtype=torch.float64)
        sol = integrate_batched(rhs, y0, t, {"k": k}, rtol=1e-8, atol=1e-10)
        assert torch.all(sol.status == STATUS_OK)
        exact = torch.stack((torch.exp(-k[None, :] * t[:, None]),
                             (1 / (1 + t))[:, None].expand(-1, 3)), dim=-1)
        assert float((sol.y - exact).abs().max()) < 3e-8
        steps[n] = sol.n_steps.tolist()
    assert steps[4001] == steps[2] and max(steps[2]) < 120
    forced = integrate_batched(rhs, y0, torch.linspace(0.0, 10.0, 4001, dtype=torch.float64),
                               {"k": k}, rtol=1e-8, atol=1e-10, dense=False)
    assert forced.n_steps.min() >= 4000
    capped = integrate_batched(rhs, y0, torch.tensor([0.0, 10.0], dtype=torch.float64),
                               {"k": k}, rtol=1e-8, atol=1e-10, max_step=0.05)
    assert capped.n_steps.min() >= 200


def test_dense_output_polynomials_end_on_the_fifth_order_weights():
    from dynamics.numerics.dopri5 import _A, _P

    for row, b in zip(_P, (*_A[6], 0.0), strict=True):
        assert sum(row) == pytest.approx(b, abs=1e-15)


@pytest.mark.parametrize(
    "kwargs,field",
    [
        (dict(sigma2=-0.1), "sigma2"),
        (dict(eta=-1.0), "eta"),
        (dict(alpha_p=0.0), "alpha_p"),
        (dict(beta=-1.0), "beta"),
        (dict(t_end=0.0), "t_end"),
        (dict(s0=-1.0), "s0"),
        (dict(n_save=1), "n_save"),
    ],
)
def test_mode_input_errors(kwargs, field):
    args = dict(p0=0.5, s0=0.5)
    args.update(kwargs)
    with pytest.raises(ConfigError, match=rf"^{field}: "):
        simulate_modes(**args)


@pytest.mark.gpu
def test_batched_integrator_runs_unchanged_on_cuda():
    """Torch CUDA tensors in -> CUDA tensors out, same numbers as on the CPU."""
    p0 = torch.linspace(-0.5, 1.5, 64, dtype=torch.float64)
    cpu = simulate_modes(p0, 0.3, eta=0.02, beta=0.4, tau0=0.0, t_end=30, n_save=7)
    gpu = simulate_modes(p0.cuda(), 0.3, eta=0.02, beta=0.4, tau0=0.0, t_end=30, n_save=7)
    assert gpu.p.device.type == "cuda" and gpu.status.device.type == "cuda"
    torch.testing.assert_close(gpu.p.cpu(), cpu.p, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(gpu.s.cpu(), cpu.s, rtol=1e-9, atol=1e-12)


@pytest.mark.integration  # end to end (pytest -m integration)
def test_fused_iteration_matches_eager_or_falls_back_with_a_warning(recwarn):
    """The torch.compile path runs the same iteration: same steps, same numbers (up to the
    order of floating point operations); where it cannot compile it warns once and runs
    eager."""
    from dynamics.theories.directpred.modes import _rhs_fixed_tau

    n = 512
    y0 = torch.stack((torch.linspace(-1, 2, n, dtype=torch.float64),
                      torch.linspace(0.01, 1.5, n, dtype=torch.float64),
                      torch.ones(n, dtype=torch.float64)), dim=-1)
    aux = {"alpha_p": torch.ones(n, dtype=torch.float64),
           "eta": torch.full((n,), 0.01, dtype=torch.float64),
           "sigma2": torch.zeros(n, dtype=torch.float64)}
    t = torch.tensor([0.0, 5.0, 30.0], dtype=torch.float64)
    eager = integrate_batched(_rhs_fixed_tau, y0, t, aux, compile="eager")
    fused = integrate_batched(_rhs_fixed_tau, y0, t, aux, compile="fused")
    assert eager.path == "eager" and fused.path in ("fused", "eager")
    if fused.path == "eager":
        assert any("torch.compile" in str(w.message) for w in recwarn.list)
    torch.testing.assert_close(fused.y, eager.y, rtol=1e-11, atol=1e-13)
    assert torch.equal(fused.n_steps, eager.n_steps)
    with pytest.raises(ConfigError, match="compile"):
        integrate_batched(_rhs_fixed_tau, y0, t, aux, compile="jit")


def test_auto_fuses_only_work_that_repays_compiling(monkeypatch):
    from dynamics.numerics.dopri5 import FUSE_MIN_TOTAL, auto_mode

    monkeypatch.delenv("SSL_DYNAMICS_COMPILE", raising=False)
    assert auto_mode(FUSE_MIN_TOTAL - 1) == "eager" and auto_mode(FUSE_MIN_TOTAL) == "fused"
    monkeypatch.setenv("SSL_DYNAMICS_COMPILE", "0")
    assert auto_mode(10 * FUSE_MIN_TOTAL) == "eager"


@pytest.mark.integration  # end to end (pytest -m integration)
def test_fused_iteration_compiles_once_across_chunks_and_compaction():
    """Views of larger tensors as parameters, and a working set compacted down to its last
    straggler, made torch.compile trace the iteration three times per process (about 2 s
    each); now one trace serves every chunk."""
    import torch._dynamo
    from torch._dynamo.utils import counters

    from dynamics.theories.directpred.modes import simulate_modes

    torch._dynamo.reset()
    counters.clear()
    flat = np.linspace(-1.0, 2.0, 3000)
    for lo, hi in ((0, 2000), (2000, 3000)):  # per-element parameters, as phase diagrams pass
        n = hi - lo
        tr = simulate_modes(flat[lo:hi], np.abs(flat[lo:hi]) + 0.01, alpha_p=np.ones(n),
                            eta=np.full(n, 0.01), sigma2=np.zeros(n), t_end=50.0, n_save=2,
                            compile="fused")
        if tr.meta["path"] != "fused":
            pytest.skip("torch.compile is not available here")
    assert counters["stats"]["unique_graphs"] == 1, dict(counters["stats"])

"""Long checks, excluded from the default run (``pytest -m slow``)."""

import numpy as np
import pytest

pytestmark = pytest.mark.slow


def test_full_reproduce_passes_every_check(tmp_path):
    from dynamics.workflows.reproduce import run_reproduce

    summary = run_reproduce(tmp_path, quick=False, log=lambda *a, **k: None)
    assert summary["checks"] and all(c["passed"] for c in summary["checks"])
    assert (tmp_path / "summary.md").stat().st_size > 0
    assert len(list((tmp_path / "figures").glob("*.png"))) == 7


def test_benchmark_grid_batched_as_accurate_as_scipy():
    """The 256 x 256 benchmark grid: on a 512-point random subset, the batched integrator's
    error against a DOP853 rtol=1e-13 reference is no worse than scipy RK45's (the same
    Dormand-Prince pair) at the same tolerance: median and maximum within a factor 3.
    (Absolute agreement is limited by trajectories passing close to the saddle, whose global
    error is amplified for either solver.)"""
    from scipy.integrate import solve_ivp

    from dynamics.theories.directpred.modes import mode_rhs, simulate_modes

    n, rtol, atol = 256, 1e-8, 1e-10
    p0 = np.linspace(-1.0, 2.0, n)[None, :]
    s0 = np.linspace(0.0, 2.0, n)[:, None]
    kw = dict(alpha_p=1.0, eta=0.01, sigma2=0.0)
    tr = simulate_modes(p0, s0, t_end=100, t_eval=[100], rtol=rtol, atol=atol, **kw)
    P0, S0 = np.broadcast_arrays(p0, s0)

    def f(_t, y):
        return list(mode_rhs(y[0], y[1], 1.0, **kw))[:2]

    ours, theirs = [], []
    for i in np.random.default_rng(0).choice(n * n, 512, replace=False):
        y0 = [P0.flat[i], S0.flat[i]]
        ref = solve_ivp(f, (0, 100), y0, method="DOP853", rtol=1e-13, atol=1e-15).y[:, -1]
        rk = solve_ivp(f, (0, 100), y0, method="RK45", rtol=rtol, atol=atol).y[:, -1]
        ours.append(np.abs([tr.p[-1].flat[i] - ref[0], tr.s[-1].flat[i] - ref[1]]).max())
        theirs.append(np.abs(rk - ref).max())
    ours, theirs = np.array(ours), np.array(theirs)
    assert np.median(ours) <= 3 * np.median(theirs) + 1e-12
    assert ours.max() <= 3 * theirs.max() + 1e-12
    assert np.median(ours) < 1e-6

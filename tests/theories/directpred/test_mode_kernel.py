"""The compiled per-trajectory kernel of the mode dynamics (numba) against the batched torch
integrator: the same steps, statuses and final states, fixed tau and EMA, blow-ups included;
diagrams drawn through it equal those of the torch path."""

import numpy as np
import pytest

from dynamics.numerics import dopri5_compiled
from dynamics.theories.directpred.phase import mode_collapse

pytestmark = pytest.mark.skipif(not dopri5_compiled.available(), reason="numba not installed")


def _grid(n=24):
    p0, s0 = np.meshgrid(np.linspace(-2.0, 2.0, n), np.linspace(0.0, 2.0, n))
    return p0.ravel(), s0.ravel()


@pytest.mark.parametrize("beta", [None, 0.5])
@pytest.mark.parametrize("eta", [0.0, 0.05])
def test_kernel_takes_the_torch_paths_steps(beta, eta):
    from dynamics.theories.directpred.mode_kernel import final_mode_states
    from dynamics.theories.directpred.modes import simulate_modes

    p0, s0 = _grid()
    one = np.ones_like(p0)
    tau0 = 0.0 * one if beta is not None else one
    b = None if beta is None else beta * one
    p, s, tau, status, n_steps = final_mode_states(
        p0, s0, one, eta * one, 0.1 * one, tau0, b, t_end=30.0, rtol=1e-8, atol=1e-10,
        threads=2)
    ref = simulate_modes(p0, s0, eta=eta, sigma2=0.1, tau0=tau0, beta=b, t_end=30.0, n_save=2,
                         compile="eager")
    assert np.array_equal(status, ref.status)
    assert np.mean(n_steps == ref.n_steps) > 0.99  # rounding may flip a rare accept/reject
    ok = status == 0
    for mine, theirs in ((p, ref.p[-1]), (s, ref.s[-1])):
        assert np.allclose(mine[ok], theirs[ok], rtol=1e-7, atol=1e-9)
    alive = ok & (s > 1e-6)  # tau = wa / w amplifies rounding where w has decayed to ~0
    assert np.allclose(tau[alive], ref.tau[-1][alive], rtol=1e-6, atol=1e-9)


def test_blow_up_and_step_cap_have_the_torch_statuses():
    from dynamics.theories.directpred.mode_kernel import final_mode_states
    from dynamics.theories.directpred.modes import simulate_modes

    p0, s0 = np.array([0.5, 0.5, -0.5]), np.array([0.25, 4e6, 1.0])
    one = np.ones(3)
    args = (p0, s0, one, 0 * one, 0 * one, one, None)
    _, _, _, status, _ = final_mode_states(*args, t_end=50.0, rtol=1e-8, atol=1e-10,
                                           blowup=1e3)
    ref = simulate_modes(p0, s0, t_end=50.0, n_save=2, blowup=1e3, compile="eager")
    assert status.tolist() == ref.status.tolist() == [0, 1, 0]
    p, _, _, status, n = final_mode_states(*args[:5], one, None, t_end=50.0, rtol=1e-8,
                                           atol=1e-10, max_steps=3)
    assert status.tolist() == [2, 2, 2] and n.max() <= 3
    assert np.array_equal(p, p0)  # stopped early: the last output reached is the start


def test_diagrams_through_the_kernel_equal_the_torch_path(monkeypatch):
    from dynamics.theories.directpred.phase.basin import basin_grid

    kw = dict(eta=0.02, sigma2=0.1, t_end=40.0)
    p0, s0 = np.linspace(-1.5, 1.5, 30), np.linspace(0.0, 1.5, 20)
    torch_path = basin_grid(p0, s0, **kw)
    monkeypatch.setattr(mode_collapse, "KERNEL_MIN_TOTAL", 1)
    monkeypatch.setattr(mode_collapse, "CHUNK", 128)  # several chunks, progress per chunk
    seen = []
    kernel = basin_grid(p0, s0, **kw, progress=lambda d, t: seen.append(d))
    assert mode_collapse.kernel_path(600)
    assert seen[0] == 0 and seen[-1] == 600 and len(seen) == 6
    assert np.array_equal(kernel.collapsed, torch_path.collapsed)
    assert np.array_equal(kernel.status, torch_path.status)
    assert np.allclose(kernel.p, torch_path.p, rtol=1e-7, atol=1e-9)


def test_the_kernel_can_be_switched_off(monkeypatch):
    monkeypatch.setattr(mode_collapse, "KERNEL_MIN_TOTAL", 1)
    monkeypatch.setenv("SSL_DYNAMICS_COMPILE", "0")
    assert not mode_collapse.kernel_path(10**6)


def test_the_kernel_path_checks_its_inputs_first(monkeypatch):
    from dynamics.errors import ConfigError
    from dynamics.theories.directpred.phase.basin import basin_grid

    monkeypatch.setattr(mode_collapse, "KERNEL_MIN_TOTAL", 1)
    with pytest.raises(ConfigError, match="s0"):
        basin_grid([0.5, 1.0], [-0.1, 0.2], eta=0.01, t_end=10.0)
    with pytest.raises(ConfigError, match="alpha_p"):
        basin_grid([0.5, 1.0], [0.1, 0.2], alpha_p=-1.0, eta=0.01, t_end=10.0)

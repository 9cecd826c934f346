"""The decoupled mode dynamics (Eqs. 11-13) as a compiled per-trajectory kernel (numba): the
final states of many modes, for phase and basin diagrams.

The right-hand side is :func:`dynamics.theories.directpred.modes.scalar_rhs` itself (Lemma 1,
Eqs. 2-4 with n1 = n2 = 1) compiled by numba, in the coordinates of
:func:`~dynamics.theories.directpred.modes.simulate_modes`: (p, w, tau) with s = w^2 and tau
fixed, or (p, w, wa) with tau = wa / w under EMA (Eq. 13). Per-trajectory parameters are
(alpha_p, eta, sigma2, beta).

The integrator is the Dormand-Prince 5(4) pair of :mod:`dynamics.numerics.dopri5` (its tableau)
with the same step control as :func:`dynamics.numerics.dopri5.iteration`, in the same order of
floating-point operations, so both paths take the same steps up to rounding (tested): the
starting step of Hairer & Wanner (Solving ODEs I, Sec. II.4) as scipy computes it; the error
norm

    err = sqrt(mean_k ((y5 - y4)_k / (atol + rtol * max(|y_k|, |y5_k|)))^2) <= 1;

the next step h * clamp(0.9 err^(-1/5), 0.2, 10) (no growth after a rejection; a step that only
shortened to land on ``t_end`` does not shrink the next one); a non-finite state or one beyond
``blowup`` is rejected with the step cut to a fifth, and ends the trajectory (status blow-up)
once non-finite or at a step below 1e-12 max(|t|, 1); a rejected step below 10 eps max(|t|, 1)
ends it (step underflow); ``max_steps`` iterations end it (maximum steps). Status codes are those
of :data:`dynamics.numerics.integrate.STATUS_NAMES`.

Unlike the batched torch iteration, each trajectory runs its own loop with its state in
registers, the trajectories spread over the cores (numba's ``prange``), and the machine code is
cached on disk, so a new process pays no compilation after the first. Only the state at
``t_end`` is computed (no dense output). This module needs numba; it is imported only where
:func:`dynamics.numerics.dopri5_compiled.available` says numba is there.
"""

from __future__ import annotations

import numba
import numpy as np

from dynamics.numerics.dopri5 import _A, _E, _MAX_FACTOR, _MIN_FACTOR, _SAFETY
from dynamics.numerics.dopri5_compiled import set_numba_threads
from dynamics.numerics.integrate import (
    STATUS_BLOWUP,
    STATUS_MAX_STEPS,
    STATUS_OK,
    STATUS_STEP_UNDERFLOW,
)
from dynamics.theories.directpred.modes import scalar_rhs

_EPS = float(np.finfo(np.float64).eps)
#: LLVM's fast-math flags without "no NaN / no infinity" (the blow-up checks need them):
#: fused multiply-adds, reassociation, approximate functions (about 20% faster than strict IEEE
#: order; results differ from the torch path by rounding, far below the tolerances).
_FAST = {"contract", "reassoc", "afn", "arcp", "nsz"}
A10 = _A[1][0]
A20, A21 = _A[2]
A30, A31, A32 = _A[3]
A40, A41, A42, A43 = _A[4]
A50, A51, A52, A53, A54 = _A[5]
B0, _B1, B2, B3, B4, B5 = _A[6]  # _B1 = 0 (skipped, as in dopri5.iteration)
E0, _E1, E2, E3, E4, E5, E6 = _E  # _E1 = 0

_JIT = {"cache": True, "error_model": "numpy", "fastmath": _FAST}
_scalar_rhs = numba.njit(inline="always", **_JIT)(scalar_rhs)


@numba.njit(inline="always", **_JIT)
def _rhs(p, w, x, par, ema):
    """(dp, dw, dx): Eqs. 11-12 with x = tau fixed, or Eqs. 11-13 with x = wa (``ema``)."""
    if ema:
        return _scalar_rhs(p, w, x, par[0], par[3], 1 + par[2], 1.0, par[1])
    dp, dw, _ = _scalar_rhs(p, w, x * w, par[0], 0.0, 1 + par[2], 1.0, par[1])
    return dp, dw, 0.0


@numba.njit(inline="always", **_JIT)
def _rms3(x0, x1, x2, s0, s1, s2):
    v0, v1, v2 = x0 / s0, x1 / s1, x2 / s2
    return np.sqrt((v0 * v0 + v1 * v1 + v2 * v2) / 3)


@numba.njit(inline="always", **_JIT)
def _first_step(x0, x1, x2, f0, f1, f2, par, ema, rtol, atol):
    s0, s1, s2 = atol + rtol * abs(x0), atol + rtol * abs(x1), atol + rtol * abs(x2)
    d0, d1 = _rms3(x0, x1, x2, s0, s1, s2), _rms3(f0, f1, f2, s0, s1, s2)
    h = 1e-6 if (d0 < 1e-5 or d1 < 1e-5) else 0.01 * d0 / d1
    g0, g1, g2 = _rhs(x0 + h * f0, x1 + h * f1, x2 + h * f2, par, ema)
    d2 = _rms3(g0 - f0, g1 - f1, g2 - f2, s0, s1, s2) / h
    dm = max(d1, d2)
    return min(100 * h, max(1e-6, h * 1e-3) if dm <= 1e-15 else (0.01 / dm) ** (1 / 5))


@numba.njit(nogil=True, **_JIT)
def _one(y0, par, ema, t_end, rtol, atol, blowup, max_steps, out):  # noqa: C901 - one loop
    """One trajectory from ``y0`` to ``t_end``; writes the final state to ``out``; returns
    (status, accepted steps)."""
    x0, x1, x2 = y0[0], y0[1], y0[2]
    f0, f1, f2 = _rhs(x0, x1, x2, par, ema)
    h = _first_step(x0, x1, x2, f0, f1, f2, par, ema, rtol, atol)
    t, n_steps, it, status = 0.0, 0, 0, STATUS_MAX_STEPS
    while it < max_steps:
        it += 1
        he = min(h, t_end - t)
        k10, k11, k12 = _rhs(x0 + he * (A10 * f0), x1 + he * (A10 * f1), x2 + he * (A10 * f2),
                             par, ema)
        k20, k21, k22 = _rhs(x0 + he * (A20 * f0 + A21 * k10), x1 + he * (A20 * f1 + A21 * k11),
                             x2 + he * (A20 * f2 + A21 * k12), par, ema)
        k30, k31, k32 = _rhs(x0 + he * (A30 * f0 + A31 * k10 + A32 * k20),
                             x1 + he * (A30 * f1 + A31 * k11 + A32 * k21),
                             x2 + he * (A30 * f2 + A31 * k12 + A32 * k22), par, ema)
        k40, k41, k42 = _rhs(x0 + he * (A40 * f0 + A41 * k10 + A42 * k20 + A43 * k30),
                             x1 + he * (A40 * f1 + A41 * k11 + A42 * k21 + A43 * k31),
                             x2 + he * (A40 * f2 + A41 * k12 + A42 * k22 + A43 * k32), par, ema)
        k50, k51, k52 = _rhs(
            x0 + he * (A50 * f0 + A51 * k10 + A52 * k20 + A53 * k30 + A54 * k40),
            x1 + he * (A50 * f1 + A51 * k11 + A52 * k21 + A53 * k31 + A54 * k41),
            x2 + he * (A50 * f2 + A51 * k12 + A52 * k22 + A53 * k32 + A54 * k42), par, ema)
        n0 = x0 + he * (B0 * f0 + B2 * k20 + B3 * k30 + B4 * k40 + B5 * k50)
        n1 = x1 + he * (B0 * f1 + B2 * k21 + B3 * k31 + B4 * k41 + B5 * k51)
        n2 = x2 + he * (B0 * f2 + B2 * k22 + B3 * k32 + B4 * k42 + B5 * k52)
        k60, k61, k62 = _rhs(n0, n1, n2, par, ema)
        err = _rms3(he * (E0 * f0 + E2 * k20 + E3 * k30 + E4 * k40 + E5 * k50 + E6 * k60),
                    he * (E0 * f1 + E2 * k21 + E3 * k31 + E4 * k41 + E5 * k51 + E6 * k61),
                    he * (E0 * f2 + E2 * k22 + E3 * k32 + E4 * k42 + E5 * k52 + E6 * k62),
                    atol + rtol * max(abs(x0), abs(n0)), atol + rtol * max(abs(x1), abs(n1)),
                    atol + rtol * max(abs(x2), abs(n2)))
        finite = np.isfinite(n0) and np.isfinite(n1) and np.isfinite(n2) and np.isfinite(err)
        bad = (not finite) or abs(n0) > blowup or abs(n1) > blowup or abs(n2) > blowup
        accept = err <= 1.0 and not bad
        factor = _SAFETY * max(err, 1e-30) ** (-1 / 5) if err > 0 else _MAX_FACTOR
        factor = min(max(factor, _MIN_FACTOR), _MAX_FACTOR)
        if not accept:
            factor = min(factor, 1.0)
        h = max(h, he * factor) if (accept and he < h) else he * factor
        if bad and finite:
            h = he * _MIN_FACTOR
        if accept:
            x0, x1, x2, f0, f1, f2 = n0, n1, n2, k60, k61, k62
            t = t + he
            n_steps += 1
        t_scale = max(abs(t), 1.0)
        if accept and t + 8 * _EPS * t_scale >= t_end:
            status = STATUS_OK
            break
        if bad and ((not finite) or he <= 1e-12 * t_scale):
            status = STATUS_BLOWUP
            break
        if (not accept) and (not bad) and he <= 10 * _EPS * t_scale:
            status = STATUS_STEP_UNDERFLOW
            break
    out[0], out[1], out[2] = x0, x1, x2
    return status, n_steps


@numba.njit(parallel=True, nogil=True, **_JIT)
def _solve(y0, par, ema, t_end, rtol, atol, blowup, max_steps):
    n = y0.shape[0]
    y = np.empty_like(y0)
    status = np.empty(n, dtype=np.int64)
    n_steps = np.empty(n, dtype=np.int64)
    for i in numba.prange(n):
        status[i], n_steps[i] = _one(y0[i], par[i], ema, t_end, rtol, atol, blowup, max_steps,
                                     y[i])
    return y, status, n_steps


def final_mode_states(p0, s0, alpha_p, eta, sigma2, tau0, beta, *, t_end: float, rtol: float,
                      atol: float, blowup: float = 1e8, max_steps: int = 500_000,
                      threads: int = 1):
    """The state at ``t_end`` of every mode, on ``threads`` cores.

    Args:
        p0, s0, alpha_p, eta, sigma2, tau0: 1-D float arrays of equal length (the initial
            state and parameters of each mode; tau0 is the fixed tau without ``beta``).
        beta: 1-D array of EMA rates, or None (tau fixed).
        t_end: horizon > 0.
        rtol, atol: tolerances of the error norm.
        blowup: bound on |p|, |w|, |x| (beyond it: status blow-up).
        max_steps: most iterations per trajectory (beyond: status maximum steps).
        threads: cores for numba's parallel loop.

    Returns:
        ``(p, s, tau, status, n_steps)``, arrays of the inputs' length. Where a trajectory
        stopped early (status not 0) its state is the initial one, as :func:`simulate_modes`
        with ``n_save=2`` reports the last output time it reached.
    """
    set_numba_threads(threads)
    w0 = np.sqrt(s0)
    ema = beta is not None
    par = np.ascontiguousarray(np.stack((alpha_p, eta, sigma2, beta if ema else 0 * p0),
                                        axis=-1), dtype=np.float64)
    y0 = np.ascontiguousarray(np.stack((p0, w0, tau0 * w0 if ema else tau0), axis=-1),
                              dtype=np.float64)
    y, status, n_steps = _solve(y0, par, ema, float(t_end), float(rtol), float(atol),
                                float(blowup), int(max_steps))
    y = np.where((status == STATUS_OK)[:, None], y, y0)
    p, w = y[:, 0], y[:, 1]
    if ema:
        with np.errstate(invalid="ignore", divide="ignore"):
            tau = np.where(w != 0, y[:, 2] / np.where(w != 0, w, 1.0), tau0)
    else:
        tau = y[:, 2]
    return p, w * w, tau, status, n_steps


__all__ = ["final_mode_states"]

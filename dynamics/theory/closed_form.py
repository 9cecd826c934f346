"""Closed-form results for the decoupled eigenmode dynamics (Tian, Chen & Ganguli 2021, Sec. 3).

Every function is element-wise and accepts floats, numpy arrays, torch tensors or sympy symbols.

Conventions: ``p`` = eigenvalue p_j of the predictor Wp, ``s`` = eigenvalue s_j of F = W X W^T,
``tau`` = Wa/W ratio, ``alpha_p`` = relative predictor rate, ``eta`` = weight decay,
``sigma2`` = augmentation variance, ``beta`` = EMA rate.
"""

from __future__ import annotations

import numpy as np

from dynamics._backend import sqrt, where
from dynamics.theory.modes import delta, invariant_c, parabola_s  # noqa: F401 - Eq. 14 lives with the mode equations


def parabola_flow(p, tau, sigma2, eta):
    """Eq. 16: the 1-D flow on the invariant parabola (c_j = 0),

        dp_j/dt = p_j^2 [tau - (1 + sigma2) p_j] - eta p_j = p_j Delta_j
                = -(1 + sigma2) p_j (p_j - p*_-)(p_j - p*_+).
    """
    return p * delta(p, tau, sigma2, eta)


def collapse_threshold(tau, sigma2):
    """Largest weight decay with non-trivial fixed points: eta_c = tau^2 / (4 (1 + sigma2)).

    For eta > eta_c the only fixed point of Eq. 16 is p = 0: every mode collapses (Obs. #5).
    """
    return tau**2 / (4 * (1 + sigma2))


def fixed_points(tau, sigma2, eta):
    """Non-zero fixed points of Eq. 16,

        p*_(+/-) = [tau +/- sqrt(tau^2 - 4 eta (1+sigma2))] / (2(1+sigma2)).

    Returns ``(p_minus, p_plus)``; both NaN where eta > :func:`collapse_threshold` (only p = 0).
    p*_- is unstable (the boundary of the collapse basin), p*_+ is stable; p = 0 is stable for
    eta > 0 and a saddle-node for eta = 0 (then p*_- = 0, p*_+ = tau/(1+sigma2)).
    """
    disc = tau**2 - 4 * eta * (1 + sigma2)
    if type(disc).__module__.startswith("sympy"):
        root = sqrt(disc)
    else:
        ok = disc >= 0
        root = where(ok, sqrt(where(ok, disc, 0 * disc)), np.nan + 0 * disc)
    return (tau - root) / (2 * (1 + sigma2)), (tau + root) / (2 * (1 + sigma2))


def parabola_end_state(p0, tau, sigma2, eta):
    """Final p_j of the 1-D flow (Eq. 16) at fixed tau from p_j(0) = p0, for eta > 0.

    p0 > p*_- flows to p*_+, p0 < p*_- (including all p0 <= 0) flows to 0 (collapse); above the
    threshold eta_c every p0 collapses. Exactly at p0 = p*_- the point stays (returned as p*_-).
    """
    pm, pp = fixed_points(tau, sigma2, eta)
    above = p0 > pm  # False where pm is NaN (eta above the threshold)
    end = where(above, pp, 0 * p0)
    return where(p0 == pm, pm, end)


def eta0_final_s(p0, s0, tau, sigma2, alpha_p):
    """s_j(infinity) for eta = 0 on the non-collapsed branch p_j -> tau/(1+sigma2) (Obs. #2).

    From Eq. 14 with eta = 0, s_j(inf) = s_j(0) + (p_j(inf)^2 - p_j(0)^2) / alpha_p: a larger
    alpha_p gives a smaller growth of s_j. Valid for trajectories that do not collapse, e.g.
    those starting above the parabola, s_j(0) > p_j(0)^2/alpha_p.
    """
    return s0 + ((tau / (1 + sigma2)) ** 2 - p0**2) / alpha_p


def tau_ema(t, p, beta, tau0=0.0):
    """Eq. 15: EMA ratio tau(t) along a sampled trajectory p_j(t) on the invariant parabola.

    From dtau/dt = beta (1 - tau) - tau (dp_j/dt)/p_j (Eq. 13 with s_j = p_j^2/alpha_p),
    d/dt[tau p e^{beta t}] = beta p e^{beta t}, hence

        tau(t) = [tau0 p(0) + beta int_0^t p(t') e^{beta t'} dt'] e^{-beta t} / p(t),

    which is the paper's Eq. 15 for tau0 = 0 (Wa(0) = 0). The convolution
    I(t) = int_0^t p(t') e^{-beta (t - t')} dt' is accumulated sample by sample,
    I(t_{k+1}) = I(t_k) e^{-beta dt} + (dt/2) (p_k e^{-beta dt} + p_{k+1}) (the trapezoid rule),
    so no exponential of beta t is ever formed (no overflow for large beta t); accuracy follows
    the sampling density of ``t`` (axis 0 of ``p``).
    """
    t = np.asarray(t, dtype=float)
    p = np.asarray(p, dtype=float)
    conv = np.zeros_like(p)
    for k in range(1, t.size):
        decay = np.exp(-beta * (t[k] - t[k - 1]))
        conv[k] = conv[k - 1] * decay + 0.5 * (t[k] - t[k - 1]) * (p[k - 1] * decay + p[k])
    tt = t.reshape((-1,) + (1,) * (p.ndim - 1))
    return (tau0 * p[0] * np.exp(-beta * (tt - t[0])) + beta * conv) / p


def k_eigenvalue(p, s, tau, alpha_p, eta, sigma2):
    """Eigenvalue of Theorem 3's K on mode j: alpha_p (1+sigma2) s_j / 2 - Delta_j + eta / 2.

    K = (1+sigma2)[(alpha_p/2) F + Wp^2 - tau/(1+sigma2) Wp] + (3/2) eta I evaluated in the
    common eigenbasis of F and Wp. Alignment is stable on mode j when this is positive.
    """
    return alpha_p * (1 + sigma2) * s / 2 - delta(p, tau, sigma2, eta) + eta / 2


def eq17_alignment_stable(p, s, tau, alpha_p, eta, sigma2):
    """Eq. 17: Delta_j < [alpha_p (1 + sigma2) s_j + eta] / 2, i.e. K's mode-j eigenvalue > 0."""
    return delta(p, tau, sigma2, eta) < (alpha_p * (1 + sigma2) * s + eta) / 2

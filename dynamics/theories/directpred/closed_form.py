"""Closed-form results for the decoupled eigenmode dynamics (Tian, Chen & Ganguli 2021, Sec. 3).

Every function is element-wise and accepts floats, numpy arrays, torch tensors or sympy symbols.
(Two exceptions: :func:`tau_ema` works on numpy along the time axis 0, and
:func:`parabola_end_state` on floats, numpy arrays or torch tensors, not sympy.)

Conventions: ``p`` = eigenvalue p_j of the predictor Wp, ``s`` = eigenvalue s_j of F = W X W^T,
``tau`` = Wa/W ratio, ``alpha_p`` = relative predictor rate, ``eta`` = weight decay,
``sigma2`` = augmentation variance, ``beta`` = EMA rate.
"""

from __future__ import annotations

import numpy as np

from dynamics._backend import sqrt, where
from dynamics.theories.directpred.mode_equations import delta, invariant_c, parabola_s  # noqa: F401 - Eq. 14 lives with the mode equations


def parabola_flow(p, tau, sigma2, eta):
    """Eq. 16: the 1-D flow on the invariant parabola (c_j = 0),

        dp_j/dt = p_j^2 [tau - (1 + sigma2) p_j] - eta p_j = p_j Delta_j
                = -(1 + sigma2) p_j (p_j - p*_-)(p_j - p*_+).

    Args:
        p: predictor eigenvalue p_j (float, array, tensor or sympy expression).
        tau: Wa/W ratio tau (held fixed in Eq. 16); broadcasts with ``p``.
        sigma2: augmentation variance sigma2 >= 0.
        eta: weight decay eta >= 0.

    Returns:
        dp_j/dt on the parabola, same type and broadcast shape as the inputs.

    Example:
        >>> parabola_flow(0.5, 1.0, 0.0, 0.0)
        0.125
    """
    return p * delta(p, tau, sigma2, eta)


def collapse_threshold(tau, sigma2):
    """Largest weight decay with non-trivial fixed points: eta_c = tau^2 / (4 (1 + sigma2)).

    For eta > eta_c the only fixed point of Eq. 16 is p = 0: every mode collapses (Obs. #5).

    Args:
        tau: Wa/W ratio tau (float, array, tensor or sympy expression).
        sigma2: augmentation variance sigma2 >= 0; broadcasts with ``tau``.

    Returns:
        eta_c, same type and broadcast shape as the inputs.

    Example:
        >>> collapse_threshold(1.0, 0.0)
        0.25
    """
    return tau**2 / (4 * (1 + sigma2))


def fixed_points(tau, sigma2, eta):
    """Non-zero fixed points of Eq. 16,

        p*_(+/-) = [tau +/- sqrt(tau^2 - 4 eta (1+sigma2))] / (2(1+sigma2)).

    Returns ``(p_minus, p_plus)``; both NaN where eta > :func:`collapse_threshold` (only p = 0).
    p*_- is unstable (the boundary of the collapse basin), p*_+ is stable; p = 0 is stable for
    eta > 0 and a saddle-node for eta = 0 (then p*_- = 0, p*_+ = tau/(1+sigma2)).

    Args:
        tau: Wa/W ratio tau (float, numpy array, torch tensor or sympy expression).
        sigma2: augmentation variance sigma2 >= 0; broadcasts with the others.
        eta: weight decay eta >= 0.

    Returns:
        Tuple ``(p_minus, p_plus)`` of the broadcast shape (numpy for float/array inputs, torch
        for tensors; sympy expressions, with no NaN masking, when the discriminant is symbolic).

    Example:
        >>> pm, pp = fixed_points(1.0, 0.0, 0.16)
        >>> float(pm), float(pp)
        (0.2, 0.8)
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

    Args:
        p0: initial predictor eigenvalue p_j(0) (float, numpy array or torch tensor).
        tau: fixed Wa/W ratio tau; broadcasts with ``p0``.
        sigma2: augmentation variance sigma2 >= 0.
        eta: weight decay eta > 0 (eta = 0 also runs: then p*_- = 0).

    Returns:
        p_j(infinity): p*_+, 0 or p*_-, a numpy array (0-d for scalar inputs) or a torch tensor.

    Example:
        >>> parabola_end_state(np.array([0.1, 0.5]), 1.0, 0.0, 0.16)
        array([0. , 0.8])
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

    Args:
        p0: initial predictor eigenvalue p_j(0).
        s0: initial F eigenvalue s_j(0) >= 0.
        tau: fixed Wa/W ratio tau.
        sigma2: augmentation variance sigma2 >= 0.
        alpha_p: relative predictor rate alpha_p > 0.

    Returns:
        s_j(infinity), same type and broadcast shape as the inputs (a value <= 0 means the
        non-collapsed branch is not reached).

    Example:
        >>> eta0_final_s(0.5, 0.5, 1.0, 0.0, 1.0)
        1.25
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

    Args:
        t: sample times, shape ``(T,)``, increasing.
        p: p_j(t) at those times, shape ``(T,)`` or ``(T, *batch)``; must be non-zero.
        beta: EMA rate beta >= 0 (scalar).
        tau0: tau(0) (default 0, Wa(0) = 0).

    Returns:
        numpy array tau(t) of the shape of ``p``.

    Example:
        >>> t = np.linspace(0.0, 2.0, 201)
        >>> round(float(tau_ema(t, 0.8 * np.ones(201), 1.0)[-1]), 4)  # 1 - e^{-2} for const p
        0.8647
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

    Args:
        p: predictor eigenvalue p_j.
        s: F eigenvalue s_j.
        tau: Wa/W ratio tau.
        alpha_p: relative predictor rate alpha_p > 0.
        eta: weight decay eta >= 0.
        sigma2: augmentation variance sigma2 >= 0.

    Returns:
        The eigenvalue, same type and broadcast shape as the inputs (floats, arrays, tensors or
        sympy expressions).

    Example:
        >>> k_eigenvalue(1.0, 1.0, 1.0, 1.0, 0.0, 0.0)  # the eta = 0 fixed point p = s = 1
        0.5
    """
    return alpha_p * (1 + sigma2) * s / 2 - delta(p, tau, sigma2, eta) + eta / 2


def eq17_alignment_stable(p, s, tau, alpha_p, eta, sigma2):
    """Eq. 17: Delta_j < [alpha_p (1 + sigma2) s_j + eta] / 2, i.e. K's mode-j eigenvalue > 0.

    Args:
        p: predictor eigenvalue p_j.
        s: F eigenvalue s_j.
        tau: Wa/W ratio tau.
        alpha_p: relative predictor rate alpha_p > 0.
        eta: weight decay eta >= 0.
        sigma2: augmentation variance sigma2 >= 0.

    Returns:
        bool, or a boolean array / tensor of the broadcast shape (a sympy relation for symbols).

    Example:
        >>> eq17_alignment_stable(1.0, 1.0, 1.0, 1.0, 0.0, 0.0)
        True
    """
    return delta(p, tau, sigma2, eta) < (alpha_p * (1 + sigma2) * s + eta) / 2

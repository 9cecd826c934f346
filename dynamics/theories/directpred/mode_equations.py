"""The decoupled eigenmode equations of the linear BYOL/SimSiam model (Tian, Chen & Ganguli,
ICML 2021, Sec. 3), written once: Delta_j (Eq. 16's factor), the right-hand sides dp_j/dt,
ds_j/dt, dtau_j/dt (Eqs. 11-13) and the Eq. 14 invariant with its parabola. They are plain
arithmetic, so they evaluate on floats, numpy arrays, torch tensors (CPU or CUDA) and sympy
symbols alike; every solver (:mod:`~dynamics.theories.directpred.modes`), closed form
(:mod:`~dynamics.theories.directpred.closed_form`), trajectory
(:mod:`~dynamics.theories.directpred.mode_trajectory`), figure and test uses these.

Arguments use the paper's names (p = p_j, s = s_j >= 0, tau, alpha_p > 0, eta >= 0,
sigma2 >= 0, beta > 0) and broadcast together; results have their broadcast shape and type.
"""

from __future__ import annotations

from dynamics._backend import exp


def delta(p, tau, sigma2, eta):
    """Growth rate Delta_j = p_j [tau - (1 + sigma2) p_j] - eta (Sec. 3.3, above Eq. 17).

    On the invariant parabola dp_j/dt = p_j Delta_j (Eq. 16), and everywhere
    ds_j/dt = 2 s_j Delta_j (Eq. 12).

    Args:
        p: predictor eigenvalue p_j (float, array, tensor or sympy expression).
        tau: Wa/W ratio tau.
        sigma2: augmentation variance sigma2 >= 0.
        eta: weight decay eta >= 0; all arguments broadcast together.

    Returns:
        Delta_j, same type and broadcast shape as the inputs.

    Example:
        >>> delta(0.5, 1.0, 0.0, 0.0)
        0.25
    """
    return p * (tau - (1 + sigma2) * p) - eta


def dp_dt(p, s, tau, alpha_p, eta, sigma2):
    """Eq. 11: dp_j/dt = alpha_p s_j [tau - (1 + sigma2) p_j] - eta p_j.

    Args:
        p, s, tau, alpha_p, eta, sigma2: p_j, s_j >= 0, tau, alpha_p > 0, eta >= 0 and
            sigma2 >= 0 (floats, arrays, tensors or sympy expressions, broadcast together).

    Returns:
        dp_j/dt, same type and broadcast shape as the inputs.

    Example:
        >>> dp_dt(0.5, 0.25, 1.0, 1.0, 0.0, 0.0)
        0.125
    """
    return alpha_p * s * (tau - (1 + sigma2) * p) - eta * p


def ds_dt(p, s, tau, eta, sigma2):
    """Eq. 12: ds_j/dt = 2 p_j s_j [tau - (1 + sigma2) p_j] - 2 eta s_j  (= 2 s_j Delta_j).

    Args:
        p, s, tau, eta, sigma2: p_j, s_j >= 0, tau, eta >= 0 and sigma2 >= 0 (floats, arrays,
            tensors or sympy expressions, broadcast together).

    Returns:
        ds_j/dt, same type and broadcast shape as the inputs.

    Example:
        >>> ds_dt(0.5, 0.25, 1.0, 0.0, 0.0)
        0.125
    """
    return 2 * s * delta(p, tau, sigma2, eta)


def dtau_dt(p, tau, beta, eta, sigma2):
    """Eq. 13 divided by s_j: dtau/dt = beta (1 - tau) - tau (ds_j/dt) / (2 s_j).

    Using Eq. 12, (ds_j/dt)/(2 s_j) = Delta_j, so the EMA ratio obeys
    dtau/dt = beta (1 - tau) - tau Delta_j, which stays regular at s_j = 0.

    Args:
        p, tau, beta, eta, sigma2: p_j, tau, the EMA rate beta > 0, eta >= 0 and sigma2 >= 0
            (floats, arrays, tensors or sympy expressions, broadcast together).

    Returns:
        dtau/dt, same type and broadcast shape as the inputs.

    Example:
        >>> dtau_dt(0.5, 0.0, 1.0, 0.0, 0.0)  # tau(0) = 0 (Eq. 15): the target starts to grow
        1.0
    """
    return beta * (1 - tau) - tau * delta(p, tau, sigma2, eta)


def invariant_c(p, s, alpha_p):
    """Eq. 14 constant: c_j = s_j(0) - p_j(0)^2 / alpha_p.

    The paper prints c_j = alpha_p^{-1} p_j^2(0) - s_j(0); that sign is a typo (setting t = 0 in
    Eq. 14 forces the form used here).

    Args:
        p: p_j(0), the predictor eigenvalue at t = 0 (float, array, tensor or sympy expression).
        s: s_j(0) >= 0, the eigenvalue of F at t = 0; broadcasts with ``p``.
        alpha_p: relative predictor rate alpha_p > 0.

    Returns:
        c_j, same type and broadcast shape as the inputs.

    Example:
        >>> invariant_c(0.5, 0.5, 1.0)
        0.25
    """
    return s - p**2 / alpha_p


def parabola_s(p, alpha_p, c=0.0, eta=0.0, t=0.0):
    """Eq. 14: s_j(t) = p_j(t)^2 / alpha_p + c_j e^{-2 eta t}.

    With ``c = 0`` this is the invariant parabola s = p^2/alpha_p that every trajectory
    approaches when eta > 0 (Fig. 3, dashed).

    Args:
        p: p_j(t) (float, array, tensor or sympy expression).
        alpha_p: relative predictor rate alpha_p > 0.
        c: the Eq. 14 constant c_j (:func:`invariant_c`); 0 gives the invariant parabola.
        eta: weight decay eta >= 0.
        t: time t >= 0; all arguments broadcast together.

    Returns:
        s_j(t) on the Eq. 14 curve, same type and broadcast shape as the inputs.

    Example:
        >>> [float(parabola_s(0.5, 1.0, c=c)) for c in (0.0, 0.25)]
        [0.25, 0.5]
    """
    return p**2 / alpha_p + c * exp(-2 * eta * t)

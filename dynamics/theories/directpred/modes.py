"""Decoupled eigenmode dynamics of the linear BYOL/SimSiam model (Tian, Chen & Ganguli 2021).

Under assumptions A1 (Wa = tau W), A2 (X = I, X' = sigma2 I) and A3 (symmetric predictor), and
once F = W W^T and Wp share eigenvectors (Theorem 3), the flow decouples into independent modes
(p_j, s_j, tau_j): eigenvalues of Wp and F, and the target/online ratio. The three right-hand
sides below are Eqs. 11-13 of the paper; they are plain arithmetic, so they evaluate on floats,
numpy arrays, torch tensors (CPU or CUDA) and sympy symbols alike.

:func:`simulate_modes` integrates any batch of modes / initial conditions / hyper-parameters at
once (all inputs broadcast together) with the batched integrator of
:mod:`dynamics.numerics.integrate`. The equations themselves (Eqs. 11-14, 16) are written once in
:mod:`dynamics.theories.directpred.mode_equations`, the result type :class:`ModeTrajectory` is
:mod:`dynamics.theories.directpred.mode_trajectory`; both are imported here.

Equation arguments use the paper's names (p = p_j, s = s_j >= 0, tau, alpha_p > 0, eta >= 0,
sigma2 >= 0, beta > 0) and broadcast together; results have their broadcast shape and type.
"""

from __future__ import annotations

import numpy as np
import torch

from dynamics.errors import ConfigError, check_finite, check_range
from dynamics.numerics.integrate import integrate_batched
from dynamics.theories.directpred.mode_equations import (  # noqa: F401 - re-exported here
    delta,
    dp_dt,
    ds_dt,
    dtau_dt,
    invariant_c,
    parabola_s,
)
from dynamics.theories.directpred.mode_trajectory import (  # noqa: F401 - re-exported here
    ModeTrajectory,
    _to_numpy,
)
from dynamics.theories.directpred.parameters import check_parameters
from dynamics.threads import with_thread_policy


def scalar_rhs(wp, w, wa, alpha_p, beta, lambda_s, lambda_d, eta=0.0):
    """Lemma 1 (Eqs. 2-4) for n1 = n2 = 1, i.e. Appendix D's scalar model (Eqs. 104-106) with
    weight decay: with X = lambda_d and X + X' = lambda_s,

        dwp/dt = alpha_p [wa lambda_d - wp w lambda_s] w - eta wp
        dw/dt  = wp [wa lambda_d - wp w lambda_s] - eta w
        dwa/dt = beta (w - wa)

    Eqs. 11-13 are this system in the coordinates p = wp, s = w^2, tau = wa / w with
    lambda_s = 1 + sigma2, lambda_d = 1. Those coordinates are singular where w crosses 0
    (tau = wa/w passes through infinity, which happens to collapsing modes with p < 0 under
    EMA), so :func:`simulate_modes` integrates the EMA case in (wp, w, wa).

    Args:
        wp, w, wa, alpha_p, beta, lambda_s, lambda_d, eta: as above (floats, arrays or sympy).

    Returns:
        ``(dwp/dt, dw/dt, dwa/dt)``, each of the inputs' broadcast shape.
    """
    G = wa * lambda_d - wp * w * lambda_s
    return alpha_p * G * w - eta * wp, wp * G - eta * w, beta * (w - wa)


def mode_rhs(p, s, tau, *, alpha_p, eta, sigma2, beta=None):
    """(dp/dt, ds/dt, dtau/dt) of Eqs. 11-13; dtau/dt = 0 when ``beta`` is None (tau fixed).

    Args:
        p, s, tau, alpha_p, eta, sigma2, beta: as in the module docstring; beta may be None.

    Returns:
        The three rates, e.g. ``(0.125, 0.125, 0.0)`` at p = 0.5, s = 0.25, tau = alpha_p = 1.
    """
    dtau = 0 * tau if beta is None else dtau_dt(p, tau, beta, eta, sigma2)
    return (
        dp_dt(p, s, tau, alpha_p, eta, sigma2),
        ds_dt(p, s, tau, eta, sigma2),
        dtau,
    )


# --------------------------------------------------------------------------------------------
# Batched simulation


def _rhs_fixed_tau(y: torch.Tensor, aux: dict[str, torch.Tensor]) -> torch.Tensor:
    """State (p, w, tau) with s = w^2 and tau constant (Wa = tau W): Eqs. 11-12."""
    p, w, tau = y[:, 0], y[:, 1], y[:, 2]
    dp, dw, _ = scalar_rhs(p, w, tau * w, alpha_p=aux["alpha_p"], beta=0.0,
                           lambda_s=1 + aux["sigma2"], lambda_d=1.0, eta=aux["eta"])
    return torch.stack((dp, dw, torch.zeros_like(tau)), dim=-1)


def _rhs_ema(y: torch.Tensor, aux: dict[str, torch.Tensor]) -> torch.Tensor:
    """State (p, w, wa) with s = w^2 and tau = wa/w: Eqs. 11-13 in regular coordinates."""
    d = scalar_rhs(y[:, 0], y[:, 1], y[:, 2], alpha_p=aux["alpha_p"], beta=aux["beta"],
                   lambda_s=1 + aux["sigma2"], lambda_d=1.0, eta=aux["eta"])
    return torch.stack(d, dim=-1)


def validate_mode_inputs(*, s0, alpha_p, eta, sigma2, beta, t_end, p0=None,
                         tau0=None, n_save=None, limits: bool = False) -> None:
    """One-line errors for out-of-range mode-simulation inputs (see :class:`ConfigError`):
    s0 >= 0, alpha_p > 0, eta >= 0, sigma2 >= 0, beta > 0 (when given), t_end > 0, all finite;
    p0 and tau0 (when given) finite; n_save (when given) an integer >= 2. ``limits`` adds the
    commands' upper limits; each parameter's contract is in :mod:`.parameters`. The one check of
    these values: :func:`simulate_modes` runs it unless called with ``check=False`` by a
    caller that ran it already. Returns None; raises :class:`ConfigError` on the first bad
    value (``limits=True``: also beyond those upper limits).

    Args:
        s0, alpha_p, eta, sigma2, beta, t_end: the values of :func:`simulate_modes` (beta may
            be None: fixed tau).
        p0, tau0, n_save: checked only when given.
        limits: also apply the commands' upper limits.

    Returns:
        None.

    Raises:
        ConfigError: naming the first value out of range.
    """
    if n_save is not None and (not isinstance(n_save, int) or n_save < 2):
        raise ConfigError("n_save", f"must be an integer >= 2, got {n_save!r}")
    if p0 is not None:
        check_finite("p0", p0)
    check_range("s0", s0, low=0)
    if tau0 is not None:
        check_finite("tau0", tau0)
    values = dict(alpha_p=alpha_p, eta=eta, sigma2=sigma2, beta=beta, t_end=t_end)
    check_parameters(**values)  # every range first, then the commands' limits
    if limits:
        check_parameters(**values, limits=True)


@with_thread_policy
def simulate_modes(
    p0,
    s0,
    *,
    alpha_p=1.0,
    eta=0.0,
    sigma2=0.0,
    tau0=1.0,
    beta=None,
    t_end: float = 100.0,
    n_save: int = 201,
    t_eval=None,
    rtol: float = 1e-8,
    atol: float = 1e-10,
    max_iterations: int = 500_000,
    blowup: float = 1e8,
    device=None,
    check: bool = True,
    max_step: float | None = None,
    compile: str = "auto",
) -> ModeTrajectory:
    """Integrate the decoupled mode dynamics (Eqs. 11-13) for a whole batch at once.

    All of ``p0, s0, alpha_p, eta, sigma2, tau0, beta`` may be scalars or arrays; they are
    broadcast to one batch shape, so one call covers many modes, many initial conditions and
    many hyper-parameter settings (e.g. ``eta[:, None]`` against ``p0[None, :]``).


    Coordinates: the system is integrated in the weights of :func:`scalar_rhs`, (p, w, wa) with
    s = w^2, tau = wa/w, w(0) = sqrt(s0) (wa = tau w for fixed tau). This is the same dynamics as
    Eqs. 11-13 (tested), but regular: s = w^2 can never turn negative through integration error
    (a collapsing s_j decays exponentially towards 0 and, in (p, s), an absolute-tolerance error
    could flip its sign and send it to -infinity), and tau = wa/w, which diverges when a
    collapsing mode's w crosses zero under EMA, is only formed for output.

    Args:
        p0: initial predictor eigenvalues p_j(0), finite.
        s0: initial F eigenvalues s_j(0) >= 0.
        alpha_p: relative predictor rate alpha_p > 0.
        eta: weight decay eta >= 0.
        sigma2: augmentation variance sigma2 >= 0.
        tau0: fixed tau if ``beta`` is None (1: SimSiam, Wa = W), else tau_j(0) (0: Eq. 15).
        beta: EMA rate > 0, tau_j then evolves by Eq. 13; None keeps tau fixed at ``tau0``.
        t_end: final time > 0 (unused when ``t_eval`` is given).
        n_save: number of output times evenly spaced in [0, t_end], an integer >= 2.
        t_eval: output times to use instead (non-empty, increasing, >= 0, last > 0), or None.
        rtol: relative tolerance of the adaptive Dormand-Prince steps.
        atol: absolute tolerance of the adaptive steps.
        max_iterations: most vectorised sweeps of the integrator over the batch.
        blowup: an element stops (status 1, its computed part kept, NaN after) when |p|,
            sqrt(s) or |wa| exceeds it or becomes non-finite.
        device: torch device of the integration (default: that of a tensor input, else "cpu").
        check: False skips :func:`validate_mode_inputs` (for a caller that ran it already).
        max_step: bound on every step (None: the error control alone chooses the steps).
        compile: "auto", "eager" or "fused" (:mod:`dynamics.numerics.dopri5`).

    Returns:
        :class:`ModeTrajectory`; numpy in -> numpy out, any torch tensor in -> torch out on that
        tensor's device; ``meta["path"]`` says which of "eager" / "fused" ran.

    Example:
        >>> tr = simulate_modes([0.5, -0.5], 0.25, eta=0.1, t_end=1.0, n_save=3)
        >>> tr.p.shape, tr.ok, tr.status_text()
        ((3, 2), True, '2 completed')
    """
    inputs = {"p0": p0, "s0": s0, "alpha_p": alpha_p, "eta": eta, "sigma2": sigma2,
              "tau0": tau0}
    if beta is not None:
        inputs["beta"] = beta
    use_torch = any(isinstance(v, torch.Tensor) for v in inputs.values())
    if device is None:
        device = next((v.device for v in inputs.values() if isinstance(v, torch.Tensor)), "cpu")
    if t_eval is None:
        if check:
            validate_mode_inputs(s0=s0, alpha_p=alpha_p, eta=eta, sigma2=sigma2, beta=beta,
                                 t_end=t_end, p0=p0, tau0=tau0, n_save=n_save)
        t_eval_t = torch.linspace(0.0, float(t_end), n_save, dtype=torch.float64, device=device)
    else:
        t_eval_t = torch.as_tensor(np.asarray(_to_numpy(t_eval), dtype=float),
                                   dtype=torch.float64, device=device)
        if t_eval_t.ndim != 1 or t_eval_t.numel() < 1 or bool((t_eval_t < 0).any()) or bool(
            (t_eval_t[1:] < t_eval_t[:-1]).any()) or float(t_eval_t[-1]) <= 0:
            raise ConfigError("t_eval", "must be a non-empty increasing 1-D array in [0, inf) "
                                        "ending after 0")
        if check:
            validate_mode_inputs(s0=s0, alpha_p=alpha_p, eta=eta, sigma2=sigma2, beta=beta,
                                 t_end=float(t_eval_t[-1]), p0=p0, tau0=tau0)
    tensors = {k: torch.as_tensor(_to_numpy(v) if not isinstance(v, torch.Tensor) else v,
                                  dtype=torch.float64).to(device)
               for k, v in inputs.items()}
    bshape = torch.broadcast_shapes(*(v.shape for v in tensors.values()))
    flat = {k: v.broadcast_to(bshape).reshape(-1) for k, v in tensors.items()}
    aux = {k: flat[k] for k in ("alpha_p", "eta", "sigma2") + (("beta",) if beta is not None
                                                              else ())}
    w0 = torch.sqrt(flat["s0"])
    if beta is None:
        y0 = torch.stack((flat["p0"], w0, flat["tau0"]), dim=-1)
        sol = integrate_batched(_rhs_fixed_tau, y0, t_eval_t, aux, rtol=rtol, atol=atol,
                                max_iterations=max_iterations, blowup=blowup,
                                max_step=max_step, compile=compile)
        p_t, w_t, tau_t = sol.y[..., 0], sol.y[..., 1], sol.y[..., 2]
        s_t = w_t * w_t
    else:
        y0 = torch.stack((flat["p0"], w0, flat["tau0"] * w0), dim=-1)
        sol = integrate_batched(_rhs_ema, y0, t_eval_t, aux, rtol=rtol, atol=atol,
                                max_iterations=max_iterations, blowup=blowup,
                                max_step=max_step, compile=compile)
        p_t, w_t, wa_t = sol.y[..., 0], sol.y[..., 1], sol.y[..., 2]
        s_t = w_t * w_t
        # tau = wa / w; at w = 0 exactly (s_j(0) = 0) keep the initial tau0 convention.
        tau_t = torch.where(w_t != 0, wa_t / torch.where(w_t != 0, w_t, torch.ones_like(w_t)),
                            flat["tau0"].expand_as(w_t))
    shape_t = (t_eval_t.shape[0],) + tuple(bshape)
    conv = (lambda x: x) if use_torch else (lambda x: x.cpu().numpy())
    params = {k: conv(tensors[k].broadcast_to(bshape)) for k in ("alpha_p", "eta", "sigma2")}
    return ModeTrajectory(
        t=conv(t_eval_t),
        p=conv(p_t.reshape(shape_t)),
        s=conv(s_t.reshape(shape_t)),
        tau=conv(tau_t.reshape(shape_t)),
        beta=None if beta is None else conv(tensors["beta"].broadcast_to(bshape)),
        status=conv(sol.status.reshape(tuple(bshape))),
        n_steps=conv(sol.n_steps.reshape(tuple(bshape))),
        meta={"rtol": rtol, "atol": atol, "n_iterations": sol.n_iterations, "path": sol.path},
        **params,
    )

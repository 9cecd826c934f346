"""Collapse of decoupled eigenmodes (Eqs. 11-13; Tian, Chen & Ganguli, ICML 2021, Sec. 3.2-3.3):
the simulation criterion and horizon, what the theory guarantees without integrating, and the
batched integration to final states shared by the basin maps
(:mod:`dynamics.theories.directpred.phase.basin`) and the hyper-parameter diagrams
(:mod:`dynamics.theories.directpred.phase.diagram`).

* :func:`predict_collapse` — what the theory *guarantees* about the fate of a mode, from
  rigorous invariant regions (see below), without integrating;
* :func:`default_t_end` — the automatic integration horizon;
* :func:`final_states` — final (p, s, tau) of batched ``simulate_modes`` calls of up to
  :data:`CHUNK` trajectories, with a ``progress`` callback; :func:`settled_mask`;
* :func:`atomic_save` — how the diagrams are written.

Collapse criterion (simulation)
-------------------------------
A mode is *collapsed* when its final ``s_j < s_tol`` (default ``S_TOL = 1e-6``); ``s_j`` is the
eigenvalue of F = W X W^T, so this is literally "the mode carries no variance". Near the collapsed
fixed point (0, 0) the linearisation of Eqs. 11-12 has eigenvalues -eta and -2 eta, so for
eta > 0 a collapsing s_j decays like e^{-2 eta t} (after a transient that can pump p_j up to
O(alpha_p tau s_0 / eta)). The automatic horizon :func:`default_t_end` is therefore

    t_end = 200 + 2 ln(max(s_ref, 1) / s_tol) / (2 eta_min)   (capped at 20000),

i.e. twice the time e^{-2 eta t} needs to shrink s_ref to s_tol, plus 200 time units for the O(1)
transients; plus 10/beta_min in the EMA case (tau relaxes on the 1/beta time scale). For eta = 0
there is no uniform rate (a mode below the parabola collapses at rate 2|Delta_j(p_inf)|, which
vanishes as c_j -> 0-; exactly on the parabola with p_j < 0 the decay is algebraic), and
``t_end = 2000`` is used. Every result also carries a ``settled`` mask: True where the final
state is collapsed or within 0.1 % of the non-collapsed attractor p = p*_+(tau_final) (which is
tau/(1+sigma2) for eta = 0). Cells near a basin boundary (the stable manifold of the saddle) may
be unsettled at any finite ``t_end``; pass a larger ``t_end`` if ``settled`` is not all True.

Theory certificates (used by :func:`predict_collapse`)
------------------------------------------------------
Let c = s - p^2/alpha_p. By Eq. 14, c(t) = c(0) e^{-2 eta t} keeps its sign. For fixed tau >= 0 and
0 < eta <= tau^2/(4(1+sigma2)), on the line p = p*_- one has dp/dt < 0 where c < 0 and dp/dt > 0
where c > 0 (Eq. 11 minus p*_- Delta(p*_-) = 0). Hence

* {c <= 0, p < p*_-} is forward invariant and its only attractor is (0, 0): certain collapse;
* {c >= 0, p > p*_-} is forward invariant and its only attractor is (p*_+, p*_+^2/alpha_p):
  certain survival.

The other two quadrants contain the stable manifold of the saddle (its tangent at the saddle has
negative slope, i.e. it runs from {c > 0, p < p*_-} to {c < 0, p > p*_-}) and are undecided.
For eta > tau^2/(4(1+sigma2)) every mode collapses (Obs. 5). For eta = 0 the outcome is exact from
Eq. 14: collapse iff s_inf = s(0) + ((tau/(1+sigma2))^2 - p(0)^2)/alpha_p <= 0 or
(p(0) <= 0 and c <= 0) (``closed_form.eta0_final_s``). s(0) = 0 always stays collapsed.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dynamics.errors import check_choice, check_range
from dynamics.io import save_arrays
from dynamics.numerics.dopri5 import auto_mode
from dynamics.numerics.dopri5_compiled import available as kernel_available
from dynamics.theories.directpred.closed_form import (
    collapse_threshold,
    eta0_final_s,
    fixed_points,
    invariant_c,
)
from dynamics.theories.directpred.modes import simulate_modes, validate_mode_inputs
from dynamics.theories.directpred.phase.axes import _np

S_TOL = 1e-6
"""Default collapse tolerance on the final s_j (eigenvalue of F)."""

SETTLE_RTOL = 1e-3
"""Relative distance to p*_+ below which a non-collapsed mode counts as settled."""

T_END_ETA0 = 2000.0
"""Default horizon when every eta is zero (no uniform collapse rate exists then)."""

T_END_MAX = 20000.0
"""Cap of :func:`default_t_end` (pass ``t_end`` explicitly for eta below about 1e-3)."""


def predict_collapse(p0, s0, *, tau=1.0, alpha_p=1.0, eta=0.0, sigma2=0.0) -> np.ndarray:
    """What the theory guarantees about mode j at fixed tau: 1.0 (collapses, s_j -> 0),
    0.0 (does not) or NaN (not decided without integrating). All inputs broadcast (numpy).

    * s0 = 0: 1 (s = 0 is invariant, Eq. 12).
    * eta > tau^2/(4(1+sigma2)): 1 (Obs. 5).
    * eta = 0: exact, from the integral Eq. 14 (see the module docstring).
    * 0 < eta <= threshold: 1 on {c <= 0, p < p*_-}, 0 on {c >= 0, p > p*_-} (rigorous forward-
      invariant regions, module docstring), NaN elsewhere. On the parabola (c = 0) this is
      :func:`dynamics.theories.directpred.closed_form.parabola_end_state` (NaN exactly at p = p*_-).

    Args:
        p0: initial p_j (float or array).
        s0: initial s_j >= 0.
        tau: fixed tau >= 0.
        alpha_p: relative predictor rate alpha_p > 0.
        eta: weight decay eta >= 0.
        sigma2: augmentation variance sigma2 >= 0.

    Returns:
        float numpy array of the broadcast shape with 1.0, 0.0 or NaN.

    Example:
        >>> predict_collapse([0.5, -0.5, 0.5], [0.5, 0.1, 0.0], eta=0.1)
        array([0., 1., 1.])
        >>> predict_collapse([-0.5, 0.5], [0.5, 0.1], eta=0.1)  # the undecided quadrants
        array([nan, nan])
    """
    p0, s0, tau, alpha_p, eta, sigma2 = np.broadcast_arrays(
        *(np.asarray(v, dtype=float) for v in (p0, s0, tau, alpha_p, eta, sigma2)))
    check_range("tau", tau, low=0)
    check_range("s0", s0, low=0)
    c = invariant_c(p0, s0, alpha_p)
    pm, _ = fixed_points(tau, sigma2, eta)
    out = np.full(p0.shape, np.nan)
    pos = eta > 0
    with np.errstate(invalid="ignore"):
        out = np.where(pos & (c <= 0) & (p0 < pm), 1.0, out)
        out = np.where(pos & (c >= 0) & (p0 > pm), 0.0, out)
    out = np.where(pos & (eta > collapse_threshold(tau, sigma2)), 1.0, out)
    s_inf = eta0_final_s(p0, s0, tau, sigma2, alpha_p)
    eta0_collapse = (s_inf <= 0) | ((p0 <= 0) & (c <= 0))
    out = np.where(~pos, np.where(eta0_collapse, 1.0, 0.0), out)
    return np.where(s0 == 0, 1.0, out)


def default_t_end(eta, *, s_tol: float = S_TOL, s_ref: float = 1.0, beta=None) -> float:
    """Integration horizon long enough for collapsing modes to reach s < s_tol.

    ``t_end = 200 + 2 ln(max(s_ref, 1)/s_tol)/(2 eta_min)`` with eta_min the smallest positive
    eta (collapse decays like e^{-2 eta t}), plus ``10/beta_min`` with EMA, capped at
    :data:`T_END_MAX`; :data:`T_END_ETA0` (2000) when all eta are 0.

    Args:
        eta: weight decay(s), a float or an array (all of a grid's values).
        s_tol: collapse tolerance on s_j (> 0).
        s_ref: the largest s_j expected (initial or at the stable fixed point).
        beta: EMA rate(s), or None for a fixed tau.

    Returns:
        t_end as a float; when some eta are 0 and others positive, at least
        :data:`T_END_ETA0`.

    Example:
        >>> round(default_t_end(0.1), 2), default_t_end([0.0, 0.1]), default_t_end(1e-5)
        (338.16, 2000.0, 20000.0)
    """
    eta = np.asarray(eta, dtype=float)
    pos = eta[eta > 0]
    t = T_END_ETA0
    if pos.size:
        t_pos = 200.0 + 2.0 * math.log(max(float(s_ref), 1.0) / s_tol) / (2.0 * float(pos.min()))
        t = t_pos if pos.size == eta.size else max(t, t_pos)
    if beta is not None:
        t += 10.0 / float(np.min(beta))
    return float(min(t, T_END_MAX))


# --------------------------------------------------------------------------------------------
# Saving (through dynamics.io: temp file in the same folder + os.replace) and batched integration


def atomic_save(arrays: dict[str, Any], meta: dict[str, Any], path) -> Path:
    """Write ``arrays`` and ``meta`` atomically as ``.npz`` or ``.json`` (chosen by suffix) with
    :func:`dynamics.io.save_arrays` (NaN/inf become ``null`` in JSON).

    Args:
        arrays: named numpy arrays.
        meta: JSON-serialisable metadata (parameters).
        path: target file ending in ``.npz`` or ``.json`` (else ConfigError).

    Returns:
        The :class:`~pathlib.Path` written.
    """
    path = Path(path)
    check_choice("path suffix", path.suffix.lower(), (".npz", ".json"))
    return save_arrays(path, arrays, meta)


def param_value(v):
    """A saved parameter as read back: ``None`` for a missing value (None or NaN).

    Args:
        v: the value read from a file.

    Returns:
        None for None or a float NaN, else ``v`` unchanged.
    """
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    return v


def settled_mask(p, s, tau, eta, sigma2, collapsed, s_tol, *, ema: bool = False):
    """True where a final state has settled: within :data:`SETTLE_RTOL` of p*_+(tau), or
    collapsed (s < s_tol) with p below p*_-(tau) (or no real p*_-, eta above the threshold).
    With EMA (``ema``: tau evolves by Eq. 13) every collapsed state counts as settled.

    A small s is not final by itself: ds/dt = 2 s Delta(p) (Eq. 12) with Delta > 0 for
    p*_- < p < p*_+, so a mode with s < s_tol there grows back. Below p*_- (Delta < 0) p drifts
    to 0 without crossing p*_- (dp/dt = -eta p + O(s)), so s keeps decaying.

    Args:
        p: final p_j (array).
        s: final s_j (array).
        tau: final tau (fixed tau, or the final EMA ratio).
        eta: weight decay eta >= 0.
        sigma2: augmentation variance sigma2 >= 0.
        collapsed: boolean array, ``s < s_tol``.
        s_tol: the collapse tolerance.
        ema: True when tau evolved by Eq. 13.

    Returns:
        Boolean numpy array of the broadcast shape.

    Example:
        >>> settled_mask(np.array([0.8, 0.05, 0.5]), np.array([0.64, 1e-9, 1e-9]), 1.0, 0.16,
        ...              0.0, np.array([False, True, True]), 1e-6)
        array([ True,  True, False])
    """
    with np.errstate(invalid="ignore"):
        p_minus, p_target = fixed_points(tau, sigma2, eta)
        near = np.abs(p - p_target) <= SETTLE_RTOL * np.abs(p_target)
        stays = ema | np.isnan(p_minus) | (p < p_minus)
        return (collapsed & stays) | (near & (s >= s_tol))


def _final_state(traj):
    """Last finite state of every element (equals the state at t_end where status is 0)."""
    last = traj.last_valid()
    return last["p"], last["s"], last["tau"]


#: Trajectories of work from which :func:`final_states` on the CPU runs the compiled
#: per-trajectory kernel (:mod:`dynamics.theories.directpred.mode_kernel`, numba) instead of
#: the batched torch integrator: it integrates about as fast as the fused torch iteration and
#: 3x faster than the eager one, but compiling costs about 2 s per process
#: (``benchmarks/bench_basin.py`` measures both paths).
KERNEL_MIN_TOTAL = 200_000


def kernel_path(total: int) -> bool:
    """Whether :func:`final_states` uses the compiled kernel for ``total`` CPU trajectories:
    numba available (:func:`dynamics.numerics.dopri5_compiled.available`), ``total`` at least
    :data:`KERNEL_MIN_TOTAL` and compilation not switched off (``SSL_DYNAMICS_COMPILE=0``)."""
    switched_off = os.environ.get("SSL_DYNAMICS_COMPILE", "1") == "0"
    return total >= KERNEL_MIN_TOTAL and not switched_off and kernel_available()


CHUNK = 1 << 16
"""Trajectories per ``simulate_modes`` call in :func:`final_states` (so in
:func:`~dynamics.theories.directpred.phase.basin.basin_grid` and
:func:`~dynamics.theories.directpred.phase.diagram.hyperparameter_diagram`): bounds the integrator's
working memory and sets how often ``progress`` is called (each element keeps its own step control,
so chunking does not change the result)."""


def _torch_part(chunk: dict, *, t_end, rtol, atol, device, mode) -> tuple:
    """Final (p, s, tau, status) of one chunk through :func:`simulate_modes`."""
    chunk = dict(chunk)
    p0, s0, beta = chunk.pop("p0"), chunk.pop("s0"), chunk.pop("beta", None)
    if device is not None:
        p0, s0 = (torch.as_tensor(a, dtype=torch.float64, device=device) for a in (p0, s0))
    traj = simulate_modes(p0, s0, **chunk, beta=beta, t_end=t_end, n_save=2, rtol=rtol,
                          atol=atol, compile=mode).to_numpy()
    return (*_final_state(traj), _np(traj.status))


def _kernel_part(chunk: dict, *, t_end, rtol, atol, device, mode) -> tuple:
    """Final (p, s, tau, status) of one chunk through the compiled kernel (inputs checked by
    the caller), on the policy's thread count."""
    from dynamics.theories.directpred.mode_kernel import final_mode_states

    size = np.broadcast_shapes(*(a.shape for a in chunk.values()))
    arr = {k: np.broadcast_to(a, size).reshape(-1) for k, a in chunk.items()}
    p, s, tau, status, _ = final_mode_states(
        arr["p0"], arr["s0"], arr["alpha_p"], arr["eta"], arr["sigma2"], arr["tau0"],
        arr.get("beta"), t_end=t_end, rtol=rtol, atol=atol, threads=torch.get_num_threads())
    return p, s, tau, status


def final_states(inputs: dict[str, Any], *, t_end, rtol, atol, device, progress):
    """Final (p, s, tau) and status of :func:`simulate_modes` over the broadcast shape of
    ``inputs`` (p0, s0, alpha_p, eta, sigma2, tau0, beta; None = absent), :data:`CHUNK`
    trajectories at a time, all chunks eager or all fused by the total
    (:func:`dynamics.numerics.dopri5.auto_mode`). ``progress(done, total)`` is called before the
    first chunk and after every chunk.

    Args:
        inputs: the keywords above; arrays broadcast together (beta None: fixed tau = tau0).
        t_end: horizon of every trajectory.
        rtol: relative tolerance of the integrator.
        atol: absolute tolerance of the integrator.
        device: torch device for the integration, or None (numpy on the CPU).
        progress: callback ``progress(done, total)``, or None.

    Returns:
        ``(p, s, tau, status)``: numpy arrays of the broadcast shape (the last finite state
        of each trajectory, and its integrator status).

    Example:
        >>> p, s, tau, status = final_states(
        ...     {"p0": np.array([0.5, -0.5]), "s0": 0.5, "alpha_p": 1.0, "eta": 0.1, "sigma2": 0.0,
        ...      "tau0": 1.0, "beta": None}, t_end=20.0, rtol=1e-8, atol=1e-10, device=None,
        ...     progress=None)
        >>> np.round(p, 3), status
        (array([0.888, 0.888]), array([0, 0]))
    """
    given = {k: _np(v).astype(float) for k, v in inputs.items() if v is not None}
    shape = np.broadcast_shapes(*(a.shape for a in given.values()))
    total = math.prod(shape)
    mode = auto_mode(total)
    if progress is not None:
        progress(0, total)
    if total <= CHUNK:
        chunks = [given]
    else:
        flat = {k: np.broadcast_to(a, shape).reshape(-1) for k, a in given.items()}
        chunks = ({k: a[i:i + CHUNK].copy() for k, a in flat.items()}
                  for i in range(0, total, CHUNK))
    part = _torch_part
    if device is None and kernel_path(total):
        validate_mode_inputs(s0=given["s0"], alpha_p=given["alpha_p"], eta=given["eta"],
                             sigma2=given["sigma2"], beta=given.get("beta"), t_end=t_end,
                             p0=given["p0"], tau0=given["tau0"])
        part = _kernel_part
    parts, done = [], 0
    for chunk in chunks:
        parts.append(part(chunk, t_end=t_end, rtol=rtol, atol=atol, device=device, mode=mode))
        done += int(np.size(parts[-1][3]))
        if progress is not None:
            progress(done, total)
    if len(parts) == 1:
        return tuple(np.asarray(a).reshape(shape) for a in parts[0])
    return tuple(np.concatenate([part[i] for part in parts]).reshape(shape) for i in range(4))

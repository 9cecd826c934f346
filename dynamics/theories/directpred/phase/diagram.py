"""Hyper-parameter phase diagrams of the decoupled eigenmode dynamics (data only, no plots):
the fraction of a set of modes that collapse under Eqs. 11-13 over a 2-D grid of any two of
``eta, alpha_p, beta, sigma2, tau`` (Tian, Chen & Ganguli, ICML 2021, Sec. 3.3, Fig. 5-like
sweeps), from batched ``simulate_modes`` calls
(:func:`dynamics.theories.directpred.phase.mode_collapse.final_states`), with the theory's rigorous
bounds (:func:`dynamics.theories.directpred.phase.mode_collapse.predict_collapse`). The axes are
checked by :mod:`dynamics.theories.directpred.phase.axes`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dynamics.errors import ConfigError, check_range
from dynamics.io import load_arrays
from dynamics.theories.directpred.closed_form import fixed_points
from dynamics.theories.directpred.phase.axes import _DEFAULTS, _diagram_axes, _diagram_grid, _np
from dynamics.theories.directpred.phase.mode_collapse import (
    S_TOL,
    atomic_save,
    default_t_end,
    final_states,
    param_value,
    predict_collapse,
    settled_mask,
)
from dynamics.threads import with_thread_policy


@dataclass
class PhaseDiagram:
    """Fraction of collapsed modes over a 2-D hyper-parameter grid (Fig. 5-like sweeps).

    ``x_name``/``x_values`` (nx,) label columns, ``y_name``/``y_values`` (ny,) rows. Per cell
    (shape ``(ny, nx)``): ``fraction_collapsed``, ``mean_final_s`` (over modes, last finite
    state), ``fraction_settled``, and the theory: ``predicted_fraction`` (NaN where any mode is
    undecided, see :func:`predict_collapse`) with the rigorous bounds ``predicted_lower`` (share
    of modes certain to collapse) and ``predicted_upper`` (1 - share certain to survive). In the
    EMA case (beta set) only s0 = 0 is certain. Per mode (shape ``(ny, nx, n_modes)``):
    ``p_final``, ``s_final``, ``collapsed``, ``status``. ``fixed`` holds the other parameters,
    ``p0``/``s0`` the initial modes.

    Attributes:
        p0: initial p_j of the modes, shape (n_modes,) (s0 likewise).
        t_end: the horizon every trajectory was integrated to.
        s_tol: the collapse tolerance on the final s_j.

    Example:
        >>> pdg = hyperparameter_diagram(("eta", [0.1, 0.3]), ("sigma2", [0.0]), p0=[0.5, 0.8],
        ...                              s0=0.5)
        >>> pdg.fraction_collapsed, pdg.predicted_fraction
        (array([[0., 1.]]), array([[nan,  1.]]))
    """

    x_name: str
    x_values: np.ndarray
    y_name: str
    y_values: np.ndarray
    fraction_collapsed: np.ndarray
    mean_final_s: np.ndarray
    fraction_settled: np.ndarray
    predicted_fraction: np.ndarray
    predicted_lower: np.ndarray
    predicted_upper: np.ndarray
    p_final: np.ndarray
    s_final: np.ndarray
    collapsed: np.ndarray
    status: np.ndarray
    p0: np.ndarray
    s0: np.ndarray
    fixed: dict[str, Any] = field(default_factory=dict)
    t_end: float = math.nan
    s_tol: float = S_TOL

    _ARRAYS = ("x_values", "y_values", "fraction_collapsed", "mean_final_s", "fraction_settled",
               "predicted_fraction", "predicted_lower", "predicted_upper", "p_final", "s_final",
               "collapsed", "status", "p0", "s0")

    def _meta(self) -> dict[str, Any]:
        return {"x_name": self.x_name, "y_name": self.y_name, "t_end": self.t_end,
                "s_tol": self.s_tol, "fixed": dict(self.fixed)}

    def to_dict(self) -> dict[str, Any]:
        """Arrays by name plus names, ``t_end``, ``s_tol`` and ``fixed`` (a dict).

        Returns:
            dict with x_name, y_name, t_end, s_tol, fixed (a copy) and every array field.
        """
        out = self._meta()
        out.update({k: getattr(self, k) for k in self._ARRAYS})
        return out

    def save(self, path) -> Path:
        """Atomic ``.npz`` or ``.json`` (by suffix); read back with :meth:`load`.

        Args:
            path: file path (str or Path) ending in ``.npz`` or ``.json`` (else ConfigError).

        Returns:
            The :class:`~pathlib.Path` written.
        """
        return atomic_save({k: getattr(self, k) for k in self._ARRAYS}, self._meta(), path)

    @classmethod
    def load(cls, path) -> PhaseDiagram:
        """Read a diagram written by :meth:`save`.

        Args:
            path: the ``.npz`` or ``.json`` file.

        Returns:
            :class:`PhaseDiagram` (fixed values saved as None or NaN read back as None).
        """
        arrays, meta = load_arrays(path)
        arrays = {k: np.asarray(arrays[k]) for k in cls._ARRAYS}
        arrays["collapsed"] = arrays["collapsed"].astype(bool)
        arrays["status"] = arrays["status"].astype(np.int64)
        fixed = {k: param_value(v) for k, v in meta["fixed"].items()}
        return cls(x_name=meta["x_name"], y_name=meta["y_name"], fixed=fixed,
                   t_end=float(meta["t_end"]), s_tol=float(meta["s_tol"]), **arrays)


@with_thread_policy
def hyperparameter_diagram(
    x: tuple[str, Any],
    y: tuple[str, Any],
    *,
    p0,
    s0,
    fixed: dict[str, Any] | None = None,
    t_end: float | None = None,
    s_tol: float = S_TOL,
    rtol: float = 1e-8,
    atol: float = 1e-10,
    device=None,
    progress: Callable[[int, int], object] | None = None,
) -> PhaseDiagram:
    """Fraction of a set of modes that collapse, over a grid of two hyper-parameters.

    ``x = ("eta", values)``, ``y = ("tau", values)``: names from
    :data:`~dynamics.theories.directpred.phase.axes.AXIS_NAMES` (``eta, alpha_p, beta, sigma2,
    tau``); x labels columns, y rows. ``p0``, ``s0`` (same length n_modes, or broadcastable to it)
    are the initial eigenvalues of Wp and F of the modes (e.g. small random values as in Fig. 5).
    ``fixed`` sets the other parameters (defaults tau = 1, alpha_p = 1, eta = 0, sigma2 = 0, no
    EMA).

    If ``beta`` is on an axis or in ``fixed`` the target is an EMA: tau_j evolves by Eq. 13
    from ``fixed["tau0"]`` (default 0, Wa(0) = 0) and ``tau`` may not be given. Otherwise tau is
    held at its value (``tau0`` may not be given).

    All ``ny * nx * n_modes`` trajectories of the broadcast shape ``(ny, nx, n_modes)`` run in
    batched ``simulate_modes`` calls of
    :data:`~dynamics.theories.directpred.phase.mode_collapse.CHUNK` trajectories (``progress(done,
    total)`` after each). Collapse: final s < ``s_tol``; ``t_end`` defaults to :func:`default_t_end`
    over the grid's eta and beta.

    Args:
        x: ``(name, values)`` of the columns, values 1-D (nx,).
        y: ``(name, values)`` of the rows, values 1-D (ny,); a name other than x's.
        p0: initial p_j of the modes, 1-D (n_modes,).
        s0: initial s_j >= 0 of the modes, broadcastable with ``p0``.
        fixed: scalar values of other names of ``AXIS_NAMES`` or ``"tau0"``, or None.
        t_end: horizon, or None for the default above.
        s_tol: collapse tolerance > 0 on the final s_j.
        rtol: relative tolerance of the integrator.
        atol: absolute tolerance of the integrator.
        device: torch device of the integration (e.g. "cuda"), or None for the CPU.
        progress: callback ``progress(done, total)``, or None.

    Returns:
        :class:`PhaseDiagram` with (ny, nx) fractions and (ny, nx, n_modes) per-mode arrays.

    Example:
        >>> pdg = hyperparameter_diagram(("eta", [0.1, 0.3]), ("sigma2", [0.0]), p0=[0.5, 0.8],
        ...                              s0=0.5)
        >>> pdg.p_final.shape, pdg.fixed
        ((1, 2, 2), {'alpha_p': 1.0, 'tau': 1.0})
    """
    fixed = dict(fixed or {})
    xn, xv, yn, yv, ema = _diagram_axes(x, y, fixed)
    p0a, s0a = np.broadcast_arrays(_np(p0).astype(float), _np(s0).astype(float))
    if p0a.ndim != 1 or p0a.size == 0:
        raise ConfigError("p0", f"p0 and s0 must be non-empty 1-D arrays of modes, got shape "
                                f"{p0a.shape}")
    ny, nx, nm = yv.size, xv.size, p0a.size
    grid = _diagram_grid(fixed, xn, xv, yn, yv, ema)
    check_range("s_tol", s_tol, low=0, low_open=True)
    tau0 = grid.get("tau0", np.asarray(0.0)) if ema else grid["tau"]
    beta = grid.get("beta") if ema else None
    if t_end is None:
        tau_ref = 1.0 if ema else float(np.max(grid["tau"]))
        alpha_min = float(np.min(grid["alpha_p"]))
        _, pp = fixed_points(tau_ref, float(np.min(grid["sigma2"])), 0.0)
        s_ref = max(float(np.max(s0a)), float(pp) ** 2 / alpha_min)
        t_end = default_t_end(grid["eta"], s_tol=s_tol, s_ref=s_ref, beta=beta)
    inputs = {"p0": p0a[None, None, :], "s0": s0a[None, None, :], "alpha_p": grid["alpha_p"],
              "eta": grid["eta"], "sigma2": grid["sigma2"], "tau0": tau0, "beta": beta}
    shape = (ny, nx, nm)
    p, s, tau_f, status = (np.broadcast_to(a, shape) for a in final_states(
        inputs, t_end=t_end, rtol=rtol, atol=atol, device=device, progress=progress))
    with np.errstate(invalid="ignore"):
        collapsed = s < s_tol
    eta_b = np.broadcast_to(grid["eta"], shape)
    sigma2_b = np.broadcast_to(grid["sigma2"], shape)
    settled = settled_mask(p, s, tau_f, eta_b, sigma2_b, collapsed, s_tol, ema=ema)
    if ema:
        pred = np.where(np.broadcast_to(s0a[None, None, :], shape) == 0, 1.0, np.nan)
    else:
        pred = predict_collapse(p0a[None, None, :], s0a[None, None, :], tau=grid["tau"],
                                alpha_p=grid["alpha_p"], eta=grid["eta"], sigma2=grid["sigma2"])
        pred = np.broadcast_to(pred, shape)
    lower = np.mean(pred == 1.0, axis=-1)
    upper = 1.0 - np.mean(pred == 0.0, axis=-1)
    exact = pred.mean(-1)  # NaN wherever one mode is undecided
    fixed_out = {k: (None if v is None else float(v)) for k, v in fixed.items()}
    for k, v in _DEFAULTS.items():
        if k not in fixed_out and k not in (xn, yn) and not (ema and k == "tau"):
            fixed_out[k] = v
    if ema and "tau0" not in fixed_out:
        fixed_out["tau0"] = 0.0
    return PhaseDiagram(
        x_name=xn, x_values=xv, y_name=yn, y_values=yv,
        fraction_collapsed=collapsed.mean(-1), mean_final_s=np.mean(s, axis=-1),
        fraction_settled=settled.mean(-1), predicted_fraction=exact, predicted_lower=lower,
        predicted_upper=upper, p_final=np.array(p), s_final=np.array(s),
        collapsed=np.array(collapsed), status=np.array(status),
        p0=p0a.copy(), s0=s0a.copy(), fixed=fixed_out, t_end=float(t_end), s_tol=s_tol)

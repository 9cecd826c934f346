"""Basins of collapse of one decoupled eigenmode on a (p0, s0) grid (data only, no plots):
the fate of every initial state under Eqs. 11-13 (Tian, Chen & Ganguli, ICML 2021, Sec. 3.2-3.3,
Fig. 3), from batched ``simulate_modes`` calls
(:func:`dynamics.theories.directpred.phase.mode_collapse.final_states`), next to the theory's
guarantee (:func:`dynamics.theories.directpred.phase.mode_collapse.predict_collapse`). The collapse
criterion and the default horizon are described in
:mod:`dynamics.theories.directpred.phase.mode_collapse`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dynamics.errors import ConfigError, check_range
from dynamics.io import load_arrays
from dynamics.theories.directpred.closed_form import fixed_points
from dynamics.theories.directpred.phase.axes import _np
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
class BasinDiagram:
    """Fate of every (p0, s0) on a grid under Eqs. 11-13 (Fig. 3 basins).

    Arrays of shape ``(ny, nx) = (len(s0), len(p0))`` (rows: s0, columns: p0): final ``p``,
    ``s``, ``tau``; ``collapsed`` (final s < ``s_tol``); ``settled`` (collapsed, or within 0.1 %
    of p*_+(tau_final)); ``predicted`` (:func:`predict_collapse` of the initial state: 1, 0 or
    NaN; all NaN in the EMA case); ``status`` (0 = reached t_end, see ``integrate.STATUS_NAMES``).
    ``params`` holds tau, alpha_p, eta, sigma2, beta, tau0, t_end, s_tol, rtol, atol.

    Attributes:
        p0: the grid's initial p_j values, shape (nx,).
        s0: the grid's initial s_j values, shape (ny,).
        settled: precisely :func:`~dynamics.theories.directpred.phase.mode_collapse.settled_mask`:
            a collapsed cell also needs p below p*_- (or no real p*_-, or EMA) to count.

    Example:
        >>> bd = basin_grid([-0.5, 0.5], [0.0, 0.5], eta=0.1)
        >>> bd.collapsed.tolist(), bd.predicted.tolist(), bd.fraction_collapsed
        ([[True, True], [False, False]], [[1.0, 1.0], [nan, 0.0]], 0.5)
    """

    p0: np.ndarray
    s0: np.ndarray
    p: np.ndarray
    s: np.ndarray
    tau: np.ndarray
    collapsed: np.ndarray
    settled: np.ndarray
    predicted: np.ndarray
    status: np.ndarray
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def fraction_collapsed(self) -> float:
        """Fraction of the grid's initial conditions that collapse.

        Returns:
            float in [0, 1], the mean of ``collapsed``.
        """
        return float(np.mean(self.collapsed))

    _ARRAYS = ("p0", "s0", "p", "s", "tau", "collapsed", "settled", "predicted", "status")

    def to_dict(self) -> dict[str, Any]:
        """Arrays by name plus ``params`` (a dict).

        Returns:
            dict with the keys p0, s0, p, s, tau, collapsed, settled, predicted, status and
            params (a copy).
        """
        out: dict[str, Any] = {k: getattr(self, k) for k in self._ARRAYS}
        out["params"] = dict(self.params)
        return out

    def save(self, path) -> Path:
        """Atomic ``.npz`` or ``.json`` (by suffix); read back with :meth:`load`.

        Args:
            path: file path (str or Path) ending in ``.npz`` or ``.json`` (else ConfigError).

        Returns:
            The :class:`~pathlib.Path` written.
        """
        return atomic_save({k: getattr(self, k) for k in self._ARRAYS}, dict(self.params), path)

    @classmethod
    def load(cls, path) -> BasinDiagram:
        """Read a diagram written by :meth:`save`.

        Args:
            path: the ``.npz`` or ``.json`` file.

        Returns:
            :class:`BasinDiagram` (missing parameters, saved as None or NaN, read back as None).
        """
        arrays, meta = load_arrays(path)
        arrays = {k: np.asarray(arrays[k]) for k in cls._ARRAYS}
        arrays["collapsed"] = arrays["collapsed"].astype(bool)
        arrays["settled"] = arrays["settled"].astype(bool)
        arrays["status"] = arrays["status"].astype(np.int64)
        return cls(**arrays, params={k: param_value(v) for k, v in meta.items()})



def basin_t_end(s0, *, tau, alpha_p, eta, sigma2, beta, s_tol) -> float:
    """The default horizon of :func:`basin_grid`: :func:`default_t_end` with ``s_ref`` the
    largest of max(s0) and the stable fixed point's s = p*_+^2/alpha_p (tau = 1 with EMA).

    Args:
        s0: the grid's initial s_j values (array).
        tau: fixed tau (replaced by 1 when ``beta`` is set).
        alpha_p: relative predictor rate alpha_p > 0.
        eta: weight decay eta >= 0 (scalar).
        sigma2: augmentation variance sigma2 >= 0.
        beta: EMA rate, or None for a fixed tau.
        s_tol: collapse tolerance on s_j.

    Returns:
        The horizon t_end as a float.

    Example:
        >>> round(basin_t_end([0.0, 0.5], tau=1.0, alpha_p=1.0, eta=0.1, sigma2=0.0, beta=None,
        ...                   s_tol=S_TOL), 2)
        338.16
    """
    _, pp = fixed_points(1.0 if beta is not None else tau, sigma2, eta)
    s_ref = max(float(np.max(s0)), float(np.nan_to_num(pp) ** 2 / alpha_p))
    return default_t_end(eta, s_tol=s_tol, s_ref=s_ref, beta=beta)


@with_thread_policy
def basin_grid(
    p0,
    s0,
    *,
    tau=1.0,
    alpha_p=1.0,
    eta=0.0,
    sigma2=0.0,
    beta=None,
    tau0=None,
    t_end: float | None = None,
    s_tol: float = S_TOL,
    rtol: float = 1e-8,
    atol: float = 1e-10,
    device=None,
    progress: Callable[[int, int], object] | None = None,
) -> BasinDiagram:
    """Collapse basin of Eqs. 11-13 on the grid ``p0 x s0`` (batched ``simulate_modes``).

    ``p0`` (nx,) and ``s0`` (ny,) are 1-D; all trajectories start at ``(p0[None, :],
    s0[:, None])`` and are integrated together to ``t_end`` (default :func:`default_t_end`,
    with ``s_ref = max(s0, p*_+^2/alpha_p)``). Hyper-parameters are scalars.

    ``beta=None``: tau fixed at ``tau`` (``tau0`` must then be left None). With ``beta``: tau
    evolves by Eq. 13 from ``tau0`` (default 0, i.e. Wa(0) = 0) and ``tau`` is not used.
    ``device`` (e.g. "cuda") runs the integration there; results are numpy. ``progress(done,
    total)`` is called with the number of finished trajectories (every
    :data:`~dynamics.theories.directpred.phase.mode_collapse.CHUNK`).

    Args:
        p0: initial p_j values, 1-D (nx,), the columns.
        s0: initial s_j values, 1-D (ny,), the rows (s0 >= 0).
        tau: fixed tau >= 0 (used without ``beta``).
        alpha_p: relative predictor rate alpha_p > 0 (scalar).
        eta: weight decay eta >= 0 (scalar).
        sigma2: augmentation variance sigma2 >= 0 (scalar).
        beta: EMA rate > 0, or None for a fixed tau.
        tau0: tau(0) with ``beta`` (default 0); must be None without ``beta``.
        t_end: horizon, or None for :func:`basin_t_end`.
        s_tol: collapse tolerance > 0 on the final s_j.
        rtol: relative tolerance of the integrator.
        atol: absolute tolerance of the integrator.
        device: torch device of the integration (e.g. "cuda"), or None for the CPU.
        progress: callback ``progress(done, total)``, or None.

    Returns:
        :class:`BasinDiagram` with (ny, nx) arrays (numpy).

    Example:
        >>> bd = basin_grid([-0.5, 0.5], [0.0, 0.5], eta=0.1)
        >>> bd.collapsed.tolist(), bd.params["t_end"] == basin_t_end(
        ...     [0.0, 0.5], tau=1.0, alpha_p=1.0, eta=0.1, sigma2=0.0, beta=None, s_tol=S_TOL)
        ([[True, True], [False, False]], True)
    """
    p0a, s0a = _np(p0).astype(float), _np(s0).astype(float)
    for name, a in (("p0", p0a), ("s0", s0a)):
        if a.ndim != 1 or a.size == 0:
            raise ConfigError(name, f"must be a non-empty 1-D array, got shape {a.shape}")
    params = {"tau": tau, "alpha_p": alpha_p, "eta": eta, "sigma2": sigma2}
    if beta is not None:
        params["beta"] = beta
    for name, v in params.items():
        if np.ndim(_np(v)) != 0:
            raise ConfigError(name, "must be a scalar in basin_grid (use "
                                    "hyperparameter_diagram to sweep it)")
    tau, alpha_p, eta, sigma2 = (float(_np(v)) for v in (tau, alpha_p, eta, sigma2))
    check_range("tau", tau, low=0)
    check_range("s_tol", s_tol, low=0, low_open=True)
    if beta is None:
        if tau0 is not None:
            raise ConfigError("tau0", "is the initial EMA ratio and needs beta; without beta "
                                      "set tau (held fixed)")
        tau_start = tau
    else:
        beta = float(_np(beta))
        tau_start = 0.0 if tau0 is None else float(_np(tau0))
    if t_end is None:
        t_end = basin_t_end(s0a, tau=tau, alpha_p=alpha_p, eta=eta, sigma2=sigma2, beta=beta,
                            s_tol=s_tol)
    p, s, tau_f, status = final_states(
        {"p0": p0a[None, :], "s0": s0a[:, None], "alpha_p": alpha_p, "eta": eta,
         "sigma2": sigma2, "tau0": tau_start, "beta": beta},
        t_end=t_end, rtol=rtol, atol=atol, device=device, progress=progress)
    with np.errstate(invalid="ignore"):
        collapsed = s < s_tol
    settled = settled_mask(p, s, tau_f, eta, sigma2, collapsed, s_tol,
                           ema=beta is not None)
    if beta is None:
        predicted = predict_collapse(p0a[None, :], s0a[:, None], tau=tau, alpha_p=alpha_p,
                                     eta=eta, sigma2=sigma2)
    else:
        predicted = np.where(s0a[:, None] + 0 * p0a[None, :] == 0, 1.0, np.nan)
    out_params = {"tau": tau if beta is None else None, "alpha_p": alpha_p, "eta": eta,
                  "sigma2": sigma2, "beta": beta, "tau0": tau_start, "t_end": float(t_end),
                  "s_tol": s_tol, "rtol": rtol, "atol": atol}
    return BasinDiagram(p0=p0a, s0=s0a, p=p, s=s, tau=tau_f, collapsed=collapsed,
                        settled=settled, predicted=predicted, status=np.array(status),
                        params=out_params)

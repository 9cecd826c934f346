"""Phase portraits and phase diagrams of the decoupled eigenmode dynamics (data only, no plots).

Tian, Chen & Ganguli (ICML 2021), Sec. 3.2-3.3, Figs. 3, 4 and 5. Everything is built on the
single implementations of the paper's equations: Eqs. 11-13
(:mod:`dynamics.theories.directpred.modes`: ``dp_dt``, ``ds_dt``, ``mode_rhs``, ``simulate_modes``)
and Eqs. 14-16 with the fixed points p*_(+/-) (:mod:`dynamics.theories.directpred.closed_form`).

This module gathers the public names of its parts (import from here or from the part):

* :mod:`dynamics.theories.directpred.phase.portrait` — :func:`flow_field` (Eqs. 11-12, Fig. 3's flow
  lines), :func:`jacobian` (complex step), :func:`mode_fixed_points` / :func:`parabola_fixed_points`
  (numeric fixed points and stability in the (p, s) plane, Fig. 3, and on the invariant parabola,
  Eq. 16, Fig. 4);
* :mod:`dynamics.numerics.fixed_point` — :class:`FixedPoint`, the one fixed-point type (also of
  the symbolic analysis, :mod:`dynamics.theories.directpred.symbolic`);
* :mod:`dynamics.theories.directpred.phase.mode_collapse` — the collapse criterion (:data:`S_TOL`),
  the theory's guarantees (:func:`predict_collapse`, rigorous invariant regions from Eq. 14), the
  horizon (:func:`default_t_end`), the batched integration (``final_states``, in chunks of
  ``mode_collapse.CHUNK`` trajectories) and :func:`atomic_save`;
* :mod:`dynamics.theories.directpred.phase.basin` — :func:`basin_grid` / :class:`BasinDiagram`,
  collapse basins on a (p0, s0) grid (Fig. 3);
* :mod:`dynamics.theories.directpred.phase.diagram` — :func:`hyperparameter_diagram` /
  :class:`PhaseDiagram`, fraction of collapsed modes over a 2-D grid of any two of
  :data:`AXIS_NAMES` (Fig. 5-like sweeps);
* :mod:`dynamics.theories.directpred.phase.axes` — :data:`AXIS_NAMES`, :data:`FIXED_NAMES`.
"""

from __future__ import annotations

from dynamics.numerics.fixed_point import FixedPoint
from dynamics.theories.directpred.phase.axes import AXIS_NAMES, FIXED_NAMES
from dynamics.theories.directpred.phase.basin import BasinDiagram, basin_grid
from dynamics.theories.directpred.phase.diagram import PhaseDiagram, hyperparameter_diagram
from dynamics.theories.directpred.phase.mode_collapse import (
    S_TOL,
    SETTLE_RTOL,
    T_END_ETA0,
    T_END_MAX,
    atomic_save,
    default_t_end,
    predict_collapse,
)
from dynamics.theories.directpred.phase.portrait import (
    flow_field,
    jacobian,
    mode_fixed_points,
    parabola_fixed_points,
)

__all__ = [
    "AXIS_NAMES",
    "FIXED_NAMES",
    "SETTLE_RTOL",
    "S_TOL",
    "T_END_ETA0",
    "T_END_MAX",
    "BasinDiagram",
    "FixedPoint",
    "PhaseDiagram",
    "atomic_save",
    "basin_grid",
    "default_t_end",
    "flow_field",
    "hyperparameter_diagram",
    "jacobian",
    "mode_fixed_points",
    "parabola_fixed_points",
    "predict_collapse",
]

"""Hierarchical latent tree model (HLTM) and a tree-shaped ReLU net trained contrastively
(Tian, Yu, Chen & Ganguli 2020, arXiv 2010.00578; official code luckmatters ``ssl/hltm``).

This module is the public face: every name below is importable from here. The pieces, each with
its part of the description:

* :mod:`~dynamics.theories.dual_networks.hltm.data` -- the generative tree: :class:`HLTM`
  (polarities, samples, positive pairs, negatives) and :class:`HLTMSample`.
* :mod:`~dynamics.theories.dual_networks.hltm.net` -- the tree-shaped net: :class:`TreeNet`,
  :class:`TreeActivations`, the per-node reference :func:`naive_forward`.
* :mod:`~dynamics.theories.dual_networks.hltm.measure` -- metrics: :func:`best_correlation`
  (:func:`pearson_abs_max`), :func:`operator_norms` (:func:`connection_means`),
  :class:`LevelStats`, :class:`OperatorStats`.
* :mod:`~dynamics.theories.dual_networks.hltm.train` -- the losses (``LOSSES``, :func:`hltm_loss`)
  and SGD training: :func:`train_hltm`, :func:`validate_training`, :class:`HLTMHistory`.
* :mod:`~dynamics.theories.dual_networks.hltm.summary` -- :func:`summarise_rows`, means over seeds.
* :mod:`~dynamics.theories.dual_networks.hltm.grid` -- grids of runs, optionally resumable
  (``run_grid``, ``run_cell``, ``grid_cells``, ``Cell``, ``CellStore``; loaded from here on first
  use).

Everything is deterministic given the seeds: the tree polarities come from ``HLTM(seed)`` (the
uniforms and signs are drawn before scaling, so trees with the same seed, depth and branching but
different delta ranges have the same signs and ranks), the initial weights from
``TreeNet(seed)``, and the training and evaluation samples from two further streams of
``train_hltm(seed)``.
"""

from __future__ import annotations

from typing import Any

from dynamics.theories.dual_networks.hltm.data import HLTM, HLTMSample
from dynamics.theories.dual_networks.hltm.data import _as_rng as _as_rng
from dynamics.theories.dual_networks.hltm.data import _check_int as _check_int
from dynamics.theories.dual_networks.hltm.measure import (
    LAYOUTS,
    LevelStats,
    OperatorStats,
    best_correlation,
    connection_means,
    operator_norms,
    pearson_abs_max,
)
from dynamics.theories.dual_networks.hltm.measure import _op_fro_norm as _op_fro_norm
from dynamics.theories.dual_networks.hltm.net import (
    BN_EPS,
    NORM_EPS,
    TreeActivations,
    TreeNet,
    naive_forward,
)
from dynamics.theories.dual_networks.hltm.net import _check_compatible as _check_compatible
from dynamics.theories.dual_networks.hltm.summary import summarise_rows
from dynamics.theories.dual_networks.hltm.train import (
    LOSSES,
    HLTMHistory,
    hltm_loss,
    train_hltm,
    validate_training,
)
from dynamics.theories.dual_networks.hltm.train import _levels as _levels

# The private helpers above (``x as x``) stay importable from here for older callers.
__all__ = [
    "BN_EPS",
    "HLTM",
    "LAYOUTS",
    "LOSSES",
    "NORM_EPS",
    "HLTMHistory",
    "HLTMSample",
    "LevelStats",
    "OperatorStats",
    "TreeActivations",
    "TreeNet",
    "best_correlation",
    "connection_means",
    "hltm_loss",
    "naive_forward",
    "operator_norms",
    "pearson_abs_max",
    "summarise_rows",
    "train_hltm",
    "validate_training",
]

# The grid runner (resumable through per-cell records) lives in hltm_grid, loaded on first use so
# that importing this module stays light; ``run_grid`` and friends stay importable from here.
_GRID_NAMES = ("Cell", "CellStore", "grid_cells", "run_cell", "run_grid")


def __getattr__(name: str) -> Any:
    if name in _GRID_NAMES:
        from dynamics.theories.dual_networks.hltm import grid as hltm_grid

        return getattr(hltm_grid, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

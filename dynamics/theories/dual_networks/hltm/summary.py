"""Summaries of HLTM grid rows: per-level correlations averaged over seeds (Tian, Yu, Chen & Ganguli
2020, arXiv 2010.00578; official code luckmatters ``ssl/hltm``).
Public face: :mod:`dynamics.theories.dual_networks.hltm`; the rows come from
:func:`~dynamics.theories.dual_networks.hltm.grid.run_grid`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def summarise_rows(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean over seeds of the per-level correlations, one entry per (depth, delta_lower, hid)
    (plus loss/tau/bn when they vary): keys ``corr_before``/``corr_after`` (means per level),
    ``corr_before_std``/``corr_after_std``, ``root_after_min`` and ``n_seeds``.

    Args:
        rows: rows of :func:`~dynamics.theories.dual_networks.hltm.grid.run_grid` (each with
            ``depth``, ``delta_lower``, ``hid``, ``loss``, ``tau``, ``corr_before``,
            ``corr_after`` and optionally ``bn``).

    Returns:
        One dict per group, in first-seen order: the group's ``depth``, ``delta_lower``,
        ``hid``, ``loss``, ``tau``, ``bn``, then the statistics above (lists per level; the std
        is the population std over seeds).

    Example:
        >>> row = {"depth": 2, "delta_lower": 0.7, "hid": 2, "loss": "nce", "tau": 0.1,
        ...        "corr_before": [0.5, 0.6], "corr_after": [0.9, 0.8]}
        >>> summary = summarise_rows([row, {**row, "corr_after": [0.7, 0.8]}])[0]
        >>> summary["n_seeds"], summary["corr_after"], summary["root_after_min"]
        (2, [0.8, 0.8], 0.7)
    """
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for r in rows:
        key = (r["depth"], r["delta_lower"], r["hid"], r["loss"], r["tau"], r.get("bn", False))
        groups.setdefault(key, []).append(r)
    out = []
    for (depth, dl, hid, loss, tau, bn), rs in groups.items():
        before = np.array([r["corr_before"] for r in rs], dtype=float)
        after = np.array([r["corr_after"] for r in rs], dtype=float)
        out.append(
            {
                "depth": depth,
                "delta_lower": dl,
                "hid": hid,
                "loss": loss,
                "tau": tau,
                "bn": bn,
                "n_seeds": len(rs),
                "corr_before": before.mean(0).tolist(),
                "corr_after": after.mean(0).tolist(),
                "corr_before_std": before.std(0).tolist(),
                "corr_after_std": after.std(0).tolist(),
                "root_after_min": float(after[:, 0].min()),
            }
        )
    return out

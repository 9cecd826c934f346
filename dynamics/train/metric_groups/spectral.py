"""Spectral rank metrics of a training row (:mod:`dynamics.metrics.spectral`): alpha-ReQ,
stable rank and effective rank of the recent projector outputs, and the predictor's distance
from an orthogonal projection (Richemond et al. 2023)."""

from __future__ import annotations

from typing import Any

from dynamics.metrics.rank import rankme_from_singular_values
from dynamics.metrics.spectral import (
    alpha_req,
    predictor_orthogonality,
    stable_rank_from_singular_values,
)
from dynamics.train.metric_groups import TRAIN_METRICS, RowContext, finite, safe

KEYS = ("spectral/alpha_req_z", "spectral/alpha_req_r2", "spectral/stable_rank_z",
        "spectral/erank_z", "spectral/predictor_orthogonality")


@TRAIN_METRICS.register("spectral", doc="alpha-ReQ, stable and effective rank of z; "
                        "predictor orthogonality", keys=KEYS)
def spectral_group(ctx: RowContext) -> tuple[dict[str, Any], dict[str, Any]]:
    """The :data:`KEYS` of one row (None where a quantity is undefined)."""
    row: dict[str, Any] = dict.fromkeys(KEYS)
    wp = ctx.Wp
    if finite(wp) and wp.ndim == 2 and wp.shape[0] == wp.shape[1]:
        row["spectral/predictor_orthogonality"] = safe(predictor_orthogonality, wp)
    if ctx.z is None:
        return row, {}
    fit = safe(alpha_req, ctx.z)
    if fit is not None:
        row["spectral/alpha_req_z"], row["spectral/alpha_req_r2"] = fit
    sv = ctx.z_singular_values  # shared with the collapse group's RankMe
    if sv is not None:
        row["spectral/stable_rank_z"] = safe(stable_rank_from_singular_values, sv)
        row["spectral/erank_z"] = safe(rankme_from_singular_values, sv, 0.0)
    return row, {}

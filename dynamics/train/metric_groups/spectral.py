"""Spectral rank metrics of a training row (:mod:`dynamics.metrics.spectral`): alpha-ReQ,
stable rank and effective rank of the recent projector outputs, and the predictor's distance
from an orthogonal projection (Richemond et al. 2023)."""

from __future__ import annotations

from typing import Any

import torch

from dynamics.metrics.spectral import (
    alpha_req,
    effective_rank,
    predictor_orthogonality,
    stable_rank,
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
    bufs = ctx.buffers
    if bufs is None:
        return row, {}
    z = torch.cat(bufs[:2])
    fit = safe(alpha_req, z)
    if fit is not None:
        row["spectral/alpha_req_z"], row["spectral/alpha_req_r2"] = fit
    row["spectral/stable_rank_z"] = safe(stable_rank, z)
    row["spectral/erank_z"] = safe(effective_rank, z)
    return row, {}

"""The predictor restricted to the subspace that carries data (prediction 14 of Tian, Chen &
Ganguli 2021, measured where it applies).

F usually has only a few non-null modes; in the other directions a learned Wp keeps its random
initial weights (shrinking only by weight decay), so full-matrix symmetry and PSD-ness say
little about the claim. This group projects Wp on U_k, the eigenvectors of F whose eigenvalue
exceeds :data:`DATA_FRACTION` of the largest, and logs for M = U_k^T Wp U_k:

``predictor/data_dim``            k
``predictor/data_asymmetry``      ||M - M^T||_F / ||M + M^T||_F
``predictor/data_min_eig``        lambda_min((M + M^T)/2) / max |lambda| (>= 0: PSD there)
"""

from __future__ import annotations

from typing import Any

import torch

from dynamics.metrics._common import sym_eigh
from dynamics.train.metric_groups import TRAIN_METRICS, RowContext, finite

#: A direction of F carries data when its eigenvalue exceeds this fraction of the largest.
DATA_FRACTION = 0.01
KEYS = ("predictor/data_dim", "predictor/data_asymmetry", "predictor/data_min_eig")


def data_subspace_stats(Wp: torch.Tensor, F: torch.Tensor,
                        fraction: float = DATA_FRACTION) -> dict[str, Any]:
    """k, asymmetry and normalised smallest eigenvalue of Wp on F's data subspace."""
    s, u = sym_eigh(F)
    keep = s > fraction * s.max()
    U = u[:, keep]
    M = U.T @ Wp @ U
    sym, skew = (M + M.T) / 2, (M - M.T) / 2
    lam = torch.linalg.eigvalsh(sym)
    scale = float(lam.abs().max())
    return {"predictor/data_dim": int(keep.sum()),
            "predictor/data_asymmetry": float(skew.norm() / sym.norm().clamp_min(1e-300)),
            "predictor/data_min_eig": float(lam.min()) / scale if scale > 0 else None}


@TRAIN_METRICS.register("predictor_data", keys=KEYS,
                        doc="the predictor on F's data subspace (prediction 14)")
def predictor_data(ctx: RowContext) -> tuple[dict[str, Any], dict[str, Any]]:
    """Symmetry and PSD-ness of Wp where the data are (None without a linear predictor)."""
    F, wp = ctx.F, ctx.Wp
    if not (finite(F) and finite(wp)) or wp.shape != F.shape or ctx.s is None \
            or not bool(ctx.s[0] > 0):
        return dict.fromkeys(KEYS), {}
    try:
        return data_subspace_stats(wp, F), {}
    except (torch.linalg.LinAlgError, RuntimeError):
        return dict.fromkeys(KEYS), {}

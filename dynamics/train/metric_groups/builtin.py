"""The built-in metric groups of a training row: the spectrum of F, the predictor and its
alignment with F (Tian, Chen & Ganguli 2021, Fig. 2; predictions 13, 14, 16), collapse signals
(normalised std, RankMe) and the Wang-Isola view metrics."""

from __future__ import annotations

import math
from typing import Any

from dynamics.metrics._common import sym_eigh
from dynamics.metrics.alignment_uniformity import alignment, uniformity
from dynamics.metrics.collapse_signals import normalized_std
from dynamics.metrics.directpred import directpred_summary, predictor_eigenspace_alignment
from dynamics.metrics.rank import rankme, rankme_from_singular_values
from dynamics.train.metric_groups import (
    NULL_TOL,
    PREDICTOR_KEYS,
    TRAIN_METRICS,
    RowContext,
    finite,
    head_tail,
    safe,
)


@TRAIN_METRICS.register("F", doc="spectrum of the running correlation F (Eq. 19)",
                        keys=("F/top", "F/bottom", "F/trace", "F/n_modes"),
                        spectra=("F_source", "F_eigs"))
def f_spectrum(ctx: RowContext) -> tuple[dict[str, Any], dict[str, Any]]:
    """Top/bottom eigenvalues, trace and number of non-null modes of F."""
    s = ctx.s
    row: dict[str, Any] = {}
    row["F/top"], row["F/bottom"] = head_tail(s)
    row["F/trace"] = None if s is None else float(s.sum())
    row["F/n_modes"] = (None if s is None or not bool(s[0] > 0)
                        else int((s > NULL_TOL * s[0]).sum()))
    spectra = {"F_source": ctx.F_and_source[1], "F_eigs": None if s is None else s.tolist()}
    return row, spectra


@TRAIN_METRICS.register("predictor", doc="eigenvalues of Wp and its alignment with F "
                        "(Fig. 2; predictions 13, 14, 16)",
                        keys=("predictor/eig_top", "predictor/eig_bottom",
                              "predictor/eig_imag_max",
                              *(f"predictor/{k}" for k in PREDICTOR_KEYS)),
                        spectra=("predictor_eigs_real", "predictor_eigs_imag", "alignment_cos",
                                 "rayleigh_p"))
def predictor_group(ctx: RowContext) -> tuple[dict[str, Any], dict[str, Any]]:
    """Wp's spectrum and :func:`~dynamics.metrics.directpred_summary` against F."""
    F, wp, eig = ctx.F, ctx.Wp, ctx.Wp_eigs
    ok = finite(wp) and ctx.s is not None and wp.shape == F.shape
    row: dict[str, Any] = {}
    row["predictor/eig_top"], row["predictor/eig_bottom"] = head_tail(
        None if eig is None else eig.real)
    row["predictor/eig_imag_max"] = None if eig is None else float(eig.imag.abs().max())
    summ = safe(directpred_summary, wp, F, NULL_TOL) if ok else None
    for k in PREDICTOR_KEYS:
        row[f"predictor/{k}"] = None if summ is None else summ[k]
    spectra: dict[str, Any] = {}
    if eig is not None:
        spectra["predictor_eigs_real"] = eig.real.tolist()
        spectra["predictor_eigs_imag"] = eig.imag.tolist()
    if ok:
        cos = safe(predictor_eigenspace_alignment, wp, F)
        spectra["alignment_cos"] = None if cos is None else cos.tolist()
        if finite(F):
            u = sym_eigh(F)[1]
            spectra["rayleigh_p"] = ((u * (wp @ u)).sum(0)).tolist()
    return row, spectra


@TRAIN_METRICS.register("collapse", doc="collapse signals of the recent outputs",
                        keys=("collapse/z_std", "collapse/z_std_ref", "collapse/rankme_z",
                              "collapse/rankme_h", "collapse/samples"))
def collapse_group(ctx: RowContext) -> tuple[dict[str, Any], dict[str, Any]]:
    """Normalised std and RankMe of the projector (z) and backbone (h) outputs."""
    bufs = ctx.buffers
    if bufs is None:
        return {"collapse/z_std": None, "collapse/z_std_ref": None, "collapse/rankme_z": None,
                "collapse/rankme_h": None, "collapse/samples": 0}, {}
    z, h, sv = ctx.z, bufs[2], ctx.z_singular_values
    return {"collapse/z_std": safe(normalized_std, z),
            "collapse/z_std_ref": 1.0 / math.sqrt(z.shape[1]),
            "collapse/rankme_z": None if sv is None else safe(rankme_from_singular_values, sv),
            "collapse/rankme_h": safe(rankme, h),
            "collapse/samples": int(z.shape[0])}, {}


@TRAIN_METRICS.register("views", doc="Wang-Isola alignment and uniformity of the two views",
                        keys=("views/alignment", "views/uniformity"))
def views_group(ctx: RowContext) -> tuple[dict[str, Any], dict[str, Any]]:
    """Alignment (alpha 2) of the normalised views; uniformity (t 2) of view 1."""
    bufs = ctx.buffers
    if bufs is None:
        return {"views/alignment": None, "views/uniformity": None}, {}
    z1, z2, _ = bufs
    return {"views/alignment": safe(alignment, z1, z2, normalize=True),
            "views/uniformity": safe(uniformity, z1, normalize=True)}, {}

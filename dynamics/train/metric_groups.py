"""The measurements logged during training, one registry :data:`TRAIN_METRICS` of metric
groups.

A group is a function ``group(ctx) -> (row_part, spectra_part)`` of a :class:`RowContext`
(the current F, its spectrum, the predictor matrix Wp, and the buffer of recent projector and
backbone outputs, each computed once per row and shared by all groups); ``row_part`` are scalar
or short-list columns of metrics.jsonl, ``spectra_part`` full spectra for spectra.jsonl.
Groups run in registration order on every rank (the context's DDP reductions are collective).
Each is registered with the ``keys`` it writes (docs and report columns read them)::

    @TRAIN_METRICS.register("my_group", keys=("my/value",), doc="...")
    def my_group(ctx): return {"my/value": ...}, {}

The metric functions themselves live in :mod:`dynamics.metrics` (with their known values);
this module only decides what a training row contains. Values that are undefined (no linear
predictor, non-finite input, a failed eigensolver) are None (``null``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import cached_property
from typing import Any

import torch

from dynamics.errors import ConfigError
from dynamics.metrics import (
    alignment,
    directpred_summary,
    normalized_std,
    predictor_eigenspace_alignment,
    rankme,
    uniformity,
)
from dynamics.metrics._common import sym_eigh
from dynamics.registry import Registry

#: Eigenvalues listed at each end of a spectrum in a metrics row.
SPECTRUM_HEAD = 5
#: Modes with s_j <= NULL_TOL * s_max count as null.
NULL_TOL = 1e-3
PREDICTOR_KEYS = ("mean_alignment", "weighted_alignment", "relative_commutator", "asymmetry",
                  "min_sym_eigenvalue", "slope")

#: Metric groups of a training row by name (see the module docstring).
TRAIN_METRICS = Registry("training metric group", field="metrics")


def safe(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """A metric value, or None where it is undefined (non-finite input, failed eigensolver)."""
    try:
        value = fn(*args, **kwargs)
    except (ConfigError, torch.linalg.LinAlgError, RuntimeError):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def finite(t: torch.Tensor | None) -> bool:
    """True for a tensor with only finite entries (False for None)."""
    return t is not None and bool(torch.isfinite(t).all())


def head_tail(values: torch.Tensor | None) -> tuple[list | None, list | None]:
    """The first and last :data:`SPECTRUM_HEAD` values as lists (None, None if empty)."""
    if values is None or values.numel() == 0:
        return None, None
    vals = values.tolist()
    return vals[:SPECTRUM_HEAD], vals[-SPECTRUM_HEAD:]


class RowContext:
    """What the groups of one row share, each piece computed on first use.

    ``correlation()`` returns ``(F, source)`` (F float64 or None); ``predictor_matrix()`` Wp
    or None; ``buffers()`` ``(z1, z2, h)`` gathered over ranks, or None.
    """

    def __init__(self, correlation: Callable[[], tuple[torch.Tensor | None, str]],
                 predictor_matrix: Callable[[], Any],
                 buffers: Callable[[], tuple[torch.Tensor, ...] | None]):
        self._correlation, self._wp, self._buffers = correlation, predictor_matrix, buffers

    @cached_property
    def F_and_source(self) -> tuple[torch.Tensor | None, str]:
        """(F, "method" | "instrument")."""
        return self._correlation()

    @property
    def F(self) -> torch.Tensor | None:
        """The running correlation F = E[f f^T] (Eq. 19), float64."""
        return self.F_and_source[0]

    @cached_property
    def s(self) -> torch.Tensor | None:
        """Eigenvalues of F, descending (None if F is missing or not finite)."""
        F = self.F
        if not finite(F):
            return None
        return safe(lambda: torch.linalg.eigvalsh((F + F.T) / 2).flip(0))

    @cached_property
    def Wp(self) -> torch.Tensor | None:
        """The linear predictor's matrix (float64), or None."""
        wp = self._wp()
        return None if wp is None else torch.as_tensor(wp).detach().double()

    @cached_property
    def Wp_eigs(self) -> torch.Tensor | None:
        """Eigenvalues of Wp sorted by real part, descending (complex), or None."""
        eig = safe(torch.linalg.eigvals, self.Wp) if finite(self.Wp) else None
        return None if eig is None else eig[torch.argsort(eig.real, descending=True)]

    @cached_property
    def buffers(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None:
        """(z1, z2, h): recent projector outputs of both views and backbone outputs."""
        return self._buffers()


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
    z1, z2, h = bufs
    z = torch.cat([z1, z2])
    return {"collapse/z_std": safe(normalized_std, z),
            "collapse/z_std_ref": 1.0 / math.sqrt(z.shape[1]),
            "collapse/rankme_z": safe(rankme, z), "collapse/rankme_h": safe(rankme, h),
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


def metrics_table() -> str:
    """A Markdown table of the metric groups and the columns they write (for docs)."""
    rows = ["| group | what | columns |", "| --- | --- | --- |"]
    for e in TRAIN_METRICS.entries():
        rows.append(f"| `{e.name}` | {e.doc} | "
                    f"{', '.join(f'`{k}`' for k in e.tags.get('keys', ()))} |")
    return "\n".join(rows) + "\n"

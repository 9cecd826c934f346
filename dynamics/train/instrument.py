"""What a training run measures every ``log.log_every`` steps (rows of metrics.jsonl).

Besides the loss and the method's extras, a row holds the columns of the metric groups
registered in :data:`dynamics.train.metric_groups.TRAIN_METRICS` (F, predictor, collapse,
views below; a new group is one registered function there).

:class:`Instrument` sees every :class:`~dynamics.train.methods.base.StepOutput` (cheap: a
running loss sum, a running F, references to the last batches) and computes one row on demand.
Every value is a plain float (``null`` when undefined, e.g. no linear predictor, or NaN);
lists are in the order stated. Keys of a ``"kind": "train"`` row:

=============================== =============================================================
``step``, ``epoch``             global step (optimizer steps so far), fractional epoch
``loss``                        mean training loss over the steps since the previous row
``lr``                          learning rate of the first parameter group
``images_per_s``, ``elapsed_s`` throughput (source images, all ranks) and training wall time
``extra/<name>``                mean of the method's ``StepOutput.extra`` diagnostics
``F/top``, ``F/bottom``         the 5 largest / 5 smallest eigenvalues of F (descending)
``F/trace``, ``F/n_modes``      trace of F; modes with s_j > 1e-3 s_max
``predictor/eig_top``,          the 5 largest / 5 smallest eigenvalues of Wp (real parts,
``predictor/eig_bottom``        descending); ``predictor/eig_imag_max``: max |imag part|
``predictor/mean_alignment``    mean_j cos(Wp u_j, u_j) over non-null modes of F (Fig. 2,
                                prediction 13); ``weighted_alignment`` weights by s_j
``predictor/relative_commutator`` ||[F, Wp]||_F / (||F|| ||Wp||) (basis-free alignment)
``predictor/asymmetry``         ||Wp - Wp^T||_F / ||Wp + Wp^T||_F (0 = symmetric, pred. 14)
``predictor/min_sym_eigenvalue`` lambda_min((Wp + Wp^T)/2) (>= 0: PSD, prediction 14)
``predictor/slope``             least-squares slope of log p_j vs log s_j (1/2 predicted, 16)
``collapse/z_std``              normalised std of the projector outputs z (0 = collapse,
                                1/sqrt(d_z) isotropic; ``collapse/z_std_ref`` = 1/sqrt(d_z))
``collapse/rankme_z``,          RankMe of projector outputs z and backbone outputs h over the
``collapse/rankme_h``           buffer of recent samples (both views)
``collapse/samples``            rows in that buffer (up to 2 x :data:`BUFFER_SAMPLES`)
``views/alignment``             Wang-Isola alignment (alpha 2) of the L2-normalised z of the
                                two views (0 = identical views)
``views/uniformity``            Wang-Isola uniformity (t 2) of the normalised z of view 1
=============================== =============================================================

Rows with ``"kind": "eval"`` (after every epoch, :func:`dynamics.train.evaluate.online_eval`):
``step``, ``epoch`` (completed epochs, an integer), ``eval/knn_top1`` (weighted kNN,
k = ``eval.knn_k``), ``eval/probe_final_accuracy`` / ``eval/probe_best_accuracy`` (a linear
probe of ``eval/probe_epochs`` epochs: last-epoch and best-epoch test accuracy), ``eval/time_s``.

``predictor/*`` are null when the method has no linear predictor (``predictor_matrix()`` is
None: MLP predictor, no predictor, SimCLR).

F is the predictor's own running correlation when the method keeps one
(``method.correlation_matrix()``, e.g. DirectPred), otherwise an uncentred
:class:`~dynamics.metrics.CorrelationEstimator` of the predictor input (the projector output)
kept here with the same rule (Eq. 19: F <- rho F + (1 - rho) F_B, ``predictor.rho``,
``predictor.centered``), so the two are comparable. Under DDP the instrument's F is averaged over
ranks at each row (the running average is linear, so this equals the all-reduced estimate) and
the sample buffers are gathered.

Full spectra go to spectra.jsonl (one line per train row): ``step``, ``epoch``, ``F_source``
("method" or "instrument"), ``F_eigs`` (all eigenvalues of F, descending), and with a linear
predictor ``predictor_eigs_real`` / ``predictor_eigs_imag`` (eigenvalues of Wp sorted by real
part, descending), ``alignment_cos`` (cos_j per eigenvector u_j of F, in F's order) and
``rayleigh_p`` (p_j = u_j^T Wp u_j, in F's order).
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

import torch

from dynamics.metrics.collapse_signals import normalized_std
from dynamics.metrics.directpred import CorrelationEstimator
from dynamics.metrics.rank import rankme
from dynamics.train.distributed import DistContext
from dynamics.train.metric_groups import (  # noqa: F401 - constants kept importable from here
    NULL_TOL,
    PREDICTOR_KEYS,
    SPECTRUM_HEAD,
    TRAIN_METRICS,
    RowContext,
    finite,
    safe,
)

#: Samples per view kept from recent batches for RankMe / normalised std / uniformity.
BUFFER_SAMPLES = 2048


class Instrument:
    """Running measurements of one training run (see the module docstring for the keys).

    ``observe(out)`` after every optimizer step; ``row()`` returns ``(metrics_row,
    spectra_row)`` and resets the running means. Everything that affects future rows is in
    :meth:`state_dict` (saved in checkpoints: a resumed run logs the same numbers).
    """

    def __init__(self, method: Any, *, rho: float = 0.3, centered: bool = False,
                 dist: DistContext | None = None, buffer_samples: int = BUFFER_SAMPLES):
        self.method = method
        self.dist = dist or DistContext()
        self.rho, self.centered = float(rho), bool(centered)
        self.buffer_samples = int(buffer_samples)
        self.own_F: bool | None = None  # decided at the first observe
        self.corr: CorrelationEstimator | None = None
        self._buffer: deque[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = deque()
        self._loss_sum: torch.Tensor | None = None
        self._count = 0
        self._extra: dict[str, float] = {}

    # -- per step ------------------------------------------------------------------------------
    @torch.no_grad()
    def observe(self, out: Any) -> None:
        """Take in one step: loss, extras, F (Eq. 19) when kept here, and the sample buffer."""
        loss = out.loss.detach().to(torch.float64)
        self._loss_sum = loss if self._loss_sum is None else self._loss_sum + loss
        self._count += 1
        for k, v in (out.extra or {}).items():
            self._extra[k] = self._extra.get(k, 0.0) + float(v)
        z = out.online.detach().float()
        if self.own_F is None:
            self.own_F = self.method.correlation_matrix() is None
            if self.own_F:
                self.corr = CorrelationEstimator(z.shape[1], self.rho, self.centered,
                                                 dtype=torch.float64)
        if self.own_F and finite(z):
            self.corr.update(z)
        half = z.shape[0] // 2
        h = out.features.detach().float()
        self._buffer.append((z[:half], z[half:2 * half], h))
        while len(self._buffer) > 1 and (sum(b[0].shape[0] for b in self._buffer)
                                         - self._buffer[0][0].shape[0]) >= self.buffer_samples:
            self._buffer.popleft()

    # -- rows ----------------------------------------------------------------------------------
    def correlation(self) -> tuple[torch.Tensor | None, str]:
        """The current F (float64) and where it comes from ("method" / "instrument")."""
        if not self.own_F:
            F = self.method.correlation_matrix()
            return (None if F is None else torch.as_tensor(F).detach().double()), "method"
        if self.corr is None or self.corr.n_updates == 0:
            return None, "instrument"
        F = torch.as_tensor(self.corr.F).double()
        return self.dist.all_reduce_mean(F), "instrument"

    def _buffers(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None:
        if not self._buffer:
            return None
        z1 = torch.cat([b[0] for b in self._buffer])
        z2 = torch.cat([b[1] for b in self._buffer])
        h = torch.cat([b[2] for b in self._buffer])
        return self.dist.gather(z1), self.dist.gather(z2), self.dist.gather(h)

    @torch.no_grad()
    def row(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """``(metrics_row, spectra_row)`` from everything observed (collective under DDP:
        every rank must call it)."""
        row: dict[str, Any] = {}
        if self._loss_sum is not None and self._count:
            mean = self.dist.all_reduce_mean(self._loss_sum.detach().clone() / self._count)
            row["loss"] = float(mean)
        else:
            row["loss"] = None
        for k in sorted(self._extra):
            row[f"extra/{k}"] = self._extra[k] / max(self._count, 1)
        self._loss_sum, self._count, self._extra = None, 0, {}

        spectra: dict[str, Any] = {}
        ctx = RowContext(self.correlation, self.method.predictor_matrix, self._buffers)
        for group in TRAIN_METRICS.values():
            part, spec = group(ctx)
            row.update(part)
            spectra.update(spec)
        return row, spectra

    def buffer_signals(self) -> dict[str, Any]:
        """Collapse signals of the current sample buffer (for summary.json)."""
        bufs = self._buffers()
        if bufs is None:
            return {}
        z1, z2, h = bufs
        z = torch.cat([z1, z2])
        return {"rankme_projector": safe(rankme, z), "rankme_backbone": safe(rankme, h),
                "normalized_std_projector": safe(normalized_std, z),
                "normalized_std_reference": 1.0 / math.sqrt(z.shape[1]),
                "samples": int(z.shape[0])}

    # -- checkpointing -------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Running sums, F estimator and sample buffer, for an exact resume."""
        return {"own_F": self.own_F,
                "corr": None if self.corr is None else self.corr.state_dict(),
                "buffer": [tuple(t.detach().clone() for t in b) for b in self._buffer],
                "loss_sum": None if self._loss_sum is None else self._loss_sum.clone(),
                "count": self._count, "extra": dict(self._extra)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` (tensors stay where ``torch.load(map_location=...)`` put
        them)."""
        self.own_F = state["own_F"]
        self.corr = None
        if state["corr"] is not None:
            self.corr = CorrelationEstimator(int(state["corr"]["dim"]), self.rho, self.centered,
                                             dtype=torch.float64)
            self.corr.load_state_dict(state["corr"])
        self._buffer = deque(tuple(b) for b in state["buffer"])
        self._loss_sum = state["loss_sum"]
        self._count = int(state["count"])
        self._extra = dict(state["extra"])


__all__ = ["BUFFER_SAMPLES", "Instrument", "SPECTRUM_HEAD"]

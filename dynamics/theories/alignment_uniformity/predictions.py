"""Predictions of Wang & Isola (ICML 2020): the uniformity of the uniform measure on the sphere
(a reference value, THEORY-contrastive-and-metrics Sec. 2.5.1) and alignment + uniformity of
trained SimCLR encoders against their downstream accuracy (check 2.5.3; the runs are the
SimCLR arms of :mod:`dynamics.verify.recipes`). Accuracy is the weighted kNN top-1 of the final
encoder (the linear probe is reported beside it).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from dynamics.metrics.alignment_uniformity import alignment, uniformity, uniformity_on_sphere
from dynamics.plots.prediction_figure import save_figure
from dynamics.theories.alignment_uniformity import PAPER
from dynamics.verify import run_data as rd
from dynamics.verify.prediction import (
    Context,
    Outcome,
    RunSpec,
    spearman,
)
from dynamics.verify.recipes import (
    arm_text,
    finished_runs,
    seed_note,
    simclr_specs,
    simclr_width_arms,
)
from dynamics.verify.registry import prediction

DT = torch.float64


#: L_uniform(t) of the uniform measure on S^{d-1} (Sec. 2.3 table), {(d, t): value}.
UNIFORMITY_TABLE = {
    (2, 1): -1.176, (2, 2): -1.575, (2, 3): -1.792,
    (3, 1): -1.405, (3, 2): -2.080, (3, 3): -2.485,
    (16, 1): -1.876, (16, 2): -3.513, (16, 3): -4.937,
    (128, 1): -1.984, (128, 2): -3.938, (128, 3): -5.860,
}


def _sphere(n: int, d: int, g: torch.Generator) -> torch.Tensor:
    return F.normalize(torch.randn(n, d, dtype=DT, generator=g), dim=1)


# ------------------------------------------------------------------ Wang & Isola 2.5.1
@prediction(
    "alignment_uniformity.uniformity_reference",
    "The uniformity metric of points drawn uniformly on S^{d-1} reproduces the closed-form "
    "L_uniform = -2t + log[Gamma(d/2) t^{1-d/2} I_{d/2-1}(2t)] (Sec. 2.3 table) within 1e-2 "
    "for N >= 2000 points; the alignment of independent uniform pairs is 2.",
    PAPER.cite("Sec. 2.3 table; check 2.5.1"),
    "contrastive",
)
def uniformity_reference(ctx: Context) -> Outcome:
    """Monte Carlo uniformity of uniform points against the table and the closed form."""
    n = 2000 if ctx.quick else 4000
    g = torch.Generator().manual_seed(0)
    measured, closed, align = {}, {}, {}
    for d in sorted({d for d, _ in UNIFORMITY_TABLE}):
        x = _sphere(n, d, g)
        for t in (1, 2, 3):
            measured[(d, t)] = uniformity(x, t=float(t))
            closed[(d, t)] = uniformity_on_sphere(d, float(t))
        align[d] = alignment(x, _sphere(n, d, g))
    err = max(abs(measured[k] - v) for k, v in UNIFORMITY_TABLE.items())
    err_closed = max(abs(closed[k] - v) for k, v in UNIFORMITY_TABLE.items())
    # ||u - v||^2 = 2 - 2 u.v with Var(u.v) = 1/d: standard error 2 / sqrt(d n)
    z_align = max(abs(a - 2.0) / (2.0 / math.sqrt(d * n)) for d, a in align.items())
    tol, tol_closed, k_align = 1e-2, 1e-3, 4.0
    passed = err <= tol and err_closed <= tol_closed and z_align <= k_align

    def draw(axes):
        for i, d in enumerate(sorted(align)):
            ts = [1, 2, 3]
            axes[0].plot(ts, [UNIFORMITY_TABLE[(d, t)] for t in ts], "-", color=f"C{i}",
                         label=f"table d={d}")
            axes[0].plot(ts, [measured[(d, t)] for t in ts], "x", color=f"C{i}")
        axes[0].set(xlabel="t", ylabel="L_uniform", title=f"uniform points (x: N={n})")
        axes[0].legend(fontsize=7)
        keys = list(UNIFORMITY_TABLE)
        axes[1].bar(range(len(keys)), [measured[k] - UNIFORMITY_TABLE[k] for k in keys])
        axes[1].axhline(tol, color="k", ls="--", lw=0.8)
        axes[1].axhline(-tol, color="k", ls="--", lw=0.8)
        axes[1].set_xticks(range(len(keys)), [f"{d},{t}" for d, t in keys], rotation=90,
                           fontsize=6)
        axes[1].set(xlabel="(d, t)", ylabel="measured - table", title="error vs tolerance")

    fig = save_figure(ctx.figure("alignment_uniformity.uniformity_reference"), draw, ncols=2)
    return Outcome.judged(
        passed, theory="Sec. 2.3 table, e.g. d=128, t=2: -3.938; L_align = 2",
        measured=f"max |MC - table| {err:.4f}; max |closed form - table| {err_closed:.1e}; "
                 f"L_align {', '.join(f'd={d}: {a:.3f}' for d, a in align.items())}",
        rule=f"|Monte Carlo - table| <= {tol:g} for all 12 (d, t); the closed form matches the "
             f"3-decimal table to {tol_closed:g}; |L_align - 2| <= {k_align:g} standard errors "
             f"(2/sqrt(d N))",
        details=f"N = {n} Gaussian-normalised points per d (distinct pairs, as torch.pdist); "
                f"d=128, t=2 measured {measured[(128, 2)]:.4f}",
        figure=fig, numbers={"max_error": err, "max_error_closed": err_closed,
                             "align_z": z_align,
                             "measured": {f"d{d}_t{t}": v for (d, t), v in measured.items()}})


# ------------------------------------------------------------------ Wang & Isola 2.5.3
def _au_arms(tier: str) -> list[dict]:
    """The RankMe width arms (shared runs) plus arms of another temperature and of the
    align_uniform loss (its uniformity weight varied at cpu/paper): encoders of different
    quality, cheaply (check 2.5.3 varies tau and the loss weights)."""
    extra = ([dict(loss="align_uniform", unif_weight=1.0)] if tier == "smoke" else
             [dict(tau=0.1), dict(loss="align_uniform", unif_weight=0.3),
              dict(loss="align_uniform", unif_weight=1.0)])
    return [*simclr_width_arms(tier), *extra]


def _au_runs(tier: str) -> list[RunSpec]:
    return simclr_specs(tier, _au_arms(tier))


@prediction(
    "alignment_uniformity.vs_accuracy",
    "Across a grid of contrastive encoders, lower alignment + uniformity goes with higher "
    "downstream accuracy (Spearman correlation below -0.5).",
    PAPER.cite("main scatter figure; check 2.5.3"),
    "contrastive", runs=_au_runs,
)
def align_uniform_vs_accuracy(ctx: Context) -> Outcome:
    """Spearman of (L_align + L_unif at the end of training) against kNN accuracy."""
    done, reason = finished_runs(ctx, _au_runs(ctx.tier))
    if reason:
        return Outcome.not_run(reason)
    pts = []
    for spec, folder in done:
        row = rd.final_row(folder)
        a, u = row.get("views/alignment"), row.get("views/uniformity")
        if a is None or u is None:
            return Outcome.not_run(f"{spec.name()}: no alignment/uniformity in metrics.jsonl")
        pts.append((spec.label, a, u, rd.knn_accuracy(folder), rd.linear_accuracy(folder)))
    total = [a + u for _, a, u, _, _ in pts]
    knn = [k for *_, k, _ in pts]
    rho = spearman(total, knn)
    lin = [x for *_, x in pts]
    rho_lin = spearman(total, lin) if all(v is not None for v in lin) else math.nan
    threshold = -0.5
    passed = bool(rho < threshold)

    def draw(axes):
        sc = axes[0].scatter([p[2] for p in pts], [p[1] for p in pts], c=knn, cmap="viridis")
        axes[0].figure.colorbar(sc, ax=axes[0], label="kNN top-1")
        axes[0].set(xlabel="L_uniform (t=2)", ylabel="L_align (alpha=2)",
                    title="encoders (colour: accuracy)")
        axes[1].scatter(total, knn)
        axes[1].set(xlabel="L_align + L_uniform", ylabel="kNN top-1",
                    title=f"Spearman {rho:.2f}")

    fig = save_figure(ctx.figure("alignment_uniformity.vs_accuracy"), draw, ncols=2)
    return Outcome.judged(
        passed, theory=f"Spearman(L_align + L_unif, accuracy) < {threshold}",
        measured=f"Spearman {rho:.3f} over {len(pts)} runs (linear probe: {rho_lin:.3f})",
        rule=f"Spearman rank correlation of (L_align + L_uniform) with kNN top-1 over all runs "
             f"< {threshold}",
        details=f"SimCLR arms: {'; '.join(arm_text(a) for a in _au_arms(ctx.tier))} "
                f"({seed_note(ctx.tier)}); L_align, L_uniform of the normalised projector "
                f"outputs of the last logged training batch; kNN on the backbone features",
        figure=fig, numbers={"spearman": rho, "spearman_linear": rho_lin,
                             "points": [dict(zip(("label", "align", "unif", "knn", "linear"),
                                                 p, strict=True)) for p in pts]})

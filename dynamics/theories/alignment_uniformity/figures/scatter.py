"""Wang & Isola 2020, Fig. 1 / Sec. 5: alignment against uniformity of a grid of trained
contrastive encoders, coloured by downstream accuracy.

For L2-normalised projector outputs u (rows on S^{d-1}) of two views x, y of the same image:

    L_align(alpha = 2) = E ||u(x) - u(y)||^2 ,
    L_uniform(t = 2)   = log E_{x, x' i.i.d.} exp(-t ||u(x) - u(x')||^2) ,

both lower-is-better (:mod:`dynamics.metrics.alignment_uniformity`). Each point is one finished
SimCLR run of the grid of ``alignment_uniformity.vs_accuracy`` (same
:class:`~dynamics.verify.prediction.RunSpec` objects, so ``verify`` and this figure share run
folders): InfoNCE at several projector widths and temperatures and the align_uniform loss at
two uniformity weights. The values are the training engine's logged ``views/alignment`` and
``views/uniformity`` of the last ``train`` row of ``metrics.jsonl`` (the last logged training
batch, as the prediction reads them); the colour is the final linear-probe test accuracy of the
frozen backbone (``summary.json`` ``linear_eval.final_accuracy``), the kNN top-1 is reported
beside it.

Panels: (a) the Wang & Isola plane, L_uniform on x, L_align on y, dashed lines of equal
L_align + L_uniform (the sum the prediction ranks by); (b) accuracy against L_align + L_uniform;
(c) the Spearman rank correlations of accuracy with L_align, L_uniform and their sum
(:func:`dynamics.verify.registry.spearman`): negative means lower loss goes with higher accuracy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from dynamics.plots import style
from dynamics.plots.base import FigureContext, FigureResult, figure

PREDICTION = "alignment_uniformity.vs_accuracy"
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


def runs(tier: str) -> list:
    """The runs of ``alignment_uniformity.vs_accuracy`` at ``tier`` (the same RunSpecs)."""
    from dynamics.verify.registry import PREDICTIONS

    return PREDICTIONS[PREDICTION].runs_for(tier)


def arm_name(spec: Any) -> str:
    """A short legend name of one arm from its overrides (loss, tau or uniformity weight,
    projector width)."""
    over = dict(o.split("=", 1) for o in spec.overrides)
    loss = over.get("method.loss", "infonce")
    proj = over.get("model.projector_dim", "?")
    if loss == "align_uniform":
        return f"align+unif weight={over.get('method.unif_weight')} proj={proj}"
    return f"{loss} tau={over.get('method.tau')} proj={proj}"


def collect(ctx: FigureContext) -> list[dict[str, Any]]:
    """One dict per finished run: arm, seed, alignment, uniformity, linear and kNN accuracy
    (runs without the logged metrics or the probe are left out)."""
    from dynamics.verify import run_data as rd

    pts = []
    for spec in runs(ctx.tier):
        folder = ctx.runs.get(spec)
        if folder is None:
            continue
        row = rd.final_row(Path(folder))
        a, u = row.get("views/alignment"), row.get("views/uniformity")
        lin, knn = rd.linear_accuracy(Path(folder)), rd.knn_accuracy(Path(folder))
        if a is None or u is None or lin is None:
            continue
        pts.append({"arm": arm_name(spec), "seed": spec.seed, "align": float(a),
                    "unif": float(u), "linear": float(lin),
                    "knn": float("nan") if knn is None else float(knn)})
    return pts


def correlations(pts: list[dict[str, Any]],
                 accuracies: tuple[str, ...] = ("linear", "knn")) -> dict[str, float]:
    """Spearman of each accuracy (keys of the points: ``linear``, ``knn``) with L_align
    (``align``), L_uniform (``unif``) and their sum, as ``spearman_{acc}_{align|unif|sum}``
    (negative: lower loss goes with higher accuracy)."""
    from dynamics.verify.prediction import spearman

    out = {}
    for acc in accuracies:
        y = [p[acc] for p in pts]
        out[f"spearman_{acc}_align"] = spearman([p["align"] for p in pts], y)
        out[f"spearman_{acc}_unif"] = spearman([p["unif"] for p in pts], y)
        out[f"spearman_{acc}_sum"] = spearman([p["align"] + p["unif"] for p in pts], y)
    return out


@figure('alignment_uniformity_scatter',
        'Alignment versus uniformity of trained encoders, coloured by linear-probe accuracy',
        paper_ref='Fig. 1 / Sec. 5',
        predictions=('alignment_uniformity.vs_accuracy',),
        run_based=True)
def make(out_dir: Path, *, quick: bool = False, ctx: FigureContext) -> FigureResult:
    """Draw the alignment/uniformity plane of the trained encoders into ``out_dir``."""
    from matplotlib import colormaps
    from matplotlib.colors import Normalize

    pts = collect(ctx)
    if len(pts) < 3:
        from dynamics.errors import ConfigError

        raise ConfigError("runs", f"alignment_uniformity_scatter needs at least 3 finished runs "
                                  f"with alignment, uniformity and a linear probe; got {len(pts)}")
    rho = correlations(pts)
    arms = list(dict.fromkeys(p["arm"] for p in pts))
    marker = {a: MARKERS[i % len(MARKERS)] for i, a in enumerate(arms)}
    lin = np.array([p["linear"] for p in pts])
    norm = Normalize(lin.min(), lin.max())
    cmap = colormaps["viridis"]
    total = np.array([p["align"] + p["unif"] for p in pts])
    best = pts[int(np.argmax(lin))]
    with style.paper_style():
        fig, axes = style.new_figure(1, 3, width=13.5, height=4.8,
                                     gridspec_kw={"width_ratios": [1.25, 1.0, 0.75]})
        fig.get_layout_engine().set(wspace=0.06)
        ax = axes[0, 0]
        xu = np.array([p["unif"] for p in pts])
        ya = np.array([p["align"] for p in pts])
        pad_x, pad_y = 0.08 * np.ptp(xu) + 0.02, 0.08 * np.ptp(ya) + 0.02
        xlim = (xu.min() - pad_x, xu.max() + pad_x)
        ylim = (ya.min() - pad_y, ya.max() + pad_y)
        xs = np.linspace(*xlim, 2)
        for c in np.arange(np.floor(total.min() * 2) / 2 - 0.5, total.max() + 1.0, 0.5):
            ax.plot(xs, c - xs, color="0.8", lw=0.8, ls="--", zorder=0)
            x_top = c - ylim[1]  # where the line leaves the top of the panel
            if xlim[0] < x_top < xlim[1]:
                ax.text(x_top, ylim[1], f"{c:.1f}", color="0.45", fontsize=7, ha="center",
                        va="bottom")
        for a in arms:
            sel = [p for p in pts if p["arm"] == a]
            sc = ax.scatter([p["unif"] for p in sel], [p["align"] for p in sel],
                            c=[p["linear"] for p in sel], cmap=cmap, norm=norm, s=60,
                            marker=marker[a], edgecolors="k", linewidths=0.6, label=a,
                            zorder=3)
        ax.set(xlim=xlim, ylim=ylim, xlabel=r"$L_{uniform}$ ($t=2$; lower = more uniform)",
               ylabel=r"$L_{align}$ ($\alpha=2$; lower = better aligned)")
        ax.set_title("(a) one point per run; dashed: equal $L_{align}+L_{uniform}$ "
                     "(value on top)", pad=12)
        cb = fig.colorbar(sc, ax=ax, pad=0.01)
        cb.set_label("linear-probe accuracy (colour)")
        ax = axes[0, 1]
        for a in arms:
            sel = [p for p in pts if p["arm"] == a]
            ax.scatter([p["align"] + p["unif"] for p in sel], [p["linear"] for p in sel],
                       c=[p["linear"] for p in sel], cmap=cmap, norm=norm, s=60,
                       marker=marker[a], edgecolors="k", linewidths=0.6, zorder=3)
        ax.set(xlabel=r"$L_{align} + L_{uniform}$", ylabel="linear-probe accuracy")
        ax.set_title(f"(b) Spearman {rho['spearman_linear_sum']:.2f} "
                     f"(kNN: {rho['spearman_knn_sum']:.2f})")
        ax = axes[0, 2]
        keys = ("align", "unif", "sum")
        xs3 = np.arange(3)
        for off, acc, col in ((-0.18, "linear", style.BLUE), (0.18, "knn", style.ORANGE)):
            vals = [rho[f"spearman_{acc}_{k}"] for k in keys]
            ax.bar(xs3 + off, vals, width=0.34, color=col,
                   label=f"{'kNN' if acc == 'knn' else acc} accuracy")
        ax.axhline(0, color="k", lw=0.8)
        ax.axhline(-0.5, color=style.NEUTRAL, lw=0.8, ls=":")
        ax.set_xticks(xs3, [r"$L_{align}$", r"$L_{uniform}$", "sum"])
        ax.set(ylim=(-1.05, 1.05), ylabel="Spearman with accuracy")
        ax.set_title("(c) rank correlation\n(negative: lower loss, higher accuracy)")
        ax.legend(loc="upper right", fontsize=7)
        handles = [axes[0, 0].scatter([], [], marker=marker[a], s=40, facecolors="white",
                                      edgecolors="k", label=a) for a in arms]
        fig.legend(handles=handles, loc="outside upper center", ncols=min(len(arms), 6),
                   fontsize=7.5)
        n_seeds = len({p["seed"] for p in pts})
        style.settings_note(
            fig, f"{len(pts)} SimCLR runs ({len(arms)} arms x up to {n_seeds} seed(s)), tier "
                 f"{ctx.tier}; L_align, L_uniform: logged on the normalised projector outputs "
                 f"of the last logged training batch; accuracy: final linear probe on the "
                 f"frozen backbone (test set)")
        paths = style.save_figure(fig, out_dir, "alignment_uniformity_scatter")
    numbers: dict[str, float | str] = {"runs": float(len(pts)), "arms": float(len(arms)),
                                       **rho, "best_arm": best["arm"],
                                       "best_linear": best["linear"],
                                       "best_align": best["align"], "best_unif": best["unif"],
                                       "linear_min": float(lin.min()),
                                       "linear_max": float(lin.max())}
    for a in arms:
        sel = [p for p in pts if p["arm"] == a]
        for k in ("align", "unif", "linear"):
            numbers[f"{a} | {k}"] = float(np.mean([p[k] for p in sel]))
    best_a = min(pts, key=lambda p: p["align"])
    s_sum, s_u, s_a = (rho["spearman_linear_sum"], rho["spearman_linear_unif"],
                       rho["spearman_linear_align"])
    verdict = ("lower alignment + uniformity goes with higher accuracy" if s_sum < -0.5 else
               "lower alignment + uniformity only weakly goes with higher accuracy"
               if s_sum < 0 else "lower alignment + uniformity does not go with higher "
                                 "accuracy")
    caption = (
        f"Across {len(pts)} trained encoders, {verdict}: the Spearman correlation of "
        f"L_align + L_uniform with linear-probe accuracy is {s_sum:.2f} (kNN "
        f"{rho['spearman_knn_sum']:.2f}); taken alone, uniformity gives {s_u:.2f} and "
        f"alignment {s_a:.2f}. The most accurate run ({best['arm']}, "
        f"{100 * best['linear']:.1f}%) sits at L_uniform {best['unif']:.2f}, L_align "
        f"{best['align']:.2f}; the best-aligned run ({best_a['arm']}, L_align "
        f"{best_a['align']:.2f}, L_uniform {best_a['unif']:.2f}) reaches "
        f"{100 * best_a['linear']:.1f}%. Look at the colours along the x axis of (a) "
        f"and at the bars of (c).")
    settings = {"tier": ctx.tier, "prediction": PREDICTION, "runs": len(pts),
                "arms": arms, "align_alpha": 2.0, "unif_t": 2.0,
                "values": "last train row of metrics.jsonl (views/alignment, "
                          "views/uniformity)",
                "accuracy": "summary.json linear_eval.final_accuracy (colour), knn.top1"}
    return FigureResult("alignment_uniformity_scatter", paths, numbers, settings=settings,
                        caption=caption)

"""Fig. 6: real networks without EMA and with a symmetric linear predictor, against the
predictor's relative learning rate alpha_p (``optim.predictor_lr_mult``: the predictor learns
with lr * alpha_p, the encoder with lr).

Theory (Secs. 3-4 of the paper). Without EMA (tau = 1) an aligned mode j of the symmetric
predictor evolves by Eqs. 11-12,

    p_j' = alpha_p s_j [1 - (1 + sigma^2) p_j] - eta p_j ,
    s_j' = 2 p_j s_j [1 - (1 + sigma^2) p_j] - 2 eta s_j ,

with the invariant s_j - p_j^2 / alpha_p = e^{-2 eta t} c_j (Eq. 14). A larger alpha_p helps in
two ways: it flattens the parabola s = p^2 / alpha_p, so the start condition that avoids collapse
at eta = 0, s_j(0) > p_j(0)^2 / alpha_p, holds for more modes (Observation 1), and it loosens the
stability condition of the eigenspace alignment (Eq. 17, K > 0 on mode j),

    Delta_j := p_j [1 - (1 + sigma^2) p_j] - eta < (alpha_p (1 + sigma^2) s_j + eta) / 2 ,

whose left side is O(p_j) while the right side is O(alpha_p s_j) = O(p_j^2): without EMA it can
fail early unless alpha_p is large (Observation 6). Hence alpha_p > 1 rescues the symmetric
predictor without EMA (Fig. 6), which collapses at alpha_p = 1 (Table 3: ~36% on STL-10);
alpha_p cannot be huge either, since s_j(inf) = s_j(0) + (p_j(inf)^2 - p_j(0)^2) / alpha_p
barely grows for alpha_p >> 1 (Observation 2).

The figure draws, per alpha_p (3 seeds; the arms of
:mod:`dynamics.theories.directpred.predictions.training`, the same run folders as prediction 19):

1. the final linear-probe test accuracy, mean +- std over seeds, each seed's points joined by a
   thin line (a seed fixes the initialisation and the data order, so the within-seed ordering
   is visible even when the spread over seeds is large);
2. RankMe of the projector outputs z at the end of training, exp(-sum_k q_k log q_k) with
   q_k = sigma_k / sum_l sigma_l (+ 1e-7) from the singular values sigma_k of the sample
   matrix (1 = collapsed to a line, d = flat spectrum);
3. the normalised std of z, (1/d) sum_k std_i(z_ik / ||z_i||) (0 = complete collapse,
   1/sqrt(d) = isotropic), at the end of training;
4. its time course (mean over seeds).

The symmetric predictor *with* EMA (arm ``symmetric_ema``, alpha_p = 1) is the horizontal
reference (mean +- std band). The judged rescue is the rule of the predictions: acc(alpha_p) -
acc(1) > 2 standard errors over seeds.

Grid (the paper does not state its own): cpu tier alpha_p in {0.3, 1, 3, 10}; the smoke tier
(digits, seconds per run) uses the two arms of prediction 19, alpha_p in {1, 10}.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.ticker import FuncFormatter

from dynamics.plots import style
from dynamics.plots.base import FigureContext, FigureResult, figure
from dynamics.theories.directpred.predictions.training import ARMS, BASE, arms
from dynamics.verify.prediction import compare_means, mean_std
from dynamics.verify.run_data import collapse, linear_accuracy, series

REFERENCE = "symmetric_ema"
#: The alpha_p arms per tier, smallest alpha_p first.
SWEEP = {
    "smoke": ("symmetric_noema", "symmetric_noema_alpha"),
    "cpu": ("symmetric_noema_alpha03", "symmetric_noema", "symmetric_noema_alpha3",
            "symmetric_noema_alpha"),
}
BASELINE = "symmetric_noema"
STEM = "directpred_fig6"


def alpha_p(label: str) -> float:
    """alpha_p of an arm: its ``optim.predictor_lr_mult`` override (1 without one)."""
    for o in ARMS[label]:
        if o.startswith("optim.predictor_lr_mult="):
            return float(o.split("=", 1)[1])
    return 1.0


def runs(tier: str):
    """The alpha_p arms of ``tier`` and the EMA reference, 3 seeds each (built on the tier's
    base config, so the cpu-tier runs are those of prediction 19)."""
    return arms(*SWEEP[tier], REFERENCE)(tier)


def _measures(folder: Path) -> dict[str, float]:
    """Final probe accuracy and collapse signals of one run (NaN where not recorded)."""
    c = {**collapse(folder), "acc": linear_accuracy(folder)}
    keys = {"acc": "acc", "rankme": "rankme_projector", "zstd": "normalized_std_projector",
            "zstd_ref": "normalized_std_reference"}
    return {k: np.nan if c.get(v) is None else float(c[v]) for k, v in keys.items()}


def _zstd_course(folders: list[Path]) -> tuple[np.ndarray, np.ndarray]:
    """(epoch, mean over seeds of collapse/z_std) on the first seed's epochs."""
    e0 = series(folders[0], "collapse/z_std")[0]
    curves = [np.interp(e0, *series(f, "collapse/z_std")) for f in folders]
    return e0, np.mean(curves, axis=0)


def _reference(ax, values: list[float], label: str) -> None:
    m, sd = mean_std(values)
    ax.axhspan(m - sd, m + sd, color=style.ORANGE, alpha=0.2, lw=0)
    ax.axhline(m, color=style.ORANGE, lw=1.6, ls="--", label=label)


@figure('directpred_fig6',
        "Real networks without EMA, symmetric predictor: accuracy and collapse against the "
        "predictor's relative learning rate alpha_p",
        paper_ref='Fig. 6',
        predictions=('directpred.symmetric_rescues', 'directpred.symmetric_needs_ema'),
        run_based=True,
        aliases=('fig6',))
def make(out_dir: Path, *, quick: bool = False, ctx: FigureContext) -> FigureResult:
    """Draw Fig. 6 from the alpha_p arms and the EMA reference of ``ctx`` into ``out_dir``."""
    labels = [a for a in SWEEP[ctx.tier] if ctx.folders(a)]
    if BASELINE not in labels or not ctx.folders(REFERENCE):
        raise ValueError(f"fig6 needs the runs of {BASELINE} and {REFERENCE}")
    alphas = np.array([alpha_p(a) for a in labels])
    seeds = sorted({s.seed for s in ctx.runs})
    per = {a: [_measures(f) for f in ctx.folders(a)] for a in labels + [REFERENCE]}
    base_acc = [m["acc"] for m in per[BASELINE]]
    numbers: dict[str, float | str] = {"n_alpha": float(len(labels)),
                                       "seeds": float(len(per[BASELINE]))}
    for a in labels + [REFERENCE]:
        key = "ema" if a == REFERENCE else f"alpha={alpha_p(a):g}"
        for q in ("acc", "rankme", "zstd"):
            numbers[f"{key}_{q}_mean"], numbers[f"{key}_{q}_std"] = mean_std(
                [m[q] for m in per[a]])
        if a != REFERENCE and a != BASELINE:
            diff, se, ok = compare_means([m["acc"] for m in per[a]], base_acc)
            numbers[f"{key}_minus_alpha=1_acc"], numbers[f"{key}_se"] = diff, se
            numbers[f"{key}_rescued"] = "yes" if ok else "no"
    numbers["zstd_isotropic"] = per[BASELINE][0]["zstd_ref"]
    best = labels[int(np.nanargmax([numbers[f"alpha={x:g}_acc_mean"] for x in alphas]))]
    numbers["best_alpha"] = alpha_p(best)

    cols = style.sweep_colors(len(labels))
    with style.paper_style():
        fig, axes = style.new_figure(1, 4, width=15.5, height=4.2)
        panels = (("acc", "linear-probe test accuracy", "(1) probe accuracy"),
                  ("rankme", "RankMe of projector outputs z", "(2) effective rank"),
                  ("zstd", "normalised std of z / ||z||", "(3) spread of the outputs"))
        for ax, (q, ylabel, title) in zip(axes[0, :3], panels, strict=True):
            vals = np.array([[m[q] for m in per[a]] for a in labels])
            for s in range(vals.shape[1]):
                ax.plot(alphas, vals[:, s], color="0.6", lw=0.7, marker=".", ms=4, zorder=2,
                        label="one seed" if s == 0 else None)
            mean = vals.mean(axis=1)
            std = vals.std(axis=1, ddof=1) if vals.shape[1] > 1 else np.zeros_like(mean)
            ax.errorbar(alphas, mean, yerr=std, color=style.BLUE, lw=1.8, marker="o", ms=6,
                        capsize=4, zorder=4, label=r"no EMA, mean $\pm$ std")
            for x, m, c in zip(alphas, mean, cols, strict=True):
                ax.plot([x], [m], "o", color=c, ms=5, zorder=5)
            _reference(ax, [m[q] for m in per[REFERENCE]], r"with EMA ($\alpha_p=1$)")
            ax.axvline(1.0, color="0.4", lw=0.8, ls=":")
            ax.set_xscale("log")
            ax.set_xlim(alphas.min() / 1.8, alphas.max() * 1.8)
            ax.set_xticks(alphas, [f"{x:g}" for x in alphas])
            ax.minorticks_off()
            ax.set_xlabel(r"$\alpha_p$ (predictor lr / encoder lr)")
            ax.set_ylabel(ylabel)
            ax.set_title(title)
        axes[0, 0].axhline(0.1, color=style.VERMILION, lw=0.8, ls=":", label="chance")
        top = max(np.nanmax([m["acc"] for a in per for m in per[a]]), 0.1)
        axes[0, 0].set_ylim(0, top * 1.3)
        axes[0, 0].legend(loc="upper left", ncol=2)
        for ax in axes[0, 2:]:
            ax.axhline(numbers["zstd_isotropic"], color="0.3", lw=0.8, ls="-.",
                       label=r"isotropic, $1/\sqrt{d}$")
            ax.set_yscale("log")
            for axis in (ax.yaxis.set_major_formatter, ax.yaxis.set_minor_formatter):
                axis(FuncFormatter(lambda v, _: f"{v:g}"))
        axes[0, 2].legend(loc="center right")
        ax = axes[0, 3]
        for a, c in zip(labels, cols, strict=True):
            ax.plot(*_zstd_course(ctx.folders(a)), color=c, lw=1.4,
                    label=rf"no EMA, $\alpha_p={alpha_p(a):g}$")
        ax.plot(*_zstd_course(ctx.folders(REFERENCE)), color=style.ORANGE, lw=1.6, ls="--",
                label=r"with EMA, $\alpha_p=1$")
        ax.set_xlabel("epoch")
        ax.set_ylabel("normalised std of z (mean over seeds)")
        ax.set_title("(4) spread of the outputs over training")
        ax.legend(loc="lower left")
        fig.suptitle(r"Symmetric linear predictor without EMA against the predictor's relative "
                     r"learning rate $\alpha_p$ (the paper: $\alpha_p > 1$ rescues it; dashed: "
                     r"with EMA)", fontsize=10)
        config, base = BASE[ctx.tier]
        style.settings_note(
            fig, f"BYOL, symmetric linear predictor, {ctx.tier} tier: {config} "
                 f"{' '.join(base)}; seeds {', '.join(map(str, seeds))}.\nArms "
                 f"{', '.join(labels)} (method.ema=0) and {REFERENCE}. Accuracy: final linear "
                 "probe; RankMe and std: projector outputs over the last training samples "
                 "(both views).")
        paths = style.save_figure(fig, out_dir, STEM)

    n = numbers
    top = max(alphas)
    key = f"alpha={top:g}"
    verdict = ("rescued" if n[f"{key}_rescued"] == "yes" else
               "not separated from alpha_p = 1 (difference within 2 standard errors)")
    caption = (
        f"Without EMA, a symmetric linear predictor is rescued by a faster predictor "
        f"(alpha_p > 1) in the paper; here, at the {ctx.tier} tier with "
        f"{n['seeds']:.0f} seeds, alpha_p = {top:g} is {verdict}: probe accuracy "
        f"{n[f'{key}_acc_mean']:.3f} +- {n[f'{key}_acc_std']:.3f} against "
        f"{n['alpha=1_acc_mean']:.3f} +- {n['alpha=1_acc_std']:.3f} at alpha_p = 1 and "
        f"{n['ema_acc_mean']:.3f} +- {n['ema_acc_std']:.3f} with EMA (dashed reference). "
        f"The collapse measures (panels 2-4): RankMe of the projector outputs "
        f"{n['alpha=1_rankme_mean']:.1f} at alpha_p = 1, {n[f'{key}_rankme_mean']:.1f} at "
        f"alpha_p = {top:g}, {n['ema_rankme_mean']:.1f} with EMA; normalised output std "
        f"{n['alpha=1_zstd_mean']:.4f}, {n[f'{key}_zstd_mean']:.4f} and "
        f"{n['ema_zstd_mean']:.4f} (isotropic {n['zstd_isotropic']:.3f}). "
        f"Grey lines join each seed's runs across alpha_p.")
    config, base = BASE[ctx.tier]
    return FigureResult("directpred_fig6", paths, numbers, caption=caption, settings={
        "tier": ctx.tier, "config": config, "base_overrides": list(base),
        "arms": {a: list(ARMS[a]) for a in labels + [REFERENCE]},
        "alpha_p": [float(x) for x in alphas], "seeds": seeds,
        "runs": [Path(f).name for a in labels + [REFERENCE] for f in ctx.folders(a)]})

"""Fig. 2: a real network trained by BYOL with a learned linear predictor Wp (the ``linear`` arm of
:mod:`dynamics.theories.directpred.predictions.training`, 3 seeds; the same run folders as
predictions 13-15 of ``verify``).

Every logged row of a run (``log.log_every`` steps) holds F, the running correlation of the
predictor input f (the projector output), F <- rho F + (1 - rho) E_B[f f^T] (Eq. 19), its
eigendecomposition F = U diag(s) U^T (s_1 >= s_2 >= ...), and the eigenvalues of Wp
(``spectra.jsonl``, every mode; ``metrics.jsonl``, the scalars). Columns, following the paper's
protocol for real networks:

1. s_j(t) on a log scale (seed 0, every mode; s_j is the j-th largest eigenvalue at each
   row): the spectrum bifurcates, a few modes grow, s_j(T) > s_j(t_0), while the bulk shrinks
   (t_0 = the first logged row, T = the last). Counted on every seed: growing modes, those
   growing more than 2-fold and those below 1e-3 s_1(T) at the end (the counting rule of
   prediction 15), and the median factor s_j(T) / s_j(t_0) of the shrinking ones.
2. Re lambda_k(Wp)(t) (seed 0, every eigenvalue): the leading ones grow, the negative ones
   shrink towards 0; the most negative one is drawn as mean +- std over the seeds.
3. Eigenspace alignment cos_j = u_j^T Wp u_j / ||Wp u_j|| (the cosine between the eigenvector u_j
   of F and its image under Wp; 1 iff u_j is an eigenvector of Wp with a positive eigenvalue).
   Thin lines: the leading modes of seed 0; bands: the s-weighted mean
   A_w = sum_j s_j cos_j / sum_j s_j and the plain mean over the non-null modes
   (s_j > 1e-3 s_1), mean +- std over the seeds (Theorem 3: alignment is stable, A_w -> 1).
4. Symmetry and PSD-ness: the asymmetry ||Wp - Wp^T||_F / ||Wp + Wp^T||_F (0 = symmetric) and
   lambda_min((Wp + Wp^T)/2), on the full matrix and on F's data subspace U_k (the k
   eigenvectors with s_j > 0.01 s_1; M = U_k^T Wp U_k, lambda_min(sym M) / max |lambda(sym M)|),
   mean +- std over the seeds. Outside the data subspace Wp keeps its random initial weights,
   shrinking only by weight decay, so the full-matrix values move slowly.

Everything is read from the runs' logs (:mod:`dynamics.verify.run_data`): no checkpoint is
needed. The seeds share one logging grid; a seed's curve is interpolated onto seed 0's epochs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dynamics.plots import style
from dynamics.plots.base import FigureContext, FigureResult, figure
from dynamics.theories.directpred.predictions.training import ARMS, BASE, arms
from dynamics.verify.prediction import mean_std
from dynamics.verify.run_data import linear_accuracy, rows, series, spectra

ARM = "linear"
#: Modes of F drawn one by one in the alignment column (the leading ones, seed 0).
N_COS = 6
GROW, VANISH = 2.0, 1e-3
STEM = "directpred_fig2"


def runs(tier: str):
    """The ``linear`` arm at ``tier``: the RunSpecs of predictions 13-16."""
    return arms(ARM)(tier)


def _band(folders: list[Path], key: str, epochs: np.ndarray
          ) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Mean and std over seeds of one logged scalar, on ``epochs``; the per-seed curves."""
    curves = []
    for f in folders:
        e, v = series(f, key)
        ok = np.isfinite(v)
        if ok.sum() >= 2:
            curves.append(np.interp(epochs, e[ok], v[ok]))
    if not curves:
        return np.full_like(epochs, np.nan), np.full_like(epochs, np.nan), []
    arr = np.asarray(curves)
    std = arr.std(axis=0, ddof=1) if len(arr) > 1 else np.zeros(arr.shape[1])
    return arr.mean(axis=0), std, curves


def _min_eig_series(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """(epoch, most negative real eigenvalue of Wp) from the ``predictor/eig_bottom`` column."""
    pts = [(r["epoch"], r["predictor/eig_bottom"][-1]) for r in rows(folder)
           if r.get("predictor/eig_bottom")]
    if not pts:
        return np.zeros(0), np.zeros(0)
    e, v = zip(*pts, strict=True)
    return np.asarray(e, float), np.asarray(v, float)


def _spectra(folder: Path, key: str) -> tuple[np.ndarray, np.ndarray]:
    """(epoch, array [rows, modes]) of one list-valued column of ``spectra.jsonl``."""
    sp = [r for r in spectra(folder) if r.get(key)]
    return (np.asarray([r["epoch"] for r in sp], float),
            np.asarray([r[key] for r in sp], float))


def _draw_band(ax, x, mean, std, color, label, lw=1.8):
    ax.fill_between(x, mean - std, mean + std, color=color, alpha=0.25, lw=0)
    ax.plot(x, mean, color=color, lw=lw, label=label)


def _ms(values) -> tuple[float, float]:
    return mean_std([float(v) for v in values])


KEYS = {"align_w": "predictor/weighted_alignment", "align_mean": "predictor/mean_alignment",
        "asym": "predictor/asymmetry", "asym_data": "predictor/data_asymmetry",
        "lmin": "predictor/min_sym_eigenvalue", "lmin_data": "predictor/data_min_eig"}


def _spectrum_numbers(folders: list[Path]) -> dict[str, float]:
    """Columns 1-2 on every seed: growing / shrinking / vanishing modes of F (first vs last
    row) and the extreme real eigenvalues of Wp, as mean (and min or std) over seeds."""
    per: dict[str, list[float]] = {k: [] for k in (
        "F_grow", "F_grow_x2", "F_shrink", "F_vanish", "factor", "wp_min_eig_start",
        "wp_min_eig_end", "wp_max_eig_start", "wp_max_eig_end")}
    for f in folders:
        s = _spectra(f, "F_eigs")[1]
        ratio = s[-1] / np.maximum(s[0], 1e-300)
        per["F_grow"].append(np.sum(ratio > 1))
        per["F_grow_x2"].append(np.sum(ratio > GROW))
        per["F_shrink"].append(np.sum(ratio < 1))
        per["F_vanish"].append(np.sum(s[-1] < VANISH * s[-1].max()))
        per["factor"].append(np.median(ratio[ratio < 1]) if (ratio < 1).any() else np.nan)
        p = _spectra(f, "predictor_eigs_real")[1]
        per["wp_min_eig_start"].append(p[0].min())
        per["wp_min_eig_end"].append(p[-1].min())
        per["wp_max_eig_start"].append(p[0].max())
        per["wp_max_eig_end"].append(p[-1].max())
    out = {"n_modes": float(s.shape[1]), "F_shrink_factor_median": _ms(per.pop("factor"))[0]}
    for k, vals in per.items():
        if k.startswith("F_"):
            out[f"{k}_mean"], out[f"{k}_min"] = _ms(vals)[0], float(min(vals))
        else:
            out[f"{k}_mean"], out[f"{k}_std"] = _ms(vals)
    return out


def _draw_F(ax, ep: np.ndarray, F: np.ndarray) -> None:
    """Column 1: every eigenvalue of F (seed 0); growing modes blue, shrinking vermilion."""
    floor = F.max() * 1e-9
    grew = F[-1] > F[0]
    for j in range(F.shape[1]):
        ax.plot(ep, np.maximum(F[:, j], floor), zorder=3 if grew[j] else 2,
                **(dict(color=style.BLUE, lw=1.2) if grew[j] else
                   dict(color=style.VERMILION, lw=0.5, alpha=0.35)))
    ax.set_yscale("log")
    lo, hi = ax.get_ylim()
    ax.set_ylim(lo, hi * 30)
    factor = np.median(F[-1][~grew] / F[0][~grew]) if (~grew).any() else np.nan
    ax.plot([], [], color=style.BLUE, lw=1.2, label=f"grew ({int(grew.sum())} of {F.shape[1]})")
    ax.plot([], [], color=style.VERMILION, lw=1.2,
            label=f"shrank ({int((~grew).sum())}; median x{factor:.2f})")
    ax.legend(loc="upper right")
    ax.set_ylabel(r"eigenvalues $s_j$ of $F$")
    ax.set_title("(1) spectrum of F bifurcates (seed 0)")


def _draw_wp(ax, ep: np.ndarray, P: np.ndarray, epochs: np.ndarray, folders: list[Path]):
    """Column 2: real parts of Wp's eigenvalues (seed 0), most negative one over seeds."""
    neg_start = P[0] < 0
    for k in range(P.shape[1]):
        ax.plot(ep, P[:, k], lw=0.6, alpha=0.8,
                color=style.VERMILION if neg_start[k] else style.BLUE)
    curves = np.asarray([np.interp(epochs, *_min_eig_series(f)) for f in folders])
    std = curves.std(0, ddof=1) if len(curves) > 1 else np.zeros(curves.shape[1])
    _draw_band(ax, epochs, curves.mean(0), std, style.BLACK,
               rf"most negative, mean $\pm$ std ({len(folders)} seeds)")
    ax.axhline(0, color="0.4", lw=0.8, ls=":")
    ax.plot([], [], color=style.BLUE, lw=0.8, label="positive at start")
    ax.plot([], [], color=style.VERMILION, lw=0.8, label="negative at start")
    ax.legend(loc="upper left", frameon=True, facecolor="white", edgecolor="none",
              framealpha=0.9)
    ax.set_ylabel(r"Re $\lambda_k(W_p)$")
    ax.set_title("(2) negative eigenvalues of $W_p$ shrink (seed 0)")


def _draw_alignment(ax, ep: np.ndarray, C: np.ndarray, epochs: np.ndarray, bands) -> None:
    """Column 3: cos_j of the leading modes (seed 0) and the two means over seeds."""
    cols = style.sweep_colors(N_COS)
    for j in range(min(N_COS, C.shape[1])):
        ax.plot(ep, C[:, j], color=cols[j], lw=0.8, alpha=0.9,
                label=rf"$\cos_{{{j + 1}}}$ (seed 0)")
    _draw_band(ax, epochs, *bands["align_w"][:2], style.BLACK,
               r"$s$-weighted mean, mean $\pm$ std")
    _draw_band(ax, epochs, *bands["align_mean"][:2], style.ORANGE,
               r"mean over modes $s_j > 10^{-3}s_1$")
    ax.set_ylim(-0.35, 1.05)
    ax.legend(loc="lower right", ncol=2)
    ax.set_ylabel(r"$\cos(W_p u_j, u_j)$")
    ax.set_title("(3) eigenspace alignment with F rises")


def _draw_symmetry(ax_a, ax_l, epochs: np.ndarray, bands) -> None:
    """Column 4: asymmetry (top) and lambda_min of the symmetric part (bottom)."""
    _draw_band(ax_a, epochs, *bands["asym"][:2], style.BLUE, "full matrix")
    _draw_band(ax_a, epochs, *bands["asym_data"][:2], style.GREEN, "on F's data subspace")
    ax_a.set_ylim(bottom=0)
    ax_a.set_ylabel(r"$\|W_p - W_p^T\| / \|W_p + W_p^T\|$")
    ax_a.set_title("(4) $W_p$ drifts to symmetric PSD")
    ax_a.legend(loc="upper right")
    ax_a.tick_params(labelbottom=False)
    _draw_band(ax_l, epochs, *bands["lmin"][:2], style.BLUE, "full matrix")
    _draw_band(ax_l, epochs, *bands["lmin_data"][:2], style.GREEN,
               r"data subspace, $/\max|\lambda|$")
    ax_l.axhline(0, color="0.4", lw=0.8, ls=":")
    ax_l.set_ylabel(r"$\lambda_{\min}\left((W_p + W_p^T)/2\right)$")
    ax_l.legend(loc="best", frameon=True, facecolor="white", edgecolor="none", framealpha=0.9)


def _caption(n: dict, tier: str) -> str:
    return (
        f"A learned linear predictor aligns with the eigenspace of F and drifts towards a "
        f"symmetric PSD matrix while F's spectrum bifurcates ({n['seeds']:.0f} seeds, "
        f"{n['epochs']:g} epochs, {tier} tier). "
        f"The s-weighted alignment rises from {n['align_w_start_mean']:.2f} to "
        f"{n['align_w_end_mean']:.3f} +- {n['align_w_end_std']:.3f} (plain mean over non-null "
        f"modes {n['align_mean_start_mean']:.2f} -> {n['align_mean_end_mean']:.2f}); "
        f"{n['F_grow_mean']:.1f} of {n['n_modes']:.0f} eigenvalues of F grow "
        f"({n['F_grow_x2_mean']:.1f} more than {GROW:g}-fold) while the other "
        f"{n['F_shrink_mean']:.1f} shrink (median factor {n['F_shrink_factor_median']:.2f}), "
        f"and the most negative eigenvalue of Wp shrinks from "
        f"{n['wp_min_eig_start_mean']:.2f} to {n['wp_min_eig_end_mean']:.2f}. "
        f"Column 4: the asymmetry falls from {n['asym_start_mean']:.2f} to "
        f"{n['asym_end_mean']:.2f} on the full matrix and from {n['asym_data_start_mean']:.2f} "
        f"to {n['asym_data_end_mean']:.2f} on F's data subspace, where lambda_min of the "
        f"symmetric part ends at {n['lmin_data_end_mean']:+.2f} of the largest (full matrix "
        f"{n['lmin_end_mean']:+.2f}: the random directions without data only decay).")


@figure('directpred_fig2',
        "Real network: spectra of F and of the learned predictor, their eigenspace alignment and "
        "the predictor's symmetry over training",
        paper_ref='Fig. 2',
        predictions=('directpred.eigenspace_alignment',
                     'directpred.predictor_symmetric_psd',
                     'directpred.spectra_bifurcate'),
        run_based=True,
        aliases=('fig2',))
def make(out_dir: Path, *, quick: bool = False, ctx: FigureContext) -> FigureResult:
    """Draw Fig. 2 from the ``linear`` runs of ``ctx`` into ``out_dir``."""
    folders = ctx.folders(ARM)
    seeds = sorted(s.seed for s in ctx.runs if s.label == ARM)
    if not folders:
        raise ValueError("fig2 needs the finished runs of the 'linear' arm")
    epochs = series(folders[0], KEYS["align_w"])[0]
    bands = {k: _band(folders, key, epochs) for k, key in KEYS.items()}
    n: dict[str, float | str] = {"seeds": float(len(folders)), "epochs": float(epochs[-1])}
    for k, (_, _, curves) in bands.items():
        for when, idx in (("start", 0), ("end", -1)):
            n[f"{k}_{when}_mean"], n[f"{k}_{when}_std"] = _ms(c[idx] for c in curves)
    n["asym_decreasing_frac"] = float(np.mean(np.diff(bands["asym"][0]) <= 0))
    n.update(_spectrum_numbers(folders))
    n["linear_acc_mean"], n["linear_acc_std"] = mean_std([linear_accuracy(f) for f in folders])
    config, base = BASE[ctx.tier]

    with style.paper_style():
        fig, axes = style.new_figure(2, 4, width=15.5, height=5.4)
        gs = axes[0, 0].get_gridspec()
        for ax in axes[:, :3].ravel():
            ax.remove()
        ax_f, ax_p, ax_c = (fig.add_subplot(gs[:, c]) for c in range(3))
        _draw_F(ax_f, *_spectra(folders[0], "F_eigs"))
        _draw_wp(ax_p, *_spectra(folders[0], "predictor_eigs_real"), epochs, folders)
        _draw_alignment(ax_c, *_spectra(folders[0], "alignment_cos"), epochs, bands)
        _draw_symmetry(axes[0, 3], axes[1, 3], epochs, bands)
        for ax in (ax_f, ax_p, ax_c, axes[1, 3]):
            ax.set_xlabel("epoch")
        style.settings_note(
            fig, f"BYOL, learned linear predictor (arm '{ARM}'), {ctx.tier} tier: {config} "
                 f"{' '.join(base)}; seeds {', '.join(map(str, seeds))}; "
                 f"linear probe {n['linear_acc_mean']:.3f} $\\pm$ {n['linear_acc_std']:.3f}. "
                 "Bands: mean $\\pm$ std over seeds; F's data subspace = eigenvectors with "
                 "$s_j > 0.01 s_1$.")
        paths = style.save_figure(fig, out_dir, STEM)
    return FigureResult("directpred_fig2", paths, n, caption=_caption(n, ctx.tier), settings={
        "tier": ctx.tier, "config": config, "overrides": list(base + ARMS[ARM]),
        "seeds": seeds, "arm": ARM, "runs": [Path(f).name for f in folders]})

"""Fig. 4: the 1-D flow on the invariant parabola, Eq. 16.

On the invariant parabola s_j = p_j^2/alpha_p (c_j = 0) the mode dynamics at fixed tau reduce to

    dp_j/dt = p_j^2 [tau - (1+sigma2) p_j] - eta p_j = -(1+sigma2) p_j (p_j - p*_-)(p_j - p*_+)

(:func:`dynamics.theories.directpred.closed_form.parabola_flow`). Three regimes:

(a) eta = 0: p = 0 is a saddle-node (semi-stable): dp/dt = p^2 [tau - (1+sigma2) p] > 0 on both
    sides of 0 near it, so starts with p_0 < 0 creep up to 0 (algebraically, p ~ -1/(tau t):
    collapse) while starts with p_0 > 0 leave it for p*_+ = tau/(1+sigma2) (stable);
(b) 0 < eta <= tau^2/(4(1+sigma2)): p = 0 stable, p*_- unstable (edge of the collapse basin
    p < p*_-), p*_+ stable;
(c) eta > tau^2/(4(1+sigma2)): only p = 0 (every mode collapses, Obs. 5).

Settings (the paper's Fig. 4 is schematic; these values are our choice): tau = 1, sigma2 = 0,
alpha_p = 1; eta = 0, 0.1 and 0.4 (threshold eta_c = 0.25). Fixed points come from
:func:`~dynamics.theories.directpred.phase.parabola_fixed_points` (locations from
:func:`~dynamics.theories.directpred.closed_form.fixed_points`, stability from the slope of the
flow). As a check the figure integrates the full mode ODEs (Eqs. 11-12,
:func:`~dynamics.theories.directpred.modes.simulate_modes`) from starts on the parabola (s0 =
p0^2/alpha_p) on both sides of the origin, p0 in [-0.29, 1.24], and shows each start's fate as a
tick under the curve (vermilion: |p(T)| < 0.01, collapsed; blue: reached p*_+). The numbers report
the measured split (midpoint between the largest collapsing and the smallest surviving start), which
must be 0 in (a) and p*_- in (b).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dynamics.plots import style
from dynamics.plots.base import FigureResult, figure
from dynamics.theories.directpred.closed_form import collapse_threshold, parabola_flow
from dynamics.theories.directpred.modes import simulate_modes
from dynamics.theories.directpred.phase import parabola_fixed_points

TAU, SIGMA2, ALPHA_P = 1.0, 0.0, 1.0
ETAS = (0.0, 0.1, 0.4)
P_RANGE = (-0.3, 1.25)
COLLAPSED_P = 1e-2  # |p_j(T)| below this counts as collapsed (s_j = p_j^2 < 1e-4)


def _fixed_points(eta: float) -> list[tuple[str, float, str]]:
    """(label, p, kind) of the fixed points of Eq. 16, from
    :func:`dynamics.theories.directpred.phase.parabola_fixed_points` (locations:
    closed_form.fixed_points;
    stability: sign of the flow's derivative)."""
    pts = parabola_fixed_points(tau=TAU, eta=eta, sigma2=SIGMA2)
    out = []
    nonzero = [f for f in pts if f.p != 0.0]
    for f in pts:
        if f.p == 0.0:
            label = "0"
        elif len(nonzero) == 2:
            label = "p*-" if f.p == min(g.p for g in nonzero) else "p*+"
        else:
            label = "p*+"
        out.append((label, f.p, f.kind))
    return out


def _fates(eta: float, p0: np.ndarray, t_end: float) -> tuple[np.ndarray, float]:
    """Which starts on the parabola collapse under Eqs. 11-12 (|p(T)| < COLLAPSED_P), and the
    measured split: the midpoint between the largest collapsing and the smallest surviving start
    (-inf when none collapses, +inf when none survives)."""
    tr = simulate_modes(p0, p0**2 / ALPHA_P, alpha_p=ALPHA_P, eta=eta, sigma2=SIGMA2, tau0=TAU,
                        beta=None, t_end=t_end, n_save=2)
    if not tr.ok:
        raise RuntimeError(f"fig4 simulation did not complete: {tr.status_text()}")
    collapsed = np.abs(np.asarray(tr.p[-1])) < COLLAPSED_P
    gone, survive = p0[collapsed], p0[~collapsed]
    if gone.size and survive.size:
        split = 0.5 * (gone.max() + survive.min())
    else:
        split = float("-inf") if survive.size else float("inf")
    return collapsed, float(split)


def _arrows(ax, eta: float, pts) -> None:
    """Direction of the flow along the p axis (sign of Eq. 16)."""
    for q in np.linspace(P_RANGE[0] + 0.05, P_RANGE[1] - 0.05, 9):
        v = float(parabola_flow(q, TAU, SIGMA2, eta))
        if abs(v) < 2e-3 or any(abs(q - r) < 0.04 for _, r, _ in pts):
            continue
        ax.annotate("", xy=(q + 0.045 * np.sign(v), 0), xytext=(q, 0),
                    arrowprops=dict(arrowstyle="-|>", color="0.3", lw=1.0), zorder=4)


@figure('directpred_fig4',
        '1-D flow on the invariant parabola (Eq. 16)',
        paper_ref='Fig. 4',
        predictions=('directpred.mode_invariant',
                     'directpred.collapse_threshold',
                     'directpred.strong_weight_decay_collapse'),
        aliases=('fig4',))
def make(out_dir: Path, *, quick: bool = False) -> FigureResult:
    """Draw Fig. 4 (the 1-D flow of Eq. 16 on the invariant parabola) into ``out_dir``."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    eta_c = float(collapse_threshold(TAU, SIGMA2))
    p = np.linspace(*P_RANGE, 600)
    n_starts = 32 if quick else 125
    # Symmetric about no fixed point: no start sits exactly at 0 or at p*_-.
    p0 = np.linspace(P_RANGE[0] + 0.01, P_RANGE[1] - 0.01, n_starts)
    t_end = 400.0 if quick else 2000.0
    numbers: dict[str, float | str] = {"tau": TAU, "sigma2": SIGMA2, "eta_c": eta_c}
    titles = (r"(a) $\eta = 0$: origin semi-stable (saddle-node)",
              rf"(b) $0 < \eta = {ETAS[1]:g} \leq \eta_c = \tau^2/4(1+\sigma^2) = {eta_c:g}$",
              rf"(c) $\eta = {ETAS[2]:g} > \eta_c$: only $p=0$, all collapse")
    fate_text = []
    with style.paper_style():
        fig, axes = style.new_figure(1, 3, width=12.5, height=4.1)
        for k, (ax, eta) in enumerate(zip(axes[0], ETAS, strict=True)):
            tag = "abc"[k]
            f = parabola_flow(p, TAU, SIGMA2, eta)
            pts = _fixed_points(eta)
            # Collapse basin of Eq. 16: p < p*_- (b), p < 0 (a: the attracting side of the
            # saddle-node), everything (c).
            edge = next((q for lab, q, _ in pts if lab == "p*-"), None)
            if edge is None:
                edge = P_RANGE[1] if eta > eta_c else 0.0
            ax.axvspan(P_RANGE[0], edge, color=style.COLLAPSE_SHADE, lw=0, zorder=0)
            ax.axhline(0, color="0.6", lw=0.8, zorder=1)
            ax.plot(p, f, color=style.THEORY, lw=1.6, zorder=3)
            _arrows(ax, eta, pts)
            ymin, ymax = float(np.min(f)), float(np.max(f))
            span = ymax - ymin
            if eta == 0:
                ax.annotate("attracts from $p<0$,\nrepels towards $p>0$", (0.0, 0.0),
                            xytext=(0.1, -0.12 * span), fontsize=7.5,
                            ha="left", va="top", arrowprops=dict(arrowstyle="->", lw=0.8,
                                                                  color="0.25"), zorder=8)
            style.mark_points(ax, [q for _, q, _ in pts], [0.0] * len(pts),
                              [kind for *_, kind in pts], size=60, zorder=7)
            for lab, q, kind in pts:
                txt = {"0": "0", "p*-": r"$p^*_-$", "p*+": r"$p^*_+$"}[lab]
                ax.annotate(txt, (q, 0), xytext=(0, 9), textcoords="offset points",
                            ha="center", fontsize=8.5, zorder=8)
                numbers[f"{tag}_{lab}"] = q
                numbers[f"{tag}_{lab}_kind"] = kind
            numbers[f"{tag}_eta"] = eta
            numbers[f"{tag}_n_fixed_points"] = float(len(pts))
            # Fates of starts on the parabola under the full mode ODEs (Eqs. 11-12).
            coll, split = _fates(eta, p0, t_end)
            ybar = ymin - 0.13 * span
            tick = dict(s=70, marker="|", linewidths=1.6 if n_starts < 60 else 0.8, zorder=5)
            ax.scatter(p0[coll], np.full(coll.sum(), ybar), color=style.VERMILION, **tick)
            ax.scatter(p0[~coll], np.full((~coll).sum(), ybar), color=style.STABLE, **tick)
            ax.text(P_RANGE[0] + 0.01, ybar + 0.045 * span, "fate of starts on the parabola",
                    fontsize=7, color="0.3", va="bottom")
            ax.set_ylim(ymin - 0.2 * span, ymax + 0.15 * span)
            ax.set_xlim(*P_RANGE)
            neg, pos = p0 < 0, p0 > 0
            numbers[f"{tag}_sim_boundary"] = split
            numbers[f"{tag}_sim_survive_frac"] = float((~coll).mean())
            numbers[f"{tag}_sim_neg_collapse_frac"] = float(coll[neg].mean())
            numbers[f"{tag}_sim_pos_survive_frac"] = float((~coll[pos]).mean())
            numbers[f"{tag}_sim_n_neg"] = float(neg.sum())
            numbers[f"{tag}_sim_n_pos"] = float(pos.sum())
            fate_text.append((int(coll[neg].sum()), int(neg.sum()), int((~coll[pos]).sum()),
                              int(pos.sum()), split))
            ax.set_title(titles[k])
            ax.set_xlabel(r"$p_j$ (predictor eigenvalue)")
            if k == 0:
                ax.set_ylabel(r"$\mathrm{d}p_j/\mathrm{d}t$ on $s_j = p_j^2/\alpha_p$ (Eq. 16)")
        handles = [
            Line2D([], [], color=style.THEORY, lw=1.6,
                   label=r"$\dot p = p^2[\tau-(1+\sigma^2)p]-\eta p$"),
            Patch(color=style.COLLAPSE_SHADE, label="collapse basin"),
            Line2D([], [], color=style.VERMILION, marker="|", ls="none", markersize=9, mew=1.6,
                   label="start collapses (Eqs. 11-12)"),
            Line2D([], [], color=style.STABLE, marker="|", ls="none", markersize=9, mew=1.6,
                   label=r"start reaches $p^*_+$ (Eqs. 11-12)"),
        ] + [style.fixed_point_handle(k) for k in ("stable", "unstable", "semi-stable")]
        fig.legend(handles=handles, loc="outside upper center", ncols=4, fontsize=7.5)
        style.settings_note(
            fig, rf"$\tau={TAU:g}$, $\sigma^2={SIGMA2:g}$, $\alpha_p={ALPHA_P:g}$ (paper: "
                 rf"schematic; values ours). Ticks: {n_starts} starts $s_0=p_0^2$, "
                 rf"Eqs. 11-12 to $t={t_end:g}$; collapsed if $|p(t)|<{COLLAPSED_P:g}$.")
        paths = style.save_figure(fig, out_dir, "directpred_fig4")
    (an, anb, ap, apb, _), (_, _, _, _, bsplit) = fate_text[0], fate_text[1]
    pm = numbers["b_p*-"]
    caption = (
        f"Weight decay turns the origin of the parabola flow (Eq. 16) from semi-stable into "
        f"stable: at eta = 0 it attracts from the left and repels to the right (all {an} of "
        f"{anb} starts with p0 < 0 collapse, all {ap} of {apb} with p0 > 0 reach "
        f"p*_+ = {numbers['a_p*+']:.3g}); at eta = {ETAS[1]:g} the collapse basin is "
        f"p < p*_- = {pm:.3f} (the integrated starts split at {bsplit:.3f}); above "
        f"eta_c = {eta_c:g} (eta = {ETAS[2]:g}) only p = 0 remains and all "
        f"{int(round((1 - numbers['c_sim_survive_frac']) * n_starts))} starts collapse. "
        f"Read the arrows on the axis for the direction of the flow, the shading for the "
        f"collapse basin, and the ticks below each curve for the fate of starts on the "
        f"parabola under the full mode ODEs (Eqs. 11-12).")
    return FigureResult("directpred_fig4", paths, numbers,
                        settings={"tau": TAU, "sigma2": SIGMA2, "alpha_p": ALPHA_P,
                                  "etas": list(ETAS), "p_range": list(P_RANGE),
                                  "n_starts": n_starts, "p0_range": [float(p0[0]),
                                                                     float(p0[-1])],
                                  "t_end": t_end, "collapsed_if_abs_p_below": COLLAPSED_P},
                        caption=caption)

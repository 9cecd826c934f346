"""Fig. 3: (p_j, s_j) phase portrait of the decoupled mode dynamics, Eqs. 11-12, at fixed tau.

Streamlines of the vector field (:func:`dynamics.theory.phase.flow_field`), fixed points and their
stability (:func:`dynamics.theory.phase.mode_fixed_points`; red = stable, green = unstable or
saddle; for eta = 0 the fixed points form two lines, coloured segment by segment by their
transverse stability), the invariant parabola s = p^2/alpha_p (dashed,
:func:`dynamics.theory.closed_form.parabola_s`), and the collapse basin (light red shading):
the initial conditions whose final s_j < 1e-6, from one batched integration of Eqs. 11-12 per
panel (:func:`dynamics.theory.phase.basin_grid`).

Paper settings: tau = 1, alpha_p = 1, three panels eta = 0, 0.01, 1.
Settings the paper does not state (our choice): sigma2 = 0; window p in [-1, 1.6],
s in [0, 2]; basin grid 80 x 60 (quick: 32 x 24) integrated to t = 300 (eta = 0, 0.01) and
t = 50 (eta = 1) with rtol 1e-6 (the reported ``settled`` fraction checks that this suffices).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from dynamics.plots import style
from dynamics.plots.base import FigureResult
from dynamics.theory.closed_form import collapse_threshold, parabola_s
from dynamics.theory.phase import basin_grid, flow_field, mode_fixed_points

TAU, ALPHA_P, SIGMA2 = 1.0, 1.0, 0.0
ETAS = (0.0, 0.01, 1.0)
# Basin horizons: enough for every start to settle (checked by the "settled" fraction in the
# numbers); collapse under eta = 1 takes a few time units.
BASIN_T_END = {0.0: 300.0, 0.01: 300.0, 1.0: 50.0}
P_LIM = (-1.0, 1.6)
S_LIM = (0.0, 2.0)


def _draw_lines(ax, fp) -> None:
    """A line of non-isolated fixed points (eta = 0), coloured by transverse stability."""
    for lo, hi, kind in fp.segments:
        col = style.STABLE if kind == "stable" else style.UNSTABLE
        if fp.parameter == "p":  # the line s = 0
            a, b = max(lo, P_LIM[0]), min(hi, P_LIM[1])
            ax.plot([a, b], [0, 0], color=col, lw=4, solid_capstyle="butt", zorder=5,
                    clip_on=False)
        else:  # the line p = tau/(1+sigma2), parameter s
            a, b = max(lo, S_LIM[0]), min(hi, S_LIM[1])
            ax.plot([fp.p, fp.p], [a, b], color=col, lw=4, solid_capstyle="butt", zorder=5)


def _zoom_inset(ax, iso, eta: float) -> None:
    """Inset around the origin, where the stable (0, 0) and the saddle (p*_-, p*_-^2/alpha_p)
    are too close to tell apart at the panel's scale."""
    saddle = next(f for f in iso if f.kind == "saddle")
    w = 2.5 * saddle.p
    pl, sl = (-w, 1.6 * w), (0.0, 2.2 * saddle.p**2 / ALPHA_P * 2.5)
    ins = ax.inset_axes((0.33, 0.5, 0.4, 0.38))
    gp = np.linspace(*pl, 60)
    gs = np.linspace(*sl, 60)
    P, S = np.meshgrid(gp, gs)
    dp, ds = flow_field(P, S, tau=TAU, alpha_p=ALPHA_P, eta=eta, sigma2=SIGMA2)
    ins.set_facecolor("white")
    ins.streamplot(gp, gs, dp, ds, color=style.FLOW, density=0.7, linewidth=0.6,
                   arrowsize=0.6)
    pc = np.linspace(*pl, 200)
    ins.plot(pc, parabola_s(pc, ALPHA_P), color=style.PARABOLA, ls="--", lw=1.0)
    style.mark_points(ins, [f.p for f in iso], [f.s for f in iso], [f.kind for f in iso],
                      size=30, zorder=7)
    ins.set_xlim(*pl)
    ins.set_ylim(*sl)
    ins.tick_params(labelsize=6)
    ins.text(0.5, 0.97, rf"zoom: saddle at $p^*_- = {saddle.p:.4f}$", transform=ins.transAxes,
             ha="center", va="top", fontsize=7,
             bbox=dict(boxstyle="round,pad=0.2", fc="white", ec="none", alpha=0.9))
    ins.ticklabel_format(axis="y", style="sci", scilimits=(0, 0))
    ins.yaxis.get_offset_text().set_fontsize(6)
    for side in ("top", "right"):
        ins.spines[side].set_visible(True)


def make(out_dir: Path, *, quick: bool = False) -> FigureResult:
    """Draw Fig. 3 (phase portraits of Eqs. 11-12, eta = 0, 0.01, 1) into ``out_dir``."""
    nx, ny = (32, 24) if quick else (80, 60)
    gp = np.linspace(*P_LIM, 160)
    gs = np.linspace(*S_LIM, 140)
    P, S = np.meshgrid(gp, gs)
    p_curve = np.linspace(*P_LIM, 400)
    numbers: dict[str, float | str] = {"tau": TAU, "alpha_p": ALPHA_P, "sigma2": SIGMA2,
                                       "eta_c": float(collapse_threshold(TAU, SIGMA2))}
    with style.paper_style():
        fig, axes = style.new_figure(1, 3, width=12.5, height=4.3, sharey=True)
        for k, eta in enumerate(ETAS):
            ax = axes[0, k]
            tag = "abc"[k]
            # Collapse basin from simulations of Eqs. 11-12 (cell centres of an nx x ny grid).
            bp = P_LIM[0] + (np.arange(nx) + 0.5) * (P_LIM[1] - P_LIM[0]) / nx
            bs = S_LIM[0] + (np.arange(ny) + 0.5) * (S_LIM[1] - S_LIM[0]) / ny
            basin = basin_grid(bp, bs, tau=TAU, alpha_p=ALPHA_P, eta=eta, sigma2=SIGMA2,
                               t_end=BASIN_T_END[eta], rtol=1e-6, atol=1e-9)
            ax.imshow(np.where(basin.collapsed, 1.0, np.nan), origin="lower",
                      extent=(*P_LIM, *S_LIM), aspect="auto", cmap="Reds", vmin=0, vmax=6,
                      interpolation="nearest", zorder=0)
            numbers[f"{tag}_collapse_fraction"] = basin.fraction_collapsed
            numbers[f"{tag}_settled_fraction"] = float(np.mean(basin.settled))
            numbers[f"{tag}_t_end"] = float(basin.params["t_end"])
            # Flow lines.
            dp, ds = flow_field(P, S, tau=TAU, alpha_p=ALPHA_P, eta=eta, sigma2=SIGMA2)
            ax.streamplot(gp, gs, dp, ds, color=style.FLOW, density=1.1, linewidth=0.7,
                          arrowsize=0.8, zorder=2)
            ax.plot(p_curve, parabola_s(p_curve, ALPHA_P), color=style.PARABOLA, ls="--",
                    lw=1.3, zorder=3)
            # Fixed points.
            fps = mode_fixed_points(tau=TAU, alpha_p=ALPHA_P, eta=eta, sigma2=SIGMA2)
            numbers[f"{tag}_eta"] = eta
            numbers[f"{tag}_n_fixed"] = float(len(fps))
            iso = sorted((f for f in fps if f.kind != "non-isolated"), key=lambda f: f.p)
            style.mark_points(ax, [f.p for f in iso], [f.s for f in iso], [f.kind for f in iso],
                              size=55, zorder=7)
            for i, f in enumerate(iso):
                numbers[f"{tag}_fp{i}_p"] = f.p
                numbers[f"{tag}_fp{i}_s"] = f.s
                numbers[f"{tag}_fp{i}_kind"] = f.kind
                if f.kind == "saddle":
                    numbers[f"{tag}_p_minus"] = f.p
                elif f.kind == "stable" and f.p > 0:
                    numbers[f"{tag}_p_plus"] = f.p
            for i, f in enumerate(f for f in fps if f.kind == "non-isolated"):
                _draw_lines(ax, f)
                numbers[f"{tag}_line{i}"] = f.line or ""
                numbers[f"{tag}_line{i}_segments"] = "; ".join(
                    f"{lo:g}..{hi:g} {kind}" for lo, hi, kind in f.segments)
            if eta > 0 and len(iso) == 3:
                _zoom_inset(ax, iso, eta)
            ax.set_xlim(*P_LIM)
            ax.set_ylim(*S_LIM)
            regime = ("lines of fixed points" if eta == 0 else
                      "3 fixed points" if eta <= collapse_threshold(TAU, SIGMA2) else
                      r"$\eta > \tau^2/4$: only collapse")
            ax.set_title(rf"({tag}) $\eta = {eta:g}$, $\tau = {TAU:g}$, "
                         rf"$\alpha_p = {ALPHA_P:g}$: {regime}")
            ax.set_xlabel(r"$p_j$ (eigenvalue of $W_p$)")
            if k == 0:
                ax.set_ylabel(r"$s_j$ (eigenvalue of $F$)")
        from matplotlib.lines import Line2D
        from matplotlib.patches import Patch

        handles = style.stability_legend_handles() + [
            Line2D([], [], color=style.PARABOLA, ls="--", label=r"$s = p^2/\alpha_p$"),
            Line2D([], [], color=style.FLOW, lw=0.8, label="flow lines (Eqs. 11-12)"),
            Line2D([], [], color=style.STABLE, lw=4,
                   label=r"$\eta=0$ fixed-point line, attracting"),
            Line2D([], [], color=style.UNSTABLE, lw=4, label="... repelling"),
            Patch(color="#fcd5c6", label=r"collapse basin ($s_j(T) < 10^{-6}$, simulated)"),
        ]
        fig.legend(handles=handles, loc="outside upper center", ncols=7, fontsize=7)
        style.settings_note(
            fig, rf"Eqs. 11-12 at fixed $\tau$; $\sigma^2 = {SIGMA2:g}$ (paper: unstated, "
                 rf"ours). Basin: {nx}x{ny} grid of starts integrated to "
                 r"$t=300$ ($t=50$ for $\eta=1$); $\eta=1$ exceeds the threshold "
                 r"$\tau^2/4(1+\sigma^2)$, so all modes collapse.")
        paths = style.save_figure(fig, out_dir, "fig03_phase_portrait")
    for key, val in list(numbers.items()):
        if isinstance(val, float) and math.isnan(val):
            numbers[key] = "nan"
    return FigureResult("fig3", paths, numbers,
                        settings={"tau": TAU, "alpha_p": ALPHA_P, "sigma2": SIGMA2,
                                  "etas": list(ETAS), "p_lim": list(P_LIM),
                                  "s_lim": list(S_LIM), "basin_grid": [nx, ny]})

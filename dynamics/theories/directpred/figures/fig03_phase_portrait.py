"""Fig. 3: (p_j, s_j) phase portrait of the decoupled mode dynamics, Eqs. 11-12, at fixed tau.

Drawn: streamlines of the vector field (:func:`dynamics.theories.directpred.phase.flow_field`);
fixed points and their stability (:func:`dynamics.theories.directpred.phase.mode_fixed_points`,
shared convention of :mod:`dynamics.plots.style`: stable = filled blue circle, saddle = vermilion
diamond; for eta = 0 two lines of fixed points, solid blue where attracting, dashed vermilion where
repelling); the invariant parabola s = p^2/alpha_p (dashed,
:func:`dynamics.theories.directpred.closed_form.parabola_s`); and the collapse basin (shaded), the
initial states whose s_j -> 0.

The basin is the theory's, on a fine grid:

* :func:`dynamics.theories.directpred.phase.predict_collapse`: for eta = 0 exact from Eq. 14
  (collapse iff s_inf = s0 + ((tau/(1+sigma2))^2 - p0^2)/alpha_p <= 0, or p0 <= 0 and c <= 0 with
  c = s0 - p0^2/alpha_p); for eta > tau^2/(4(1+sigma2)) everything; for 0 < eta below the
  threshold the forward-invariant regions {c <= 0, p < p*_-} (collapse) and
  {c >= 0, p > p*_-} (survival);
* in between (0 < eta < threshold, the two undecided quadrants) the edge is the stable manifold
  W^s of the saddle (p*_-, p*_-^2/alpha_p): the curve s = g(p) obtained by integrating the same
  flow backwards in time from the saddle along its stable eigenvector (the eigenvector of the
  Jacobian :func:`dynamics.theories.directpred.phase.jacobian` with the negative eigenvalue), in the
  coordinates (p, ln s) so that the branch hugging s = 0 stays resolved. Both branches are
  graphs over p (dp/dt > 0 along them), and a start collapses iff s0 < g(p0).

A grid of starts integrated with Eqs. 11-12 (:func:`dynamics.theories.directpred.phase.basin_grid`)
checks the drawn basin: the numbers report the fraction of settled starts whose simulated fate
(s_j(T) < 1e-6) agrees with the theory, and the certificate/manifold conflicts (must be 0).

Paper settings: tau = 1, alpha_p = 1, three panels eta = 0, 0.01, 1.
Settings the paper does not state (our choice): sigma2 = 0; window p in [-1, 1.6],
s in [0, 2]; check grid 80 x 60 (quick: 32 x 24) integrated to t = 300 (eta = 0, 0.01) and
t = 50 (eta = 1) with rtol 1e-6; theory grid 640 x 500 cell centres.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from dynamics.plots import style
from dynamics.plots.base import FigureResult, figure
from dynamics.theories.directpred.closed_form import collapse_threshold, parabola_s
from dynamics.theories.directpred.phase import (
    basin_grid,
    flow_field,
    mode_fixed_points,
    predict_collapse,
)

TAU, ALPHA_P, SIGMA2 = 1.0, 1.0, 0.0
ETAS = (0.0, 0.01, 1.0)
# Check-grid horizons: enough for every start to settle (the "settled" fraction in the
# numbers); collapse under eta = 1 takes a few time units.
BASIN_T_END = {0.0: 300.0, 0.01: 300.0, 1.0: 50.0}
P_LIM = (-1.0, 1.6)
S_LIM = (0.0, 2.0)
THEORY_GRID = (640, 500)
KW = {"tau": TAU, "alpha_p": ALPHA_P, "sigma2": SIGMA2}


def _centres(lo: float, hi: float, n: int) -> np.ndarray:
    return lo + (np.arange(n) + 0.5) * (hi - lo) / n


def stable_manifold(saddle, eta: float, p_lim=P_LIM, s_max: float = S_LIM[1]):
    """The stable manifold of the saddle as a graph s = g(p): ``(p, g)`` sorted by p.

    Both branches are integrated backwards in time, d(p, ln s)/dt = -(dp/dt, (ds/dt)/s) of
    :func:`flow_field`, from the saddle displaced by 1e-4 p*_- along the stable eigenvector,
    until they leave the window (p outside ``p_lim`` widened by 0.05, or s > 1.05 s_max)."""
    from scipy.integrate import solve_ivp

    ev, vec = np.linalg.eig(saddle.jacobian)
    v = np.real(vec[:, int(np.argmin(ev.real))])

    def back(_t, y):
        s = math.exp(y[1])
        dp, ds = flow_field(y[0], s, eta=eta, **KW)
        return [-float(dp), -float(ds) / s]

    def leave(_t, y):
        return max(p_lim[0] - 0.05 - y[0], y[0] - p_lim[1] - 0.05, y[1] - math.log(1.05 * s_max))

    leave.terminal = True
    parts = []
    for sign in (1.0, -1.0):
        d = sign * v * 1e-4 * saddle.p
        y0 = [saddle.p + d[0], math.log(saddle.s + d[1])]
        sol = solve_ivp(back, (0.0, 1e4), y0, events=leave, rtol=1e-10, atol=1e-12,
                        max_step=1.0)
        parts.append((sol.y[0], np.exp(sol.y[1])))
    p = np.concatenate([parts[0][0][::-1], [saddle.p], parts[1][0]])
    g = np.concatenate([parts[0][1][::-1], [saddle.s], parts[1][1]])
    order = np.argsort(p)
    return p[order], g[order]


def theory_basin(P, S, eta: float, manifold=None) -> tuple[np.ndarray, int]:
    """Collapse (True) from :func:`predict_collapse`, its undecided cells settled by the side of
    the saddle's stable manifold (s < g(p): collapse). Also returns the number of decided cells
    where the manifold disagrees with the certificate (0 when both are right)."""
    pred = predict_collapse(P, S, eta=eta, **KW)
    if manifold is None:
        return pred == 1.0, 0
    mp, mg = manifold
    below = S < np.interp(P, mp, mg, left=np.inf, right=mg[-1])
    decided = np.isfinite(pred)
    conflicts = int(np.sum(decided & ((pred == 1.0) != below)))
    return np.where(decided, pred == 1.0, below), conflicts


def _draw_lines(ax, fp) -> None:
    """A line of non-isolated fixed points (eta = 0): solid blue where attracting, dashed
    vermilion where repelling (style.fixed_line_handles)."""
    for lo, hi, kind in fp.segments:
        st = (dict(color=style.STABLE) if kind == "stable" else
              dict(color=style.UNSTABLE, ls=(0, (2, 1))))
        if fp.parameter == "p":  # the line s = 0
            a, b = max(lo, P_LIM[0]), min(hi, P_LIM[1])
            ax.plot([a, b], [0, 0], lw=3.5, solid_capstyle="butt", zorder=5, clip_on=False,
                    **st)
        else:  # the line p = tau/(1+sigma2), parameter s
            a, b = max(lo, S_LIM[0]), min(hi, S_LIM[1])
            ax.plot([fp.p, fp.p], [a, b], lw=3.5, solid_capstyle="butt", zorder=5, **st)


def _shade(ax, pl, sl, collapsed, zorder=0) -> None:
    ax.imshow(np.where(collapsed, 1.0, np.nan), origin="lower", extent=(*pl, *sl),
              aspect="auto", cmap=_shade_cmap(), vmin=0, vmax=1, interpolation="nearest",
              zorder=zorder)


def _shade_cmap():
    from matplotlib.colors import ListedColormap

    return ListedColormap([style.COLLAPSE_SHADE])


def _zoom_inset(ax, iso, eta: float, manifold) -> None:
    """Inset around the origin, where the stable (0, 0) and the saddle (p*_-, p*_-^2/alpha_p)
    are too close to tell apart at the panel's scale; linked to the origin by zoom lines."""
    saddle = next(f for f in iso if f.kind == "saddle")
    w = 2.5 * saddle.p
    pl, sl = (-w, 1.6 * w), (0.0, 5.5 * saddle.s)
    ins = ax.inset_axes((0.3, 0.47, 0.42, 0.4))
    ins.set_facecolor("white")
    cp, cs = np.meshgrid(_centres(*pl, 300), _centres(*sl, 240))
    _shade(ins, pl, sl, theory_basin(cp, cs, eta, manifold)[0])
    gp, gs = np.linspace(*pl, 60), np.linspace(*sl, 60)
    dp, ds = flow_field(*np.meshgrid(gp, gs), eta=eta, **KW)
    ins.streamplot(gp, gs, dp, ds, color=style.FLOW, density=0.7, linewidth=0.6,
                   arrowsize=0.6, zorder=2)
    pc = np.linspace(*pl, 200)
    ins.plot(pc, parabola_s(pc, ALPHA_P), color=style.PARABOLA, ls="--", lw=1.0, zorder=3)
    ins.plot(*manifold, color=style.VERMILION, lw=1.0, zorder=4)
    # mark_points does not clip: only the points inside the inset's window.
    near = [f for f in iso if pl[0] <= f.p <= pl[1] and sl[0] <= f.s <= sl[1]]
    style.mark_points(ins, [f.p for f in near], [f.s for f in near], [f.kind for f in near],
                      size=40, zorder=7)
    ins.set_xlim(*pl)
    ins.set_ylim(*sl)
    ins.tick_params(labelsize=6)
    ins.set_title(rf"zoom: stable origin, saddle at $p^*_- = {saddle.p:.4f}$", fontsize=7,
                  pad=9)
    ins.ticklabel_format(axis="y", style="sci", scilimits=(0, 0))
    ins.yaxis.get_offset_text().set_fontsize(6)
    for side in ("top", "right"):
        ins.spines[side].set_visible(True)
    ax.indicate_inset_zoom(ins, edgecolor="0.3", alpha=0.8)


@figure('directpred_fig3',
        'Phase portrait of the decoupled mode dynamics (Eqs. 11-12)',
        paper_ref='Fig. 3',
        predictions=('directpred.collapse_threshold', 'directpred.eta0_fate'),
        aliases=('fig3',))
def make(out_dir: Path, *, quick: bool = False) -> FigureResult:
    """Draw Fig. 3 (phase portraits of Eqs. 11-12, eta = 0, 0.01, 1) into ``out_dir``."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    nx, ny = (32, 24) if quick else (80, 60)
    gp = np.linspace(*P_LIM, 160)
    gs = np.linspace(*S_LIM, 140)
    P, S = np.meshgrid(gp, gs)
    TP, TS = np.meshgrid(_centres(*P_LIM, THEORY_GRID[0]), _centres(*S_LIM, THEORY_GRID[1]))
    bp, bs = _centres(*P_LIM, nx), _centres(*S_LIM, ny)
    BP, BS = np.meshgrid(bp, bs)
    p_curve = np.linspace(*P_LIM, 400)
    eta_c = float(collapse_threshold(TAU, SIGMA2))
    numbers: dict[str, float | str] = {"tau": TAU, "alpha_p": ALPHA_P, "sigma2": SIGMA2,
                                       "eta_c": eta_c}
    with style.paper_style():
        fig, axes = style.new_figure(1, 3, width=12.5, height=4.6, sharey=True)
        for k, eta in enumerate(ETAS):
            ax = axes[0, k]
            tag = "abc"[k]
            fps = mode_fixed_points(eta=eta, **KW)
            iso = sorted((f for f in fps if f.kind != "non-isolated"), key=lambda f: f.p)
            saddle = next((f for f in iso if f.kind == "saddle"), None)
            manifold = None if saddle is None else stable_manifold(saddle, eta)
            # Theory basin (fine grid) and its check by simulation (coarse grid).
            collapsed, conflicts = theory_basin(TP, TS, eta, manifold)
            _shade(ax, P_LIM, S_LIM, collapsed)
            basin = basin_grid(bp, bs, eta=eta, **KW, t_end=BASIN_T_END[eta], rtol=1e-6,
                               atol=1e-9)
            predicted = theory_basin(BP, BS, eta, manifold)[0]
            settled = basin.settled
            agree = float(np.mean((basin.collapsed == predicted)[settled]))
            numbers[f"{tag}_collapse_fraction"] = basin.fraction_collapsed
            numbers[f"{tag}_theory_collapse_fraction"] = float(np.mean(collapsed))
            numbers[f"{tag}_sim_theory_agree"] = agree
            numbers[f"{tag}_sim_theory_n_disagree"] = float(
                np.sum((basin.collapsed != predicted) & settled))
            numbers[f"{tag}_certificate_conflicts"] = float(conflicts)
            numbers[f"{tag}_settled_fraction"] = float(np.mean(settled))
            numbers[f"{tag}_t_end"] = float(basin.params["t_end"])
            # Flow lines and the invariant parabola.
            dp, ds = flow_field(P, S, eta=eta, **KW)
            ax.streamplot(gp, gs, dp, ds, color=style.FLOW, density=1.1, linewidth=0.7,
                          arrowsize=0.8, zorder=2)
            ax.plot(p_curve, parabola_s(p_curve, ALPHA_P), color=style.PARABOLA, ls="--",
                    lw=1.3, zorder=3)
            if manifold is not None:
                # The branch right of the saddle runs at s < 1e-30 (invisible here, drawn in
                # the inset): the panel shows the manifold where it leaves the axis.
                mp, mg = manifold
                vis = mg > 2e-3 * (S_LIM[1] - S_LIM[0])
                ax.plot(mp[vis], mg[vis], color=style.VERMILION, lw=1.1, zorder=4)
                i = int(np.searchsorted(manifold[0], -0.6))
                numbers[f"{tag}_manifold_p"] = float(manifold[0][i])
                numbers[f"{tag}_manifold_s"] = float(manifold[1][i])
            # Fixed points. At the panel's scale the saddle (p*_-, p*_-^2) sits on the origin;
            # only the stable origin is marked there and the inset shows both.
            numbers[f"{tag}_eta"] = eta
            numbers[f"{tag}_n_fixed"] = float(len(fps))
            shown = [f for f in iso if saddle is None or f is not saddle]
            style.mark_points(ax, [f.p for f in shown], [f.s for f in shown],
                              [f.kind for f in shown], size=60, zorder=7)
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
            if saddle is not None:
                _zoom_inset(ax, iso, eta, manifold)
            ax.set_xlim(*P_LIM)
            ax.set_ylim(*S_LIM)
            regime = ("lines of fixed points" if eta == 0 else
                      "3 fixed points" if eta <= eta_c else
                      rf"$\eta > \eta_c = {eta_c:g}$: only collapse")
            ax.set_title(rf"({tag}) $\eta = {eta:g}$: {regime}")
            ax.set_xlabel(r"$p_j$ (eigenvalue of $W_p$)")
            if k == 0:
                ax.set_ylabel(r"$s_j$ (eigenvalue of $F$)")
        handles = style.stability_legend_handles() + style.fixed_line_handles() + [
            Line2D([], [], color=style.PARABOLA, ls="--", label=r"$s = p^2/\alpha_p$"),
            Line2D([], [], color=style.FLOW, lw=0.8, label="flow lines (Eqs. 11-12)"),
            Patch(color=style.COLLAPSE_SHADE, label=r"collapse basin ($s_j \to 0$)"),
            Line2D([], [], color=style.VERMILION, lw=1.1,
                   label="basin edge: stable manifold of the saddle"),
        ]
        fig.legend(handles=handles, loc="outside upper center", ncols=4, fontsize=7.5)
        style.settings_note(
            fig, rf"$\tau={TAU:g}$, $\alpha_p={ALPHA_P:g}$; $\sigma^2={SIGMA2:g}$ (ours). "
                 rf"Basins from theory (Eq. 14; stable manifold of the saddle), checked by "
                 rf"{nx}x{ny} simulated starts.")
        paths = style.save_figure(fig, out_dir, "directpred_fig3")
    for key, val in list(numbers.items()):
        if isinstance(val, float) and math.isnan(val):
            numbers[key] = "nan"
    n_check = nx * ny
    caption = (
        f"Weight decay decides which modes collapse: with eta = 0 only starts below the "
        f"parabola on the left (or far below it on the right) collapse "
        f"({100 * numbers['a_theory_collapse_fraction']:.1f}% of the window), with "
        f"0 < eta = {ETAS[1]:g} < eta_c = {eta_c:g} the origin is stable and the saddle at "
        f"p*_- = {numbers['b_p_minus']:.4f} separates its basin "
        f"({100 * numbers['b_theory_collapse_fraction']:.1f}%) from that of "
        f"p*_+ = {numbers['b_p_plus']:.4f}, and with eta = {ETAS[2]:g} > eta_c every mode "
        f"collapses. The shaded basins are the theory's (Eq. 14 invariants; in (b) the "
        f"saddle's stable manifold, vermilion line); {n_check} simulated starts per panel land "
        f"on the predicted side in {100 * numbers['a_sim_theory_agree']:.1f}%, "
        f"{100 * numbers['b_sim_theory_agree']:.1f}% and "
        f"{100 * numbers['c_sim_theory_agree']:.1f}% of settled cases. "
        f"The inset of (b) zooms on the origin, where the stable point and the saddle are "
        f"{numbers['b_p_minus']:.4f} apart.")
    return FigureResult("directpred_fig3", paths, numbers,
                        settings={"tau": TAU, "alpha_p": ALPHA_P, "sigma2": SIGMA2,
                                  "etas": list(ETAS), "p_lim": list(P_LIM),
                                  "s_lim": list(S_LIM), "check_grid": [nx, ny],
                                  "check_t_end": [BASIN_T_END[e] for e in ETAS],
                                  "check_rtol": 1e-6, "check_atol": 1e-9,
                                  "theory_grid": list(THEORY_GRID),
                                  "manifold_start_offset": "1e-4 p*_- along the stable "
                                                           "eigenvector",
                                  "manifold_rtol": 1e-10},
                        caption=caption)

"""Fig. 4: the 1-D flow on the invariant parabola, Eq. 16.

On the invariant parabola s_j = p_j^2/alpha_p (c_j = 0) the mode dynamics at fixed tau reduce to

    dp_j/dt = p_j^2 [tau - (1+sigma2) p_j] - eta p_j = -(1+sigma2) p_j (p_j - p*_-)(p_j - p*_+)

(:func:`dynamics.theory.closed_form.parabola_flow`). Three regimes:

(a) eta = 0: p = 0 is a saddle-node (semi-stable), p*_+ = tau/(1+sigma2) is stable;
(b) 0 < eta <= tau^2/(4(1+sigma2)): p = 0 stable, p*_- unstable (edge of the collapse basin),
    p*_+ stable;
(c) eta > tau^2/(4(1+sigma2)): only p = 0 (every mode collapses).

Settings (the paper's Fig. 4 is schematic; these values are our choice): tau = 1, sigma2 = 0,
alpha_p = 1; eta = 0, 0.1 and 0.4 (threshold eta_c = 0.25). Fixed points come from
:func:`~dynamics.theory.phase.parabola_fixed_points` (locations from
:func:`~dynamics.theory.closed_form.fixed_points`, stability from the slope of the flow).
As a consistency check the figure also integrates the mode ODEs (Eqs. 11-12,
:func:`~dynamics.theory.modes.simulate_modes`) from points on the parabola (s0 = p0^2/alpha_p)
and shows each start's fate as a tick under the curve (red: collapses, blue: reaches p*_+); the
numbers report the measured collapse boundary, which must equal p*_-.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dynamics.plots import style
from dynamics.plots.base import FigureResult
from dynamics.theory.closed_form import collapse_threshold, parabola_flow
from dynamics.theory.modes import simulate_modes
from dynamics.theory.phase import parabola_fixed_points

TAU, SIGMA2, ALPHA_P = 1.0, 0.0, 1.0
ETAS = (0.0, 0.1, 0.4)
P_RANGE = (-0.3, 1.25)


def _fixed_points(eta: float) -> list[tuple[str, float, str]]:
    """(label, p, kind) of the fixed points of Eq. 16, from
    :func:`dynamics.theory.phase.parabola_fixed_points` (locations: closed_form.fixed_points;
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


def _simulated_boundary(eta: float, p0: np.ndarray, t_end: float) -> tuple[np.ndarray, float]:
    """End states of the mode ODEs started on the parabola, and the measured collapse boundary
    (midpoint between the largest collapsing and the smallest surviving start)."""
    tr = simulate_modes(p0, p0**2 / ALPHA_P, alpha_p=ALPHA_P, eta=eta, sigma2=SIGMA2, tau0=TAU,
                        beta=None, t_end=t_end, n_save=2)
    p_end = np.asarray(tr.p[-1])
    collapsed = np.abs(p_end) < 1e-2
    survive = p0[~collapsed & (p0 > 0)]
    gone = p0[collapsed & (p0 > 0)]
    if survive.size and gone.size:
        boundary = 0.5 * (gone.max() + survive.min())
    elif survive.size:
        boundary = 0.0
    else:
        boundary = float("inf")
    return p_end, float(boundary)


def make(out_dir: Path, *, quick: bool = False) -> FigureResult:
    """Draw Fig. 4 (the 1-D flow of Eq. 16 on the invariant parabola) into ``out_dir``."""
    eta_c = float(collapse_threshold(TAU, SIGMA2))
    p = np.linspace(*P_RANGE, 600)
    n_starts = 41 if quick else 161
    p0 = np.linspace(0.005, P_RANGE[1] - 0.01, n_starts)
    t_end = 400.0 if quick else 2000.0
    numbers: dict[str, float | str] = {"tau": TAU, "sigma2": SIGMA2, "eta_c": eta_c}
    titles = (r"(a) $\eta = 0$: origin is a saddle-node",
              rf"(b) $0 < \eta = {ETAS[1]:g} \leq \tau^2/4(1+\sigma^2) = {eta_c:g}$",
              rf"(c) $\eta = {ETAS[2]:g} > \tau^2/4(1+\sigma^2)$: only $p=0$")
    with style.paper_style():
        fig, axes = style.new_figure(1, 3, width=12.5, height=3.9)
        for k, (ax, eta) in enumerate(zip(axes[0], ETAS, strict=True)):
            tag = "abc"[k]
            f = parabola_flow(p, TAU, SIGMA2, eta)
            ax.axhline(0, color="0.6", lw=0.8)
            ax.plot(p, f, color=style.FLOW, lw=1.8,
                    label=r"$\dot p = p^2[\tau-(1+\sigma^2)p]-\eta p$")
            pts = _fixed_points(eta)
            # Shade the collapse basin (p below the unstable point / everything in (c)).
            edge = next((q for lab, q, _ in pts if lab == "p*-"), None)
            if edge is not None:
                ax.axvspan(P_RANGE[0], edge, color=style.STABLE, alpha=0.12, lw=0,
                           label="collapse basin")
            elif eta > eta_c:
                ax.axvspan(*P_RANGE, color=style.STABLE, alpha=0.12, lw=0,
                           label="collapse basin (all p)")
            style.mark_points(ax, [q for _, q, _ in pts], [0.0] * len(pts),
                              [kind for *_, kind in pts], size=50)
            for lab, q, _kind in pts:
                txt = {"0": "0", "p*-": r"$p^*_-$", "p*+": r"$p^*_+$"}[lab]
                ax.annotate(txt, (q, 0), xytext=(0, 9), textcoords="offset points",
                            ha="center", fontsize=8.5)
                numbers[f"{tag}_{lab}"] = q
                numbers[f"{tag}_{lab}_kind"] = _kind
            numbers[f"{tag}_eta"] = eta
            numbers[f"{tag}_n_fixed_points"] = float(len(pts))
            # Direction arrows along the axis.
            for q in np.linspace(P_RANGE[0] + 0.05, P_RANGE[1] - 0.05, 9):
                v = float(parabola_flow(q, TAU, SIGMA2, eta))
                if abs(v) < 2e-3 or any(abs(q - r) < 0.04 for _, r, _ in pts):
                    continue
                ax.annotate("", xy=(q + 0.045 * np.sign(v), 0), xytext=(q, 0),
                            arrowprops=dict(arrowstyle="-|>", color="0.3", lw=1.0))
            # Simulated end states (Eqs. 11-12 on the parabola).
            p_end, boundary = _simulated_boundary(eta, p0, t_end)
            ymin = float(np.min(f))
            ymax = float(np.max(f))
            span = ymax - ymin
            ybar = ymin - 0.12 * span
            coll = np.abs(p_end) < 1e-2
            ax.scatter(p0[coll], np.full(coll.sum(), ybar), s=14, color=style.STABLE,
                       marker="|", label="start on parabola: collapses (ODE)")
            ax.scatter(p0[~coll], np.full((~coll).sum(), ybar), s=14, color=style.FLOW,
                       marker="|", label=r"start on parabola: $\to p^*_+$ (ODE)")
            ax.set_ylim(ymin - 0.2 * span, ymax + 0.15 * span)
            ax.set_xlim(*P_RANGE)
            numbers[f"{tag}_sim_boundary"] = boundary
            numbers[f"{tag}_sim_survive_frac"] = float((~coll).mean())
            ax.set_title(titles[k])
            ax.set_xlabel(r"$p_j$ (predictor eigenvalue)")
            if k == 0:
                ax.set_ylabel(r"$\mathrm{d}p_j/\mathrm{d}t$ on $s_j = p_j^2/\alpha_p$")
        handles, labels = axes[0, 1].get_legend_handles_labels()
        handles += style.stability_legend_handles(include_semi=True)
        labels += [h.get_label() for h in style.stability_legend_handles(include_semi=True)]
        fig.legend(handles, labels, loc="outside upper center", ncols=3, fontsize=7.5)
        style.settings_note(
            fig, rf"Eq. 16 with $\tau={TAU:g}$, $\sigma^2={SIGMA2:g}$, $\alpha_p={ALPHA_P:g}$ "
                 rf"(paper: schematic, values ours); ticks under each curve: {n_starts} starts "
                 rf"$s_0=p_0^2$ integrated with Eqs. 11-12 to $t={t_end:g}$.")
        paths = style.save_figure(fig, out_dir, "fig04_parabola_flow")
    return FigureResult("fig4", paths, numbers,
                        settings={"tau": TAU, "sigma2": SIGMA2, "alpha_p": ALPHA_P,
                                  "etas": list(ETAS), "n_starts": n_starts, "t_end": t_end})

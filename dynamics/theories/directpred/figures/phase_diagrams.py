"""Phase diagrams of collapse of the decoupled eigenmodes over two hyper-parameters (Tian, Chen &
Ganguli 2021, Sec. 3.2-3.3, Eqs. 11-13; THEORY-directpred Sec. 2.6-2.9).

Each mode j follows Eqs. 11-13 (:mod:`dynamics.theories.directpred.modes`),

    dp_j/dt   = alpha_p s_j [tau - (1 + sigma2) p_j] - eta p_j
    ds_j/dt   = 2 p_j s_j [tau - (1 + sigma2) p_j] - 2 eta s_j
    s_j dtau/dt = beta (1 - tau) s_j - tau (ds_j/dt) / 2      (EMA only),

and collapses when its final s_j < 1e-6. A regular grid of starts (p_j(0), s_j(0)) in
(0, 0.3]^2 (the range of Fig. 5's U(0, 0.3) starts) is integrated at every cell of a
hyper-parameter grid in batched calls
(:func:`dynamics.theories.directpred.phase.hyperparameter_diagram`, the function behind
``ssl-dynamics simulate phase``); a cell shows the fraction of the starts that collapse.

* :func:`make_eta_alpha_p` (``directpred_phase_eta_alpha_p``): fixed tau = 1 (no EMA), weight decay
  eta against the predictor's relative rate alpha_p. Closed form: above
  eta_c = tau^2 / (4 (1 + sigma2))
  (:func:`dynamics.theories.directpred.closed_form.collapse_threshold`) the 1-D flow on the
  invariant parabola (Eq. 16) has p = 0 as its only fixed point and every mode collapses (Obs. 5);
  below it the basin p_j < p*_- grows with eta (Obs. 4) and a larger alpha_p flattens the parabola s
  = p^2/alpha_p, so fewer starts lie under it (Obs. 1). The theory's certified range (share certain
  to collapse ... 1 - share certain to survive, from the invariant regions of Eq. 14,
  :func:`dynamics.theories.directpred.phase.predict_collapse`) is drawn at alpha_p = 1.
* :func:`make_eta_beta` (``directpred_phase_eta_beta``): EMA target with tau_j(0) = 0 (Wa(0) = 0),
  alpha_p = 1, eta against the EMA rate beta. tau is dynamic, so no closed-form boundary
  exists; drawn is eta_c at tau = 1, the value tau_j relaxes to (beta -> infinity is the
  fixed-tau = 1 diagram, integrated and drawn as the reference). Smaller beta keeps tau_j small
  longer, p*_- is larger at small tau, and more modes are trapped (Obs. 9-10).

sigma2 = 0.5 (the linear bridge run's augmentation variance), so eta_c = 1/6. The eta axis runs
from 0 to 1.5 eta_c on a grid that does not contain eta_c itself (there p*_- = p*_+ and
convergence is algebraically slow).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dynamics.plots import style
from dynamics.plots.base import FigureResult, figure
from dynamics.theories.directpred.closed_form import collapse_threshold
from dynamics.theories.directpred.phase import S_TOL, hyperparameter_diagram

TAU, SIGMA2, ALPHA_P = 1.0, 0.5, 1.0
START_MAX = 0.3
#: Integration tolerances (relative, absolute) of the batched Dormand-Prince steps.
RTOL, ATOL = 1e-6, 1e-9
#: quick / full sizes: starts per side, eta points, points on the other axis.
SIZES = {True: {"starts": 4, "eta": 9, "alpha_p": 6, "beta": 6},
         False: {"starts": 8, "eta": 30, "alpha_p": 21, "beta": 16}}
ALPHA_CUTS, BETA_CUTS = (0.25, 1.0, 8.0), (0.01, 0.1, 1.0)
#: The eta of the caption's comparison between EMA rates, as a fraction of eta_c (nearest node).
ETA_REF = 0.75
_LABEL = {"alpha_p": r"predictor rate $\alpha_p$", "beta": r"EMA rate $\beta$"}


def eta_c() -> float:
    """Closed-form collapse threshold eta_c = tau^2/(4(1+sigma2)) at tau = 1."""
    return float(collapse_threshold(TAU, SIGMA2))


def starts(n: int) -> tuple[np.ndarray, np.ndarray]:
    """An n x n grid of starts (p0, s0) in (0, START_MAX]^2, flattened."""
    g = np.linspace(START_MAX / n, START_MAX, n)
    P, S = np.meshgrid(g, g)
    return P.ravel(), S.ravel()


def axes_values(quick: bool) -> dict[str, np.ndarray]:
    """The grids: eta in [0, 1.5 eta_c] (eta_c not a node), alpha_p = 2^k on [1/4, 8],
    beta = 10^k on [0.01, 10^0.5] (both log-spaced and containing 1 and the cut values)."""
    n = SIZES[quick]
    eta = eta_c() * np.linspace(0.0, 1.5, n["eta"])
    if np.any(np.isclose(eta, eta_c(), rtol=1e-9)):
        raise ValueError("the eta grid must not contain eta_c")
    return {"eta": eta, "alpha_p": 2.0 ** np.linspace(-2.0, 3.0, n["alpha_p"]),
            "beta": 10.0 ** np.linspace(-2.0, 0.5, n["beta"])}


def _diagram(y: tuple[str, np.ndarray], fixed: dict, quick: bool):
    p0, s0 = starts(SIZES[quick]["starts"])
    with np.errstate(over="ignore", invalid="ignore"):  # tau = Wa/W of collapsed EMA modes
        return hyperparameter_diagram(("eta", axes_values(quick)["eta"]), y, p0=p0, s0=s0,
                                      fixed=fixed, rtol=RTOL, atol=ATOL)


def _edges(v: np.ndarray, log: bool) -> np.ndarray:
    """Cell edges around grid values (geometric midpoints on a log axis)."""
    w = np.log(v) if log else np.asarray(v, float)
    mid = (w[1:] + w[:-1]) / 2
    e = np.concatenate([[w[0] - (mid[0] - w[0])], mid, [w[-1] + (w[-1] - mid[-1])]])
    return np.exp(e) if log else e


def _cmap():
    from matplotlib.colors import LinearSegmentedColormap

    return LinearSegmentedColormap.from_list(
        "collapse", ["#ffffff", style.COLLAPSE_SHADE, style.VERMILION, "#6b2300"])


def _first_all(x: np.ndarray, f: np.ndarray) -> float:
    """Smallest grid value from which on every mode has collapsed (f == 1); NaN if none."""
    ok = np.flatnonzero(np.logical_and.accumulate((f >= 1.0)[::-1])[::-1])
    return float(x[ok[0]]) if ok.size else float("nan")


def _heatmap(fig, ax, d, ec: float, line_label: str) -> None:
    x, y, frac = d.x_values, d.y_values, d.fraction_collapsed
    mesh = ax.pcolormesh(_edges(x, False), _edges(y, True), frac, cmap=_cmap(), vmin=0,
                         vmax=1, shading="flat", rasterized=True)
    fig.colorbar(mesh, ax=ax, label="fraction of modes collapsed", pad=0.02)
    if frac.min() < 0.5 < frac.max():
        ax.contour(x, y, frac, levels=[0.5], colors="k", linewidths=0.8, linestyles="-")
        ax.plot([], [], color="k", lw=0.8, label="50% collapsed")
    ax.axvline(ec, color=style.THEORY, ls="--", lw=1.6, label=line_label)
    ax.set_yscale("log")
    ax.set_xlim(_edges(x, False)[[0, -1]])
    ax.set_xlabel(r"weight decay $\eta$")
    ax.set_ylabel(_LABEL[d.y_name])
    ax.set_yticks(_ticks(y), [f"{v:g}" for v in _ticks(y)])
    ax.minorticks_off()
    ax.text(0.03, 0.45, "no collapse", transform=ax.transAxes, ha="left", va="center",
            fontsize=8.5, color="k")
    ax.text((ec + _edges(x, False)[-1]) / 2, np.sqrt(y.min() * y.max()),
            "every mode\ncollapses", ha="center", va="center", fontsize=8.5, color="white")
    ax.legend(loc="upper left", frameon=True, framealpha=0.9, fontsize=7)


def _ticks(y: np.ndarray) -> list[float]:
    """Log-axis ticks inside the grid's range: powers of 2 or 1-3-10 steps, whichever gives
    more ticks (at most 7; always including 1 where it is in range)."""
    lo, hi = y.min() * 0.999, y.max() * 1.001
    best: list[float] = []
    for cands in ([2.0 ** k for k in range(-8, 8)],
                  [m * 10.0 ** k for k in range(-3, 3) for m in (1.0, 3.0)]):
        t = sorted(c for c in cands if lo <= c <= hi)
        if len(t) > 7:
            t = t[::2] if 1.0 not in t[1::2] else t[1::2]
        if len(t) > len(best):
            best = t
    return best


def _cut_rows(d, cuts) -> list[int]:
    return [int(np.argmin(np.abs(np.log(d.y_values / c)))) for c in cuts]


def _cuts(ax, d, cuts, ec: float, sym: str) -> None:
    cols = style.sweep_colors(len(cuts))
    for c, i in zip(cols, _cut_rows(d, cuts), strict=True):
        ax.plot(d.x_values, d.fraction_collapsed[i], "o-", color=c, ms=3.5, lw=1.4,
                label=f"{sym} = {d.y_values[i]:.3g}", zorder=4)
    ax.axvspan(ec, d.x_values.max() * 1.02, color=style.COLLAPSE_SHADE, alpha=0.55, lw=0,
               zorder=0)
    ax.axvline(ec, color=style.THEORY, ls="--", lw=1.6, zorder=1)
    ax.set_xlim(-0.02 * d.x_values.max(), d.x_values.max() * 1.02)
    ax.set_ylim(-0.03, 1.05)
    ax.set_xlabel(r"weight decay $\eta$")
    ax.set_ylabel("fraction of modes collapsed")
    ax.grid(axis="y", color="0.9", lw=0.6, zorder=0)


def _common_numbers(d, ec: float) -> dict[str, float]:
    frac, eta = d.fraction_collapsed, d.x_values
    below = eta < ec
    return {"eta_c": ec, "n_modes": float(d.p0.size), "t_end": float(d.t_end),
            "max_fraction_eta_le_half_eta_c": float(frac[:, eta <= 0.5 * ec].max()),
            "max_fraction_below_eta_c": float(frac[:, below].max()),
            "min_fraction_above_eta_c": float(frac[:, ~below].min()),
            "max_drop_along_eta": float(max(0.0, -np.diff(frac, axis=1).min())),
            "min_fraction_settled": float(d.fraction_settled.min()),
            "max_status": float(d.status.max())}


def _note(fig, extra: str, d) -> None:
    style.settings_note(
        fig, rf"Eqs. 11-13, $\sigma^2={SIGMA2:g}$, {extra}." "\n" rf"{d.p0.size} starts "
             rf"$(p_j(0), s_j(0))$ on a regular grid in $(0, {START_MAX:g}]^2$ per cell; "
             rf"collapsed: $s_j(T) < {S_TOL:g}$ at $T = {d.t_end:.0f}$; batched "
             rf"Dormand-Prince, rtol {RTOL:g}.")


@figure('directpred_phase_eta_alpha_p',
        'Phase diagram of collapse over weight decay eta and predictor rate alpha_p',
        paper_ref='Eqs. 11-13',
        predictions=('directpred.collapse_threshold', 'directpred.alpha_p_basin'))
def make_eta_alpha_p(out_dir: Path, *, quick: bool = False) -> FigureResult:
    """Collapse over (eta, alpha_p) at fixed tau = 1 with the closed-form eta_c."""
    vals, ec = axes_values(quick), eta_c()
    d = _diagram(("alpha_p", vals["alpha_p"]), {"tau": TAU, "sigma2": SIGMA2}, quick)
    frac = d.fraction_collapsed
    i1 = _cut_rows(d, (ALPHA_P,))[0]
    with style.paper_style():
        fig, axes = style.new_figure(1, 2, width=12.6, height=4.4)
        _heatmap(fig, axes[0, 0], d, ec, rf"$\eta_c = \tau^2/4(1+\sigma^2) = {ec:.3g}$")
        axes[0, 0].set_title(rf"(a) collapsed share of the modes, $\tau = {TAU:g}$ (no EMA)",
                             loc="left")
        ax = axes[0, 1]
        ax.fill_between(d.x_values, d.predicted_lower[i1], d.predicted_upper[i1], color="0.8",
                        lw=0, zorder=2, label="theory's certified range\n"
                        rf"at $\alpha_p = {ALPHA_P:g}$ (Eq. 14 regions)")
        _cuts(ax, d, ALPHA_CUTS, ec, r"$\alpha_p$")
        ax.plot([], [], color=style.THEORY, ls="--", lw=1.6,
                label="closed-form threshold\n" rf"$\eta_c = {ec:.3g}$")
        ax.set_title(r"(b) cuts at fixed $\alpha_p$: jump to 1 at $\eta_c$", loc="left")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
        _note(fig, rf"$\tau = {TAU:g}$ fixed (no EMA)", d)
        paths = style.save_figure(fig, out_dir, "directpred_phase_eta_alpha_p")

    nums = _common_numbers(d, ec)
    with np.errstate(invalid="ignore"):
        outside = np.maximum(d.predicted_lower - frac, frac - d.predicted_upper)
    nums["max_outside_theory_range"] = float(max(0.0, outside.max()))
    nums["max_rise_along_alpha_p"] = float(max(0.0, np.diff(frac, axis=0).max()))
    for a, i in zip(ALPHA_CUTS, _cut_rows(d, ALPHA_CUTS), strict=True):
        nums[f"eta_all_collapsed_alpha_p={a:g}"] = _first_all(d.x_values, frac[i])
        nums[f"fraction_last_below_eta_c_alpha_p={a:g}"] = float(frac[i, d.x_values < ec][-1])
    last = float(d.x_values[d.x_values < ec][-1])
    lo, hi = ALPHA_CUTS[0], ALPHA_CUTS[-1]
    caption = (
        f"Above the closed-form threshold eta_c = tau^2/(4(1+sigma2)) = {ec:.3g} every mode "
        f"collapses whatever alpha_p (Obs. 5); below it the collapsed share grows with eta "
        f"(Obs. 4) and shrinks as alpha_p grows (Obs. 1): at eta = {last:.3g} "
        f"({last / ec:.2f} eta_c) "
        f"{100 * nums[f'fraction_last_below_eta_c_alpha_p={lo:g}']:.0f}% of the modes "
        f"collapse at alpha_p = {lo:g} and "
        f"{100 * nums[f'fraction_last_below_eta_c_alpha_p={hi:g}']:.0f}% at alpha_p = {hi:g}. "
        f"(a) Fraction of {d.p0.size} starts that collapse under Eqs. 11-12 at each "
        f"(eta, alpha_p), dashed line eta_c, black contour 50%; (b) cuts at three alpha_p with "
        f"the theory's certified range at alpha_p = {ALPHA_P:g} (grey), which every cell "
        f"respects.")
    settings = {"tau": TAU, "sigma2": SIGMA2, "eta": _rng(vals["eta"]),
                "alpha_p": _rng(vals["alpha_p"], log=True), "starts": _starts_text(quick),
                "s_tol": S_TOL, "t_end": float(d.t_end), "rtol": RTOL, "atol": ATOL}
    return FigureResult("directpred_phase_eta_alpha_p", paths, nums,
                        settings=settings, caption=caption)


@figure('directpred_phase_eta_beta',
        'Phase diagram of collapse over weight decay eta and EMA rate beta',
        paper_ref='Eqs. 11-13',
        predictions=('directpred.ema_curriculum', 'directpred.strong_weight_decay_collapse'))
def make_eta_beta(out_dir: Path, *, quick: bool = False) -> FigureResult:
    """Collapse over (eta, beta) with an EMA target from tau(0) = 0; reference tau = 1."""
    vals, ec = axes_values(quick), eta_c()
    d = _diagram(("beta", vals["beta"]), {"alpha_p": ALPHA_P, "sigma2": SIGMA2, "tau0": 0.0},
                 quick)
    ref = _diagram(("tau", np.array([TAU])), {"alpha_p": ALPHA_P, "sigma2": SIGMA2}, quick)
    frac, fref = d.fraction_collapsed, ref.fraction_collapsed[0]
    line = "$\\eta_c$ at $\\tau = 1$, the\n" rf"EMA's limit: ${ec:.3g}$"
    with style.paper_style():
        fig, axes = style.new_figure(1, 2, width=12.6, height=4.4)
        _heatmap(fig, axes[0, 0], d, ec, line)
        axes[0, 0].set_title(r"(a) collapsed share of the modes, EMA target, "
                             r"$\tau_j(0) = 0$", loc="left")
        ax = axes[0, 1]
        _cuts(ax, d, BETA_CUTS, ec, r"$\beta$")
        ax.plot(ref.x_values, fref, "s--", color=style.NEUTRAL, ms=3.2, lw=1.2, zorder=5,
                label=r"$\tau \equiv 1$ ($\beta \to \infty$)")
        ax.plot([], [], color=style.THEORY, ls="--", lw=1.6, label=line)
        ax.set_title(r"(b) cuts at fixed $\beta$: a slow EMA traps more modes", loc="left")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
        _note(fig, rf"$\alpha_p = {ALPHA_P:g}$, EMA target with $\tau_j(0) = 0$ "
                   r"($W_a(0) = 0$), $\tau_j$ by Eq. 13; no closed-form boundary for dynamic "
                   r"$\tau$: the dashed line is $\eta_c$ at $\tau = 1$", d)
        paths = style.save_figure(fig, out_dir, "directpred_phase_eta_beta")

    nums = _common_numbers(d, ec)
    nums["max_rise_along_beta"] = float(max(0.0, np.diff(frac, axis=0).max()))
    nums["max_ema_below_fixed_tau"] = float(max(0.0, (fref[None, :] - frac).max()))
    k = int(np.argmin(np.abs(d.x_values - ETA_REF * ec)))
    eta_ref = float(d.x_values[k])
    nums["eta_ref"] = eta_ref
    nums["fraction_at_eta_ref_fixed_tau"] = float(fref[k])
    nums["eta_all_collapsed_fixed_tau"] = _first_all(ref.x_values, fref)
    for b, i in zip(BETA_CUTS, _cut_rows(d, BETA_CUTS), strict=True):
        nums[f"fraction_at_eta_ref_beta={b:g}"] = float(frac[i, k])
        nums[f"eta_all_collapsed_beta={b:g}"] = _first_all(d.x_values, frac[i])
    shares = ", ".join(f"{100 * nums[f'fraction_at_eta_ref_beta={b:g}']:.0f}% at beta = {b:g}"
                       for b in BETA_CUTS)
    lo = BETA_CUTS[0]
    caption = (
        f"With an EMA target started at Wa = 0, a slower EMA collapses more modes (Obs. 10): "
        f"at eta = {eta_ref:.3g} ({eta_ref / ec:.2f} eta_c) the collapsed share is {shares} and "
        f"{100 * fref[k]:.0f}% with tau fixed at 1 (beta -> infinity), and at beta = {lo:g} "
        f"every mode has collapsed from eta = {nums[f'eta_all_collapsed_beta={lo:g}']:.3g} on, "
        f"far below eta_c(tau = 1) = {ec:.3g}, above which every mode collapses at any beta. "
        f"Here tau is dynamic, so the theory gives no closed-form boundary: the dashed line is "
        f"eta_c at tau = 1, the value tau relaxes to. (a) Fraction of {d.p0.size} starts that "
        f"collapse under Eqs. 11-13 at each (eta, beta), black contour 50%; (b) cuts at three "
        f"beta against fixed tau = 1 (grey squares).")
    settings = {"alpha_p": ALPHA_P, "sigma2": SIGMA2, "tau0": 0.0, "eta": _rng(vals["eta"]),
                "beta": _rng(vals["beta"], log=True), "starts": _starts_text(quick),
                "s_tol": S_TOL, "t_end": float(d.t_end), "t_end_fixed_tau": float(ref.t_end),
                "rtol": RTOL, "atol": ATOL}
    return FigureResult("directpred_phase_eta_beta", paths, nums,
                        settings=settings, caption=caption)


def _rng(v: np.ndarray, log: bool = False) -> str:
    return f"{v.size} {'log-' if log else ''}spaced values in [{v.min():.4g}, {v.max():.4g}]"


def _starts_text(quick: bool) -> str:
    n = SIZES[quick]["starts"]
    return f"{n} x {n} grid of (p0, s0) in ({START_MAX / n:g} .. {START_MAX:g})^2"

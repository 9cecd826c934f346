"""Fig. 5: synthetic decoupled dynamics with EMA (Eqs. 11-13), symmetric predictor.

Each mode j evolves by Eqs. 11-13 with its own EMA ratio tau_j = Wa/W (Eq. 13,
dtau_j/dt = beta (1 - tau_j) - tau_j Delta_j), started from tau_j(0) = 0 (Wa(0) = 0); all modes
and all hyper-parameter settings are integrated in one batched
:func:`~dynamics.theories.directpred.modes.simulate_modes` call. The modes start on the invariant
parabola, s_j(0) = p_j(0)^2/alpha_p (c_j = 0), so by Eq. 14 s_j(t) = p_j(t)^2/alpha_p at all times
and tau_j(t) is Eq. 15, tau_j(t) = beta e^{-beta t} int_0^t p_j e^{beta t'} dt' / p_j(t)
(:func:`~dynamics.theories.directpred.closed_form.tau_ema`; the numbers report its agreement with
the ODE).

Columns: p_j(t) (so also s_j = p_j^2/alpha_p); tau_j(t); min_j lambda_j(K), the smallest
eigenvalue of Theorem 3's K on the modes
(:func:`~dynamics.theories.directpred.closed_form.k_eigenvalue`; K > 0 keeps the eigenspace
alignment stable); and the fate map p_j(T) against p_j(0) for a dense set of starts on the parabola,
whose jump is the survival threshold on p_j(0). With tau fixed at 1 that threshold would be p*_-(tau
= 1) of Eq. 16 (:func:`~dynamics.theories.directpred.closed_form.fixed_points`, dotted): while the
EMA ratio is still small, p*_-(tau) is larger (or absent when tau^2 < 4 eta (1 + sigma2)), so modes
that are weak at the start are trapped (Obs. 10); a slow EMA (small beta) keeps tau small for longer
and traps more of them, while it also keeps Delta_j small and hence lambda_j(K) = alpha_p (1+sigma2)
s_j/2 - Delta_j + eta/2 larger (Obs. 8, 9).

Paper settings: SGD rate alpha = 0.01, baseline beta = 0.4 (EMA momentum 1 - alpha beta = 0.996)
and eta = 0.04 (alpha eta = 4e-4); time t = alpha x (number of SGD steps).
Settings the paper does not state (our choice): alpha_p = 1, sigma2 = 0; 12 modes with p_j(0)
log-spaced in [0.02, 0.8] and s_j(0) = p_j(0)^2 (weak to strong modes, on the parabola); horizon
t = 600 (60k steps); top row eta in {0.01, 0.04, 0.2} at beta = 0.4; bottom row beta in
{0.04, 0.4, 4} (momentum 0.9996, 0.996, 0.96) at eta = 0.04; fate map: 48 (full: 160) starts
log-spaced in p_j(0) in [0.005, 1]. Non-negative p_j(0) are used because Eq. 13's ratio
tau_j = Wa/W is singular when a mode's W changes sign, which a negative p_j drives it to do.

Numbers: per setting the number of collapsed modes (s_j(T) < 1e-6), the surviving p_j(T), the
minimum over time of min_j lambda_j(K), the convergence time (first time after which every s_j
stays within 2% of max_j s_j(T) of its final value), the bracket of the survival threshold on
p_j(0) from the fate map (``p0_collapse_max`` < threshold <= ``p0_threshold``, the smallest
surviving start), p*_-(tau = 1), the final tau_j of the collapsed modes, and the largest gap
between the ODE's tau_j and Eq. 15 on the survivors.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dynamics.plots import style
from dynamics.plots.base import FigureResult, figure
from dynamics.theories.directpred.closed_form import fixed_points, k_eigenvalue, tau_ema
from dynamics.theories.directpred.modes import simulate_modes

ALPHA_SGD = 0.01
ALPHA_P, SIGMA2 = 1.0, 0.0
BETA0, ETA0 = 0.4, 0.04
ETA_SWEEP = (0.01, 0.04, 0.2)
BETA_SWEEP = (0.04, 0.4, 4.0)
N_MODES, P0_RANGE = 12, (0.02, 0.8)
FATE_RANGE = (0.005, 1.0)
FATE_ZOOM = (0.02, 0.3)  # x range of the beta row's fate map (its thresholds are near 0.05)
T_END = 600.0
S_TOL = 1e-6


def _convergence_time(t: np.ndarray, s: np.ndarray, frac: float = 0.02) -> float:
    """First time after which every s_j stays within ``frac * max_j s_j(T)`` of s_j(T)."""
    tol = frac * max(float(np.max(np.abs(s[-1]))), 1e-12)
    ok = np.all(np.abs(s - s[-1]) <= tol, axis=1)
    if ok.all():
        return float(t[0])
    last_bad = len(ok) - 1 - int(np.argmax(~ok[::-1]))
    return float(t[min(last_bad + 1, len(t) - 1)])


def _bracket(p0: np.ndarray, survived: np.ndarray) -> tuple[float, float]:
    """(largest collapsing start, smallest surviving start): the survival threshold on p_j(0)
    lies between them (NaN where no start collapses / survives)."""
    lo = float(p0[~survived].max()) if (~survived).any() else float("nan")
    hi = float(p0[survived].min()) if survived.any() else float("nan")
    return lo, hi


def _tau_eq15_error(t, p, tau, beta, alive) -> float:
    """Largest |tau_ODE - tau_Eq.15| over the surviving modes, for 1 <= t <= min(T, 300/beta)
    (Eq. 15 holds on the parabola; its integral is a trapezoid sum over the saved times, so
    it is checked only where beta times the sampling step is below 0.2)."""
    win = t <= min(t[-1], 300.0 / beta)
    dt = float(np.max(np.diff(t[win])))
    if not alive.any() or beta * dt > 0.2:
        return float("nan")
    ref = tau_ema(t[win], p[win][:, alive], beta, tau0=0.0)
    return float(np.max(np.abs(ref - tau[win][:, alive])[t[win] >= 1.0]))


def _draw_row(axes, r, row, t, p, tau, kmin, fate_p, p_modes, p_fate, info) -> list:
    """One row of Fig. 5 (three settings of one hyper-parameter); returns its legend handles."""
    from matplotlib.lines import Line2D

    kind, sym, vals, fixed, what = row
    ax_p, ax_tau, ax_k, ax_f = axes
    colors = style.sweep_colors(len(vals))
    handles = []
    for c, (col, v) in enumerate(zip(colors, info, strict=True)):
        alive = v["alive"]
        for j in range(p.shape[2]):
            st = dict(ls="-", lw=1.1) if alive[j] else dict(ls=(0, (3, 2)), lw=0.8)
            ax_p.plot(t, p[:, c, j], color=col, alpha=0.9, **st)
            ax_tau.plot(t, tau[:, c, j], color=col, alpha=0.9, **st)
        ax_p.plot([max(v["t_converge"], 0.0)], [1.08], marker="v", color=col, ms=7, ls="none",
                  markeredgecolor="k", markeredgewidth=0.5, zorder=6)
        ax_k.plot(t, kmin[:, c], color=col, lw=1.5)
        ax_f.plot(p_fate, fate_p[c], color=col, lw=1.2, marker="o", ms=2.5)
        ax_f.plot(p_modes, p[-1, c], ls="none", marker="o", ms=6, mfc="none", color=col)
        lab = f"{sym} = {vals[c]:g}"
        if kind == "beta":
            lab += f" (EMA momentum {1 - ALPHA_SGD * vals[c]:.4g})"
        lab += f": {int(v['n_survive'])}/{len(alive)} modes survive"
        handles.append(Line2D([], [], color=col, lw=2, label=lab))
        if kind == "eta" or c == 0:
            ax_f.axvline(v["p_minus_tau1"], color=col if kind == "eta" else "0.3", ls=":",
                         lw=1.3)
    handles += [Line2D([], [], color="0.3", lw=1.1, label="mode survives"),
                Line2D([], [], color="0.3", lw=0.8, ls=(0, (3, 2)),
                       label=r"mode collapses ($s_j(T)<10^{-6}$)"),
                Line2D([], [], color="0.5", ls="none", marker="v", ms=7, markeredgecolor="k",
                       markeredgewidth=0.5, label="convergence time"),
                Line2D([], [], color="0.3", ls=":", lw=1.3,
                       label=r"fate map: $p^*_-$ of Eq. 16 at $\tau = 1$"),
                Line2D([], [], color="0.3", ls="none", marker="o", ms=6, mfc="none",
                       label="fate map: the modes drawn")]
    ax_p.set_ylim(-0.03, 1.14)
    ax_tau.axhline(1.0, color="0.5", lw=0.8, ls=":")
    ax_tau.text(0.03, 0.97, "dashed = collapsing modes:\n$W_j$ decays faster than $W_{a,j}$,"
                "\n" r"$\tau_j \to \beta/(\beta-\eta) > 1$ (unbounded if $\beta \leq \eta$)",
                transform=ax_tau.transAxes, ha="left", va="top", fontsize=6.8, color="0.25",
                bbox=dict(boxstyle="round,pad=0.2", fc="white", ec="none", alpha=0.85),
                zorder=8)
    ax_tau.set_ylim(0, 2.3)
    ax_k.axhline(0, color="0.5", lw=0.8, ls=":")
    for ax in (ax_p, ax_tau, ax_k):
        ax.set_xscale("symlog", linthresh=1.0)
        ax.set_xlim(0, T_END)
        ax.set_xlabel(r"$t$ = 0.01 $\times$ SGD steps")
    ax_f.set_xscale("log")
    ax_f.set_xlim(*(FATE_RANGE if kind == "eta" else FATE_ZOOM))
    if kind == "beta":
        from matplotlib.ticker import FixedLocator, NullFormatter

        ticks = [0.02, 0.05, 0.1, 0.2]
        ax_f.xaxis.set_major_locator(FixedLocator(ticks))
        ax_f.set_xticklabels([f"{x:g}" for x in ticks])
        ax_f.xaxis.set_minor_formatter(NullFormatter())
    ax_f.set_ylim(-0.03, 1.05)
    ax_f.set_xlabel(r"$p_j(0)$ (start on the parabola, $s_j(0)=p_j(0)^2$)")
    tag = "abcd" if r == 0 else "efgh"
    ax_p.set_ylabel(r"$p_j(t)$  ($s_j = p_j^2/\alpha_p$)")
    ax_tau.set_ylabel(r"$\tau_j(t) = W_a/W$ (Eq. 13)")
    ax_k.set_ylabel(r"$\min_j \lambda_j(K)$ (Theorem 3)")
    ax_f.set_ylabel(rf"$p_j(T)$, $T = {T_END:g}$")
    ax_p.set_title(f"({tag[0]}) vary {what} {sym} ({fixed}): modes", loc="left")
    ax_tau.set_title(f"({tag[1]}) EMA ratio of each mode", loc="left")
    ax_k.set_title(f"({tag[2]}) alignment stability", loc="left")
    ax_f.set_title(f"({tag[3]}) fate map: which modes survive", loc="left")
    return handles


@figure('directpred_fig5',
        'Synthetic decoupled dynamics with EMA: effect of weight decay and EMA rate (Eqs. 11-13)',
        paper_ref='Fig. 5',
        predictions=('directpred.ema_curriculum',),
        aliases=('fig5',))
def make(out_dir: Path, *, quick: bool = False) -> FigureResult:
    """Draw Fig. 5 (Eqs. 11-13 with EMA, eta and beta sweeps) into ``out_dir``."""
    # Output times: log-spaced (the time axes are logarithmic) plus a uniform grid of step
    # 0.25 (for the Eq. 15 check).
    n_log, dt_lin = (600, 0.25) if quick else (2400, 0.1)
    t_log = np.concatenate([[0.0], np.geomspace(1e-2, T_END, n_log)])
    t_eval = np.union1d(t_log, np.linspace(0.0, T_END, int(round(T_END / dt_lin)) + 1))
    n_fate = 48 if quick else 160
    p_modes = np.geomspace(*P0_RANGE, N_MODES)
    p_fate = np.geomspace(*FATE_RANGE, n_fate)
    p0 = np.concatenate([p_modes, p_fate])
    settings = [("eta", e, e, BETA0) for e in ETA_SWEEP] + [("beta", b, ETA0, b)
                                                          for b in BETA_SWEEP]
    eta = np.array([s[2] for s in settings])[:, None]
    beta = np.array([s[3] for s in settings])[:, None]
    # Steps capped at dt_lin: tau_j = wa_j / w_j of a collapsed mode is a ratio of two numbers
    # near 1e-12; with steps chosen by the error control alone it drifts (-21 instead of
    # 1.0101 at beta = 4), capped it settles where Eq. 13 vanishes.
    tr = simulate_modes(p0[None, :], p0[None, :] ** 2 / ALPHA_P, alpha_p=ALPHA_P, eta=eta,
                        sigma2=SIGMA2, tau0=0.0, beta=beta, t_eval=t_eval, max_step=dt_lin)
    if not tr.ok:
        raise RuntimeError(f"fig5 simulation did not complete: {tr.status_text()}")
    t = tr.t
    m = slice(0, N_MODES)
    p, s, tau = tr.p[:, :, m], tr.s[:, :, m], tr.tau[:, :, m]
    # K's eigenvalue on each mode, with each mode's own tau_j; shape (T, settings, modes).
    kmin = k_eigenvalue(p, s, tau, ALPHA_P, eta[None], SIGMA2).min(axis=2)
    fate_p = tr.p[-1, :, N_MODES:]
    fate_alive = tr.s[-1, :, N_MODES:] >= S_TOL

    numbers: dict[str, float | str] = {"n_modes": float(N_MODES), "t_end": T_END}
    info = []
    for i, (kind, val, eta_i, beta_i) in enumerate(settings):
        key = f"{kind}={val:g}"
        alive = s[-1, i] >= S_TOL
        pm, pp = (float(v) for v in fixed_points(1.0, SIGMA2, eta_i))
        vals = {
            "n_collapsed": float((~alive).sum()), "n_survive": float(alive.sum()),
            "p_final_max": float(p[-1, i].max()), "s_final_max": float(s[-1, i].max()),
            "minK_min": float(kmin[:, i].min()), "t_converge": _convergence_time(t, s[:, i]),
            "tau_final_alive_mean": (float(tau[-1, i][alive].mean()) if alive.any()
                                     else float("nan")),
            "p0_collapse_max": _bracket(p_fate, fate_alive[i])[0],
            "p0_threshold": _bracket(p_fate, fate_alive[i])[1],
            "p_minus_tau1": pm, "p_plus_tau1": pp,
            "tau_eq15_maxerr": _tau_eq15_error(t, p[:, i], tau[:, i], beta_i, alive),
            "tau_final_collapsed_mean": (float(tau[-1, i][~alive].mean()) if (~alive).any()
                                         else float("nan")),
        }
        numbers.update({f"{key}_{k}": v for k, v in vals.items()})
        info.append(dict(vals, alive=alive))

    shown = np.isin(t, t_log)  # curves are drawn at the log-spaced times only
    with style.paper_style():
        fig, axes = style.new_figure(2, 4, width=15.5, height=7.4)
        rows = (("eta", r"$\eta$", ETA_SWEEP, rf"$\beta={BETA0:g}$", "weight decay"),
                ("beta", r"$\beta$", BETA_SWEEP, rf"$\eta={ETA0:g}$", "EMA rate"))
        for r, row in enumerate(rows):
            idx = [i for i, st in enumerate(settings) if st[0] == row[0]]
            handles = _draw_row(axes[r], r, row, t[shown], p[shown][:, idx],
                                tau[shown][:, idx], kmin[shown][:, idx], fate_p[idx], p_modes,
                                p_fate, [info[i] for i in idx])
            fig.legend(handles=handles, loc="outside right upper" if r == 0 else
                       "outside right lower", fontsize=7,
                       title=f"{'top' if r == 0 else 'bottom'} row: {row[4]}",
                       title_fontsize=7.5, alignment="left")
        style.settings_note(
            fig, rf"Eqs. 11-13, $\alpha_p={ALPHA_P:g}$, $\sigma^2={SIGMA2:g}$, $\tau_j(0)=0$; "
                 rf"{N_MODES} modes, $p_j(0)$ log-spaced in [{P0_RANGE[0]:g}, {P0_RANGE[1]:g}], "
                 rf"$s_j(0)=p_j(0)^2$ (ours); paper: $\alpha=0.01$, $\beta={BETA0:g}$, "
                 rf"$\eta={ETA0:g}$.")
        paths = style.save_figure(fig, out_dir, "directpred_fig5")
    b = {v: info[3 + c] for c, v in enumerate(BETA_SWEEP)}
    e = {v: info[c] for c, v in enumerate(ETA_SWEEP)}
    lo, mid, hi = BETA_SWEEP
    caption = (
        f"A slower EMA (smaller beta) keeps the alignment more stable but converges later and "
        f"lets fewer modes survive: at eta = {ETA0:g}, min_t lambda_min(K) is "
        f"{b[lo]['minK_min']:.3f} / {b[mid]['minK_min']:.3f} / {b[hi]['minK_min']:.3f} and the "
        f"modes settle at t = {b[lo]['t_converge']:.0f} / {b[mid]['t_converge']:.0f} / "
        f"{b[hi]['t_converge']:.0f} for beta = {lo:g} / {mid:g} / {hi:g}, while the smallest "
        f"surviving start p_j(0) falls from {b[lo]['p0_threshold']:.3f} to "
        f"{b[mid]['p0_threshold']:.3f} and {b[hi]['p0_threshold']:.3f} (p*_- = "
        f"{b[hi]['p_minus_tau1']:.4f} at tau = 1), so {int(b[lo]['n_survive'])}, "
        f"{int(b[mid]['n_survive'])} and {int(b[hi]['n_survive'])} of {N_MODES} modes survive. "
        f"Larger weight decay (top row, beta = {BETA0:g}) also raises lambda_min(K) (from "
        f"{e[ETA_SWEEP[0]]['minK_min']:.3f} to {e[ETA_SWEEP[-1]]['minK_min']:.3f}) but lowers "
        f"the survivors' p_j(T) to p*_+ ({e[ETA_SWEEP[0]]['p_final_max']:.3f}, "
        f"{e[ETA_SWEEP[1]]['p_final_max']:.3f}, {e[ETA_SWEEP[2]]['p_final_max']:.3f}) and "
        f"leaves {int(e[ETA_SWEEP[0]]['n_survive'])}, {int(e[ETA_SWEEP[1]]['n_survive'])} and "
        f"{int(e[ETA_SWEEP[2]]['n_survive'])} survivors. Dashed lines are modes that collapse; "
        f"the right column shows the fate of every start and where the threshold sits against "
        f"p*_- of Eq. 16 with tau = 1.")
    return FigureResult("directpred_fig5", paths, numbers,
                        settings={"alpha_p": ALPHA_P, "sigma2": SIGMA2, "n_modes": N_MODES,
                                  "p0": p_modes.tolist(), "s0": (p_modes ** 2 / ALPHA_P).tolist(),
                                  "tau0": 0.0, "t_end": T_END, "n_log_times": n_log,
                                  "linear_time_step": dt_lin,
                                  "eta_sweep": list(ETA_SWEEP), "beta_sweep": list(BETA_SWEEP),
                                  "beta0": BETA0, "eta0": ETA0, "alpha_sgd": ALPHA_SGD,
                                  "fate_starts": n_fate, "fate_p0_range": list(FATE_RANGE),
                                  "fate_axis_beta_row": list(FATE_ZOOM),
                                  "collapse_s_tol": S_TOL},
                        caption=caption)

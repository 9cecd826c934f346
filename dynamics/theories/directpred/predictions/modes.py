"""Simulation predictions 5-8 of Tian, Chen & Ganguli (ICML 2021) on the decoupled eigenmode
dynamics (Eqs. 11-16): the invariant of Eq. 14, the fate of a mode without weight decay, the
collapse threshold p*_- on the invariant parabola and the weight decay above which every mode
collapses. All runs are batched :func:`~dynamics.theories.directpred.modes.simulate_modes` calls (or
:func:`~dynamics.theories.directpred.phase.basin_grid`, built on it), judged against the closed
forms of :mod:`dynamics.theories.directpred.closed_form`."""

from __future__ import annotations

import numpy as np

from dynamics.plots.prediction_figure import save_figure
from dynamics.theories.directpred.closed_form import collapse_threshold, eta0_final_s, fixed_points
from dynamics.theories.directpred.modes import invariant_c, simulate_modes
from dynamics.theories.directpred.phase import S_TOL, basin_grid, default_t_end
from dynamics.theories.directpred.predictions.simulation import source
from dynamics.verify.prediction import Context, Outcome, fmt
from dynamics.verify.registry import prediction

# --------------------------------------------------------------------------------------------
# 5. Eq. 14


@prediction("directpred.mode_invariant",
            "Along every decoupled mode trajectory (Eqs. 11-13, fixed tau or EMA) "
            "s_j - p_j^2/alpha_p = c_j e^{-2 eta t} with c_j = s_j(0) - p_j(0)^2/alpha_p.",
            source("Eq. 14 (prediction 5)"), "simulation")
def mode_invariant(ctx: Context) -> Outcome:
    """Relative residual of Eq. 14 over a batch of modes, alpha_p, eta, fixed tau and EMA."""
    n = 5 if ctx.quick else 13
    t_end = 30.0 if ctx.quick else 200.0
    TOL = 1e-8
    p0 = np.linspace(-0.6, 1.2, n)[None, None, :, None]
    s0 = np.array([0.05, 0.3, 1.0])[None, None, None, :]
    alpha_p = np.array([0.5, 2.0])[:, None, None, None]
    eta = np.array([0.0, 0.05])[None, :, None, None]
    worst, printed, trs = 0.0, 0.0, {}
    for name, beta, tau0 in (("EMA beta=0.5, tau(0)=0", 0.5, 0.0), ("fixed tau=1", None, 1.0)):
        tr = simulate_modes(p0, s0, alpha_p=alpha_p, eta=eta, sigma2=0.2, tau0=tau0, beta=beta,
                            t_end=t_end, n_save=201, rtol=1e-10, atol=1e-12)
        trs[name] = tr
        worst = max(worst, float(np.nanmax(tr.invariant_residual())) if tr.ok else np.inf)
        # the sign printed in the paper, c = p(0)^2/alpha_p - s(0)
        c_printed = -tr.invariant_c0()
        t = tr.t[:, None, None, None, None]
        pred = tr.p ** 2 / tr.alpha_p + c_printed * np.exp(-2 * tr.eta * t)
        printed = max(printed, float(np.max(np.abs(tr.s - pred)) / np.max(np.abs(tr.s))))
    tr = trs["EMA beta=0.5, tau(0)=0"]

    def draw(axes):
        for k in range(0, p0.shape[2], 2):
            idx = (0, 1, k, 1)  # alpha_p = 0.5, eta = 0.05, s0 = 0.3
            c = float(invariant_c(tr.p[0][idx], tr.s[0][idx], 0.5))
            axes[0].plot(tr.t, tr.s[(slice(None),) + idx] - tr.p[(slice(None),) + idx] ** 2 / 0.5,
                         lw=2, alpha=0.5)
            axes[0].plot(tr.t, c * np.exp(-0.1 * tr.t), "k:", lw=1)
        axes[0].set_xlabel("t")
        axes[0].set_ylabel("s - p^2/alpha_p  (dotted: c e^(-2 eta t))")
        axes[0].set_title("EMA, alpha_p = 0.5, eta = 0.05", fontsize=8)
    fig = save_figure(ctx.figure("directpred.mode_invariant"), draw)
    n_modes = sum(int(np.prod(t.batch_shape)) for t in trs.values())
    return Outcome.judged(
        worst < TOL, theory=0.0, measured=worst,
        rule=f"max over modes and t of |s - p^2/alpha_p - c e^(-2 eta t)| / max(|s|, "
             f"p^2/alpha_p) < {TOL:g} (integrator rtol 1e-10)",
        details=f"{n_modes} modes: p(0) in [-0.6, 1.2], s(0) in {{0.05, 0.3, 1}}, alpha_p in "
                f"{{0.5, 2}}, eta in {{0, 0.05}}, sigma2 = 0.2, EMA and fixed tau, T = "
                f"{t_end:g}; with the sign printed in the paper (c = p(0)^2/alpha_p - s(0)) the "
                f"residual is {fmt(printed)} of max |s|",
        figure=fig, numbers={"max_residual": worst, "printed_sign_residual": printed,
                             "n_modes": n_modes})


# --------------------------------------------------------------------------------------------
# 6. eta = 0


@prediction("directpred.eta0_fate",
            "Without weight decay (eta = 0, fixed tau), modes starting above the parabola "
            "(s_j(0) > p_j(0)^2/alpha_p) end on p_j = tau/(1+sigma2) with s_j(inf) = s_j(0) + "
            "(p_j(inf)^2 - p_j(0)^2)/alpha_p; modes below it can collapse to s_j = 0.",
            source("Sec. 3.2, Eq. 14, Fig. 3 (prediction 6)"), "simulation")
def eta0_fate(ctx: Context) -> Outcome:
    """Final states on a (p0, s0) grid at eta = 0 against Eq. 14's exact fate."""
    n = 10 if ctx.quick else 24
    alphas = (1.0,) if ctx.quick else (1.0, 2.0)
    tau, sigma2, TOL = 1.0, 0.2, 1e-4
    p0, s0 = np.linspace(-1.0, 1.5, n), np.linspace(0.02, 1.0, n)
    P, S = np.meshgrid(p0, s0)
    err_p = err_s = 0.0
    agree, below_collapsed, above_collapsed, grids = [], 0, 0, []
    for alpha_p in alphas:
        bd = basin_grid(p0, s0, tau=tau, alpha_p=alpha_p, eta=0.0, sigma2=sigma2)
        above = invariant_c(P, S, alpha_p) > 0
        err_p = max(err_p, float(np.max(np.abs(bd.p - tau / (1 + sigma2))[above])))
        s_inf = eta0_final_s(P, S, tau, sigma2, alpha_p)
        err_s = max(err_s, float(np.max(np.abs(bd.s - s_inf)[above])))
        agree.append(float(np.mean(bd.collapsed == (bd.predicted == 1.0))))
        below_collapsed += int(bd.collapsed[~above].sum())
        above_collapsed += int(bd.collapsed[above].sum())
        grids.append((alpha_p, bd))
    ok = (err_p < TOL and err_s < TOL and min(agree) == 1.0 and above_collapsed == 0
          and below_collapsed > 0 and all(int(bd.status.max()) == 0 for _, bd in grids))

    def draw(axes):
        alpha_p, bd = grids[0]
        axes[0].scatter(P[bd.collapsed], S[bd.collapsed], s=8, c="tab:red", label="collapsed")
        axes[0].scatter(P[~bd.collapsed], S[~bd.collapsed], s=8, c="tab:blue",
                        label="survives")
        pp = np.linspace(p0[0], p0[-1], 200)
        axes[0].plot(pp, pp ** 2 / alpha_p, "k--", lw=1, label="s = p^2/alpha_p")
        axes[0].set_ylim(0, s0[-1] * 1.05)
        axes[0].set_xlabel("p(0)")
        axes[0].set_ylabel("s(0)")
        axes[0].set_title(f"eta = 0, tau = {tau:g}, sigma2 = {sigma2:g}, alpha_p = {alpha_p:g}",
                          fontsize=8)
        axes[0].legend(fontsize=6)
    fig = save_figure(ctx.figure("directpred.eta0_fate"), draw)
    return Outcome.judged(
        ok, theory={"p_inf": tau / (1 + sigma2), "fate": "Eq. 14 (exact at eta = 0)"},
        measured={"max |p(T) - tau/(1+sigma2)|": err_p, "max |s(T) - s_inf|": err_s,
                  "fate agreement": min(agree)},
        rule=f"above the parabola: no collapse, |p(T) - tau/(1+sigma2)| < {TOL:g} and "
             f"|s(T) - s_inf| < {TOL:g}; every grid cell's fate (s(T) < {S_TOL:g}) equals the "
             f"exact eta = 0 prediction; at least one cell below the parabola collapses",
        details=f"{n}x{n} grid p(0) in [-1, 1.5], s(0) in [0.02, 1], alpha_p in "
                f"{list(alphas)}, T = {grids[0][1].params['t_end']:g}; below the parabola "
                f"{below_collapsed} cell(s) collapse (the rest survive: 'can', not 'must')",
        figure=fig, numbers={"max_p_error": err_p, "max_s_error": err_s,
                             "fate_agreement": min(agree),
                             "below_parabola_collapsed": below_collapsed})


# --------------------------------------------------------------------------------------------
# 7. The threshold p*_- on the invariant parabola


def _boundary(p0: np.ndarray, survived: np.ndarray) -> float:
    """Midpoint between the largest collapsing and the smallest surviving p0 (NaN if the
    outcome is not a single threshold)."""
    if survived.all() or not survived.any():
        return float("nan")
    lo, hi = p0[~survived].max(), p0[survived].min()
    return float((lo + hi) / 2) if lo < hi else float("nan")


@prediction("directpred.collapse_threshold",
            "With eta > 0 and fixed tau, a mode on the invariant parabola ends at p = 0 or "
            "p*_+; it collapses iff p_j(0) < p*_- = [tau - sqrt(tau^2 - 4 eta (1+sigma2))] / "
            "(2(1+sigma2)), a threshold that grows with eta and shrinks with tau; just above "
            "eta_c = tau^2/(4(1+sigma2)) every mode collapses.",
            source("Eq. 16, Obs. 4-5, Fig. 4 (prediction 7)"), "simulation")
def collapse_threshold_prediction(ctx: Context) -> Outcome:
    """Measured basin boundary on the parabola against p*_- on a (tau, eta) grid."""
    sigma2, alpha_p = 0.2, 1.0
    taus, etas = np.array([0.5, 1.0]), np.array([0.01, 0.025, 0.045])
    p0 = np.linspace(0.0025, 0.6, 240 if ctx.quick else 960)
    step = float(p0[1] - p0[0])
    eta_c = collapse_threshold(taus, sigma2)
    eta_grid = np.concatenate([np.broadcast_to(etas, (2, 3)), 1.05 * eta_c[:, None]], axis=1)
    tr = simulate_modes(p0, p0 ** 2 / alpha_p, alpha_p=alpha_p, eta=eta_grid[:, :, None],
                        sigma2=sigma2, tau0=taus[:, None, None], t_end=1000.0, n_save=2)
    p_end, s_end = tr.p[-1], tr.s[-1]
    pm, pp = fixed_points(taus[:, None], sigma2, etas[None, :])
    measured = np.full(pm.shape, np.nan)
    off = 0.0  # largest distance of a final p from {0, p*_+}
    for i in range(2):
        for j in range(3):
            survived = np.abs(p_end[i, j] - pp[i, j]) < np.abs(p_end[i, j])
            off = max(off, float(np.max(np.minimum(np.abs(p_end[i, j] - pp[i, j]),
                                                   np.abs(p_end[i, j])))))
            measured[i, j] = _boundary(p0, survived)
    err = float(np.nanmax(np.abs(measured - pm))) if np.isfinite(measured).all() else np.inf
    above_s = float(np.max(s_end[:, 3]))
    mono = bool(np.all(np.diff(measured, axis=1) > 0) and np.all(measured[0] > measured[1]))
    ok = tr.ok and err <= step and off < 1e-3 and above_s < S_TOL and mono

    def draw(axes):
        for i, tau in enumerate(taus):
            axes[0].plot(etas, pm[i], "-", label=f"p*_-, tau = {tau:g}")
            axes[0].plot(etas, measured[i], "o", label=f"measured, tau = {tau:g}")
        axes[0].set_xlabel("eta")
        axes[0].set_ylabel("basin boundary on the parabola")
        axes[0].legend(fontsize=6)
    fig = save_figure(ctx.figure("directpred.collapse_threshold"), draw)
    return Outcome.judged(
        ok, theory={f"p*_-(tau={t:g})": [round(float(v), 5) for v in pm[i]]
                    for i, t in enumerate(taus)},
        measured={f"boundary(tau={t:g})": [round(float(v), 5) for v in measured[i]]
                  for i, t in enumerate(taus)},
        rule=f"for every (tau, eta < eta_c): the measured boundary (midpoint between the "
             f"largest collapsing and smallest surviving p(0), grid step {step:.2g}) is within "
             f"one step of p*_-, every final p is within 1e-3 of 0 or p*_+, the boundary "
             f"increases with eta and decreases with tau; at eta = 1.05 eta_c every mode has "
             f"s(T) < {S_TOL:g}",
        details=f"sigma2 = {sigma2:g}, alpha_p = 1, s(0) = p(0)^2 (c = 0), eta in "
                f"{etas.tolist()}, tau in {taus.tolist()}, T = 1000; largest |boundary - "
                f"p*_-| = {fmt(err)}; max final s above eta_c = {fmt(above_s)}",
        figure=fig, numbers={"max_boundary_error": err, "grid_step": step,
                             "max_final_s_above": above_s, "max_final_offset": off})


# --------------------------------------------------------------------------------------------
# 8. Strong weight decay


def strong_wd_outcome(ctx: Context, pid: str, factor: float = 1.1,
                      contrast: float = 0.9) -> Outcome:
    """The judgement of ``directpred.strong_weight_decay_collapse`` at eta = factor x eta_c
    (every mode must collapse) with eta = contrast x eta_c beside it (some must survive)."""
    n = 10 if ctx.quick else 30
    cases = np.array([(1.0, 0.0), (1.0, 0.5), (0.5, 0.0)])  # (tau, sigma2)
    p0, s0 = np.linspace(-0.5, 1.5, n), np.geomspace(0.01, 2.0, n)
    eta_c = collapse_threshold(cases[:, 0], cases[:, 1])
    eta = eta_c[:, None] * np.array([factor, contrast])[None, :]
    t_end = default_t_end(eta, s_ref=2.0)
    tr = simulate_modes(p0[:, None], s0[None, :], eta=eta[:, :, None, None],
                        tau0=cases[:, 0, None, None, None], sigma2=cases[:, 1, None, None, None],
                        t_end=t_end, n_save=2)
    s_end = tr.s[-1]  # (case, factor, p0, s0)
    max_s = float(np.max(s_end[:, 0]))
    survive = [float(np.mean(s_end[i, 1] >= S_TOL)) for i in range(len(cases))]
    ok = tr.ok and max_s < S_TOL and min(survive) > 0

    def draw(axes):
        for i, (tau, sig) in enumerate(cases):
            axes[0].hist(np.log10(np.maximum(s_end[i, 0].ravel(), 1e-30)), bins=20, alpha=0.5,
                         label=f"tau={tau:g}, sigma2={sig:g}")
        axes[0].axvline(np.log10(S_TOL), color="k", ls=":")
        axes[0].set_xlabel(f"log10 s(T) at eta = {factor:g} eta_c")
        axes[0].legend(fontsize=6)
    fig = save_figure(ctx.figure(pid), draw)
    return Outcome.judged(
        ok, theory={"eta_c": [float(v) for v in eta_c], "final s": 0.0},
        measured={"max s(T)": max_s, "survivors at contrast": survive},
        rule=f"at eta = {factor:g} eta_c every mode of the (p0, s0) grid has s(T) < {S_TOL:g} "
             f"for each (tau, sigma2); at eta = {contrast:g} eta_c some mode survives (so "
             f"eta_c is where collapse becomes unavoidable)",
        details=f"{n}x{n} grid p(0) in [-0.5, 1.5], s(0) in [0.01, 2] (log), (tau, sigma2) in "
                f"{[tuple(c) for c in cases.tolist()]}, alpha_p = 1, T = {t_end:.0f}; "
                f"surviving fraction at {contrast:g} eta_c: "
                + ", ".join(f"{v:.2f}" for v in survive),
        figure=fig, numbers={"max_final_s": max_s, "min_survivor_fraction_contrast":
                             min(survive), "t_end": t_end})


@prediction("directpred.strong_weight_decay_collapse",
            "If eta > tau^2/(4(1+sigma2)) (0.25 for tau = 1, sigma2 = 0) every mode collapses, "
            "whatever its initial state.",
            source("Obs. 5, Eq. 16 (prediction 8)"), "simulation")
def strong_weight_decay_collapse(ctx: Context) -> Outcome:
    """Every mode of a wide (p0, s0) grid collapses at 1.1 eta_c; some survive at 0.9 eta_c."""
    return strong_wd_outcome(ctx, "directpred.strong_weight_decay_collapse")

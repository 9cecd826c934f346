"""Simulation predictions 9-10 of Tian, Chen & Ganguli (ICML 2021) measured on phase diagrams
of the decoupled modes (:func:`~dynamics.theories.directpred.phase.hyperparameter_diagram`): the
collapse basin shrinks as the predictor's relative learning rate alpha_p grows (Obs. 1-2), and the
EMA target is an automatic curriculum whose small rates trap more modes (Obs. 8-10, Eq. 15)."""

from __future__ import annotations

import numpy as np

from dynamics.plots.prediction_figure import save_figure
from dynamics.theories.directpred.closed_form import fixed_points, tau_ema
from dynamics.theories.directpred.modes import simulate_modes
from dynamics.theories.directpred.phase import S_TOL, hyperparameter_diagram
from dynamics.theories.directpred.predictions.simulation import source
from dynamics.verify.prediction import Context, Outcome, fmt
from dynamics.verify.registry import prediction

# --------------------------------------------------------------------------------------------
# 9. alpha_p


@prediction("directpred.alpha_p_basin",
            "Without weight decay a larger alpha_p shrinks the basin of collapse (Obs. 1) but "
            "also the growth of s_j, since s_j(inf) - s_j(0) = (p_j(inf)^2 - p_j(0)^2)/alpha_p "
            "(Obs. 2).", source("Obs. 1-2, Eq. 14 (prediction 9)"), "simulation")
def alpha_p_basin(ctx: Context) -> Outcome:
    """Fraction of a (p0, s0) grid that collapses, over alpha_p (eta = 0, tau = 1)."""
    n = 10 if ctx.quick else 20
    alphas = np.array([0.5, 1.0, 2.0] if ctx.quick else [0.25, 0.5, 1.0, 2.0, 4.0, 8.0])
    t_end = 2000.0 if ctx.quick else 6000.0
    sigma2, ID_TOL = 0.2, 1e-6
    P, S = np.meshgrid(np.linspace(-1.0, 1.5, n), np.linspace(0.02, 1.0, n))
    p0, s0 = P.ravel(), S.ravel()
    d = hyperparameter_diagram(("alpha_p", alphas), ("tau", [1.0]), p0=p0, s0=s0,
                               fixed={"eta": 0.0, "sigma2": sigma2}, t_end=t_end)
    frac, pred = d.fraction_collapsed[0], d.predicted_fraction[0]
    unsettled = 1.0 - d.fraction_settled[0]
    pf, sf, col = d.p_final[0], d.s_final[0], d.collapsed[0]
    ident = np.abs((sf - s0) - (pf ** 2 - p0 ** 2) / alphas[:, None])
    id_err = float(np.max(ident / np.maximum(1.0, np.abs(sf - s0))))
    common = ~col.any(axis=0)  # modes that survive at every alpha_p
    growth = np.mean(np.abs(sf - s0)[:, common], axis=1)
    shrinking = bool(np.all(np.diff(frac) < 0))
    ok = (shrinking and bool(np.all(np.abs(frac - pred) <= unsettled + 1e-12)) and id_err < ID_TOL
          and bool(np.all(np.diff(growth) < 0)) and int(d.status.max()) == 0)

    def draw(axes):
        axes[0].semilogx(alphas, frac, "o", label="measured")
        axes[0].semilogx(alphas, pred, "-", label="Eq. 14 (exact at eta = 0)")
        axes[0].set_xlabel("alpha_p")
        axes[0].set_ylabel("fraction of modes collapsed")
        axes[0].legend(fontsize=6)
        axes[1].loglog(alphas, growth, "o-")
        axes[1].set_xlabel("alpha_p")
        axes[1].set_ylabel("mean |s(T) - s(0)|, common survivors")
        for ax in axes:
            ax.set_xticks(alphas, [f"{a:g}" for a in alphas], minor=False)
            ax.set_xticks([], minor=True)
    fig = save_figure(ctx.figure("directpred.alpha_p_basin"), draw, ncols=2)
    return Outcome.judged(
        ok, theory={"collapsed fraction": [round(float(v), 4) for v in pred],
                    "identity residual": 0.0},
        measured={"collapsed fraction": [round(float(v), 4) for v in frac],
                  "identity residual": id_err},
        rule=f"the collapsed fraction decreases strictly with alpha_p and equals Eq. 14's exact "
             f"eta = 0 prediction at every alpha_p, up to the fraction of modes still moving at "
             f"T (neither collapsed nor within 0.1% of p*_+); "
             f"|s(T)-s(0) - (p(T)^2-p(0)^2)/alpha_p| < {ID_TOL:g} (relative to "
             f"max(1, |s(T)-s(0)|)) for every mode; the mean "
             f"|s(T) - s(0)| of the modes alive at every alpha_p decreases strictly",
        details=f"{n}x{n} modes p(0) in [-1, 1.5], s(0) in [0.02, 1], eta = 0, tau = 1, "
                f"sigma2 = {sigma2:g}, alpha_p in {alphas.tolist()}, T = {d.t_end:g}; mean "
                f"|s growth| " + ", ".join(fmt(float(g), 3) for g in growth),
        figure=fig, numbers={"fraction_collapsed_min_alpha": float(frac[0]),
                             "fraction_collapsed_max_alpha": float(frac[-1]),
                             "identity_residual": id_err,
                             "max_unsettled_fraction": float(unsettled.max())})


# --------------------------------------------------------------------------------------------
# 10. EMA


def _eq15_check(betas: np.ndarray, *, eta: float) -> dict:
    """Modes on the invariant parabola with tau(0) = 0: Eq. 15's tau against the simulated
    Wa/W on [0, 40] (dense samples for the trapezoid rule), and tau(300) of the modes that
    survive (final p nearer p*_+ than 0)."""
    p0 = np.array([0.1, 0.2, 0.3, 0.5])
    tr = simulate_modes(p0[None, :], p0[None, :] ** 2, eta=eta, tau0=0.0,
                        beta=betas[:, None], t_end=40.0, n_save=801, rtol=1e-10, atol=1e-12)
    err, rows = 0.0, []
    for i, beta in enumerate(betas):
        tau_th = tau_ema(tr.t, tr.p[:, i], float(beta))
        live = tr.p[1:, i] > 1e-3  # Eq. 15 divides by p
        err = max(err, float(np.max(np.abs(tau_th[1:] - tr.tau[1:, i])[live])))
        rows.append((float(beta), tr.tau[:, i], np.where(tr.p[:, i] > 1e-3, tau_th, np.nan)))
    end = simulate_modes(p0[None, :], p0[None, :] ** 2, eta=eta, tau0=0.0,
                         beta=betas[:, None], t_end=300.0, n_save=2, rtol=1e-10, atol=1e-12)
    _, p_plus = fixed_points(1.0, 0.0, eta)
    alive = np.abs(end.p[-1] - p_plus) < np.abs(end.p[-1])
    return {"t": tr.t, "tau": rows, "err": err, "ok": tr.ok and end.ok, "alive": alive,
            "tau_end_err": float(np.max(np.abs(end.tau[-1][alive] - 1.0))) if alive.any()
            else np.inf}


@prediction("directpred.ema_curriculum",
            "With an EMA target and Wa(0) = 0, tau starts at 0 and rises to 1 (Eq. 15 gives "
            "tau(t) from p_j(t) on the parabola); a smaller EMA rate beta keeps tau small "
            "longer and so traps more modes in the collapse basin.",
            source("Eq. 15, Obs. 8-10, Fig. 5 (prediction 10)"), "simulation")
def ema_curriculum(ctx: Context) -> Outcome:
    """Fraction of Fig. 5-like modes that collapse, over beta; Eq. 15 against Wa/W."""
    eta, nm = 0.1, (64 if ctx.quick else 256)
    betas = np.array([0.04, 0.4, 4.0] if ctx.quick else [0.04, 0.1, 0.4, 1.0, 4.0])
    DROP, TAU_TOL = 0.2, 1e-3
    rng = np.random.default_rng(0)
    p0, s0 = rng.uniform(0.0, 0.3, nm), rng.uniform(0.0, 0.3, nm)
    d = hyperparameter_diagram(("beta", betas), ("eta", [eta]), p0=p0, s0=s0,
                               fixed={"alpha_p": 1.0, "sigma2": 0.0})
    frac = d.fraction_collapsed[0]
    fixed = simulate_modes(p0, s0, eta=eta, tau0=1.0, t_end=d.t_end, n_save=2)
    frac_fixed = float(np.mean(fixed.s[-1] < S_TOL))
    _, p_plus = fixed_points(1.0, 0.0, eta)
    settled = float(d.fraction_settled.min())
    eq15 = _eq15_check(np.array([0.1, 1.0]), eta=eta)
    ok = (bool(np.all(np.diff(frac) <= 0)) and frac[0] - frac[-1] >= DROP
          and eq15["err"] < TAU_TOL and eq15["tau_end_err"] < TAU_TOL and settled == 1.0
          and eq15["ok"] and int(d.status.max()) == 0)

    def draw(axes):
        axes[0].semilogx(betas, frac, "o-", label="EMA, tau(0) = 0")
        axes[0].axhline(frac_fixed, color="k", ls=":", label="fixed tau = 1")
        axes[0].set_xlabel("beta")
        axes[0].set_ylabel("fraction of modes collapsed")
        axes[0].legend(fontsize=6)
        for k, (beta, tau, tau_th) in enumerate(eq15["tau"]):
            axes[1].plot(eq15["t"], tau, color=f"C{k}", lw=2, alpha=0.5)
            axes[1].plot(eq15["t"], tau_th, "k:", lw=0.8)
            axes[1].plot([], [], color=f"C{k}", label=f"Wa/W, beta = {beta:g}")
        axes[1].plot([], [], "k:", label="Eq. 15")
        axes[1].set_xlabel("t")
        axes[1].set_ylabel("tau, modes on the parabola")
        axes[1].legend(fontsize=6)
    fig = save_figure(ctx.figure("directpred.ema_curriculum"), draw, ncols=2)
    return Outcome.judged(
        ok, theory={"trend": "fewer collapsed modes as beta grows", "tau(T)": 1.0,
                    "p*_+(tau=1)": float(p_plus)},
        measured={"collapsed fraction": [round(float(v), 4) for v in frac],
                  "Eq. 15 max |tau error|": eq15["err"],
                  "max |tau(300) - 1|": eq15["tau_end_err"]},
        rule=f"the collapsed fraction is non-increasing in beta and drops by at least {DROP:g} "
             f"from the smallest to the largest beta; Eq. 15 (trapezoid rule, step 0.05) "
             f"matches the simulated Wa/W within {TAU_TOL:g} while p > 1e-3; surviving parabola "
             f"modes end with |tau(300) - 1| < {TAU_TOL:g}; every mode of the diagram has "
             f"settled at T (collapsed, or within 0.1% of p*_+ at its final tau)",
        details=f"{nm} modes p(0), s(0) ~ U(0, 0.3) (Fig. 5's law, seed 0), eta = {eta:g}, "
                f"alpha_p = 1, sigma2 = 0, tau(0) = 0, beta in {betas.tolist()}, T = "
                f"{d.t_end:.0f}; with tau fixed at 1 (beta -> inf) {frac_fixed:.3f} collapse; "
                f"Eq. 15 checked on 4 modes on the parabola for beta in {{0.1, 1}}",
        figure=fig, numbers={"fraction_smallest_beta": float(frac[0]),
                             "fraction_largest_beta": float(frac[-1]),
                             "fraction_fixed_tau": frac_fixed, "eq15_error": eq15["err"]})

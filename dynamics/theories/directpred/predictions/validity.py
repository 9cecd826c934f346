"""Simulation predictions 11-12 of Tian, Chen & Ganguli (ICML 2021) and the checks that the
simulations stand for the model: assumption A1 in full-matrix dynamics (Fig. 7), Appendix D's
scalar model (Fig. 10), minibatch SGD against the ODE (Sec. 1.3 mapping) and the batched
integrator against scipy."""

from __future__ import annotations

import numpy as np

from dynamics.plots.prediction_figure import save_figure
from dynamics.theories.directpred.matrix_flow import MatrixFlowConfig, simulate_matrix
from dynamics.theories.directpred.nonisotropic import scalar_fixed_points, simulate_scalar
from dynamics.theories.directpred.predictions.simulation import decay_rate, semilogy, source
from dynamics.verify.prediction import Context, Outcome, fmt
from dynamics.verify.registry import prediction

# --------------------------------------------------------------------------------------------
# 11. A1


@prediction("directpred.a1_validity",
            "Assumption A1 (Wa = tau W) holds approximately in full-matrix BYOL dynamics: with "
            "X = I, X' = sigma^2 I (sigma = 0.03), EMA momenta gamma_a up to 0.996 and eta in "
            "{0, 0.01, 0.1}, <Wa, W>/(||Wa|| ||W||) stays high (about 0.9 or more) from "
            "Wa(0) = 0, and from an independent random Wa(0) it rises to 0.9 and stays there.",
            source("Appendix B, Fig. 7 (prediction 11)"), "simulation")
def a1_validity(ctx: Context) -> Outcome:
    """The correlation c(t) of Wa and W from the runs of Fig. 7
    (:func:`dynamics.theories.directpred.assumption_a1.correlation_runs`): its minimum over t > 0
    from Wa(0) = 0 (the paper's statement, where c(0+) = 1 trivially) and, from a random Wa(0),
    its minimum after it first reaches 0.9 and its final value."""
    from dynamics.theories.directpred import assumption_a1 as fig7  # Fig. 7's runs and settings

    etas = (0.0, 0.1) if ctx.quick else fig7.ETAS
    gammas = (0.996,) if ctx.quick else fig7.GAMMAS
    seeds = range(2) if ctx.quick else range(10)
    t_end = 40.0 if ctx.quick else 100.0
    LOW, TOL = 0.9, 1e-3
    worst0, worst_after, worst_final, curves, rows = 1.0, 1.0, 1.0, {}, []
    for eta in etas:
        for gamma in gammas:
            beta = (1 - gamma) / fig7.ALPHA_SGD
            t, corr, _ = fig7.correlation_runs(eta, beta, seeds, t_end, random_target=True)
            _, corr0, _ = fig7.correlation_runs(eta, beta, seeds, t_end, random_target=False)
            m0 = float(corr0[:, 1:].min())  # undefined at t = 0 (Wa = 0)
            after = min(float(c[fig7.first_reach(t, c, LOW):].min(initial=1.0)) for c in corr)
            final = float(corr[:, -1].min())
            worst0, worst_after = min(worst0, m0), min(worst_after, after)
            worst_final = min(worst_final, final)
            rows.append((eta, gamma, m0, float(corr[:, 0].mean()), after, final))
            curves[f"eta={eta:g}, gamma_a={gamma:g}"] = (corr.mean(0), corr0[:, 1:].mean(0))

    def draw(axes):
        for label, (c, c0) in curves.items():
            line, = axes[0].semilogx(t[1:], c[1:], lw=1, label=label + ", random Wa(0)")
            axes[0].semilogx(t[1:], c0, lw=1, ls=":", color=line.get_color())
        axes[0].axhline(LOW, color="k", ls="--", lw=0.8)
        axes[0].set_xlabel("t")
        axes[0].set_ylabel("<Wa, W> / (||Wa|| ||W||), mean over seeds")
        axes[0].set_title("dotted: Wa(0) = 0", fontsize=8)
        axes[0].legend(fontsize=5)
    fig = save_figure(ctx.figure("directpred.a1_validity"), draw)
    passed = worst0 >= LOW and worst_after >= LOW - TOL and worst_final >= 0.99
    return Outcome.judged(
        passed, theory=f">= {LOW:g} (paper: about 0.9 or more)",
        measured=f"Wa(0) = 0: min {fmt(worst0, 4)}; random Wa(0): min after reaching {LOW:g} "
                 f"{fmt(worst_after, 4)}, final min {fmt(worst_final, 5)}",
        rule=f"from Wa(0) = 0: min over t > 0, seeds and settings >= {LOW:g}; from a random "
             f"Wa(0): after first reaching {LOW:g} it stays >= {LOW:g} - {TOL:g}, and ends "
             f">= 0.99",
        details=f"Lemma 1 flow (learned Wp, EMA), the runs of Fig. 7: n1 = n2 = {fig7.N}, "
                f"sigma = {fig7.SIGMA:g}, alpha_p = {fig7.ALPHA_P:g}, beta = (1 - gamma_a)/"
                f"{fig7.ALPHA_SGD:g}, W(0), Wp(0), Wa(0) ~ N(0, {fig7.INIT_SCALE:g}^2/n), "
                f"{len(seeds)} seed(s), T = {t_end:g}; per (eta, gamma_a): min from Wa(0) = 0, "
                "start / min after 0.9 / final from a random Wa(0): "
                + ", ".join(f"({e:g}, {g:g}) {fmt(a, 4)}, {fmt(b, 2)} / {fmt(c, 4)} / "
                            f"{fmt(d, 5)}" for e, g, a, b, c, d in rows),
        figure=fig, numbers={"min_correlation": worst0, "min_after_reaching": worst_after,
                             "final_min": worst_final,
                             "n_runs": 2 * len(rows) * len(seeds)})


# --------------------------------------------------------------------------------------------
# 12. Appendix D


def _scalar_case(lambda_d: float, *, t_end: float, lambda_s: float = 1.0,
                 beta: float = 1.0) -> dict:
    """The scalar model at (lambda_s, lambda_d), alpha_p = 1: no predictor from a grid of
    starts (decay rate against the linearisation), and tied starts w = wp (final state
    against w = wa = wp = lambda_d / lambda_s)."""
    g = np.linspace(-1.5, 1.5, 5)
    w0, wa0 = (a.ravel() for a in np.meshgrid(g, g))
    keep = np.hypot(w0, wa0) > 0
    w0, wa0 = w0[keep], wa0[keep]
    kw = {"alpha_p": 1.0, "beta": beta, "lambda_s": lambda_s, "lambda_d": lambda_d}
    nop = simulate_scalar(1.0, w0, wa0, **kw, t_end=t_end, n_save=201, predictor=False)
    size = np.max(np.hypot(nop.w, nop.wa), axis=1)
    J = np.array([[-lambda_s, lambda_d], [beta, -beta]])  # d(w, wa)/dt with wp = 1
    lam = float(np.max(np.linalg.eigvals(J).real))
    tw, twa = (a.ravel() for a in np.meshgrid(np.linspace(0.2, 1.5, 4),
                                              np.linspace(-0.9, 1.4, 4)))
    tied = simulate_scalar(tw, tw, twa, **kw, t_end=t_end, n_save=201)
    target = scalar_fixed_points(lambda_s, lambda_d).tied_attractor
    dev = float(np.max(np.abs(np.stack([tied.wp[-1], tied.w[-1], tied.wa[-1]])
                              - np.array(target)[:, None])))
    return {"lambda_d": lambda_d, "t": nop.t, "size": size, "final": float(size[-1] / size[0]),
            "rate": decay_rate(nop.t, size), "theory_rate": -lam, "tied_dev": dev,
            "tied_drift": float(np.max(np.abs(tied.wp - tied.w))), "tied": tied,
            "target": target[0], "ok": nop.ok and tied.ok,
            "origin_stable": scalar_fixed_points(lambda_s, lambda_d).no_predictor_origin_stable()}


@prediction("directpred.appendix_d_scalar",
            "In Appendix D's scalar model with lambda_d < lambda_s: without a predictor the "
            "origin w = wa = 0 is the only fixed point and it attracts everything; with a "
            "predictor (alpha_p = 1, tied start w = wp) the state converges to "
            "w = wa = wp = lambda_d/lambda_s.",
            source("Appendix D, Eqs. 104-106, Fig. 10 (prediction 12)"), "simulation")
def appendix_d_scalar(ctx: Context) -> Outcome:
    """Decay rate without predictor vs the linearisation; tied runs vs lambda_d/lambda_s."""
    lds = (0.5,) if ctx.quick else (0.25, 0.5, 0.8)
    cases = [_scalar_case(ld, t_end=100.0 if ctx.quick else 200.0) for ld in lds]
    RATE, DEV = 0.01, 1e-4
    ok = all(c["ok"] and c["origin_stable"] and c["final"] < 1e-6
             and abs(c["rate"] - c["theory_rate"]) <= RATE * c["theory_rate"]
             and c["tied_dev"] < DEV and c["tied_drift"] < 1e-8 for c in cases)

    def draw(axes):
        semilogy(axes[0], cases[0]["t"], {f"lambda_d={c['lambda_d']:g}": c["size"]
                                          / c["size"][0] for c in cases},
                 "max over starts of |(w, wa)| / start", "no predictor (wp = 1)")
        tied = cases[0]["tied"]
        axes[1].plot(tied.w, tied.wa, "k", lw=0.7)
        axes[1].plot([cases[0]["target"]], [cases[0]["target"]], "r*", ms=10)
        axes[1].set_xlabel("w = wp")
        axes[1].set_ylabel("wa")
        axes[1].set_title(f"tied start, lambda_d = {cases[0]['lambda_d']:g}", fontsize=8)
    fig = save_figure(ctx.figure("directpred.appendix_d_scalar"), draw, ncols=2)
    return Outcome.judged(
        ok, theory={f"lambda_d={c['lambda_d']:g}": {"rate": c["theory_rate"],
                                                     "tied end": c["target"]} for c in cases},
        measured={f"lambda_d={c['lambda_d']:g}": {"rate": c["rate"],
                                                   "tied max dev": c["tied_dev"]}
                  for c in cases},
        rule=f"no predictor: every start shrinks below 1e-6 of its size and the measured decay "
             f"rate (late half) equals the slowest eigenvalue of the linear flow within "
             f"{RATE:.0%}; with predictor (tied): |wp - w| stays < 1e-8 and the final (wp, w, "
             f"wa) is within {DEV:g} of lambda_d/lambda_s",
        details=f"lambda_s = 1, beta = 1, alpha_p = 1 (Fig. 10), lambda_d in {list(lds)}; 24 "
                f"starts in [-1.5, 1.5]^2 without predictor, 16 tied starts w in [0.2, 1.5], "
                f"wa in [-0.9, 1.4]",
        figure=fig, numbers={"rate_lambda_d_0.5": next(c["rate"] for c in cases
                                                       if c["lambda_d"] == 0.5),
                             "max_tied_deviation": max(c["tied_dev"] for c in cases)})


# --------------------------------------------------------------------------------------------
# SGD and the integrator


def sgd_error(lr: float, batch: int, *, t_end: float = 5.0) -> tuple[float, float, object]:
    """max_t ||F_sgd - F_ode||_F / ||F_ode||_F for minibatch SGD (sampled additive Gaussian
    data, sigma2 = 0.1, learned predictor, EMA) against Lemma 1's ODE from the same start;
    also how far the ODE's F moves, max_t ||F_ode(t) - F_ode(0)|| / ||F_ode(0)||, and the time
    axis with the error series."""
    from dynamics.numerics.data_models import AdditiveGaussian
    from dynamics.theories.directpred.sgd import simulate_sgd

    rng = np.random.default_rng(14)
    n2, n1 = 3, 4
    data = AdditiveGaussian.isotropic(n1, 0.1)
    W0 = rng.standard_normal((n2, n1)) / np.sqrt(n1)
    Wp0 = rng.standard_normal((n2, n2)) / np.sqrt(n2)
    cfg = MatrixFlowConfig(alpha_p=1.0, beta=1.0, eta=0.01, predictor="learned", target="ema")
    sgd = simulate_sgd(W0, data, cfg, Wp0=Wp0, lr=lr, batch_size=batch, t_end=t_end,
                       n_save=51, seed=0)
    ode = simulate_matrix(W0, data.X, data.Xprime, cfg, Wp0=Wp0, t_end=t_end, n_save=51)
    F_ode = ode.F
    if sgd.t.shape != ode.t.shape or not np.allclose(sgd.t, ode.t, atol=1e-9):
        flat = F_ode.reshape(F_ode.shape[0], -1)
        F_ode = np.stack([np.interp(sgd.t, ode.t, flat[:, k]) for k in range(flat.shape[1])],
                         axis=1).reshape((sgd.t.size,) + F_ode.shape[1:])
    err = np.linalg.norm(sgd.F - F_ode, axis=(-2, -1)) / np.linalg.norm(F_ode, axis=(-2, -1))
    moved = float(np.max(np.linalg.norm(F_ode - F_ode[0], axis=(-2, -1)))
                  / np.linalg.norm(F_ode[0]))
    return (float(np.max(err)) if sgd.ok and ode.ok else np.inf), moved, (sgd.t, err)


@prediction("directpred.sgd_matches_ode",
            "Minibatch SGD of the linear model with sampled data follows Lemma 1's gradient "
            "flow under the mapping of Sec. 1.3 (time = lr x steps, beta = (1 - gamma_a)/lr, "
            "eta = weight decay / lr): small learning rate, large batch.",
            source("Lemma 1 and the SGD mapping (Sec. 1.3)"), "simulation")
def sgd_matches_ode(ctx: Context) -> Outcome:
    """Relative distance of F = W W^T between SGD and the ODE over t in [0, 5]."""
    settings = [(5e-3, 1024)] if ctx.quick else [(5e-3, 1024), (2e-3, 4096)]
    TOL = 0.05
    res = [sgd_error(lr, b) for lr, b in settings]
    errs = [r[0] for r in res]
    ok = max(errs) < TOL and (len(errs) == 1 or errs[-1] < errs[0])
    fig = save_figure(ctx.figure("directpred.sgd_matches_ode"), lambda axes: semilogy(
        axes[0], res[0][2][0], {f"lr={lr:g}, batch={b}": r[2][1]
                                for (lr, b), r in zip(settings, res, strict=True)},
        "||F_sgd - F_ode|| / ||F_ode||"))
    return Outcome.judged(
        ok, theory=0.0, measured={f"lr={lr:g}, batch={b}": e
                                  for (lr, b), e in zip(settings, errs, strict=True)},
        rule=f"max_t ||F_sgd - F_ode||_F / ||F_ode||_F < {TOL:g} for every (lr, batch)"
             + ("" if len(errs) == 1 else ", and smaller for the smaller lr / larger batch"),
        details=f"n2 = 3, n1 = 4, X = I, X' = 0.1 I, alpha_p = 1, beta = 1, eta = 0.01, "
                f"t in [0, 5]; the ODE's F moves by {fmt(res[0][1], 3)} of its size over that "
                f"time, against an SGD deviation of {fmt(errs[0], 3)}",
        figure=fig, numbers={"max_error": max(errs), "F_moved": res[0][1]})


@prediction("directpred.batched_integrator",
            "The batched integrator of the mode equations (simulate_modes) agrees with "
            "scipy's solve_ivp (DOP853) on Eqs. 11-13, fixed tau and EMA.",
            source("Eqs. 11-13 (numerical method)"), "simulation")
def batched_integrator(ctx: Context) -> Outcome:
    """Max relative deviation over time and cases between the two integrators."""
    from scipy.integrate import solve_ivp

    from dynamics.theories.directpred.modes import mode_rhs, simulate_modes

    # (p0, s0, tau0, beta or None, eta, sigma2, alpha_p)
    cases = [(0.3, 0.2, 1.0, None, 0.0, 0.0, 1.0), (0.2, 0.05, 1.0, None, 0.02, 0.1, 2.0),
             (0.05, 0.3, 1.0, None, 0.05, 0.0, 1.0), (0.2, 0.1, 0.0, 0.4, 0.04, 0.0, 1.0),
             (0.1, 0.25, 0.0, 1.0, 0.01, 0.2, 0.5)]
    t_end, TOL = (50.0 if ctx.quick else 100.0), 1e-6
    t_eval = np.linspace(0.0, t_end, 101)
    diffs, curves = [], {}
    for k, (p0, s0, tau0, beta, eta, sigma2, alpha_p) in enumerate(cases):
        tr = simulate_modes(p0, s0, alpha_p=alpha_p, eta=eta, sigma2=sigma2, tau0=tau0,
                            beta=beta, t_end=t_end, n_save=101, rtol=1e-10, atol=1e-12)

        def rhs(_t, y, beta=beta, eta=eta, sigma2=sigma2, alpha_p=alpha_p):
            return list(mode_rhs(y[0], y[1], y[2], alpha_p=alpha_p, eta=eta, sigma2=sigma2,
                                 beta=beta))

        ref = solve_ivp(rhs, (0.0, t_end), [p0, s0, tau0], method="DOP853", t_eval=t_eval,
                        rtol=1e-12, atol=1e-14)
        scale = max(1.0, float(np.max(np.abs(ref.y))))
        dev = np.max(np.abs(np.stack([tr.p, tr.s, tr.tau]) - ref.y), axis=0) / scale
        diffs.append(float(dev.max()))
        curves[f"case {k}"] = np.maximum(dev, 1e-17)
    fig = save_figure(ctx.figure("directpred.batched_integrator"), lambda axes: semilogy(
        axes[0], t_eval, curves, "|batched - scipy| / scale (p, s, tau)"))
    return Outcome.judged(
        max(diffs) < TOL, theory=0.0, measured=max(diffs),
        rule=f"max over time, variables (p, s, tau) and cases of |batched - scipy| / "
             f"max(1, max |scipy|) < {TOL:g} (batched rtol 1e-10, scipy rtol 1e-12)",
        details=f"{len(cases)} cases (fixed tau and EMA, eta, sigma2, alpha_p varied), "
                f"T = {t_end:g}; per case " + ", ".join(fmt(d, 2) for d in diffs),
        figure=fig, numbers={"max_deviation": max(diffs), "t_end": t_end})

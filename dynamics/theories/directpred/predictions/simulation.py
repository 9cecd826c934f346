"""Simulation predictions 1-12 of Tian, Chen & Ganguli (ICML 2021), each a fresh simulation of
the paper's linear model judged against what its theory says (THEORY-directpred, Sec. 2 and
Sec. 6, predictions 1-12).

This module holds the matrix-flow predictions (Theorem 1, Theorem 2 and the remark after it)
and the helpers the other parts share; the rest is spread over

* :mod:`.directpred_theory_flows` -- Theorem 3 (commutator) and Appendix B (skew part, Eq. 62);
* :mod:`.directpred_theory_modes` -- the decoupled modes, Eqs. 11-16 (invariant, fates,
  thresholds);
* :mod:`.directpred_theory_phase` -- phase diagrams over alpha_p and the EMA rate;
* :mod:`.directpred_theory_validity` -- assumption A1 (Fig. 7), Appendix D's scalar model, the
  SGD-to-ODE mapping and the batched integrator.

Every ``evaluate`` runs at all three tiers: ``smoke`` is a small version (seconds), ``cpu``
and ``paper`` the fuller one (the paper's grids where it states them).
"""

from __future__ import annotations

import numpy as np

from dynamics.plots.prediction_figure import save_figure
from dynamics.theories.directpred import PAPER
from dynamics.theories.directpred.matrix_flow import (
    MatrixFlowConfig,
    MatrixTrajectory,
    lemma2_bound,
    simulate_matrix,
)
from dynamics.verify.prediction import Context, Outcome, fmt
from dynamics.verify.registry import prediction

#: The paper every prediction of these modules comes from.


#: The paper with the place of a claim (the citation is written once, in the package).
source = PAPER.cite


def random_psd(rng: np.random.Generator, n: int, scale: float, floor: float) -> np.ndarray:
    """A random symmetric positive-definite n x n matrix ``scale A A^T / n + floor I``."""
    A = rng.standard_normal((n, n))
    return scale * A @ A.T / n + floor * np.eye(n)


def decay_rate(t: np.ndarray, y: np.ndarray, start: float = 0.5, floor: float = 1e-8) -> float:
    """Exponential decay rate of the positive series ``y(t)``: minus the least-squares slope
    of ``log y`` over the last ``1 - start`` of the time span (negative for growth), using only
    values above ``floor * max(y)`` (below, the integrator's absolute tolerance dominates)."""
    t, y = np.asarray(t, float), np.asarray(y, float)
    resolved = y > floor * np.max(y)
    keep = (t >= t[0] + start * (t[-1] - t[0])) & resolved
    if keep.sum() < 3:  # the window lies below the floor: fit what is resolved
        keep = resolved
    return float(-np.polyfit(t[keep], np.log(y[keep]), 1)[0])


def semilogy(ax, t, series: dict[str, np.ndarray], ylabel: str, title: str = "") -> None:
    """Draw several positive series against ``t`` on a log axis (one line each)."""
    for label, y in series.items():
        ax.semilogy(t, np.maximum(np.asarray(y, float), 1e-300), lw=1.2, label=label)
    ax.set_xlabel("t")
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=8)
    if len(series) > 1:
        ax.legend(fontsize=6)


# --------------------------------------------------------------------------------------------
# 1. Theorem 1


def _appendix_form_residual(tr: MatrixTrajectory) -> float:
    """Theorem 1 as the appendix prints it (no 1/alpha_p): max relative residual."""
    W, Wp = tr.W, tr.Wp
    WWt = W @ np.swapaxes(W, -1, -2)
    PtP = np.swapaxes(Wp, -1, -2) @ Wp
    C = np.exp(-2 * tr.config.eta * tr.t)[:, None, None] * (WWt[0] - PtP[0])
    res = np.linalg.norm(WWt - PtP - C, axis=(-2, -1))
    return float(np.max(res / np.maximum(np.linalg.norm(WWt, axis=(-2, -1)), 1e-300)))


@prediction("directpred.theorem1_invariant",
            "Weight decay balances predictor and online network: along the flow of Eqs. 2-4 "
            "(any X, X', learned non-symmetric predictor, EMA or SimSiam target), "
            "W W^T - Wp^T Wp / alpha_p - e^{-2 eta t} C stays exactly 0.",
            source("Theorem 1 (prediction 1)"), "simulation")
def theorem1_invariant(ctx: Context) -> Outcome:
    """Relative residual of Theorem 1 along random full-matrix trajectories."""
    sizes = [(4, 5)] if ctx.quick else [(4, 5), (8, 10)]
    targets = ["ema"] if ctx.quick else ["ema", "simsiam"]
    t_end = 10.0 if ctx.quick else 30.0
    TOL = 1e-8
    runs, worst, appendix = {}, 0.0, 0.0
    for k, (n2, n1) in enumerate(sizes):
        rng = np.random.default_rng(11 + k)
        X, Xp = random_psd(rng, n1, 1.0, 0.3), random_psd(rng, n1, 0.3, 0.05)
        W0 = rng.standard_normal((n2, n1)) / np.sqrt(n1)
        Wp0 = rng.standard_normal((n2, n2)) / np.sqrt(n2)
        for target in targets:
            cfg = MatrixFlowConfig(alpha_p=2.0, beta=0.5, eta=0.05, predictor="learned",
                                   target=target)
            tr = simulate_matrix(W0, X, Xp, cfg, Wp0=Wp0, Wa0=np.zeros((n2, n1)),
                                 t_end=t_end, n_save=101)
            res = tr.invariant_residual()
            runs[f"{target} {n2}x{n1}"] = (tr.t, res, tr.ok)
            worst = max(worst, float(np.nanmax(res)))
            appendix = max(appendix, _appendix_form_residual(tr))
    ok = all(r[2] for r in runs.values()) and worst < TOL
    fig = save_figure(ctx.figure("directpred.theorem1_invariant"), lambda axes: semilogy(
        axes[0], next(iter(runs.values()))[0], {k: v[1] for k, v in runs.items()},
        "relative residual of Theorem 1", f"alpha_p = 2, beta = 0.5, eta = 0.05, t <= {t_end:g}"))
    return Outcome.judged(
        ok, theory=0.0, measured=worst,
        rule=f"max over t and runs of ||W W^T - Wp^T Wp/alpha_p - e^(-2 eta t) C||_F / scale "
             f"< {TOL:g} (DOP853 at rtol 1e-10); scale = max of the three norms",
        details=f"{len(runs)} run(s): random X, X' (non-isotropic), alpha_p = 2, beta = 0.5, "
                f"eta = 0.05, Wa(0) = 0; the appendix's printed form without 1/alpha_p "
                f"leaves a residual of {fmt(appendix)} (so the main-text form is the right one)",
        figure=fig, numbers={"max_residual": worst, "appendix_form_residual": appendix,
                             "t_end": t_end})


# --------------------------------------------------------------------------------------------
# 2. Theorem 2 and the remark after it


def collapse_run(predictor: str, stop_grad: bool, *, sigma2: float, eta: float, t_end: float,
                 seed: int) -> MatrixTrajectory:
    """One trajectory of the collapsing variants (SimSiam target Wa = W), X = I,
    X' = sigma2 I, n2 = 4, n1 = 5; ``predictor`` "learned" or "identity"."""
    rng = np.random.default_rng(seed)
    n2, n1 = 4, 5
    W0 = rng.standard_normal((n2, n1)) / np.sqrt(n1)
    Wp0 = np.eye(n2) + 0.3 * rng.standard_normal((n2, n2)) / np.sqrt(n2)
    cfg = MatrixFlowConfig(predictor=predictor, target="simsiam", stop_grad=stop_grad, eta=eta)
    return simulate_matrix(W0, np.eye(n1), sigma2 * np.eye(n1), cfg, Wp0=Wp0, t_end=t_end,
                           n_save=121)


#: Relative slack of the bounds on ||W(t)||: Lemma 2's (exact given the sampled lambda0) and
#: Gronwall's (its integral of lambda_min(H) is a trapezoid sum over the saved times).
LEMMA2_SLACK, GRONWALL_SLACK = 1e-6, 1e-2


def _bounds_hold(tr: MatrixTrajectory) -> tuple[bool, float]:
    """Whether ||W(t)|| stays below Lemma 2's e^{-lambda0 t} ||W(0)|| and Gronwall's
    exp(-int lambda_min(H)) ||W(0)|| at every saved time, and lambda0."""
    norm = tr.W_norm()
    gronwall, lemma2 = lemma2_bound(tr)
    lam0 = float(-np.log(lemma2[-1] / lemma2[0]) / tr.t[-1])
    return bool(np.all(norm <= lemma2 * (1 + LEMMA2_SLACK) + 1e-12)
                and np.all(norm <= gronwall * (1 + GRONWALL_SLACK) + 1e-12)), lam0


@prediction("directpred.no_stopgrad_collapse",
            "Without the stop-gradient (Wa = W, gradient through both branches, learned "
            "predictor) and with X' > 0, W(t) -> 0 exponentially, below Lemma 2's bound "
            "e^{-lambda0 t} ||W(0)|| with lambda0 = inf_t lambda_min(H) >= lambda_min(X').",
            source("Theorem 2, Lemma 2 (prediction 2)"), "simulation")
def no_stopgrad_collapse(ctx: Context) -> Outcome:
    """||W(T)||/||W(0)|| and the Lemma 2 / Gronwall bounds along the Theorem 2 flow."""
    sigma2, t_end = 0.3, (30.0 if ctx.quick else 60.0)
    seeds = (13,) if ctx.quick else (13, 14, 15)
    TOL = 1e-2
    trs = [collapse_run("learned", False, sigma2=sigma2, eta=0.0, t_end=t_end, seed=s)
           for s in seeds]
    ratios = [float(tr.W_norm()[-1] / tr.W_norm()[0]) for tr in trs]
    checks = [_bounds_hold(tr) for tr in trs]
    rates = [decay_rate(tr.t, tr.W_norm(), start=0.0) for tr in trs]
    lam0 = min(c[1] for c in checks)
    ok = all(tr.ok for tr in trs) and max(ratios) < TOL and all(c[0] for c in checks)
    gronwall, lemma2 = lemma2_bound(trs[0])
    fig = save_figure(ctx.figure("directpred.no_stopgrad_collapse"), lambda axes: semilogy(
        axes[0], trs[0].t, {"||W(t)||": trs[0].W_norm(), "Lemma 2 bound": lemma2,
                            "Gronwall bound": gronwall},
        "||W||_F", f"no stop-gradient, X = I, X' = {sigma2:g} I"))
    return Outcome.judged(
        ok, theory={"bound_ratio_at_T": float(np.exp(-lam0 * t_end)), "lambda0": lam0,
                    "lambda_min_X'": sigma2},
        measured={"ratio": max(ratios), "mean_rate": float(np.mean(rates))},
        rule=f"||W(T)||/||W(0)|| < {TOL:g} for every seed, and at all {trs[0].t.size} saved "
             f"times ||W(t)|| <= Lemma 2's bound (relative slack {LEMMA2_SLACK:g}) and <= "
             f"Gronwall's exp(-int lambda_min(H)) ||W(0)|| (slack {GRONWALL_SLACK:g}: trapezoid "
             f"integral)",
        details=f"{len(seeds)} seed(s), eta = 0, T = {t_end:g}; lambda_min(H(t)) sampled at the "
                f"saved times; measured mean decay rate {fmt(float(np.mean(rates)))} >= "
                f"lambda0 = {fmt(lam0)} >= lambda_min(X') = {sigma2:g}",
        figure=fig, numbers={"max_ratio": max(ratios), "lambda0": lam0,
                             "mean_rate": float(np.mean(rates))})


def no_predictor_outcome(ctx: Context, pid: str, *, sigma2: float,
                         etas: tuple[float, ...]) -> Outcome:
    """The judgement of ``directpred.no_predictor_collapse`` for X' = sigma2 I and the given
    weight decays (also used with a setting outside the remark's assumptions)."""
    t_end = 30.0 if ctx.quick else 60.0
    TOL, RATE_TOL = 1e-3, 1e-6
    rows, ok, series = [], True, {}
    for eta in etas:
        for stop_grad in (True, False):
            tr = collapse_run("identity", stop_grad, sigma2=sigma2, eta=eta, t_end=t_end,
                              seed=12)
            theory = (1.0 if stop_grad else 2.0) * sigma2 + eta
            rate = decay_rate(tr.t, tr.W_norm(), start=0.0)
            ratio = float(tr.W_norm()[-1] / tr.W_norm()[0])
            within, _ = _bounds_hold(tr)
            good = (tr.ok and ratio < TOL and within
                    and abs(rate - theory) <= RATE_TOL * max(theory, 1e-12))
            ok &= good
            name = f"{'stop-grad' if stop_grad else 'no stop-grad'}, eta={eta:g}"
            rows.append((name, theory, rate, ratio))
            series[name] = tr.W_norm() / tr.W_norm()[0]
    fig = save_figure(ctx.figure(pid), lambda axes: semilogy(
        axes[0], tr.t, series, "||W(t)|| / ||W(0)||", f"Wp = I, Wa = W, X' = {sigma2:g} I"))
    return Outcome.judged(
        ok, theory={r[0]: r[1] for r in rows}, measured={r[0]: r[2] for r in rows},
        rule=f"for each arm: the measured decay rate of ||W|| equals the theory's "
             f"(sigma2 + eta with stop-gradient, dW/dt = -W(X' + eta I); 2 sigma2 + eta without) "
             f"within {RATE_TOL:g} relative, ||W(T)||/||W(0)|| < {TOL:g}, and ||W(t)|| stays "
             f"below Lemma 2's bound",
        details="; ".join(f"{n}: rate {fmt(m)} (theory {fmt(th)}), ratio {fmt(r)}"
                          for n, th, m, r in rows) + f"; T = {t_end:g}",
        figure=fig, numbers={"max_ratio": max(r[3] for r in rows),
                             "max_rate_error": max(abs(r[2] - r[1]) for r in rows)})


@prediction("directpred.no_predictor_collapse",
            "Without a predictor (Wp = I, Wa = W), with or without the stop-gradient, W -> 0 "
            "exponentially when X' > 0 or eta > 0: with stop-gradient dW/dt = -W (X' + eta I).",
            source("remark after Theorem 2 (prediction 2)"), "simulation")
def no_predictor_collapse(ctx: Context) -> Outcome:
    """Decay rate of ||W|| with and without stop-gradient against the exact rates."""
    return no_predictor_outcome(ctx, "directpred.no_predictor_collapse", sigma2=0.3,
                                etas=(0.0, 0.05))

"""Simulation predictions 3-4 of Tian, Chen & Ganguli (ICML 2021) on the reduced (Wp, F) flows
at constant tau: Theorem 3's commutator dynamics under the symmetrised flow (Eq. 67) and the
decay of the predictor's skew part under the non-symmetrised flow (Eq. 62, Appendix B, Fig. 8).

Theorem 3: L = [F, Wp] obeys dL/dt = -K L - L K with K symmetric. L is antisymmetric, so in
K's eigenbasis (k_1 <= k_2 <= ...) its entries L_ij, i != j, evolve at the rates k_i + k_j and
the diagonal is 0: L decays iff every pair sum k_i + k_j (i != j) is positive, i.e. iff
k_1 + k_2 > 0, which is weaker than Theorem 3's sufficient lambda_min(K) > 0. Along any
trajectory, -int (k_{n-1} + k_n) <= log(||L(t)|| / ||L(0)||) <= -int (k_1 + k_2).
"""

from __future__ import annotations

import numpy as np
from scipy.integrate import cumulative_trapezoid

from dynamics.plots.prediction_figure import save_figure
from dynamics.theories.directpred.predictions.simulation import decay_rate, semilogy, source
from dynamics.theories.directpred.reduced import (
    ReducedTrajectory,
    random_symmetric_state,
    simulate_reduced,
    theorem3_K,
)
from dynamics.verify.prediction import Context, Outcome, fmt
from dynamics.verify.registry import prediction

# --------------------------------------------------------------------------------------------
# 3. Theorem 3: the commutator


def near_aligned_run(p, s, *, tau: float, eta: float, t_end: float, eps: float = 1e-9,
                     seed: int = 0) -> tuple[ReducedTrajectory, np.ndarray]:
    """Eq. 67 from an exactly aligned fixed point (Wp = U diag(p) U^T, F = U diag(s) U^T with
    every mode either collapsed, s_j = 0, or at p_j = tau for eta = 0, alpha_p = 1,
    sigma2 = 0) plus an O(eps) non-aligned perturbation (PSD for F). K stays within O(eps) of
    its value K* there, so ||L|| changes at the rate set by K*. Returns the trajectory and
    the eigenvalues of K*."""
    rng = np.random.default_rng(seed)
    n = len(p)
    U, _ = np.linalg.qr(rng.standard_normal((n, n)))
    Wp, F = U @ np.diag(p) @ U.T, U @ np.diag(s) @ U.T
    G, H = rng.standard_normal((n, n)), rng.standard_normal((n, n))
    k_star = np.linalg.eigvalsh(theorem3_K(Wp, F, alpha_p=1.0, eta=eta, sigma2=0.0, tau=tau))
    tr = simulate_reduced(Wp + eps * (H + H.T) / 2, F + eps * G @ G.T / n, kind="eq67",
                          alpha_p=1.0, eta=eta, sigma2=0.0, tau=tau, t_end=t_end, n_save=401,
                          rtol=1e-12, atol=1e-20)
    return tr, k_star


def pair_sum_bounds(tr: ReducedTrajectory) -> tuple[np.ndarray, np.ndarray]:
    """The bounds -int(k_{n-1} + k_n) and -int(k_1 + k_2) on log(||L(t)|| / ||L(0)||) along a
    trajectory (trapezoid rule over the saved times)."""
    k = tr.K_eigs()
    return (-cumulative_trapezoid(k[:, -1] + k[:, -2], tr.t, initial=0.0),
            -cumulative_trapezoid(k[:, 0] + k[:, 1], tr.t, initial=0.0))


def sandwich_violation(tr: ReducedTrajectory) -> tuple[float, float]:
    """How far log(||L(t)||/||L(0)||) leaves the :func:`pair_sum_bounds` for t > 0 while L is
    resolved (1e4 times above its error from the integrator's rtol 1e-12 and atol 1e-14):
    positive = outside, negative = the smallest margin inside; and the growth factor
    max_t ||L|| / ||L(0)||."""
    lower, upper = pair_sum_bounds(tr)
    L = tr.commutator_norm()
    # resolved part: the states carry errors ~ rtol |x| + atol (1e-12, 1e-14), so L is known
    # to ~ 2 rtol ||F|| ||Wp|| + atol (||F|| + ||Wp||); keep a margin of 1e4 over that
    nF, nP = np.linalg.norm(tr.F, axis=(-2, -1)), np.linalg.norm(tr.Wp, axis=(-2, -1))
    keep = L > 1e4 * (2e-12 * nF * nP + 1e-14 * (nF + nP))
    keep[0] = False  # both bounds and the measurement are 0 at t = 0
    log_ratio = np.log(L[keep] / L[0])
    viol = max(float(np.max(log_ratio - upper[keep])), float(np.max(lower[keep] - log_ratio)))
    return viol, float(L.max() / L[0])


def _fig9_settings(quick: bool) -> list[tuple[float, float]]:
    if quick:
        return [(1.0, 0.0), (2.0, 0.01)]
    return [(tau, eta) for tau in (0.5, 1.0, 2.0) for eta in (0.0, 0.01, 0.1, 0.5)]


@prediction("directpred.commutator_alignment",
            "Under the symmetrised flow (Eq. 67) the commutator L = [F, Wp] obeys dL/dt = "
            "-KL - LK, so it decays iff every pair sum k_i + k_j (i != j) of K's eigenvalues "
            "is positive, i.e. k_1 + k_2 > 0 (Theorem 3's lambda_min(K) > 0 is sufficient, not "
            "necessary), and grows at rate -(k_1 + k_2) when that is negative.",
            source("Theorem 3, Fig. 9 (prediction 3)"), "simulation")
def commutator_alignment(ctx: Context) -> Outcome:
    """Decay / growth rate of ||L|| near two aligned states, and the pair-sum bounds along
    Fig. 9-like trajectories."""
    REL = 0.02
    # A: one collapsed mode at p = 0.1 (k = -0.09), two live modes: k_1 < 0 < k_1 + k_2.
    tr_a, k_a = near_aligned_run([1.0, 0.1, 1.0], [1.0, 0.0, 0.4], tau=1.0, eta=0.0,
                                 t_end=40.0)
    # B: two collapsed modes at p = 0.5, 0.3 (k = -0.25, -0.21): k_1 + k_2 < 0.
    tr_b, k_b = near_aligned_run([1.0, 0.5, 0.3], [1.0, 0.0, 0.0], tau=1.0, eta=0.0,
                                 t_end=20.0)
    rate_a, rate_b = decay_rate(tr_a.t, tr_a.commutator_norm()), decay_rate(
        tr_b.t, tr_b.commutator_norm())
    pair_a, pair_b = float(k_a[0] + k_a[1]), float(k_b[0] + k_b[1])
    ok_a = bool(k_a[0] < 0 < pair_a and abs(rate_a - pair_a) <= REL * abs(pair_a))
    ok_b = bool(pair_b < 0 and abs(rate_b - pair_b) <= REL * abs(pair_b))
    Wp0, F0 = random_symmetric_state()  # Fig. 9's random start (n = 6, seed 0)
    traj = {}
    for tau, eta in _fig9_settings(ctx.quick):
        traj[(tau, eta)] = simulate_reduced(Wp0, F0, kind="eq67", alpha_p=1.0, eta=eta,
                                            sigma2=0.0, tau=tau, t_end=60.0, n_save=601,
                                            rtol=1e-12, atol=1e-14)
    sand = {key: sandwich_violation(tr) for key, tr in traj.items()}
    worst = max(v[0] for v in sand.values())
    ok_c = all(tr.status == "completed" for tr in traj.values()) and worst <= 1e-6
    ok = ok_a and ok_b and ok_c and tr_a.status == tr_b.status == "completed"

    def draw(axes):
        semilogy(axes[0], tr_a.t, {f"A: k1={k_a[0]:.2f}, k1+k2={pair_a:.2f}":
                                   tr_a.commutator_norm() / tr_a.commutator_norm()[0]},
                 "||L(t)|| / ||L(0)||")
        semilogy(axes[0], tr_b.t, {f"B: k1+k2={pair_b:.2f}":
                                   tr_b.commutator_norm() / tr_b.commutator_norm()[0]},
                 "||L(t)|| / ||L(0)||", "near aligned states (Eq. 67, eta = 0, tau = 1)")
        axes[0].legend(fontsize=6)
        (tau, eta), tr = next(iter(traj.items()))
        L = tr.commutator_norm()
        semilogy(axes[1], tr.t, {"||L(t)|| / ||L(0)||": L / L[0],
                                 "exp(-int(k1 + k2)), the pair-sum bound":
                                 np.exp(pair_sum_bounds(tr)[1])},
                 "||[F, Wp]|| / initial", f"Fig. 9 start, tau = {tau:g}, eta = {eta:g}")
    fig = save_figure(ctx.figure("directpred.commutator_alignment"), draw, ncols=2)
    return Outcome.judged(
        ok, theory={"A: k1+k2": pair_a, "B: k1+k2": pair_b},
        measured={"A: decay rate": rate_a, "B: decay rate": rate_b, "bound violation": worst},
        rule=f"(A) lambda_min(K*) < 0 < k1+k2 and the measured decay rate of ||L|| (fit over "
             f"the second half) equals k1+k2 within {REL:.0%}; (B) k1+k2 < 0 and the measured "
             f"rate equals k1+k2 (growth) within {REL:.0%}; (C) along every Fig. 9-like "
             f"trajectory log(||L(t)||/||L(0)||) stays within [-int(k_n-1 + k_n), "
             f"-int(k1+k2)] up to 1e-6 while L is resolved (1e4 x above its integration error "
             f"2 rtol ||F|| ||Wp|| + atol (||F|| + ||Wp||))",
        details=f"A: K* eigenvalues {np.round(k_a, 3).tolist()}, ||L|| decays at "
                f"{fmt(rate_a)} (Theorem 3's lambda_min bound would allow growth); "
                f"B: K* {np.round(k_b, 3).tolist()}, grows at {fmt(-rate_b)}; C: "
                f"{len(traj)} trajectories (tau, eta) = {list(traj)}, largest excursion "
                f"{fmt(worst)} (negative: inside), growth factors max ||L||/||L(0)|| "
                + ", ".join(fmt(v[1], 3) for v in sand.values()),
        figure=fig, numbers={"A_pair_sum": pair_a, "A_rate": rate_a, "B_pair_sum": pair_b,
                             "B_rate": rate_b, "bound_violation": worst})


# --------------------------------------------------------------------------------------------
# 4. Appendix B: the skew part of the predictor


def wp_fixed_point(F: np.ndarray, *, alpha_p: float, eta: float, sigma2: float,
                   tau: float) -> np.ndarray:
    """The fixed point of Eq. 62's Wp equation at given F:
    Wp* = alpha_p tau F (alpha_p (1+sigma2) F + eta I)^+, symmetric (F commutes with the
    bracket); unique for eta > 0 (pseudo-inverse for a singular bracket at eta = 0)."""
    M = alpha_p * (1 + sigma2) * F + eta * np.eye(F.shape[0])
    return alpha_p * tau * F @ np.linalg.pinv(M)


def skew_runs(settings, *, n: int = 8, seed: int = 0, rank: int | None = None,
              t_end: float | None = None) -> list[dict]:
    """Eq. 62 runs from a random non-symmetric Wp(0): one per (kind, eta, tau) in ``settings``
    ("balanced" is Fig. 8's F = Wp^T Wp / alpha_p; "eq62" starts from a random PSD F(0) of rank
    ``rank``, default full). Horizon ``t_end`` (default 12/eta). Per run: the settings, t, the
    norms of A = (Wp + Wp^T)/2 and B = (Wp - Wp^T)/2, and the distance of Wp(T) to the fixed
    point at F(T) relative to ||Wp(0)||."""
    rng = np.random.default_rng(seed)
    Wp0 = rng.standard_normal((n, n)) / np.sqrt(n)
    G = rng.standard_normal((n, rank or n)) / np.sqrt(n)
    out = []
    for kind, eta, tau in settings:
        T = t_end if t_end is not None else 12.0 / eta
        tr = simulate_reduced(Wp0, None if kind == "balanced" else G @ G.T, kind=kind,
                              alpha_p=1.0, eta=eta, sigma2=0.0, tau=tau, t_end=T, n_save=401)
        A, B = tr.sym_skew_norms()
        star = wp_fixed_point(tr.F[-1], alpha_p=1.0, eta=eta, sigma2=0.0, tau=tau)
        out.append({"kind": kind, "eta": eta, "tau": tau, "t": tr.t, "A": A, "B": B,
                    "ok": tr.status == "completed",
                    "fp_err": float(np.linalg.norm(tr.Wp[-1] - star) / np.linalg.norm(Wp0)),
                    "star_skew": float(np.linalg.norm(star - star.T))})
    return out


def skew_outcome(ctx: Context, pid: str, runs: list[dict]) -> Outcome:
    """Judge :func:`skew_runs`: B(T)/B(0) < 1e-4 and Wp(T) at the symmetric fixed point."""
    B_TOL, FP_TOL = 1e-4, 1e-3
    ratio = max(float(r["B"][-1] / r["B"][0]) for r in runs)
    fp_err = max(r["fp_err"] for r in runs)
    ok = all(r["ok"] for r in runs) and ratio < B_TOL and fp_err < FP_TOL

    def draw(axes):
        for r in runs[:4]:
            lab = f"{r['kind']} eta={r['eta']:g} tau={r['tau']:g}"
            axes[0].semilogy(r["eta"] * r["t"], np.maximum(r["B"] / r["B"][0], 1e-16), lw=1,
                             label=lab)
            axes[1].semilogy(r["eta"] * r["t"], np.maximum(r["A"], 1e-16), lw=1, label=lab)
        axes[0].set_ylabel("||B(t)|| / ||B(0)||  (skew part)")
        axes[1].set_ylabel("||A(t)||  (symmetric part)")
        for ax in axes:
            ax.set_xlabel("eta t")
        axes[0].legend(fontsize=6)
    fig = save_figure(ctx.figure(pid), draw, ncols=2)
    return Outcome.judged(
        ok, theory={"B(T)/B(0)": 0.0, "Wp(T) - Wp*(F(T))": 0.0},
        measured={"max B(T)/B(0)": ratio, "max fixed-point distance": fp_err},
        rule=f"for every run, at T = 12/eta (decay at rate >= eta gives e^-12 = 6e-6): "
             f"||B(T)||/||B(0)|| < {B_TOL:g}, and ||Wp(T) - Wp*||/||Wp(0)|| < {FP_TOL:g} with "
             f"Wp* = alpha_p tau F (alpha_p(1+sigma2)F + eta I)^-1 (symmetric) at F = F(T)",
        details=f"{len(runs)} run(s) of Eq. 62, n = 8, alpha_p = 1, sigma2 = 0: "
                + ", ".join(f"{r['kind']} (eta {r['eta']:g}, tau {r['tau']:g}): B ratio "
                            f"{fmt(float(r['B'][-1] / r['B'][0]), 2)}" for r in runs)
                + f"; largest skew of Wp* {fmt(max(r['star_skew'] for r in runs), 2)}",
        figure=fig, numbers={"max_B_ratio": ratio, "max_fixed_point_distance": fp_err,
                             "n_runs": len(runs)})


@prediction("directpred.skew_decay_symmetric_fixed_point",
            "Under the non-symmetrised reduced flow (Eq. 62) the skew part B = (Wp - Wp^T)/2 of "
            "the predictor decays to 0, and for eta > 0 Wp converges to the fixed point of its "
            "equation, alpha_p tau F (alpha_p (1+sigma2) F + eta I)^-1, which is symmetric.",
            source("Appendix B, Eq. 62, Fig. 8 (prediction 4)"), "simulation")
def skew_decay(ctx: Context) -> Outcome:
    """Fig. 8's grid (eta in {0.001, 0.01, 0.05}, tau in {0.2, 0.5, 1}) on the balanced
    manifold and from a random F(0); one setting of each at the smoke tier."""
    if ctx.quick:
        settings = [("balanced", 0.05, 0.5), ("eq62", 0.05, 1.0)]
    else:
        settings = [(kind, eta, tau) for kind in ("balanced", "eq62")
                    for eta in (0.001, 0.01, 0.05) for tau in (0.2, 0.5, 1.0)]
    return skew_outcome(ctx, "directpred.skew_decay_symmetric_fixed_point",
                        skew_runs(settings))

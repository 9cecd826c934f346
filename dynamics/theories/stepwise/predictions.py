"""Simulation predictions of Simon et al. (ICML 2023), "On the stepwise nature of
self-supervised learning", on the linear Barlow-Twins model of
:mod:`dynamics.theories.stepwise.model` (loss ||W Gamma W^T - I||_F^2, gradient flow; the convention
and the derivations are in that module and checked in sympy by
:mod:`dynamics.theories.stepwise.symbolic`)."""

from __future__ import annotations

import numpy as np

from dynamics.plots.prediction_figure import save_figure
from dynamics.theories.stepwise import PAPER
from dynamics.theories.stepwise import model as sw
from dynamics.verify.prediction import Context, Outcome, RunSpec, fmt
from dynamics.verify.registry import prediction

GAMMA = np.array(sw.EXAMPLE_GAMMA)


#: The paper with the place of a claim (the citation is written once, in the package).
source = PAPER.cite


def _gamma_matrix(seed: int) -> tuple[np.ndarray, np.ndarray]:
    return sw.rotated_gamma(GAMMA, seed)


@prediction("stepwise.logistic_modes",
            "From an aligned start each eigenvalue of the embedding's cross-correlation follows "
            "the logistic curve lambda_j(t) = 1/(1 + (1/lambda_j(0) - 1) e^{-8 gamma_j t}).",
            source("Sec. 3 (aligned solution; rate 8 for ||W Gamma W^T - I||_F^2, derived)"),
            "simulation")
def logistic_modes(ctx: Context) -> Outcome:
    """Aligned starts at four scales: matrix ODE against the closed form."""
    G, U = _gamma_matrix(0)
    d = 4
    s0 = np.array([1e-3, 1e-2, 3e-2, 1e-1]) if ctx.quick else np.array([1e-4, 1e-3, 1e-2, 0.3])
    W0 = np.diag(s0) @ U[:, :d].T
    tr = sw.simulate_flow(W0, G, t_end=25.0, n_save=501, rtol=1e-10)
    closed = np.sort(sw.logistic_eigenvalue(tr.t[:, None], GAMMA[:d], GAMMA[:d] * s0**2),
                     axis=1)[:, ::-1]
    err = float(np.max(np.abs(tr.eig[:, 0] - closed)))
    tol = 1e-6

    def draw(axes):
        for j in range(d):
            axes[0].plot(tr.t, tr.eig[:, 0, j], lw=2, alpha=0.6)
            axes[0].plot(tr.t, closed[:, j], "k:", lw=1)
        axes[0].set_xlabel("t")
        axes[0].set_ylabel("eigenvalues of W Gamma W^T (dotted: logistic)")
    fig = save_figure(ctx.figure("stepwise.logistic_modes"), draw)
    return Outcome.judged(err <= tol, theory="logistic closed form", measured=f"max |diff| "
                          f"{err:.2e}", rule=f"max |ODE - closed form| <= {tol:g} over t in "
                          "[0, 25], 4 modes", figure=fig, numbers={"max_abs_error": err})


@prediction("stepwise.step_times",
            "From a small random start the modes are learned one at a time in the order of "
            "gamma, mode j crossing lambda = 1/2 at ln(1/lambda_j(0) - 1)/(8 gamma_j) with the "
            "effective start lambda_j(0) = gamma_j ||P_{j-1}^perp W0 u_j||^2.",
            source("Sec. 4 (stepwise learning from small init); effective start derived"),
            "simulation")
def step_times(ctx: Context) -> Outcome:
    """Random small starts at two scales: step times of the matrix ODE against the formula."""
    G, _ = _gamma_matrix(1)
    n = 3 if ctx.quick else 12
    rng = np.random.default_rng(2)
    sims, preds = [], []
    for scale in (1e-3, 1e-6):
        W0 = scale * rng.normal(size=(n, 4, GAMMA.size))
        p = np.array([sw.predicted_step_times(w, G) for w in W0])
        tr = sw.simulate_flow(W0, G, t_end=float(1.2 * p.max()), n_save=4001)
        sims.append(tr.crossing_times())
        preds.append(p)
    sim, pred = np.concatenate(sims), np.concatenate(preds)
    rel = float(np.max(np.abs(sim - pred) / pred))
    ordered = bool((np.diff(sim, axis=1) > 0).all())
    tol = 0.05

    def draw(axes):
        axes[0].loglog(pred.ravel(), sim.ravel(), "o", ms=3)
        lo, hi = pred.min() / 1.2, pred.max() * 1.2
        axes[0].plot([lo, hi], [lo, hi], "k:", lw=1)
        axes[0].set_xlabel("predicted step time")
        axes[0].set_ylabel("gradient-flow step time")
    fig = save_figure(ctx.figure("stepwise.step_times"), draw)
    return Outcome.judged(rel <= tol and ordered, theory="effective-start formula",
                          measured=f"max relative error {rel:.3f}; in order: {ordered}",
                          rule=f"every step time within {tol:.0%} of the formula and the "
                               f"modes cross 1/2 in the order of gamma ({sim.size} steps)",
                          figure=fig, numbers={"max_rel_error": rel, "in_order": ordered})


@prediction("stepwise.gd_limit",
            "Gradient descent on sampled positive pairs is the small-learning-rate "
            "discretisation of the flow: its error falls linearly with lr, and minibatch SGD "
            "keeps the staircase (same order, step times within 15%).",
            source("Fig. 1 (linear model, t = lr x step); first-order limit derived"),
            "simulation")
def gd_limit(ctx: Context) -> Outcome:
    """Full-batch GD at halving learning rates and minibatch SGD against the flow."""
    gamma = np.array([1.0, 0.5, 0.25, 0.1])
    X, Xp, _ = sw.pair_data(500, gamma, noise=0.5, seed=0)
    G = sw.pair_correlation(X, Xp)
    W0 = 1e-2 * np.random.default_rng(1).normal(size=(2, gamma.size))
    t_end = 6.0
    ref = sw.simulate_flow(W0, G, t_end=t_end, n_save=1201, rtol=1e-11)
    lrs = (0.02, 0.01) if ctx.quick else (0.04, 0.02, 0.01, 0.005)
    errs = [float(np.abs(sw.sgd_train(X, Xp, W0, lr=lr, steps=round(t_end / lr)).W[-1, 0]
                         - ref.W[-1, 0]).max()) for lr in lrs]
    ratios = [a / b for a, b in zip(errs, errs[1:], strict=False)]
    sgd = sw.sgd_train(X, Xp, W0, lr=0.005, steps=round(t_end / 0.005), batch_size=100, seed=3)
    t_sgd, t_ref = sgd.crossing_times()[0], ref.crossing_times()[0]
    rel = float(np.max(np.abs(t_sgd - t_ref) / t_ref))
    ok = all(1.7 < r < 2.3 for r in ratios) and rel <= 0.15 and bool(np.all(np.diff(t_sgd) > 0))

    def draw(axes):
        axes[0].loglog(lrs, errs, "o-")
        axes[0].set_xlabel("learning rate")
        axes[0].set_ylabel("max |W_GD - W_flow| at t = 6")
    fig = save_figure(ctx.figure("stepwise.gd_limit"), draw)
    return Outcome.judged(ok, theory="first order in lr", measured=f"error ratios per halving "
                          f"{', '.join(fmt(r, 3) for r in ratios)}; minibatch step times within "
                          f"{rel:.1%}", rule="each halving of lr divides the error by 1.7-2.3; "
                          "minibatch (100 of 500 pairs) step times within 15%, in order",
                          figure=fig, numbers={"errors": errs, "sgd_rel_step_time": rel})


@prediction("stepwise.whitened_limit",
            "The flow ends whitened, W Gamma W^T = I_d, and near the top-d eigenspace of Gamma: "
            "the share of W outside it scales like scale^{1 - gamma_{d+1}/gamma_d} with the "
            "init scale, so the limit of a vanishing start is the whitened top-d projection.",
            source("Sec. 3 (final embedding, closed form); the scaling exponent derived"),
            "simulation")
def whitened_limit(ctx: Context) -> Outcome:
    """Final whitening residual and the off-subspace share's power law in the init scale."""
    G, _ = _gamma_matrix(3)
    n, d = (2 if ctx.quick else 6), 3
    scales = (1e-6, 1e-8)
    white, shares = 0.0, []
    for scale in scales:
        W0 = scale * np.random.default_rng(4).normal(size=(n, d, GAMMA.size))
        t_end = 3 * float(np.max([sw.predicted_step_times(w, G) for w in W0])) + 20
        tr = sw.simulate_flow(W0, G, t_end=t_end, n_save=2)
        res = np.array([sw.limit_residuals(tr.W[-1, k], G) for k in range(n)])
        white = max(white, float(res[:, 0].max()))
        shares.append(res[:, 1])
    slope = np.log(shares[0] / shares[1]) / np.log(scales[0] / scales[1])
    expo = sw.off_subspace_exponent(G, d)
    dev = float(np.max(np.abs(slope - expo)))
    ok = white < 1e-6 and dev < 0.05

    def draw(axes):
        for k in range(n):
            axes[0].loglog(scales, [sh[k] for sh in shares], "o-", alpha=0.7)
        axes[0].set_xlabel("init scale")
        axes[0].set_ylabel("share of W off the top-d eigenspace")
    fig = save_figure(ctx.figure("stepwise.whitened_limit"), draw)
    return Outcome.judged(ok, theory=f"exponent {expo:.3f}",
                          measured=f"slopes {fmt(float(slope.min()), 3)}..."
                                   f"{fmt(float(slope.max()), 3)}; max ||W G W^T - I|| "
                                   f"{white:.1e}",
                          rule=f"||W Gamma W^T - I|| < 1e-6 and every log-log slope of the "
                               f"off-subspace share between init scales 1e-6 and 1e-8 within "
                               f"0.05 of 1 - gamma_4/gamma_3 ({n} starts)", figure=fig,
                          numbers={"whitening_residual": white, "exponent": expo,
                                   "slopes": slope.tolist()})


# --------------------------------------------------------------------------------------------
# real networks: the training engine with the theory's loss

SEEDS = (0, 1, 2)
#: Base config per tier (the spectral loss, a linear 8-dim projector, small start, small lr).
REAL_BASE = {
    "smoke": ("cpu_digits_spectral_stepwise.yaml", ()),
    "cpu": ("cpu_cifar10_spectral_stepwise.yaml", ("data.root={data_root}",)),
}
MIN_STEPS = 3


def real_runs(tier: str) -> list[RunSpec]:
    """One run per seed of the tier's base config."""
    config, over = REAL_BASE[tier]
    return [RunSpec(config, over, s, "spectral") for s in SEEDS]


@prediction("stepwise.real_staircase",
            "A real ConvNet trained with the spectral loss ||z1^T z2/B - I||^2 from a small "
            "start at a small learning rate learns its embedding's eigendirections one at a "
            "time: the eigenvalues of the embedding correlation rise from ~0 past 1/2 in "
            "separate steps (at least 3 per seed).",
            source("Sec. 5 (real networks, small init and learning rate)"), "training",
            tiers=("smoke", "cpu"), runs=real_runs,
            why_not="the paper tier's STL-10 ResNet setting is not carried; the smoke (digits) "
                    "and cpu (CIFAR-10) tiers run it")
def real_staircase(ctx: Context) -> Outcome:
    """Onsets of the F spectrum (spectra.jsonl) of every seed, judged by
    :func:`~dynamics.theories.stepwise.model.staircase`."""
    from dynamics.verify.run_data import spectra

    folders = ctx.folders("spectral")
    if not folders:
        return Outcome.not_run("no finished run")
    results, curves = [], []
    for folder in folders:
        rows = [r for r in spectra(folder) if r.get("F_eigs")]
        if len(rows) < 3:
            return Outcome.not_run(f"{folder.name} logged no spectrum")
        t = np.array([r["step"] for r in rows], dtype=float)
        e = np.array([r["F_eigs"] for r in rows], dtype=float)
        results.append(sw.staircase(t, e))
        curves.append((t, -np.sort(-e, axis=1)))
    ok = all(r.stepwise and r.n_steps >= MIN_STEPS for r in results)
    onsets = [[float(v) for v in r.onsets[:r.n_steps]] for r in results]

    def draw(axes):
        t, e = curves[0]
        for j in range(min(e.shape[1], results[0].n_steps + 1)):
            axes[0].plot(t, e[:, j], lw=1.5)
        for v in onsets[0]:
            axes[0].axvline(v, color="k", ls=":", lw=0.8)
        axes[0].set_xlabel("step")
        axes[0].set_ylabel("eigenvalues of F (seed 0); dotted: onsets")
    fig = save_figure(ctx.figure("stepwise.real_staircase"), draw)
    return Outcome.judged(ok, theory="one eigendirection at a time (theory: sigmoidal steps)",
                          measured="; ".join(f"seed {i}: {len(o)} steps at "
                                             f"{', '.join(f'{v:g}' for v in o)}"
                                             for i, o in enumerate(onsets)),
                          rule=f"every seed: at least {MIN_STEPS} onsets (k eigenvalues >= 1/2),"
                               f" each >= 2 log rows after the previous, the next eigenvalue "
                               f"< 0.1 at each onset", figure=fig,
                          numbers={"onsets": onsets,
                                   "stepwise": [bool(r.stepwise) for r in results]})

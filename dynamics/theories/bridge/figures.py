"""The linear bridge: the training engine's linear BYOL against the theory's gradient flow and
the theory's own minibatch SGD, on the theory's setting (Tian, Chen & Ganguli 2021, Lemma 1,
Eqs. 2-4, and Sec. 3's mapping to SGD; THEORY-directpred Sec. 1.2-1.3).

Model: bias-free linear encoder W (n2 x n1), learned linear predictor Wp, EMA target Wa,
Euclidean loss, additive isotropic Gaussian views (X = I, X' = sigma2 I). The flow of Lemma 1,

    dWp/dt = alpha_p (-Wp W (X + X') + Wa X) W^T - eta Wp
    dW/dt  = Wp^T (-Wp W (X + X') + Wa X) - eta W
    dWa/dt = beta (W - Wa),

is integrated by :func:`dynamics.theories.directpred.matrix_flow.simulate_matrix` with the run's
hyper-parameters mapped by :func:`dynamics.theories.bridge.predictions.ode_settings` (one SGD step
of rate ``lr`` advances t by ``lr``, beta = (1 - gamma_a)/lr, eta = weight decay, alpha_p = the
predictor's rate multiplier), started from the run's first epoch checkpoint (W, Wp, Wa).
The same start is trained by the library's SGD of the same model
(:func:`dynamics.theories.directpred.sgd.simulate_sgd`, the run's batch size). Compared: the
spectrum of F = W X W^T = W W^T at every epoch checkpoint, with the relative error
||eig(F_run) - eig(F_ODE)|| / ||eig(F_ODE)|| and the ODE spectrum's own change
||eig(F_ODE(t)) - eig(F_ODE(0))|| / ||eig(F_ODE(t))|| (the prediction
``bridge.linear_byol_vs_ode`` asks for error <= 0.05 and <= 0.25 x the final change).

The runs are the prediction's
(:func:`dynamics.theories.bridge.predictions.linear_byol_runs`: 1 seed at the smoke tier, 3 at
cpu), so ``figures`` and ``verify`` share their folders, and every number is computed by
:func:`dynamics.theories.bridge.predictions.compare_run` (engine, ODE and SGD spectra).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np

from dynamics.plots import style
from dynamics.plots.base import FigureContext, FigureResult, figure
from dynamics.theories.bridge.predictions import (
    CONFIG,
    EPOCHS,
    LABEL,
    TOL_FRACTION,
    TOL_REL,
    compare_run,
    linear_byol_runs,
)

STEM = "bridge_linear"
#: Engine markers drawn per eigenvalue at most (the lines carry every checkpoint).
MAX_MARKERS = 26


def runs(tier: str):
    """The linear BYOL runs of ``bridge.linear_byol_vs_ode`` at ``tier``."""
    return linear_byol_runs(tier)


def _movement(ode: np.ndarray) -> np.ndarray:
    """||eig(F_ODE(t)) - eig(F_ODE(0))|| / ||eig(F_ODE(t))||."""
    return np.linalg.norm(ode - ode[0], axis=1) / np.linalg.norm(ode, axis=1)


def _draw_spectra(ax, r: dict, sgd: np.ndarray, floor: float) -> None:
    n = r["ode"].shape[1]
    colours = style.sweep_colors(n)
    every = max(1, int(np.ceil(len(r["t"]) / MAX_MARKERS)))
    for j in range(n):
        c = colours[j]
        ax.plot(r["t"], np.maximum(r["ode"][:, j], floor), "-", color=c, lw=1.6, zorder=2)
        ax.plot(r["t"], np.maximum(sgd[:, j], floor), "--", color=c, lw=1.0, zorder=3)
        ax.plot(r["t"][::every], np.maximum(r["engine"][::every, j], floor), "o", color=c,
                ms=3.6, mec="k", mew=0.4, zorder=4)
    ax.set_yscale("log")
    top = float(max(r["ode"].max(), r["engine"].max()))
    ax.set_ylim(floor, 6 * top)  # the band above the spectrum holds the legend
    ax.set_xlim(r["t"][0], r["t"][-1])
    from matplotlib.lines import Line2D

    ax.legend(handles=[Line2D([], [], color="0.2", lw=1.6, label="ODE (gradient flow)"),
                       Line2D([], [], color="0.2", lw=1.0, ls="--", label="library SGD"),
                       Line2D([], [], color="0.2", ls="none", marker="o", ms=3.6, mec="k",
                              mew=0.4, label="engine (checkpoints)")],
              loc="upper center", ncols=3, frameon=False, handlelength=1.8,
              columnspacing=1.0)


@figure('bridge_linear',
        "Linear bridge: mode ODE, linear-network SGD and the training engine's linear BYOL, "
        "eigenvalue trajectories overlaid",
        paper_ref='Eqs. 11-13 vs training',
        predictions=('bridge.linear_byol_vs_ode', 'directpred.sgd_matches_ode'),
        run_based=True)
def make(out_dir: Path, *, quick: bool = False, ctx: FigureContext) -> FigureResult:
    """Draw the linear bridge from the runs of ``ctx`` into ``out_dir``. ``quick`` changes
    nothing (the tier's runs set the size)."""
    folders = ctx.folders(LABEL)
    if not folders:
        raise ValueError("bridge_linear needs the finished linear BYOL runs")
    res = [compare_run(f) for f in folders]
    sgds = [r["sgd"] for r in res]
    r0 = res[0]
    worst = np.array([float(r["rel"].max()) for r in res])
    moves = np.array([r["move"] for r in res])
    sgd_worst = np.array([float(r["rel_sgd_sim"].max()) for r in res])
    passed = all(w <= TOL_REL and w <= TOL_FRACTION * m and r["ode_ok"]
                 for w, m, r in zip(worst, moves, res, strict=True))
    epoch_dt = float(r0["t"][1] - r0["t"][0])  # time between epoch checkpoints
    ode_end = np.concatenate([r["ode"][-1] for r in res])
    eng_end = np.concatenate([r["engine"][-1] for r in res])
    sgd_end = np.concatenate([s[-1] for s in sgds])
    top = float(max(ode_end.max(), eng_end.max()))
    floor = 10.0 ** np.floor(np.log10(1e-4 * top))
    n_modes = r0["ode"].shape[1]
    grow = int(np.sum(r0["ode"][-1] > r0["ode"][0]))
    fl = r0["flow"]
    n_seeds = f"{len(res)} seed" + ("s" if len(res) > 1 else "")
    seed0 = _specs(ctx)[0].seed if _specs(ctx) else 0

    with style.paper_style():
        fig, axes = style.new_figure(1, 3, width=13.2, height=4.5)
        ax = axes[0, 0]
        _draw_spectra(ax, r0, sgds[0], floor)
        ax.set_xlabel(r"$t$ = SGD steps $\times$ lr (from the first checkpoint)")
        ax.set_ylabel(r"eigenvalues $s_j$ of $F = WW^\top$ (log)")
        ax.set_title(f"(a) spectrum of F over training, seed {seed0}: {n_modes} "
                     f"eigenvalues, one colour each", loc="left")
        sec = ax.secondary_xaxis("top", functions=(lambda t: 1 + t / epoch_dt,
                                                   lambda e: (e - 1) * epoch_dt))
        sec.set_xlabel("epoch", fontsize=8)

        ax = axes[0, 1]
        lim = (floor, 2 * top)
        ax.plot(lim, lim, "-", color=style.THEORY, lw=0.9, zorder=1, label="engine = ODE")
        ax.plot(np.maximum(ode_end, floor), np.maximum(sgd_end, floor), "x",
                color=style.ORANGE, ms=5, mew=1.1, zorder=2, label="library minibatch SGD")
        ax.plot(np.maximum(ode_end, floor), np.maximum(eng_end, floor), "o", color=style.BLUE,
                ms=4.2, mec="k", mew=0.4, zorder=3, label="training engine")
        ax.set(xscale="log", yscale="log", xlim=lim, ylim=lim)
        ax.set_aspect("equal")
        ax.set_xlabel(r"$s_j$ of the gradient flow (ODE) at the last epoch")
        ax.set_ylabel(r"$s_j$ of the run at the last epoch")
        ax.set_title(f"(b) last epoch, {n_seeds} x {n_modes} eigenvalues",
                     loc="left")
        ax.legend(loc="upper left", frameon=True, framealpha=0.9)

        ax = axes[0, 2]
        for k, r in enumerate(res):
            lab = k == 0
            t = r["t"][1:]
            ax.plot(t, _movement(r["ode"])[1:], "-", color="0.6", lw=1.2,
                    label="ODE spectrum's change since the start" if lab else None)
            ax.plot(t, r["rel_sgd_sim"][1:], "--", color=style.ORANGE, lw=1.1,
                    label="library SGD vs ODE" if lab else None)
            ax.plot(t, r["rel"][1:], "-", color=style.BLUE, lw=1.5,
                    label="training engine vs ODE" if lab else None)
        ax.axhline(TOL_REL, color=style.THEORY, ls=":", lw=1.0,
                   label=f"tolerance of the prediction ({TOL_REL:g})")
        ax.set_yscale("log")
        low = min(float(np.min(r["rel"][1:])) for r in res)
        low = min(low, min(float(np.min(r["rel_sgd_sim"][1:])) for r in res))
        ax.set_ylim(low / 2, 4.0)  # the decade above the curves holds the legend
        ax.set_xlim(r0["t"][0], r0["t"][-1])
        ax.set_xlabel(r"$t$ = SGD steps $\times$ lr")
        ax.set_ylabel(r"$\|\mathrm{eig}(F_\mathrm{run}) - \mathrm{eig}(F_\mathrm{ODE})\|"
                      r" / \|\mathrm{eig}(F_\mathrm{ODE})\|$")
        ax.set_title("(c) relative error of the spectrum" + (
            f", {len(res)} seeds (one line each)" if len(res) > 1 else ""), loc="left")
        ax.legend(loc="upper right", frameon=False)
        style.settings_note(fig, textwrap.fill(
            f"{CONFIG} (linear encoder, learned linear predictor, EMA target, Euclidean "
                 f"loss; X = I, X' = sigma2 I), plain SGD lr {r0['dt']:g}, "
                 f"{len(r0['t'])} epoch checkpoints, seed(s) "
            f"{', '.join(str(sp.seed) for sp in _specs(ctx))}"
                 f"; flow: alpha_p = {fl['alpha_p']:g}, beta = (1 - EMA momentum)/lr = "
                 f"{fl['beta']:.4g}, eta = {fl['eta']:g}; ODE and SGD start from the first "
                 f"checkpoint; in (a) and (b) eigenvalues below {floor:.0e} are drawn at "
                 f"{floor:.0e}.",
            width=230))
        paths = style.save_figure(fig, out_dir, STEM)

    numbers: dict[str, float | str] = {
        "seeds": float(len(res)), "epochs": float(len(r0["t"])), "n_modes": float(n_modes),
        "max_rel_error_worst_seed": float(worst.max()),
        "max_rel_error_mean": float(worst.mean()),
        "final_rel_error_mean": float(np.mean([r["rel"][-1] for r in res])),
        "sgd_sim_max_rel_error_worst_seed": float(sgd_worst.max()),
        "movement_min": float(moves.min()), "movement_mean": float(moves.mean()),
        "error_over_movement_max": float(np.max(worst / moves)),
        "modes_growing_seed0": float(grow),
        "s_max_end_ode_seed0": float(r0["ode"][-1, 0]),
        "s_max_end_engine_seed0": float(r0["engine"][-1, 0]),
        "tol_rel": TOL_REL, "tol_fraction": TOL_FRACTION,
        "within_tolerance": "yes" if passed else "no",
    }
    t_end = float(r0["t"][-1])
    caption = (
        f"The training engine's linear BYOL follows the gradient flow of Lemma 1 run with the "
        f"same hyper-parameters from the same first checkpoint: over {len(r0['t'])} epochs "
        f"(t = {t_end:.3g}) the spectrum of F = WW^T stays within "
        f"{100 * worst.max():.2f}% of the flow's (worst of {n_seeds}) while the flow's "
        f"own spectrum changes by {100 * moves.min():.1f}% or more, and the library's minibatch "
        f"SGD of the same model deviates by up to {100 * sgd_worst.max():.2f}%, the same "
        f"finite-batch level. (a) The {n_modes} eigenvalues of seed {seed0} over time (ODE lines, "
        f"SGD dashed, engine dots; {grow} grow, the rest shrink); (b) every eigenvalue at the "
        f"last epoch, run against ODE, on the diagonal; (c) the relative error of the spectrum "
        f"per seed, far below both the prediction's tolerance {TOL_REL:g} and the flow's own "
        f"change.")
    settings = {"config": CONFIG, "overrides": list(_overrides(ctx)), "tier": ctx.tier,
                "epochs": EPOCHS[ctx.tier], "seeds": [s.seed for s in _specs(ctx)],
                "lr": r0["dt"], "alpha_p": fl["alpha_p"], "beta": fl["beta"], "eta": fl["eta"],
                "predictor": fl["predictor"], "target": fl["target"],
                "sgd_sim_seed": "run seed + 100"}
    return FigureResult("bridge_linear", paths, numbers, settings=settings, caption=caption)


def _specs(ctx: FigureContext) -> list:
    return sorted((s for s in ctx.runs if s.label == LABEL), key=lambda s: s.seed)


def _overrides(ctx: FigureContext) -> tuple[str, ...]:
    """The overrides of the runs drawn (the same for every seed)."""
    specs = _specs(ctx)
    return specs[0].overrides if specs else ()

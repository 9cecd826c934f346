"""Simulation prediction of Wang, Chen, Du & Tian (2021), "Towards demystifying representation
learning with non-contrastive self-supervision": weight decay keeps the features whose
augmentation variance is below tau^2/(4 eta) - 1
(:mod:`dynamics.theories.feature_threshold.model`)."""

from __future__ import annotations

import numpy as np

from dynamics.plots.prediction_figure import save_figure
from dynamics.theories.feature_threshold import model as ft
from dynamics.verify.prediction import Context, Outcome
from dynamics.verify.recipes import WDS
from dynamics.verify.recipes import weight_decay_runs as real_runs
from dynamics.verify.registry import prediction

SIGMA2 = np.array([0.0, 0.25, 0.5, 1.0, 2.0, 4.0])


@prediction("feature_threshold.survivor_count",
            "Weight decay is a feature threshold: with a per-feature augmentation variance "
            "sigma2_j, the modes that survive are those with sigma2_j < tau^2/(4 eta) - 1, so "
            "the number of survivors falls in steps as eta grows, equal in the mode ODE and in "
            "SGD of the linear network.",
            "Wang, Chen, Du & Tian 2021, weight decay as an implicit threshold; the bound from "
            "Tian, Chen & Ganguli 2021, Obs. 5 with a per-mode sigma2", "simulation")
def survivor_count(ctx: Context) -> Outcome:
    """Formula, mode ODE and SGD survivors over a sweep of eta."""
    etas = np.array([0.02, 0.1, 0.22]) if ctx.quick else np.linspace(0.01, 0.3, 12)
    pred = ft.predicted_survivors(SIGMA2, etas)
    ode = ft.survivors_by_modes(SIGMA2, etas)
    sgd_etas = etas if ctx.quick else etas[::2]
    sgd = ft.survivors_by_sgd(SIGMA2, sgd_etas)
    sgd_pred = ft.predicted_survivors(SIGMA2, sgd_etas)
    ok = bool(np.array_equal(pred, ode) and np.array_equal(sgd, sgd_pred))

    def draw(axes):
        grid = np.linspace(0.005, 0.32, 400)
        axes[0].step(grid, ft.predicted_survivors(SIGMA2, grid), where="post", color="k",
                     lw=1, label="sigma2_j < 1/(4 eta) - 1")
        axes[0].plot(etas, ode, "o", label="mode ODE")
        axes[0].plot(sgd_etas, sgd, "x", ms=8, label="linear-network SGD")
        axes[0].set_xlabel("weight decay eta")
        axes[0].set_ylabel("surviving features")
        axes[0].legend(fontsize=7)
    fig = save_figure(ctx.figure("feature_threshold.survivor_count"), draw)
    return Outcome.judged(ok, theory=f"survivors {pred.tolist()}",
                          measured=f"mode ODE {ode.tolist()}, SGD {sgd.tolist()} (at "
                                   f"{len(sgd_etas)} of the eta)",
                          rule=f"equal counts at every eta of the sweep (sigma2_j = "
                               f"{SIGMA2.tolist()}, tau = 1, starts p = 0.9 in the basin)",
                          figure=fig, numbers={"etas": etas.tolist(), "predicted": pred.tolist(),
                                               "ode": ode.tolist(), "sgd": sgd.tolist()})


@prediction("feature_threshold.real_weight_decay",
            "On a real network larger weight decay leaves fewer eigenvalues of F (the "
            "predictor input's correlation) above the floor: the surviving feature count falls "
            "as eta grows.",
            "Wang, Chen, Du & Tian 2021, weight decay as an implicit threshold (real networks)",
            "training", tiers=("smoke", "cpu"), runs=real_runs,
            why_not="the paper tier's setting is not carried; the smoke (digits) and cpu "
                    "(CIFAR-10) tiers run it")
def real_weight_decay(ctx: Context) -> Outcome:
    """F/n_modes (eigenvalues above 1e-3 of the largest) at the end of training per arm."""
    from dynamics.verify.prediction import compare_means, mean_std
    from dynamics.verify.run_data import final_row

    counts = {}
    for wd in WDS:
        vals = [final_row(f).get("F/n_modes") for f in ctx.folders(f"wd{wd:g}")]
        counts[wd] = [float(v) for v in vals if v is not None]
        if not counts[wd]:
            return Outcome.not_run(f"no finished run logged F/n_modes at weight decay {wd:g}")
    means = [mean_std(counts[wd])[0] for wd in WDS]
    diff, se, big = compare_means(counts[WDS[0]], counts[WDS[-1]])
    ok = bool(np.all(np.diff(means) < 0) and big)

    def draw(axes):
        for wd in WDS:
            axes[0].plot([wd] * len(counts[wd]), counts[wd], "o", alpha=0.6)
        axes[0].plot(WDS, means, "k-", lw=1)
        axes[0].set_xlabel("weight decay")
        axes[0].set_ylabel("modes of F above 1e-3 of the largest (end)")
    fig = save_figure(ctx.figure("feature_threshold.real_weight_decay"), draw)
    return Outcome.judged(ok, theory="fewer surviving modes with more weight decay",
                          measured=", ".join(f"wd {wd:g}: {m:.1f}" for wd, m in
                                             zip(WDS, means, strict=True))
                          + f" (wd {WDS[0]:g} - wd {WDS[-1]:g} = {diff:.1f} +- {se:.1f})",
                          rule="mean count strictly decreasing over the three weight decays and "
                               "the extreme difference > 2 standard errors (3 seeds each)",
                          figure=fig, numbers={"counts": {f"{k:g}": v for k, v in
                                                          counts.items()}})

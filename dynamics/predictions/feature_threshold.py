"""Simulation prediction of Wang, Chen, Du & Tian (2021), "Towards demystifying representation
learning with non-contrastive self-supervision": weight decay keeps the features whose
augmentation variance is below tau^2/(4 eta) - 1 (:mod:`dynamics.theory.feature_threshold`)."""

from __future__ import annotations

import numpy as np

from dynamics.predictions import Context, Outcome, prediction
from dynamics.predictions.plotting import save_figure
from dynamics.theory import feature_threshold as ft

SIGMA2 = np.array([0.0, 0.25, 0.5, 1.0, 2.0, 4.0])


@prediction("threshold.survivor_count",
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
    fig = save_figure(ctx.figure("threshold.survivor_count"), draw)
    return Outcome.judged(ok, theory=f"survivors {pred.tolist()}",
                          measured=f"mode ODE {ode.tolist()}, SGD {sgd.tolist()} (at "
                                   f"{len(sgd_etas)} of the eta)",
                          rule=f"equal counts at every eta of the sweep (sigma2_j = "
                               f"{SIGMA2.tolist()}, tau = 1, starts p = 0.9 in the basin)",
                          figure=fig, numbers={"etas": etas.tolist(), "predicted": pred.tolist(),
                                               "ode": ode.tolist(), "sgd": sgd.tolist()})

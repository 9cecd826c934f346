"""Weight decay as a feature threshold (Wang, Chen, Du & Tian 2021) in the mode dynamics with a
per-feature augmentation variance (:mod:`dynamics.theories.feature_threshold.model`).

* left: the number of surviving features against the weight decay eta: the bound sigma2_j <
  1/(4 eta) - 1 (steps), the mode ODE (dots) and minibatch SGD of the linear network (crosses);
* right: the final s_j of every mode (mode ODE, tau = 1, start p = 0.9, s = 0.81) against eta,
  each collapsing at its own eta_c,j = 1/(4(1 + sigma2_j)) (dotted verticals).

Choices not in the paper: the six variances, the start, t = 600 (ODE) and 300 (SGD, lr 0.02,
batch 512). ``quick``: a coarser eta grid.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dynamics.plots import style
from dynamics.plots.base import FigureResult, figure
from dynamics.theories.directpred.modes import simulate_modes
from dynamics.theories.feature_threshold import model as ft

SIGMA2 = np.array([0.0, 0.25, 0.5, 1.0, 2.0, 4.0])


@figure('feature_threshold_survivors',
        "Weight decay as a feature threshold: surviving features against weight decay with a "
        "per-feature augmentation variance",
        paper_ref='weight decay as an implicit threshold',
        predictions=('feature_threshold.survivor_count',))
def make(out_dir: Path | str, *, quick: bool = False) -> FigureResult:
    """The two panels of the module docstring as PNG + PDF in ``out_dir``."""
    etas = np.linspace(0.005, 0.3, 15 if quick else 60)
    sgd_etas = np.linspace(0.02, 0.28, 4 if quick else 8)
    pred = ft.predicted_survivors(SIGMA2, etas)
    ode = ft.survivors_by_modes(SIGMA2, etas)
    sgd = ft.survivors_by_sgd(SIGMA2, sgd_etas)
    tr = simulate_modes(np.full(SIGMA2.size, 0.9), np.full(SIGMA2.size, 0.81),
                        eta=etas[:, None], sigma2=SIGMA2[None, :], t_end=600.0, n_save=2)
    s_end = np.asarray(tr.s)[-1]
    thr = ft.threshold_etas(SIGMA2)
    colors = style.sweep_colors(SIGMA2.size)
    with style.paper_style():
        fig, axes = style.new_figure(1, 2, width=10.5, height=4.0)
        ax = axes[0, 0]
        grid = np.linspace(0.001, 0.32, 600)
        ax.step(grid, ft.predicted_survivors(SIGMA2, grid), where="post", color=style.THEORY,
                lw=1.2, label=r"$\sigma_j^2 < 1/(4\eta) - 1$")
        ax.plot(etas, ode, "o", ms=3.5, color=style.PALETTE[0], label="mode ODE")
        ax.plot(sgd_etas, sgd, "x", ms=8, color=style.PALETTE[1], label="linear-network SGD")
        ax.set_xlabel(r"weight decay $\eta$")
        ax.set_ylabel("surviving features")
        ax.legend(fontsize=7)
        ax = axes[0, 1]
        for j, s2 in enumerate(SIGMA2):
            ax.plot(etas, s_end[:, j], color=colors[j], lw=1.6, label=rf"$\sigma_j^2 = {s2:g}$")
            ax.axvline(thr[j], color=colors[j], ls=":", lw=0.9)
        ax.set_xlabel(r"weight decay $\eta$")
        ax.set_ylabel(r"final $s_j$ (mode ODE)")
        ax.legend(fontsize=7)
        style.settings_note(fig, r"Eqs. 11-12 with $\tau = 1$ and a per-mode $\sigma_j^2$; SGD on "
                                 r"$x \sim N(0, I)$, views $x + N(0, \mathrm{diag}(\sigma_j^2))$, "
                                 "symmetric predictor, SimSiam target")
        paths = style.save_figure(fig, out_dir, "feature_threshold_survivors")
    agree_ode = int(np.sum(pred == ode))
    agree_sgd = int(np.sum(sgd == ft.predicted_survivors(SIGMA2, sgd_etas)))
    numbers = {"ode_agreement": f"{agree_ode}/{etas.size}",
               "sgd_agreement": f"{agree_sgd}/{sgd_etas.size}",
               **{f"eta_c_sigma2={s2:g}": float(t) for s2, t in zip(SIGMA2, thr, strict=True)}}
    caption = (f"Weight decay keeps exactly the features whose augmentation variance is below "
               f"1/(4 eta) - 1: the number of survivors falls one feature at a time, at eta_c = "
               f"{', '.join(f'{t:.3f}' for t in thr)} for sigma2_j = "
               f"{', '.join(f'{s:g}' for s in SIGMA2)}. The mode ODE agrees with the bound at "
               f"{numbers['ode_agreement']} weight decays, SGD of the linear network at "
               f"{numbers['sgd_agreement']}.")
    return FigureResult("feature_threshold_survivors", paths, numbers, caption=caption,
                        settings={"sigma2": SIGMA2.tolist(), "etas": [float(etas[0]),
                                  float(etas[-1]), int(etas.size)], "quick": quick})

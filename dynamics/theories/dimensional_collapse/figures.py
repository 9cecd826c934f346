"""Dimensional collapse of linear InfoNCE (Jing, Vincent, LeCun & Tian, ICLR 2022), in the model of
:mod:`dynamics.theories.dimensional_collapse.model`, from the two toys of
:mod:`dynamics.theories.dimensional_collapse.toys`:

* left: strong augmentation, one layer: the column norms |W e_k|^2 of large-batch SGD (dots)
  against the closed-form logistic modes (lines); the direction with no data variance decays
  algebraically;
* middle: the embedding eigenvalue of a direction against its augmentation-to-data variance
  ratio: the large-batch law tau a/(a + sigma2) (line; half the clean value at sigma2 = a, the
  paper's threshold) and SGD's end values (dots);
* right: implicit regularisation: log singular values of the product for one layer (blue) and
  two layers (red) started from the same product, the annealed flow (lines) and SGD with batch
  128 (dots): the two-layer net leaves its small modes collapsed.

Choices not in the paper: the large-batch closed form (derived in the theory module), the
variances of the first toy, batch 512 there; the second toy is the paper's (d = 16, tau 0.1,
noise 1e-3, init exp(-0.35 k)). ``quick``: shorter runs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dynamics.plots import style
from dynamics.plots.base import FigureResult, figure
from dynamics.theories.dimensional_collapse import toys as ct


@figure('dimensional_collapse_linear',
        "Dimensional collapse of linear InfoNCE: strong augmentation suppresses directions, two "
        "layers keep small modes collapsed",
        paper_ref='Secs. 4-5 (linear models)',
        predictions=('dimensional_collapse.augmentation_spectrum',
                     'dimensional_collapse.two_layer_rank'))
def make(out_dir: Path | str, *, quick: bool = False) -> FigureResult:
    """The three panels of the module docstring as PNG + PDF in ``out_dir``."""
    aug = ct.augmentation_toy(quick=quick)
    two = ct.two_layer_toy(quick=quick)
    live = ct.A_TOY > 0
    colors = style.sweep_colors(ct.A_TOY.size)
    with style.paper_style():
        fig, axes = style.new_figure(1, 3, width=12.5, height=4.0)
        ax = axes[0, 0]
        for k in range(ct.A_TOY.size):
            label = f"a={ct.A_TOY[k]:g}, $\\sigma^2$={ct.SIGMA2_TOY[k]:g}"
            ax.semilogy(aug.t, aug.u_theory[:, k], color=colors[k], lw=1.3, label=label)
            ax.semilogy(aug.t, aug.u_sgd[:, k], "o", ms=2.5, color=colors[k], alpha=0.7)
        ax.set_xlabel("t = lr x step")
        ax.set_ylabel(r"$|W e_k|^2$ (lines: closed form, dots: SGD)")
        ax.set_title("strong augmentation, one layer", fontsize=8)
        ax.legend(fontsize=6)
        ax = axes[0, 1]
        ratio = np.logspace(-2, 2, 200)
        ax.semilogx(ratio, ct.TAU_TOY / (1 + ratio), color=style.THEORY, lw=1.2,
                    label=r"$\tau\,a/(a+\sigma^2) = \tau/(1+\sigma^2/a)$")
        r_sgd = ct.SIGMA2_TOY[live] / ct.A_TOY[live]
        r_plot = np.where(r_sgd > 0, r_sgd, 1e-2)
        ax.semilogx(r_plot, aug.spectrum_sgd[live], "o", ms=6, color=style.PALETTE[1],
                    label="SGD (end)")
        ax.axvline(1.0, color="0.5", ls=":", lw=1)
        ax.axhline(ct.TAU_TOY / 2, color="0.5", ls=":", lw=1)
        ax.set_xlabel(r"augmentation / data variance $\sigma^2/a$ ($\sigma^2 = 0$ drawn at 0.01)")
        ax.set_ylabel("embedding eigenvalue")
        ax.set_title(r"suppression, half at $\sigma^2 = a$", fontsize=8)
        ax.legend(fontsize=7)
        ax = axes[0, 2]
        for layers, color in ((1, style.PALETTE[0]), (2, style.PALETTE[3])):
            ax.plot(two.t_ode, np.log(two.sv_ode[layers]), color=color, lw=0.8)
            ax.plot(two.t_sgd, np.log(two.sv_sgd[layers]), ".", ms=1.5, color=color)
        ax.plot([], [], color=style.PALETTE[0], label="1 layer")
        ax.plot([], [], color=style.PALETTE[3], label="2 layers (same product)")
        ax.set_xlabel("t = lr x step")
        ax.set_ylabel("log singular values of W")
        ax.set_title("implicit regularisation (lines: flow, dots: SGD)", fontsize=8)
        ax.legend(fontsize=7)
        style.settings_note(
            fig, rf"$z = Wx$, one-directional InfoNCE, $\tau = {ct.TAU_TOY:g}$ (left, middle; "
                 r"batch 512) and $\tau = 0.1$ (right; $d = 16$, batch 128, noise std $10^{-3}$)")
        paths = style.save_figure(fig, out_dir, "dimensional_collapse_linear")
    dev = float(np.abs(aug.spectrum_sgd[live] / aug.spectrum_theory[live] - 1).max())
    numbers = {"spectrum_max_rel_dev": dev,
               "collapsed_one_layer_sgd": float(two.collapsed_sgd[1]),
               "collapsed_two_layers_sgd": float(two.collapsed_sgd[2]),
               "collapsed_two_layers_flow": float(two.collapsed_ode[2])}
    caption = (
        f"In the large-batch limit a linear InfoNCE embedding gives a direction with data "
        f"variance a and augmentation variance sigma2 the eigenvalue tau a/(a + sigma2), half "
        f"a clean direction's at sigma2 = a, and a direction with no data variance collapses; "
        f"large-batch SGD ends within {dev:.1%} of that law. With weak augmentation a two-layer "
        f"linear network keeps {two.collapsed_sgd[2]} of 16 singular values collapsed (the "
        f"annealed flow: {two.collapsed_ode[2]}), because a mode grows at a rate proportional "
        f"to its own size, while one layer from the same product becomes full-rank "
        f"({two.collapsed_sgd[1]} collapsed).")
    return FigureResult("dimensional_collapse_linear", paths, numbers, caption=caption,
                        settings={"a": ct.A_TOY.tolist(), "sigma2": ct.SIGMA2_TOY.tolist(),
                                  "tau": ct.TAU_TOY, "quick": quick})

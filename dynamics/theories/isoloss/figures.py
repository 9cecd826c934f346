"""Eigenmode dynamics with a closed-form predictor (Halvagal, Laborieux & Zenke, NeurIPS 2023):
the Euclidean loss, IsoLoss and the cosine loss in the linear model of
:mod:`dynamics.theories.isoloss.model` (alpha = 1/2, sigma2 = 0.25, d = n = 4).

* left: eigenvalues of C over time from a small start spread over four decades: the mode ODE
  (lines) and minibatch SGD of the linear network (dots), Euclidean against IsoLoss: IsoLoss
  lifts every mode at the same early rate, the Euclidean loss leaves the small modes behind;
* middle: the early growth rate d ln lambda/dt against lambda(0): theory curves 2 lambda^alpha
  (1 - a lambda^alpha) and 2 (1 - a lambda^alpha), SGD points (log-linear fits over t < 0.5);
* right: where SGD ends from one start: the cosine loss at tr C(0)/4 in every mode (dotted), the
  Euclidean loss at (1 + sigma2)^(-1/alpha) (dashed).

Choices not in the paper: the spectrum, sigma2, batch 4096, lr 0.005 (left, middle) and 0.02
(right), the horizon. ``quick``: smaller batches and shorter runs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dynamics.metrics.spectral import mode_growth_rates
from dynamics.plots import style
from dynamics.plots.base import FigureResult, figure
from dynamics.theories.isoloss import model as il

KW = il.SETTINGS
LAM0 = np.array([1e-2, 1e-3, 1e-4, 1e-5])
LAM_END = np.array([0.5, 0.1, 0.02, 0.004])
LOSSES = (("euclidean", "Euclidean"), ("isoloss", "IsoLoss"))


@figure('isoloss_modes',
        "Eigenvalues as learning-rate multipliers: Euclidean loss, IsoLoss and cosine loss with a "
        "closed-form predictor",
        paper_ref='Secs. 4-5 (linear model)',
        predictions=('isoloss.equal_rates', 'isoloss.sgd_limit', 'isoloss.cosine_vs_euclidean'))
def make(out_dir: Path | str, *, quick: bool = False) -> FigureResult:
    """The three panels of the module docstring as PNG + PDF in ``out_dir``."""
    batch = 1024 if quick else 4096
    t_end, lr = (8.0, 0.01) if quick else (16.0, 0.005)
    w_small = il.aligned_start(LAM0, sigma2=KW["sigma2"])
    w_end = il.aligned_start(LAM_END, sigma2=KW["sigma2"])
    runs, odes, rates = {}, {}, {}
    for loss, _ in LOSSES:
        odes[loss] = il.simulate_modes_iso(LAM0, **KW, loss=loss, t_end=t_end, n_save=401)
        runs[loss] = il.sgd_train(w_small, **KW, loss=loss, lr=lr, steps=round(t_end / lr),
                                  batch_size=batch, record_every=20, seed=1)
        early = runs[loss].t <= 0.5
        rates[loss] = mode_growth_rates(runs[loss].t[early], runs[loss].lam[early, 0])
    steps_end = 1500 if quick else 3000
    ends = {loss: il.sgd_train(w_end, **KW, loss=loss, lr=0.02, steps=steps_end,
                               batch_size=512, record_every=steps_end, seed=2).lam[-1, 0]
            for loss in ("cosine", "euclidean")}
    cos_fp, euc_fp = LAM_END.sum() / LAM_END.size, (1 + KW["sigma2"]) ** -2
    colors = style.sweep_colors(LAM0.size)
    with style.paper_style():
        fig, axes = style.new_figure(1, 3, width=12.5, height=4.0)
        ax = axes[0, 0]
        for (loss, label), ls in zip(LOSSES, ("-", "--"), strict=True):
            for j in range(LAM0.size):
                ax.semilogy(odes[loss].t, odes[loss].lam[:, 0, j], ls, color=colors[j], lw=1.4,
                            label=label if j == 0 else None)
                ax.semilogy(runs[loss].t[::4], runs[loss].lam[::4, 0, j], "o", ms=2,
                            color=colors[j], alpha=0.6)
        ax.set_xlabel("t = lr x step")
        ax.set_ylabel("eigenvalues of C")
        ax.set_title("solid: Euclidean, dashed: IsoLoss; dots: SGD", fontsize=8)
        ax.legend(fontsize=7)
        ax = axes[0, 1]
        grid = np.logspace(-6, -0.5, 100)
        for (loss, label), mark in zip(LOSSES, ("s", "o"), strict=True):
            ax.semilogx(grid, il.initial_rates(grid, **KW, loss=loss), color=style.THEORY,
                        ls="-" if loss == "euclidean" else "--", lw=1)
            ax.semilogx(LAM0, rates[loss], mark, ms=6, label=f"{label} (SGD)")
        ax.set_xlabel(r"$\lambda(0)$")
        ax.set_ylabel(r"early growth rate $d\ln\lambda/dt$")
        ax.set_title("eigenvalues as learning-rate multipliers", fontsize=8)
        ax.legend(fontsize=7)
        ax = axes[0, 2]
        x = np.arange(LAM_END.size)
        ax.bar(x - 0.2, ends["cosine"], 0.4, label="cosine (SGD)", color=style.PALETTE[0])
        ax.bar(x + 0.2, ends["euclidean"], 0.4, label="Euclidean (SGD)", color=style.PALETTE[1])
        ax.axhline(cos_fp, color=style.THEORY, ls=":", lw=1, label=r"tr $C(0)/4$")
        ax.axhline(euc_fp, color=style.THEORY, ls="--", lw=1,
                   label=r"$(1+\sigma^2)^{-1/\alpha}$")
        ax.set_xticks(x, [f"{v:g}" for v in LAM_END])
        ax.set_xlabel(r"mode (its $\lambda(0)$)")
        ax.set_ylabel("final eigenvalue")
        ax.set_title("two different fixed points", fontsize=8)
        ax.legend(fontsize=7)
        style.settings_note(
            fig, r"$z = Wx$, $W_p = C^{1/2}$ from $C = (1+\sigma^2)WW^\top$ (no gradient), "
                 rf"$\sigma^2 = {KW['sigma2']:g}$, $d = n = 4$, SGD batch {batch}, lr {lr:g}")
        paths = style.save_figure(fig, out_dir, "isoloss_modes")
    numbers = {"rate_spread_isoloss": float(rates["isoloss"].max() / rates["isoloss"].min()),
               "rate_spread_euclidean": float(rates["euclidean"].max()
                                              / rates["euclidean"].min()),
               "cosine_end_max_rel_dev": float(np.abs(ends["cosine"] / cos_fp - 1).max()),
               "euclidean_end_max_rel_dev": float(np.abs(ends["euclidean"] / euc_fp - 1).max())}
    caption = (
        f"With a closed-form predictor the eigenvalues of the embedding covariance act as "
        f"learning-rate multipliers: from a start spread over four decades the Euclidean loss "
        f"grows its modes at rates spread {numbers['rate_spread_euclidean']:.1f}-fold "
        f"(2 lambda^alpha), IsoLoss at one rate (spread {numbers['rate_spread_isoloss']:.2f}); "
        f"SGD of the linear network follows the mode ODEs. The cosine loss conserves tr C and "
        f"ends with every mode at tr C(0)/4 = {cos_fp:.3f} (largest deviation "
        f"{numbers['cosine_end_max_rel_dev']:.1%}), the Euclidean loss at (1 + sigma2)^-2 = "
        f"{euc_fp:.3f} ({numbers['euclidean_end_max_rel_dev']:.1%}).")
    return FigureResult("isoloss_modes", paths, numbers, caption=caption,
                        settings={**KW, "lam0": LAM0.tolist(), "lam0_end": LAM_END.tolist(),
                                  "batch": batch, "lr": lr, "t_end": t_end, "quick": quick})

"""Stepwise learning in linear Barlow Twins (Simon et al., ICML 2023, Fig. 1's linear model).

Positive pairs from :func:`dynamics.theories.stepwise.model.pair_data` (n = 500 pairs, as the
paper's linear example; m = 8 dimensions with variances ``GAMMA``, augmentation noise 0.5, seeded),
the empirical cross-correlation Gamma, an embedding of d = 4 dimensions from a small random start
W0 (i.i.d. N(0, scale^2) entries). Panels:

* left: eigenvalues of W Gamma W^T against t = lr * step: full-batch gradient descent (markers)
  over the gradient flow (:func:`~dynamics.theories.stepwise.model.simulate_flow`, lines), with the
  step times predicted from the effective start (dashed verticals,
  :func:`~dynamics.theories.stepwise.model.predicted_step_times`);
* middle: the loss ||W Gamma W^T - I||_F^2, a staircase with one drop per learned mode;
* right: simulated against predicted step times for 8 random starts at each of three init
  scales (log-log, identity line).

Choices not in the paper: the loss normalisation (module docstring of
:mod:`dynamics.theories.stepwise.model`), the spectrum, noise, d, lr = 0.01 and the init scales.
``quick``: 3 starts per scale and a coarser time grid.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dynamics.plots import style
from dynamics.plots.base import FigureResult, figure
from dynamics.theories.stepwise import model as sw

GAMMA = np.array(sw.EXAMPLE_GAMMA)
N_PAIRS, NOISE, D, SEED = 500, 0.5, 4, 0
SCALE, LR = 1e-4, 0.01
SCALES = (1e-2, 1e-4, 1e-6)


def experiment(quick: bool = False) -> dict:
    """Everything the figure draws (and the numbers it reports)."""
    X, Xp, _ = sw.pair_data(N_PAIRS, GAMMA, noise=NOISE, seed=SEED)
    G = sw.pair_correlation(X, Xp)
    g_emp, _ = sw.eigh_desc(G)
    rng = np.random.default_rng(SEED + 1)
    W0 = SCALE * rng.normal(size=(D, GAMMA.size))
    pred = sw.predicted_step_times(W0, G)
    t_end = float(np.ceil(1.3 * pred[-1]))
    flow = sw.simulate_flow(W0, G, t_end=t_end, n_save=801 if quick else 2001)
    steps = int(round(t_end / LR))
    gd = sw.sgd_train(X, Xp, W0, lr=LR, steps=steps, record_every=max(1, steps // 80))
    n_starts = 3 if quick else 8
    sims, preds, scales = [], [], []
    for scale in SCALES:
        starts = scale * rng.normal(size=(n_starts, D, GAMMA.size))
        p = np.array([sw.predicted_step_times(w, G) for w in starts])
        tr = sw.simulate_flow(starts, G, t_end=float(1.2 * np.nanmax(p)),
                              n_save=1201 if quick else 4001)
        sims.append(tr.crossing_times())
        preds.append(p)
        scales.append(np.full(p.shape, scale))
    sims, preds, scales = (np.concatenate(a).ravel() for a in (sims, preds, scales))
    return {"G": G, "gamma_emp": g_emp, "W0": W0, "pred": pred, "flow": flow, "gd": gd,
            "sims": sims, "preds": preds, "scales": scales}


@figure('stepwise_staircase',
        "Linear Barlow Twins from a small start: eigenvalues learned one at a time, a staircase "
        "loss and the predicted step times",
        paper_ref='Fig. 1 (linear model)',
        predictions=('stepwise.logistic_modes',
                     'stepwise.step_times',
                     'stepwise.gd_limit',
                     'stepwise.whitened_limit'))
def make(out_dir: Path | str, *, quick: bool = False) -> FigureResult:
    """The three panels of the module docstring as PNG + PDF in ``out_dir``."""
    e = experiment(quick)
    flow, gd, pred = e["flow"], e["gd"], e["pred"]
    t_flow = flow.crossing_times()[0]
    t_gd = gd.crossing_times()[0]
    rel = np.abs(e["sims"] - e["preds"]) / e["preds"]
    colors = style.sweep_colors(D)
    with style.paper_style():
        fig, axes = style.new_figure(1, 3, width=12.5, height=4.0)
        ax = axes[0, 0]
        for j in range(D):
            ax.plot(flow.t, flow.eig[:, 0, j], color=colors[j], lw=1.6,
                    label=rf"$\lambda_{j + 1}$, $\gamma_{j + 1} = {e['gamma_emp'][j]:.2f}$")
            ax.plot(gd.t, gd.eig[:, 0, j], "o", color=colors[j], ms=2.5, alpha=0.7)
            ax.axvline(pred[j], color=colors[j], ls="--", lw=0.9)
        ax.set_xlabel(r"$t$ = lr $\times$ step")
        ax.set_ylabel(r"eigenvalues of $W\Gamma W^\top$")
        ax.set_title("lines: gradient flow; dots: GD (lr 0.01); dashed: predicted steps",
                     fontsize=8)
        ax.legend(fontsize=7, loc="center right")
        ax = axes[0, 1]
        ax.plot(flow.t, flow.loss[:, 0], color=style.THEORY, lw=1.6, label="gradient flow")
        ax.plot(gd.t, gd.loss[:, 0], "o", color=style.PALETTE[1], ms=2.5, label="GD")
        for j in range(D):
            ax.axvline(pred[j], color=colors[j], ls="--", lw=0.9)
        ax.set_xlabel(r"$t$")
        ax.set_ylabel(r"$\|W\Gamma W^\top - I\|_F^2$")
        ax.set_title("a staircase: one drop per mode", fontsize=8)
        ax.legend(fontsize=7)
        ax = axes[0, 2]
        for k, scale in enumerate(SCALES):
            sel = e["scales"] == scale
            ax.loglog(e["preds"][sel], e["sims"][sel], "o", ms=3.5, color=style.PALETTE[k],
                      label=f"init scale {scale:g}")
        lo, hi = np.nanmin(e["preds"]) / 1.3, np.nanmax(e["preds"]) * 1.3
        ax.plot([lo, hi], [lo, hi], color=style.THEORY, lw=1, ls=":")
        ax.set_xlabel(r"predicted $t_j = \ln(1/\lambda_j(0) - 1)/(8\gamma_j)$")
        ax.set_ylabel("gradient-flow step time")
        ax.set_title(f"{rel.size} steps, max relative error {np.nanmax(rel):.1%}", fontsize=8)
        ax.legend(fontsize=7)
        style.settings_note(
            fig, rf"$L = \|W\Gamma W^\top - I\|_F^2$, $dW/dt = -\nabla L$; {N_PAIRS} pairs in "
                 rf"$m = {GAMMA.size}$ dims, noise {NOISE:g}, $d = {D}$, $W_0$ i.i.d. "
                 rf"$\mathcal{{N}}(0, {SCALE:g}^2)$ (seed {SEED}); "
                 r"$\lambda_j(0) = \gamma_j\|P^\perp_{j-1} W_0 u_j\|^2$")
        paths = style.save_figure(fig, out_dir, "stepwise_staircase")
    numbers = {f"t_step_{j + 1}_predicted": float(pred[j]) for j in range(D)}
    numbers.update({f"t_step_{j + 1}_flow": float(t_flow[j]) for j in range(D)})
    numbers.update({f"t_step_{j + 1}_gd": float(t_gd[j]) for j in range(D)})
    numbers["max_rel_error_step_times"] = float(np.nanmax(rel))
    numbers["max_abs_gd_minus_flow_eig"] = float(np.max(np.abs(
        gd.eig[:, 0] - np.array([np.interp(gd.t, flow.t, flow.eig[:, 0, j])
                                 for j in range(D)]).T)))
    caption = (
        f"From a small random start the linear Barlow-Twins embedding learns the top "
        f"eigendirections of the positive-pair cross-correlation one at a time: the eigenvalues "
        f"of W Gamma W^T rise in sigmoidal steps at t = "
        f"{', '.join(f'{v:.2f}' for v in t_flow)} (gradient flow) against "
        f"{', '.join(f'{v:.2f}' for v in pred)} predicted from the effective start, and the "
        f"loss falls as a staircase. Gradient descent at lr {LR:g} tracks the flow within "
        f"{numbers['max_abs_gd_minus_flow_eig']:.3f} in eigenvalue. Over {rel.size} steps of "
        f"{len(SCALES)} init scales the predicted step times are within "
        f"{numbers['max_rel_error_step_times']:.1%} of the flow's.")
    return FigureResult("stepwise_staircase", paths, numbers, caption=caption,
                        settings={"gamma": GAMMA.tolist(), "pairs": N_PAIRS, "noise": NOISE,
                                  "d": D, "seed": SEED, "scale": SCALE, "lr": LR,
                                  "scales": list(SCALES), "quick": quick})

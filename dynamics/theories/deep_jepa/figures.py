"""Deep linear JEPA against MAE (Littwin et al., NeurIPS 2024), on the two-feature toy of
:mod:`dynamics.theories.deep_jepa.model` (feature 0: lambda 1, rho 0.6, the high-covariance one;
feature 1: lambda 0.6, rho 1, the predictable one; product start 0.01):

* left: JEPA, W-bar_i / W-bar_i* over time at depth 1 and 6: the per-layer ODE (lines) and SGD of
  the decoupled deep linear network (dots); feature 0 first at depth 1, feature 1 first at
  depth 6;
* middle: the same for MAE at depth 6: feature 0 first (the covariance order);
* right: the ratio of critical times t_0 / t_1 against depth from the closed form (JEPA) and the
  quadrature (MAE), with the decoupled SGD values: above 1 the predictable feature comes first.

Choices not in the paper: the toy's numbers, the critical-time threshold (half the fixed point),
batch 256 and the learning rates. ``quick``: fewer SGD depths.
"""

from __future__ import annotations

from pathlib import Path

from dynamics.plots import style
from dynamics.plots.base import FigureResult, figure
from dynamics.theories.deep_jepa import model as dj

LRS = {"jepa": 0.2, "mae": 0.02}


def _run(obj: str, depth: int, t_end: float):
    ode = dj.simulate(dj.TOY_LAM, dj.TOY_RHO, depth, dj.TOY_EPS, obj, t_end=t_end, n_save=801)
    lr = LRS[obj] if depth > 1 else LRS[obj] / 2
    sgd = dj.sgd_train(dj.TOY_LAM, dj.TOY_RHO, depth, dj.TOY_EPS, obj, lr=lr,
                       steps=round(t_end / lr), batch_size=256, record_every=max(1, round(
                           t_end / lr / 60)), diagonal=True)
    fp = dj.fixed_point(dj.TOY_RHO, depth, obj)
    return ode.t, ode.w / fp, sgd.t, sgd.w / fp


@figure('deep_jepa_critical_times',
        'Deep linear JEPA against MAE: critical times and the order inversion with depth',
        paper_ref='Fig. 2 (linear model)',
        predictions=('deep_jepa.critical_times', 'deep_jepa.order_inversion'))
def make(out_dir: Path | str, *, quick: bool = False) -> FigureResult:
    """The three panels of the module docstring as PNG + PDF in ``out_dir``."""
    table = dj.order_table()
    deep = dj.TOY_DEPTHS[-1]
    sgd_depths = (1, deep) if quick else dj.TOY_DEPTHS
    sgd_ratio = {}
    for obj in dj.OBJECTIVES:
        for depth in sgd_depths:
            row = table[obj][dj.TOY_DEPTHS.index(depth)]
            _, _, ts, ws = _run(obj, depth, 1.15 * row.max())
            cross = dj.crossing_times(ts, ws, 0.5)
            sgd_ratio[(obj, depth)] = float(cross[0] / cross[1])
    colors = (style.PALETTE[3], style.PALETTE[0])
    with style.paper_style():
        fig, axes = style.new_figure(1, 3, width=12.5, height=4.0)
        for ax, obj, depths in ((axes[0, 0], "jepa", (1, deep)), (axes[0, 1], "mae", (deep,))):
            for depth, ls in zip(depths, ("--", "-"), strict=False):
                row = table[obj][dj.TOY_DEPTHS.index(depth)]
                t, w, ts, ws = _run(obj, depth, 1.5 * row.max())
                for i in range(2):
                    ax.plot(t, w[:, i], ls, color=colors[i], lw=1.3,
                            label=f"feature {i} ($\\lambda$={dj.TOY_LAM[i]:g}, "
                                  f"$\\rho$={dj.TOY_RHO[i]:g}), L={depth}")
                    ax.plot(ts, ws[:, i], "o", ms=2, color=colors[i], alpha=0.6)
            ax.axhline(0.5, color="0.5", ls=":", lw=1)
            ax.set_xscale("log")
            ax.set_xlabel("t = lr x step")
            ax.set_ylabel(r"$\bar W_i / \bar W_i^*$ (lines: ODE, dots: SGD)")
            ax.set_title(f"{obj.upper()}", fontsize=8)
            ax.legend(fontsize=6)
        ax = axes[0, 2]
        ax.plot(dj.TOY_DEPTHS, table["jepa_ratio"], "-", color=style.PALETTE[0], label="JEPA")
        ax.plot(dj.TOY_DEPTHS, table["mae_ratio"], "-", color=style.PALETTE[1], label="MAE")
        for obj, color in (("jepa", style.PALETTE[0]), ("mae", style.PALETTE[1])):
            ax.plot(sgd_depths, [sgd_ratio[(obj, d)] for d in sgd_depths], "o", ms=5,
                    color=color)
        ax.axhline(1.0, color="0.5", ls=":", lw=1)
        ax.set_xlabel("encoder depth L")
        ax.set_ylabel(r"$t_0 / t_1$ (line: theory, dots: SGD)")
        ax.set_title("order inversion with depth", fontsize=8)
        ax.legend(fontsize=7)
        style.settings_note(
            fig, rf"deep linear encoder, start $\bar W = {dj.TOY_EPS:g}$, critical time at half "
                 r"the fixed point, decoupled SGD batch 256")
        paths = style.save_figure(fig, out_dir, "deep_jepa_critical_times")
    numbers = {"jepa_ratio_L1": float(table["jepa_ratio"][0]),
               f"jepa_ratio_L{deep}": float(table["jepa_ratio"][-1]),
               f"mae_ratio_L{deep}": float(table["mae_ratio"][-1]),
               f"sgd_jepa_ratio_L{deep}": sgd_ratio[("jepa", deep)]}
    caption = (
        f"With covariance and regression coefficient anti-correlated, MAE learns the "
        f"high-covariance feature first at every depth (t0/t1 = {table['mae_ratio'][-1]:.2f} at "
        f"depth {deep}), while JEPA's order moves toward the predictable feature as the encoder "
        f"deepens: t0/t1 = {table['jepa_ratio'][0]:.2f} at depth 1 and "
        f"{table['jepa_ratio'][-1]:.2f} at depth {deep}. SGD of the decoupled deep linear network "
        f"follows the ODE (t0/t1 = {sgd_ratio[('jepa', deep)]:.2f} at depth {deep}).")
    return FigureResult("deep_jepa_critical_times", paths, numbers, caption=caption,
                        settings={"lam": dj.TOY_LAM.tolist(), "rho": dj.TOY_RHO.tolist(),
                                  "eps": dj.TOY_EPS, "depths": list(dj.TOY_DEPTHS),
                                  "quick": quick})

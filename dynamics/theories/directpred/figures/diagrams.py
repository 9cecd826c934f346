"""Plots of the phase-diagram data of :mod:`dynamics.theories.directpred.phase` (used by
``ssl-dynamics simulate phase``): a basin-of-collapse map over (p0, s0) and a fraction-collapsed
map over two hyper-parameters."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.colors import ListedColormap

from dynamics.plots.style import PARABOLA, new_figure, paper_style, save_figure, settings_note
from dynamics.theories.directpred.closed_form import fixed_points

_LABELS = {"eta": r"weight decay $\eta$", "alpha_p": r"predictor rate $\alpha_p$",
           "beta": r"EMA rate $\beta$", "sigma2": r"augmentation variance $\sigma^2$",
           "tau": r"$\tau$"}


def _fmt_params(params: dict) -> str:
    return ", ".join(f"{k}={v:g}" for k, v in params.items()
                     if isinstance(v, (int, float)) and v is not None)


def plot_basin(diagram, out_png: Path) -> list[Path]:
    """Basin of collapse on the (p0, s0) grid: collapsed cells dark, surviving cells light,
    cells that had not settled by t_end hatched grey; dashed invariant parabola s = p^2/alpha_p
    and the boundary p = p*_- of the 1-D flow (fixed tau only)."""
    prm = diagram.params
    with paper_style():
        fig, axes = new_figure(1, 1, width=5.6, height=4.4)
        ax = axes[0, 0]
        state = np.where(diagram.collapsed, 0, 1).astype(float)
        state[~diagram.settled] = 2
        cmap = ListedColormap(["#34495e", "#f5cba7", "#bdc3c7"])
        extent = (diagram.p0[0], diagram.p0[-1], diagram.s0[0], diagram.s0[-1])
        ax.imshow(state, origin="lower", extent=extent, aspect="auto", cmap=cmap, vmin=0,
                  vmax=2, interpolation="nearest")
        p = np.linspace(diagram.p0[0], diagram.p0[-1], 400)
        ax.plot(p, p**2 / prm["alpha_p"], "--", color=PARABOLA, lw=1.2,
                label=r"$s = p^2/\alpha_p$")
        if prm.get("beta") is None and prm.get("tau") is not None:
            pm, _ = fixed_points(prm["tau"], prm["sigma2"], prm["eta"])
            if np.isfinite(pm) and prm["eta"] > 0:
                ax.axvline(float(pm), color="w", lw=1.0, ls=":", label=r"$p^*_-$")
        ax.set_ylim(diagram.s0[0], diagram.s0[-1])
        ax.set_xlabel(r"$p_j(0)$ (predictor eigenvalue)")
        ax.set_ylabel(r"$s_j(0)$ (eigenvalue of $F$)")
        frac = diagram.fraction_collapsed
        ax.set_title(f"basin of collapse: {100 * frac:.1f}% of the grid collapses")
        from matplotlib.patches import Patch

        handles = [Patch(color="#34495e", label="collapsed"),
                   Patch(color="#f5cba7", label="not collapsed")]
        if np.any(~diagram.settled):
            handles.append(Patch(color="#bdc3c7", label="not settled by t_end"))
        h, _ = ax.get_legend_handles_labels()
        ax.legend(handles=handles + h, loc="upper left", fontsize=7, frameon=True)
        settings_note(fig, _fmt_params(prm))
        return save_figure(fig, Path(out_png).parent, Path(out_png).stem)


def plot_hyperparameter_diagram(diagram, out_png: Path) -> list[Path]:
    """Fraction of collapsed modes over the (x, y) hyper-parameter grid, with the theory's
    collapse threshold eta = tau^2/(4(1+sigma2)) drawn where it applies."""
    with paper_style():
        fig, axes = new_figure(1, 1, width=5.8, height=4.4)
        ax = axes[0, 0]
        x, y = diagram.x_values, diagram.y_values
        mesh = ax.pcolormesh(x, y, diagram.fraction_collapsed, shading="nearest",
                             cmap="magma_r", vmin=0, vmax=1)
        fig.colorbar(mesh, ax=ax, label="fraction of modes collapsed")
        ax.set_xlabel(_LABELS.get(diagram.x_name, diagram.x_name))
        ax.set_ylabel(_LABELS.get(diagram.y_name, diagram.y_name))
        names = {diagram.x_name, diagram.y_name}
        fixed = diagram.fixed
        if "eta" in names and ("tau" in names or "sigma2" in names) and fixed.get("beta") is None:
            other = (names - {"eta"}).pop()
            grid = np.linspace(min(y.min(), x.min()) if other == diagram.y_name else y.min(),
                               y.max() if other == diagram.y_name else x.max(), 200)
            tau = grid if other == "tau" else fixed.get("tau", 1.0) or 1.0
            s2 = grid if other == "sigma2" else fixed.get("sigma2", 0.0) or 0.0
            eta_c = tau**2 / (4 * (1 + s2))
            xs, ys = (eta_c, grid) if diagram.x_name == "eta" else (grid, eta_c)
            ax.plot(xs, ys, "c--", lw=1.2, label=r"$\eta = \tau^2/(4(1+\sigma^2))$")
            ax.set_xlim(x.min(), x.max())
            ax.set_ylim(y.min(), y.max())
            ax.legend(loc="best", fontsize=7, frameon=True)
        ax.set_title(f"{diagram.p0.size} modes, t_end={diagram.t_end:g}")
        settings_note(fig, _fmt_params({k: v for k, v in fixed.items() if v is not None}))
        return save_figure(fig, Path(out_png).parent, Path(out_png).stem)

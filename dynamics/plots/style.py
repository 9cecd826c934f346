"""Shared look and output handling for the paper figures.

Figures are built on a bare :class:`matplotlib.figure.Figure` attached to the non-interactive Agg
canvas (no pyplot state, no GUI backend, safe to call from tests and worker processes). Every
figure module follows the same pattern::

    with paper_style():
        fig = new_figure(ncols=3, width=13, height=4.2)
        ...
        paths = save_figure(fig, out_dir, "fig03_phase_portrait")

:func:`save_figure` writes ``<stem>.png`` (150 dpi) and ``<stem>.pdf`` atomically: each is rendered
into a temporary file in the destination folder and then moved into place with
:func:`os.replace`, so a reader never sees a half-written file.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

DPI = 150

# Colour conventions shared by all figures (paper's Fig. 3: red = stable, green = unstable).
STABLE = "#d62728"
UNSTABLE = "#2ca02c"
SADDLE = "#2ca02c"
FLOW = "#1f77b4"
PARABOLA = "0.15"
NEUTRAL = "0.45"
# Sequential palette for sweeps over a hyper-parameter (dark -> light is small -> large).
SWEEP = ("#1b3a8a", "#2e86c1", "#17a589", "#d4ac0d", "#cb4335", "#7d3c98")

RC = {
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.titlesize": 9.5,
    "axes.labelsize": 9,
    "legend.fontsize": 7.5,
    "legend.frameon": False,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.linewidth": 0.8,
    "lines.linewidth": 1.3,
    "figure.dpi": DPI,
    "savefig.dpi": DPI,
    "mathtext.fontset": "dejavusans",
    "axes.formatter.use_mathtext": True,
}


@contextlib.contextmanager
def paper_style() -> Iterator[None]:
    """Temporarily apply the shared rc settings (fonts, sizes, line widths)."""
    with matplotlib.rc_context(RC):
        yield


def new_figure(nrows: int = 1, ncols: int = 1, *, width: float = 12.0, height: float = 4.0,
               squeeze: bool = False, **subplot_kw):
    """A Figure on the Agg canvas with an ``nrows x ncols`` grid of axes.

    Returns ``(fig, axes)``; ``axes`` is a 2-D array unless ``squeeze=True``.
    """
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=squeeze, **subplot_kw)
    return fig, axes


def settings_note(fig: Figure, text: str) -> None:
    """Print the simulation settings (especially those the paper does not state) under the
    figure, as a small grey footer."""
    # supxlabel takes part in the constrained layout, so the note never overlaps the axes.
    fig.supxlabel(text, fontsize=7, color="0.35")


def mark_points(ax, xs: Sequence[float], ys: Sequence[float], kinds: Sequence[str], *,
                size: float = 42, zorder: float = 6) -> None:
    """Fixed points coloured by stability: red filled = stable, green = unstable/saddle,
    half-filled green = semi-stable (saddle-node)."""
    for x, y, kind in zip(xs, ys, kinds, strict=True):
        if kind == "stable":
            ax.scatter([x], [y], s=size, color=STABLE, edgecolor="k", linewidth=0.6,
                       zorder=zorder)
        elif kind in ("semi-stable", "saddle-node"):
            ax.plot([x], [y], marker="o", markersize=size**0.5, color=SADDLE, fillstyle="left",
                    markeredgecolor="k", markeredgewidth=0.6, linestyle="none", zorder=zorder)
        else:
            ax.scatter([x], [y], s=size, color=UNSTABLE, edgecolor="k", linewidth=0.6,
                       zorder=zorder)


def stability_legend_handles(include_semi: bool = False):
    """Legend proxies for :func:`mark_points`."""
    from matplotlib.lines import Line2D

    handles = [
        Line2D([], [], marker="o", color=STABLE, markeredgecolor="k", linestyle="none",
               label="stable fixed point"),
        Line2D([], [], marker="o", color=UNSTABLE, markeredgecolor="k", linestyle="none",
               label="unstable / saddle"),
    ]
    if include_semi:
        handles.append(Line2D([], [], marker="o", color=SADDLE, fillstyle="left",
                              markeredgecolor="k", linestyle="none",
                              label="semi-stable (saddle-node)"))
    return handles


def _atomic_savefig(fig: Figure, path: Path, fmt: str) -> None:
    from dynamics.io import atomic_writer

    with atomic_writer(path, fsync=False) as fh:
        fig.savefig(fh, format=fmt, dpi=DPI)


def save_figure(fig: Figure, out_dir: Path | str, stem: str,
                formats: Sequence[str] = ("png", "pdf")) -> list[Path]:
    """Write ``out_dir/stem.{png,pdf}`` atomically and return the paths (PNG first)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for fmt in formats:
        path = out / f"{stem}.{fmt}"
        _atomic_savefig(fig, path, fmt)
        paths.append(path)
    return paths


def fmt_num(x: float, digits: int = 4) -> str:
    """Compact number for titles and labels."""
    return f"{x:.{digits}g}"

"""Shared look and output handling for the paper figures.

Figures are built on a bare :class:`matplotlib.figure.Figure` attached to the non-interactive Agg
canvas (no pyplot state, no GUI backend, safe to call from tests and worker processes). Every
figure module follows the same pattern::

    with paper_style():
        fig = new_figure(ncols=3, width=13, height=4.2)
        ...
        paths = save_figure(fig, out_dir, "directpred_fig3")

:func:`save_figure` writes ``<stem>.png`` (150 dpi) and ``<stem>.pdf`` atomically: each is rendered
into a temporary file in the destination folder and then moved into place with
:func:`os.replace`, so a reader never sees a half-written file.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

DPI = 150

# Colour-blind-safe palette (Okabe & Ito 2008), used as the default colour cycle.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442",
           "#000000")
BLUE, ORANGE, GREEN, VERMILION, PURPLE, SKY, YELLOW, BLACK = PALETTE

# One fixed-point convention for every figure (shape carries the meaning, colour repeats it):
# stable = filled blue circle, unstable = open vermilion circle, saddle = filled vermilion
# diamond, semi-stable (saddle-node) = half-filled blue circle. Lines of fixed points: solid
# blue where attracting, dashed vermilion where repelling.
STABLE = BLUE
UNSTABLE = VERMILION
SADDLE = VERMILION
MARKERS = {
    "stable": dict(marker="o", color=STABLE, markerfacecolor=STABLE, label="stable"),
    "unstable": dict(marker="o", color=UNSTABLE, markerfacecolor="white", label="unstable"),
    "saddle": dict(marker="D", color=SADDLE, markerfacecolor=SADDLE, label="saddle"),
    "semi-stable": dict(marker="o", color=STABLE, markerfacecolor=STABLE, fillstyle="left",
                        markerfacecoloralt="white", label="semi-stable (saddle-node)"),
}
MARKERS["saddle-node"] = MARKERS["semi-stable"]
FLOW = "0.55"           # flow lines / vector fields
PARABOLA = "0.15"       # the invariant parabola s = p^2/alpha_p and other theory curves
THEORY = BLACK          # closed-form / ODE curves drawn over measurements
NEUTRAL = "0.45"
COLLAPSE_SHADE = "#f3c9b1"  # collapse basins and collapsed regions (light vermilion)
# Sequential colours for sweeps over one hyper-parameter (dark -> light is small -> large),
# sampled from viridis (perceptually uniform, colour-blind safe).
SWEEP = ("#3b0f70", "#31688e", "#1f9e89", "#35b779", "#90d743", "#d8c623")


def sweep_colors(n: int) -> list:
    """``n`` colours from viridis (dark = first/smallest value), for hyper-parameter sweeps."""
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    return [cmap(0.05 + 0.8 * i / max(n - 1, 1)) for i in range(n)]


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
    "axes.prop_cycle": matplotlib.cycler(color=list(PALETTE)),
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


def _kind(kind: str) -> str:
    if kind not in MARKERS:
        raise ValueError(f"unknown fixed-point kind {kind!r}; one of {', '.join(MARKERS)}")
    return kind


def mark_points(ax, xs: Sequence[float], ys: Sequence[float], kinds: Sequence[str], *,
                size: float = 42, zorder: float = 6) -> None:
    """Fixed points in the shared convention (:data:`MARKERS`): stable = filled blue circle,
    unstable = open vermilion circle, saddle = vermilion diamond, semi-stable = half-filled.
    Stable points are drawn on top, so a saddle close to a stable point never hides it."""
    order = {"saddle": 0, "unstable": 1, "semi-stable": 2, "saddle-node": 2, "stable": 3}
    items = sorted(zip(xs, ys, kinds, strict=True), key=lambda t: order.get(t[2], 0))
    for i, (x, y, kind) in enumerate(items):
        st = {k: v for k, v in MARKERS[_kind(kind)].items() if k != "label"}
        ax.plot([x], [y], linestyle="none", markersize=size ** 0.5, markeredgecolor="k",
                markeredgewidth=0.7, zorder=zorder + 0.01 * i, clip_on=False, **st)


def fixed_point_handle(kind: str, label: str | None = None):
    """A legend proxy for one fixed-point kind of :data:`MARKERS`."""
    from matplotlib.lines import Line2D

    st = dict(MARKERS[_kind(kind)])
    text = st.pop("label")
    return Line2D([], [], linestyle="none", markeredgecolor="k", markersize=6.5,
                  label=label or f"{text} fixed point", **st)


def fixed_line_handles():
    """Legend proxies for lines of fixed points (attracting / repelling)."""
    from matplotlib.lines import Line2D

    return [Line2D([], [], color=STABLE, lw=3.5, label="fixed-point line, attracting"),
            Line2D([], [], color=UNSTABLE, lw=3.5, ls=(0, (2, 1)),
                   label="fixed-point line, repelling")]


def stability_legend_handles(include_semi: bool = False, include_unstable: bool = False):
    """Legend proxies for :func:`mark_points` (stable and saddle; optionally semi-stable and
    unstable)."""
    kinds = ["stable", "saddle"] + (["unstable"] if include_unstable else []) + (
        ["semi-stable"] if include_semi else [])
    return [fixed_point_handle(k) for k in kinds]


def draw_to_floor(ax, t, y, floor: float, **kw) -> float:
    """Plot y(t) up to its first value below ``floor`` and mark that point with a down-triangle
    on the floor; returns the time of the first crossing (NaN if none)."""
    below = np.flatnonzero(y < floor)
    if below.size == 0:
        ax.plot(t, y, **kw)
        return float("nan")
    i = below[0]
    ax.plot(t[:i], y[:i], **kw)
    ax.plot([t[i]], [floor], marker="v", ms=6, color=kw.get("color"), linestyle="none",
            clip_on=False, zorder=5)
    return float(t[i])


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

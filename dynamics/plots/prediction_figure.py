"""The figure of one prediction in the verify report (one PNG per prediction, Agg backend), in
the look of :mod:`dynamics.plots.style`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any


def save_figure(path: Path, draw: Callable[[Any], None], *, ncols: int = 1,
                size: tuple[float, float] = (4.2, 3.2), title: str = "") -> str:
    """Draw on ``ncols`` axes with ``draw(axes)`` and save a PNG at ``path``; returns its
    path as a string. ``axes`` is a list (one entry per column). The figures share the look of
    :mod:`dynamics.plots.style` (fonts, colour-blind-safe palette)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from dynamics.plots.style import paper_style

    with paper_style():
        fig = Figure(figsize=(size[0] * ncols, size[1]))
        FigureCanvasAgg(fig)
        axes = fig.subplots(1, ncols, squeeze=False)
        draw(list(axes[0]))
        if title:
            fig.suptitle(title, fontsize=9)
        fig.tight_layout(rect=(0, 0, 1, 0.94) if title else None)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=90)
    return str(path)

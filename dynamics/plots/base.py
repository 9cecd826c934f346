"""Small containers shared by the figure modules and the registry."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dynamics.config import option
from dynamics.io import jsonable


@dataclass
class FigureResult:
    """What one figure function produced.

    ``paths``: the files written (PNG first, then PDF). ``numbers``: the key quantitative facts
    the figure shows (fixed-point locations, collapse fractions, final norms, ...), each a float
    or a short string, all computed from the simulations of that call. ``settings``: the
    parameters used (for the summary and the README).
    """

    name: str
    paths: list[Path]
    numbers: dict[str, float | str]
    settings: dict[str, Any] = field(default_factory=dict)
    seconds: float = float("nan")

    @property
    def png(self) -> Path:
        """The PNG file written."""
        return next(p for p in self.paths if p.suffix == ".png")

    @property
    def pdf(self) -> Path:
        """The PDF file written."""
        return next(p for p in self.paths if p.suffix == ".pdf")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (paths as strings, numbers and settings made JSON-safe)."""
        return {
            "name": self.name,
            "paths": [str(p) for p in self.paths],
            "numbers": {k: jsonable(v) for k, v in self.numbers.items()},
            "settings": {k: jsonable(v) for k, v in self.settings.items()},
            "seconds": round(float(self.seconds), 3),
        }


@dataclass(frozen=True)
class FigureSpec:
    """Registry entry: ``module`` is imported lazily and its ``function`` called as
    ``function(out_dir, quick=quick)``."""

    name: str
    title: str
    module: str
    function: str = "make"
    paper_ref: str = ""
    script: str = ""

    def load(self):
        """Import ``module`` and return its figure function."""
        return getattr(importlib.import_module(self.module), self.function)

    def make(self, out_dir: Path | str, *, quick: bool = False) -> FigureResult:
        """Check ``out_dir`` (created if missing; no file in the way, writable: one-line
        ``ConfigError`` on ``out_dir``), then make the figure into it."""
        import time

        from dynamics.io import check_output_dir

        out = check_output_dir("out_dir", out_dir)
        t0 = time.perf_counter()
        result = self.load()(out, quick=quick)
        result.seconds = time.perf_counter() - t0
        return result


@dataclass
class FiguresRun:
    """The typed config of ``ssl-dynamics figures`` (loaded by
    :func:`dynamics.config.load_typed`): which registered figures, where, how long."""

    names: list[str] = option(help="figures to make (fig3, 3 or fig03; empty or all: every "
                                   "registered figure)", factory=list)
    out: str = option("results/figures", "output folder")
    quick: bool = option(False, "fewer / shorter trajectories (seconds per figure)")

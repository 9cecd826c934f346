"""Shared command line of the per-figure scripts in this folder (thin wrappers over
:func:`dynamics.plots.make_figures`)."""

from __future__ import annotations

import argparse
from pathlib import Path

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "out" / "figures"  # git-ignored


def main(name: str, argv: list[str] | None = None) -> int:
    from dynamics.plots import FIGURES, make_figures

    spec = FIGURES[name]
    parser = argparse.ArgumentParser(description=f"{spec.paper_ref}: {spec.title}")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help=f"output folder for the PNG and PDF (default: {DEFAULT_OUT})")
    parser.add_argument("--quick", action="store_true",
                        help="fewer/shorter trajectories (a few seconds)")
    args = parser.parse_args(argv)
    result = make_figures([name], args.out, quick=args.quick)[name]
    for path in result.paths:
        print(path)
    for key, value in result.numbers.items():
        print(f"  {key} = {value}")
    return 0

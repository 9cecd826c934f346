"""The figure gallery: a Markdown section with every figure's PNG and caption, by paper.

:func:`write_gallery` rewrites the part of a Markdown file between the markers
``<!-- gallery:start -->`` and ``<!-- gallery:end -->`` (appended when absent) with one entry
per figure made, grouped by the papers of :data:`dynamics.plots.base.PAPERS`: a heading, the
PNG (linked relative to the Markdown file) and the caption file's text. ``ssl-dynamics figures
--gallery figures/README.md`` calls it after making the figures, so the gallery always shows the
files and captions of one command.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from dynamics.io import atomic_write_text
from dynamics.plots.base import PAPERS, FigureResult

START, END = "<!-- gallery:start -->", "<!-- gallery:end -->"


def gallery_markdown(results: Mapping[str, FigureResult], base: Path, command: str = "",
                     skipped: Mapping[str, str] | None = None) -> str:
    """The gallery section (between the markers) for ``results``; image links are relative
    to the folder ``base``."""
    from dynamics.plots import FIGURES

    lines = [START, ""]
    if command:
        lines += [f"Made by `{command}`.", ""]
    for paper, title in PAPERS.items():
        names = [n for n in results if FIGURES[n].paper == paper]
        gone = [n for n in (skipped or {}) if FIGURES[n].paper == paper]
        if not names and not gone:
            continue
        lines += [f"### {title}", ""]
        for name in names:
            res = results[name]
            spec = FIGURES[name]
            rel = Path(os.path.relpath(res.png, base)).as_posix()
            lines += [f"#### `{name}` ({spec.paper_ref})" if spec.paper_ref else f"#### `{name}`",
                      "", f"![{name}]({rel})", ""]
            cap = res.caption_path
            lines += [cap.read_text().strip() if cap.is_file() else res.caption, ""]
        for name in gone:
            lines += [f"#### `{name}`", "", f"Not made by this command: {skipped[name]}.", ""]
    lines.append(END)
    return "\n".join(lines)


def write_gallery(path: Path | str, results: Mapping[str, FigureResult], command: str = "",
                  skipped: Mapping[str, str] | None = None) -> Path:
    """Rewrite the gallery section of the Markdown file ``path`` (created if missing)."""
    path = Path(path)
    text = path.read_text() if path.is_file() else ""
    section = gallery_markdown(results, path.parent.resolve(), command, skipped)
    if START in text and END in text:
        head, rest = text.split(START, 1)
        tail = rest.split(END, 1)[1]
        text = head + section + tail
    else:
        text = (text.rstrip() + "\n\n## Gallery\n\n" if text else "# Figures\n\n") + section + "\n"
    return atomic_write_text(path, text)


__all__ = ["END", "START", "gallery_markdown", "write_gallery"]

"""The figure gallery: a Markdown section with every figure's PNG and caption, by paper.

:func:`write_gallery` rewrites the part of a Markdown file between the markers
``<!-- gallery:start -->`` and ``<!-- gallery:end -->`` (appended when absent) with one entry
per figure made, grouped by the papers of :data:`dynamics.verify.papers.PAPERS`: a heading, the
PNG (linked relative to the Markdown file) and the caption file's text. ``ssl-dynamics figures
--gallery figures/README.md`` calls it after making the figures, so the gallery always shows the
files and captions of the figures made. The figures' folder keeps an index
(``gallery.json``: name -> PNG and caption file), merged on every call, so a command that makes
only some figures updates their entries and keeps the others.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

from dynamics.io import atomic_write_text
from dynamics.plots.base import FigureResult
from dynamics.verify.papers import PAPERS

START, END = "<!-- gallery:start -->", "<!-- gallery:end -->"
INDEX = "gallery.json"


def update_index(results: Mapping[str, FigureResult]) -> dict[str, dict[str, str]]:
    """Merge the figures made into ``gallery.json`` of their folder(s); returns the merged
    index ``{name: {"png": path, "caption": path}}`` of every figure whose files still
    exist, in registry order."""
    from dynamics.plots import FIGURES

    index: dict[str, dict[str, str]] = {}
    folders = {res.png.parent for res in results.values()}
    for folder in folders:
        f = folder / INDEX
        if f.is_file():
            old = json.loads(f.read_text())
            index.update({k: {kk: str(folder / vv) for kk, vv in v.items()}
                          for k, v in old.items()})
    for name, res in results.items():
        index[name] = {"png": str(res.png), "caption": str(res.caption_path)}
    index = {n: index[n] for n in FIGURES if n in index and Path(index[n]["png"]).is_file()}
    for folder in folders:
        mine = {n: {k: Path(v).name for k, v in e.items()} for n, e in index.items()
                if Path(e["png"]).parent == folder}
        atomic_write_text(folder / INDEX, json.dumps(mine, indent=1) + "\n")
    return index


def gallery_markdown(index: Mapping[str, Mapping[str, str]], base: Path, command: str = "",
                     skipped: Mapping[str, str] | None = None) -> str:
    """The gallery section (between the markers) for the figures of ``index`` (see
    :func:`update_index`); image links are relative to the folder ``base``."""
    from dynamics.plots import FIGURES

    lines = [START, ""]
    if command:
        lines += [f"Last updated by `{command}`; each caption names the command of its "
                  f"figure.", ""]
    skipped = {n: why for n, why in (skipped or {}).items() if n not in index}
    for name, spec in FIGURES.items():  # registered but never made into this folder
        if name not in index and name not in skipped:
            data = " --data-root CIFAR10" if spec.run_based else ""
            skipped[name] = (f"not made yet (`ssl-dynamics figures {name} --tier cpu{data}` with "
                             f"this gallery's --out and --gallery adds it)")
    for paper, entry in PAPERS.items():
        title = entry.citation
        names = [n for n in index if FIGURES[n].paper == paper]
        gone = [n for n in skipped if FIGURES[n].paper == paper]
        if not names and not gone:
            continue
        lines += [f"### {title}", ""]
        for name in names:
            spec = FIGURES[name]
            rel = Path(os.path.relpath(index[name]["png"], base)).as_posix()
            lines += [f"#### `{name}` ({spec.paper_ref})" if spec.paper_ref else f"#### `{name}`",
                      "", f"![{name}]({rel})", ""]
            cap = Path(index[name]["caption"])
            lines += [cap.read_text().strip() if cap.is_file() else spec.title, ""]
        for name in gone:
            lines += [f"#### `{name}`", "", f"Not in the gallery: {skipped[name]}.", ""]
    lines.append(END)
    return "\n".join(lines)


def write_gallery(path: Path | str, results: Mapping[str, FigureResult], command: str = "",
                  skipped: Mapping[str, str] | None = None) -> Path:
    """Rewrite the gallery section of the Markdown file ``path`` (created if missing) with the
    figures made now and those already in the index of their folder."""
    path = Path(path)
    text = path.read_text() if path.is_file() else ""
    index = update_index(results)
    section = gallery_markdown(index, path.parent.resolve(), command, skipped)
    if START in text and END in text:
        head, rest = text.split(START, 1)
        tail = rest.split(END, 1)[1]
        text = head + section + tail
    else:
        text = (text.rstrip() + "\n\n## Gallery\n\n" if text else "# Figures\n\n") + section + "\n"
    return atomic_write_text(path, text)


__all__ = ["END", "INDEX", "START", "gallery_markdown", "update_index", "write_gallery"]

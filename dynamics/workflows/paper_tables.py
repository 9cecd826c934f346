"""``ssl-dynamics table``: a paper table rebuilt from finished runs, beside the published numbers.

:func:`aggregate` reads a sweep folder (its ``index.json`` from
:func:`dynamics.workflows.sweeps.run_sweep`) and, for every cell of the table, the final
linear-probe Top-1 of each seed's run: mean +- std over the finished seeds, the number of seeds, the
published mean +- std (from ``experiments/tables/<paper>.yaml``) and the difference of the means. A
cell without a finished run is shown as missing (``-``), never filled in. :func:`render` writes the
paper's layout (rows x columns) as Markdown, CSV or LaTeX.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path

from dynamics.config import option
from dynamics.errors import ConfigError
from dynamics.verify.prediction import mean_std
from dynamics.verify.run_data import linear_accuracy, summary
from dynamics.workflows.sweeps import Table, find_table

FORMATS = ("md", "csv", "latex")


@dataclass
class TableRun:
    """The typed config of ``ssl-dynamics table``."""

    paper: str = option("directpred", "the paper (a file in experiments/tables/)")
    table: str = option("6", "the table id (e.g. 2, 3, 5, 6, 7, 8-stl10, 8-cifar10, 6-cpu)")
    runs: str | None = option(None, "the sweep folder (default runs/sweeps/<paper>_<table>)")
    format: str = option("md", "md, csv or latex", choices=FORMATS)
    out: str | None = option(None, "also write the table to this file")


@dataclass
class CellResult:
    """One aggregated cell: accuracy in percent over the finished seeds."""

    name: str
    row: str
    col: str
    mean: float | None
    std: float | None
    n: int
    paper: tuple[float, float] | None

    @property
    def diff(self) -> float | None:
        """Our mean minus the published mean (percentage points), where both exist."""
        if self.mean is None or self.paper is None:
            return None
        return self.mean - self.paper[0]


def aggregate(table: Table, runs: Path) -> list[CellResult]:
    """Every cell of ``table`` from the finished runs listed in ``runs/index.json``."""
    index_path = Path(runs) / "index.json"
    if not index_path.is_file():
        raise ConfigError("runs", f"{runs} has no index.json: run `ssl-dynamics sweep` first")
    index = json.loads(index_path.read_text())
    out = []
    for cell in table.cells:
        accs = []
        for name in index.get("cells", {}).get(cell.name, []):
            folder = Path(runs) / name
            if summary(folder).get("status") == "finished":
                acc = linear_accuracy(folder)
                if acc is not None:
                    accs.append(100 * acc)
        m, s = mean_std(accs) if accs else (None, None)
        out.append(CellResult(cell.name, cell.row, cell.col, m, s if len(accs) > 1 else None,
                              len(accs), None if table.reference_only else cell.paper))
    return out


def _ours(c: CellResult) -> str:
    if c.mean is None:
        return "-"
    return f"{c.mean:.2f}" + (f" +- {c.std:.2f}" if c.std is not None else "") + f" (n={c.n})"


def _paper(c: CellResult) -> str:
    return "-" if c.paper is None else f"{c.paper[0]:.2f} +- {c.paper[1]:.2f}"


def _diff(c: CellResult) -> str:
    return "-" if c.diff is None else f"{c.diff:+.2f}"


def render(table: Table, cells: list[CellResult], fmt: str = "md") -> str:
    """The table in the paper's layout: one line per row, per column ours / paper / diff."""
    if fmt not in FORMATS:
        raise ConfigError("format", f"must be one of {', '.join(FORMATS)}; got {fmt!r}")
    by = {(c.row, c.col): c for c in cells}
    parts = ("ours",) if table.reference_only else ("ours", "paper", "diff")
    head = ["", *(f"{col} {part}" for col in table.cols for part in parts)]
    body = []
    for row in table.rows:
        line = [row]
        for col in table.cols:
            c = by.get((row, col))
            cols = [_ours, _paper, _diff][:len(parts)]
            line += ["-"] * len(parts) if c is None else [f(c) for f in cols]
        body.append(line)
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(["row", *head[1:]])
        writer.writerows(body)
        return buf.getvalue()
    if fmt == "latex":
        cols = "l" + "r" * (len(head) - 1)
        lines = [f"% {table.title}", f"\\begin{{tabular}}{{{cols}}}", "\\hline",
                 " & ".join(h.replace("_", "\\_") for h in head) + " \\\\", "\\hline"]
        lines += [" & ".join(x.replace("+-", "$\\pm$") for x in r) + " \\\\" for r in body]
        return "\n".join(lines + ["\\hline", "\\end{tabular}"]) + "\n"
    lines = [f"**{table.title}**: linear-probe Top-1 (%), mean +- std over the finished "
             f"seeds; `-` = no finished run.", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in body]
    return "\n".join(lines) + "\n"


def table_text(cfg: TableRun) -> str:
    """Aggregate and render the table of ``cfg`` (written to ``cfg.out`` when given)."""
    from dynamics.io import atomic_write_text

    table = find_table("", cfg.paper, cfg.table)
    runs = Path(cfg.runs or f"runs/sweeps/{table.paper}_{table.id}")
    text = render(table, aggregate(table, runs), cfg.format)
    if cfg.out:
        atomic_write_text(Path(cfg.out), text)
    return text


__all__ = ["FORMATS", "CellResult", "TableRun", "aggregate", "render", "table_text"]

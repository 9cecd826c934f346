"""HLTM grid figure and table (Tian, Yu, Chen & Ganguli 2020; see
:mod:`dynamics.theories.dual_networks.hltm`).

:func:`plot_hltm_grid` draws the mean best |corr| per tree level (root ... parents of leaves)
before and after training: one panel per (depth, delta_lower) (rows = depths, columns = polarity
ranges), one colour per ``hid``, dashed with
open markers = at initialisation, solid with filled markers = after training; lines join the
means over seeds and the error bars span the minimum to the maximum over seeds (so a single seed
whose root collapsed stays visible behind a mean). :func:`write_table` writes the rows of
:func:`~dynamics.theories.dual_networks.hltm.run_grid` as CSV (one column per level) or Markdown.
"""

from __future__ import annotations

import csv
import io
import os
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dynamics.errors import ConfigError
from dynamics.io import atomic_write_text
from dynamics.plots import style

TABLE_KEYS = ("depth", "delta_lower", "delta_upper", "hid", "bn", "seed", "loss", "tau", "lr",
              "batch_size", "epochs", "draws_per_epoch")


def _f(v: Any, digits: int = 3) -> str:
    if v is None:
        return ""
    try:
        x = float(v)
    except (TypeError, ValueError):
        return str(v)
    return "nan" if not np.isfinite(x) else f"{x:.{digits}f}"


def write_table(rows: Sequence[dict[str, Any]], path: str | os.PathLike) -> Path:
    """One line per run. ``.csv``: the settings, then ``corr_before_L{l}``/``corr_after_L{l}`` and
    ``op_after_L{l}`` for every level l (blank where a tree is shallower), the first/last epoch
    loss and the runtime. ``.md``: the same settings with the per-level correlations as
    ``root ... leaf-parents`` strings, for reading."""
    path = Path(path)
    if path.suffix not in (".csv", ".md"):
        raise ConfigError("path", f"must end in .csv or .md, got {str(path)!r}")
    if not rows:
        raise ConfigError("rows", "needs at least one row")
    n_lev = max(len(r["corr_after"]) for r in rows)
    keys = [k for k in TABLE_KEYS if any(k in r for r in rows)]
    if path.suffix == ".csv":
        header = list(keys)
        for name in ("corr_before", "corr_after", "op_before", "op_after"):
            header += [f"{name}_L{l}" for l in range(n_lev)]
        header += ["loss_first", "loss_last", "runtime_s"]
        out = io.StringIO()
        w = csv.writer(out, lineterminator="\n")
        w.writerow(header)
        for r in rows:
            line = [r.get(k, "") for k in keys]
            for name in ("corr_before", "corr_after", "op_before", "op_after"):
                vals = list(r.get(name, []))
                line += [f"{float(v):.6g}" for v in vals] + [""] * (n_lev - len(vals))
            line += [f"{float(r.get(k, np.nan)):.6g}" for k in ("loss_first", "loss_last",
                                                                 "runtime_s")]
            w.writerow(line)
        return atomic_write_text(path, out.getvalue())
    show = [k for k in ("depth", "delta_lower", "hid", "bn", "seed", "loss", "tau", "epochs",
                        "draws_per_epoch") if k in keys]
    head = show + ["best corr before (root ... leaf parents)", "after", "loss first -> last",
                   "s"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [str(r.get(k, "")) for k in show]
        cells.append(" ".join(_f(v, 2) for v in r["corr_before"]))
        cells.append(" ".join(_f(v, 2) for v in r["corr_after"]))
        cells.append(f"{_f(r.get('loss_first'))} -> {_f(r.get('loss_last'))}")
        cells.append(_f(r.get("runtime_s"), 1))
        lines.append("| " + " | ".join(cells) + " |")
    return atomic_write_text(path, "\n".join(lines) + "\n")


def _group(rows: Sequence[dict[str, Any]]):
    """{(delta_lower, depth): {hid: [rows]}} in sorted order."""
    out: dict[tuple[float, int], dict[int, list[dict[str, Any]]]] = {}
    for r in rows:
        out.setdefault((float(r["delta_lower"]), int(r["depth"])), {}).setdefault(
            int(r["hid"]), []).append(r)
    return dict(sorted(out.items()))


def plot_hltm_grid(rows: Sequence[dict[str, Any]], out_dir: Path | str,
                   stem: str = "hltm_corr", *, title: str | None = None) -> list[Path]:
    """Best |corr| per tree level before vs after training for every (delta_lower, depth) panel;
    writes ``out_dir/stem.png`` and ``.pdf`` and returns their paths (PNG first)."""
    if not rows:
        raise ConfigError("rows", "needs at least one row")
    groups = _group(rows)
    dls = sorted({k[0] for k in groups})
    depths = sorted({k[1] for k in groups})
    hids = sorted({int(r["hid"]) for r in rows})
    # Well-separated colours from the sweep palette (dark blue ... red/purple).
    idx = np.round(np.linspace(0, 4 if len(hids) <= 5 else len(style.SWEEP) - 1,
                               len(hids))).astype(int) if len(hids) > 1 else [0]
    colours = {h: style.SWEEP[k % len(style.SWEEP)] for h, k in zip(hids, idx, strict=True)}
    offsets = {h: (i - (len(hids) - 1) / 2) * 0.12 for i, h in enumerate(hids)}
    nrows, ncols = len(depths), len(dls)
    width = min(3.3 * ncols + 0.7, 13.0)
    with style.paper_style():
        fig, axes = style.new_figure(nrows, ncols, width=width,
                                     height=2.6 * nrows + 1.1, sharey=True)
        for i, depth in enumerate(depths):
            for j, dl in enumerate(dls):
                ax = axes[i, j]
                levels = np.arange(depth)
                by_hid = groups.get((dl, depth), {})
                du = next(iter(by_hid.values()))[0].get("delta_upper", 1.0) if by_hid else 1.0
                for hid, rs in sorted(by_hid.items()):
                    c = colours[hid]
                    for when, shift, kw in (
                        ("before", -0.03, {"ls": "--", "lw": 1.0, "mfc": "white", "ms": 4.2,
                                           "alpha": 0.9, "zorder": 3}),
                        ("after", 0.03, {"ls": "-", "lw": 1.6, "ms": 4.6, "zorder": 4}),
                    ):
                        vals = np.array([r[f"corr_{when}"] for r in rs], dtype=float)
                        mean = vals.mean(0)
                        err = np.vstack([mean - vals.min(0), vals.max(0) - mean])
                        ax.errorbar(levels + offsets[hid] + shift, mean,
                                    yerr=err if len(rs) > 1 else None, color=c, marker="o",
                                    mew=1.0, capsize=2.2, elinewidth=0.8, **kw)
                ax.set_xticks(levels)
                ax.set_xticklabels(["root"] + [str(l) for l in levels[1:]])
                ax.set_xlim(-0.35, depth - 0.65)
                ax.set_ylim(-0.03, 1.05)
                ax.grid(axis="y", color="0.9", lw=0.6, zorder=0)
                ax.set_title(rf"depth {depth}, $|\delta| \in [{dl:g}, {du:g}]$")
                if i == nrows - 1:
                    ax.set_xlabel("tree level (root ... parents of leaves)")
                if j == 0:
                    ax.set_ylabel(r"mean best $|\mathrm{corr}(z_\mu, h_\mu)|$")
        from matplotlib.lines import Line2D

        handles = [Line2D([], [], color=colours[h], lw=2.0, label=f"hid {h}") for h in hids]
        handles += [
            Line2D([], [], color="0.3", ls="--", marker="o", mfc="white", lw=1.0,
                   label="initialisation"),
            Line2D([], [], color="0.3", ls="-", marker="o", lw=1.5, label="after training"),
        ]
        seeds = sorted({int(r["seed"]) for r in rows})
        fig.legend(handles=handles, loc="outside upper center", ncols=min(len(handles), 6),
                   frameon=False)
        r0 = rows[0]
        epochs, draws = r0.get("epochs"), r0.get("draws_per_epoch")
        note = (f"HLTM, {r0.get('num_children', 2)} children per node; loss {r0.get('loss')} "
                f"(tau {r0.get('tau', float('nan')):g}), SGD lr {r0.get('lr', float('nan')):g}, "
                f"batch {r0.get('batch_size')}, {epochs} epochs x {draws} draws; "
                f"seeds {', '.join(map(str, seeds))}"
                + (" (lines: mean, bars: min-max over seeds)" if len(seeds) > 1 else ""))
        style.settings_note(fig, textwrap.fill(note, width=int(17 * width)))
        if title:
            fig.suptitle(title)
        return style.save_figure(fig, out_dir, stem)


def write_outputs(rows: Sequence[dict[str, Any]], out_dir: Path, settings: dict[str, Any],
                  runtime_s: float, cells: dict[str, Any] | None = None) -> list[Path]:
    """The table (CSV + Markdown), the JSON with histories and the figure; returns the paths.
    Every file is written atomically. ``cells`` ({"finished", "total", "reused"}) adds
    ``complete`` and ``cells`` to the JSON (partial outputs after an interrupt)."""
    from dynamics.io import atomic_write_text, to_json
    from dynamics.theories.dual_networks.hltm import summarise_rows

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [write_table(rows, out_dir / "hltm_table.csv"),
             write_table(rows, out_dir / "hltm_table.md")]
    payload: dict[str, Any] = {"command": "hltm", "settings": settings, "runtime_s": runtime_s}
    if cells is not None:
        payload.update(complete=cells["finished"] == cells["total"], cells=cells)
    payload.update(summary=summarise_rows(rows), rows=list(rows))
    paths.append(atomic_write_text(out_dir / "hltm.json", to_json(payload)))
    paths += plot_hltm_grid(rows, out_dir, "hltm_corr")
    return paths

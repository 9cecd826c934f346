"""The small HLTM grid that ``ssl-dynamics reproduce`` runs (Tian, Yu, Chen & Ganguli 2020):
its settings, the run, and the grid-wide trends it reports."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dynamics.plots.hltm import write_outputs
from dynamics.threads import torch_threads

# The grid of ``reproduce`` (see hltm_summary): full ~1 min, quick a few seconds, on 2 cores.
SUMMARY_GRID: dict[str, Any] = {
    "hids": (2, 10), "delta_lowers": (0.7, 0.9), "depths": (4,), "seeds": (1, 2, 3),
    "epochs": 10, "draws_per_epoch": 32000,
}


SUMMARY_GRID_QUICK: dict[str, Any] = {
    "hids": (2, 10), "delta_lowers": (0.7, 0.9), "depths": (3,), "seeds": (1,),
    "epochs": 2, "draws_per_epoch": 4096, "eval_samples": 4096, "op_samples": 512,
}


def _trend_numbers(rows: Sequence[dict[str, Any]]) -> dict[str, float]:
    """Grid-wide contrasts of the mean best |corr| after training (all levels unless noted)."""
    after = {id(r): np.asarray(r["corr_after"], float) for r in rows}
    before = {id(r): np.asarray(r["corr_before"], float) for r in rows}

    def mean(sel, which=after, level=None):
        vals = [which[id(r)] if level is None else which[id(r)][level] for r in rows if sel(r)]
        return float(np.mean(np.concatenate([np.atleast_1d(v) for v in vals]))) if vals \
            else float("nan")

    dls = sorted({r["delta_lower"] for r in rows})
    hids = sorted({r["hid"] for r in rows})
    out = {
        "gain_all_levels": mean(lambda r: True) - mean(lambda r: True, before),
        "gain_root": mean(lambda r: True, level=0) - mean(lambda r: True, before, level=0),
        "after_root_mean": mean(lambda r: True, level=0),
        "after_leaf_parents_mean": float(np.mean([after[id(r)][-1] for r in rows])),
        "root_after_min": float(min(after[id(r)][0] for r in rows)),
    }
    if len(dls) > 1:
        out["polarity_effect"] = (mean(lambda r: r["delta_lower"] == dls[-1])
                                  - mean(lambda r: r["delta_lower"] == dls[0]))
    if len(hids) > 1:
        out["width_effect"] = (mean(lambda r: r["hid"] == hids[-1])
                               - mean(lambda r: r["hid"] == hids[0]))
    return out


def hltm_summary(out_dir: Path | str, quick: bool = False) -> dict[str, Any]:
    """The small HLTM grid of ``reproduce``: hid {2, 10} x delta_lower {0.7, 0.9}, depth 4,
    seeds 1-3, 10 epochs x 32000 draws (about a minute on 2 cores; ``quick``: depth 3, one seed,
    2 x 4096 draws, a few seconds). Writes the figure, table and JSON under ``out_dir`` and
    returns ``{"settings", "configs" (mean per level before/after per config), "numbers" (flat
    floats for the summary), "trends", "paths", "runtime_s"}``."""
    from dynamics.contrastive.hltm import run_grid, summarise_rows

    grid = dict(SUMMARY_GRID_QUICK if quick else SUMMARY_GRID)
    kw = {k: v for k, v in grid.items() if k not in ("hids", "delta_lowers", "depths", "seeds")}
    t0 = time.perf_counter()
    with torch_threads(1):
        rows = run_grid(grid["hids"], grid["delta_lowers"], grid["depths"], grid["seeds"],
                        loss="nce", tau=0.1, lr=0.1, batch_size=128, **kw)
    runtime = time.perf_counter() - t0
    settings = {**{k: list(v) if isinstance(v, tuple) else v for k, v in grid.items()},
                "loss": "nce", "tau": 0.1, "lr": 0.1, "batch_size": 128, "quick": bool(quick)}
    paths = write_outputs(rows, Path(out_dir), settings, runtime)
    configs = summarise_rows(rows)
    numbers: dict[str, float] = {}
    for c in configs:
        key = f"d{c['depth']}_dl{c['delta_lower']:g}_hid{c['hid']}"
        for when in ("before", "after"):
            for l, v in enumerate(c[f"corr_{when}"]):
                numbers[f"{key}_corr_{when}_L{l}"] = float(v)
        numbers[f"{key}_root_after_min"] = c["root_after_min"]
    trends = _trend_numbers(rows)
    return {"settings": settings, "configs": configs, "numbers": numbers, "trends": trends,
            "paths": [str(p) for p in paths], "runtime_s": runtime}


__all__ = ["SUMMARY_GRID", "SUMMARY_GRID_QUICK", "hltm_summary"]

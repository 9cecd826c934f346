"""HLTM: correlation of the hidden nodes with the latent variables before and after contrastive
training, by width and polarity (Tian, Yu, Chen & Ganguli 2020, Sec. 5;
THEORY-contrastive-and-metrics Sec. 1.6-1.7).

The hierarchical latent tree model (``dynamics.theories.dual_networks.hltm.data``) is a complete
tree of binary latents z_mu, root z_0 ~ Uniform{0, 1}; every edge mu -> nu has a polarity
delta = s u (u ~ U[delta_lower, delta_upper], s = +-1) with P(z_nu = z_mu) = (1 + delta)/2, and
the leaves are the input. A positive pair regenerates the whole tree given the same root, a
negative resamples it. A network mirroring the tree, ``hid`` units per latent node, is trained
with the code's InfoNCE-probability loss. For each latent node the measure is the best
|corr(z_mu, h_j)| over the ``hid`` pre-activations h_j of its network node, averaged per tree
level (root ... parents of the leaves), on fresh samples. Predicted (Sec. 1.6): training raises
it; more so for strong polarity (the signal scales with products of polarities along the path
to the root) and, weakly, for wider nodes (a "lucky" unit aligned with the latent is likelier);
it is lowest near the root.

A thin wrapper: the grid is trained by :func:`dynamics.theories.dual_networks.hltm.grid.run_grid`
(the runner of ``ssl-dynamics hltm``) and drawn by
:func:`dynamics.theories.dual_networks.figures.hltm_grid.plot_hltm_grid`; the trend numbers follow
the rule of the prediction ``dual_networks.hltm_trends``. Grids:

* quick: the prediction's smoke grid (:func:`dynamics.theories.dual_networks.predictions.hltm_grid`:
  hid {2, 10}, delta_lower {0.5, 0.7, 0.9}, depth 3, seeds 1-3, 3 epochs x 4096 draws). The
  ``experiments/hltm/grid_smoke.yaml`` grid trains 8 SGD steps per cell, too few for the trends
  to show (its hid-4 cells end below its hid-2 cells).
* full: ``experiments/hltm/grid_cpu.yaml`` without its hid-50 cells and with 16000 draws per
  epoch (the prediction's cpu-tier length): hid {2, 10}, delta_lower {0.5, 0.7, 0.9}, depth
  {3, 5}, seeds 1-3, 10 epochs; 36 cells instead of 54 at half the steps (the hid-50 depth-5
  cells alone take most of the file's six minutes).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from dynamics.config import EXPERIMENTS
from dynamics.plots.base import FigureResult, figure

CONFIG_DIR = EXPERIMENTS / "hltm"
FULL_CONFIG = "grid_cpu.yaml"
FULL_OVERRIDES = ("hid=[2,10]", "draws=16000")
STEM = "dual_networks_hltm"


def grid(quick: bool) -> dict:
    """``run_grid`` arguments (hids, delta_lowers, depths, seeds + keywords) of the figure."""
    if quick:
        from dynamics.theories.dual_networks.predictions import hltm_grid

        g = dict(hltm_grid("smoke"))
        return {"hids": list(g.pop("hids")), "delta_lowers": list(g.pop("delta_lowers")),
                "depths": list(g.pop("depths")), "seeds": list(g.pop("seeds")), "loss": "nce",
                "tau": 0.1, "lr": 0.1, "batch_size": 128, "op_samples": 0, **g}
    from dynamics.config import load_typed
    from dynamics.theories.dual_networks.hltm.config import HLTMGridRun

    c = load_typed(HLTMGridRun, CONFIG_DIR / FULL_CONFIG, FULL_OVERRIDES)
    return {"hids": list(c.hid), "delta_lowers": list(c.delta_lower), "depths": list(c.depth),
            "seeds": list(c.seeds), "epochs": c.epochs, "draws_per_epoch": c.draws,
            "loss": c.loss, "tau": c.tau, "lr": c.lr, "batch_size": c.batch_size,
            "delta_upper": c.delta_upper, "num_children": c.num_children, "bn": c.bn,
            "eval_samples": c.eval_samples, "op_samples": 0}


def trends(rows: list[dict], g: dict) -> dict[str, float | str]:
    """The grid-wide facts the figure shows, by the rule of ``dual_networks.hltm_trends``: the
    rise of the mean best |corr| (over levels) per cell, its mean after training by
    delta_lower and by hid (with compare_means: difference, standard error), and the root and
    leaf-parent levels."""
    from dynamics.theories.dual_networks.predictions import hltm_trend_rule

    dls, hids = g["delta_lowers"], g["hids"]
    t = hltm_trend_rule(rows, dls, hids)
    rise, d_rise, se_rise, by_dl = t["rise_each"], t["rise"], t["rise_se"], t["by_dl"]
    d_dl, se_dl, monotone, by_hid, passed = (t["d_dl"], t["se_dl"], t["monotone"],
                                             t["by_hid"], t["passed"])
    out: dict[str, float | str] = {
        "cells": float(len(rows)), "rise": d_rise, "rise_se": se_rise,
        "cells_rising_fraction": float(np.mean(np.asarray(rise) > 0)),
        "delta_lower_diff": d_dl, "delta_lower_se": se_dl,
        "delta_lower_monotone": "yes" if monotone else "no",
        "hid_diff": by_hid[-1] - by_hid[0],
        "trends_as_predicted": "yes" if passed else "no"}
    for d, v in zip(dls, by_dl, strict=True):
        out[f"after_delta_lower={d:g}"] = v
    for h, v in zip(hids, by_hid, strict=True):
        out[f"after_hid={h}"] = v
        out[f"before_hid={h}"] = float(np.mean([np.mean(r["corr_before"]) for r in rows
                                                if r["hid"] == h]))
    for depth in g["depths"]:
        rs = [r for r in rows if r["depth"] == depth]
        for when in ("before", "after"):
            lv = np.mean([r[f"corr_{when}"] for r in rs], axis=0)
            out[f"depth{depth}_root_{when}"] = float(lv[0])
            out[f"depth{depth}_leaf_parents_{when}"] = float(lv[-1])
    out["root_after_min"] = float(min(r["corr_after"][0] for r in rows))
    return out


@figure('dual_networks_hltm',
        "HLTM: correlation of hidden nodes with the latent variables before and after training, "
        "by width and polarity",
        paper_ref='HLTM (Sec. 5)',
        predictions=('dual_networks.hltm_trends',))
def make(out_dir: Path, *, quick: bool = False) -> FigureResult:
    """Train the HLTM grid and draw it with :func:`plot_hltm_grid` into ``out_dir``."""
    from dynamics.theories.dual_networks.figures.hltm_grid import plot_hltm_grid
    from dynamics.theories.dual_networks.hltm.grid import run_grid
    from dynamics.threads import torch_threads

    g = grid(quick)
    kw = {k: v for k, v in g.items() if k not in ("hids", "delta_lowers", "depths", "seeds")}
    t0 = time.perf_counter()
    with torch_threads(1):
        rows = run_grid(g["hids"], g["delta_lowers"], g["depths"], g["seeds"], **kw)
    train_s = time.perf_counter() - t0
    paths = plot_hltm_grid(rows, out_dir, STEM)
    n = trends(rows, g)
    n["train_seconds"] = train_s
    dls, hids, d0 = g["delta_lowers"], g["hids"], g["depths"][-1]
    by_dl = ", ".join(f"{n[f'after_delta_lower={d:g}']:.2f} at delta_lower {d:g}" for d in dls)
    by_hid = ", ".join(f"{n[f'before_hid={h}']:.2f} -> {n[f'after_hid={h}']:.2f} at hid {h}"
                       for h in hids)
    gain = {k: round(n[f"depth{d0}_{k}_after"] - n[f"depth{d0}_{k}_before"], 2) + 0.0
            for k in ("root", "leaf_parents")}
    caption = (
        f"Contrastive training raises the best correlation of hidden nodes with the latent "
        f"variables (mean rise over levels {n['rise']:+.3f} +- {n['rise_se']:.3f} s.e. over "
        f"{len(rows)} cells, {100 * n['cells_rising_fraction']:.0f}% of them rising), and the "
        f"trained correlation is higher for stronger polarity ({by_dl}) and for wider nodes "
        f"({by_hid}, before -> after). It is lowest at the root (depth {d0} after training: "
        f"{n[f'depth{d0}_root_after']:.2f} at the root, "
        f"{n[f'depth{d0}_leaf_parents_after']:.2f} at the leaves' parents; gains "
        f"{gain['root']:+.2f} and {gain['leaf_parents']:+.2f}; lowest root after training, "
        f"over cells: {n['root_after_min']:.2f}). Panels: tree depth (rows) x "
        f"polarity range (columns); colour = hid; dashed open markers at initialisation, solid "
        f"filled after training; bars min-max over {len(g['seeds'])} seeds.")
    settings = {**{k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items()},
                "source": ("dual_networks.hltm_trends smoke grid" if quick else
                           f"experiments/hltm/{FULL_CONFIG} with {', '.join(FULL_OVERRIDES)}")}
    return FigureResult("dual_networks_hltm", paths, n, settings=settings, caption=caption)

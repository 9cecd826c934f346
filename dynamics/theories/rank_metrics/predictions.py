"""Predictions about label-free rank metrics: RankMe of Gaussian matrices (Garrido et al., ICML
2023, a reference value), RankMe ranking SimCLR runs like the probe (RankMe check 2, on the
SimCLR arms of :mod:`dynamics.verify.recipes`), and whether RankMe, alpha-ReQ (Agrawal et al.,
NeurIPS 2022) and LiDAR (Thilak et al., ICLR 2024) rank a hyper-parameter sweep like the linear
probe: across the weight-decay sweep of :func:`dynamics.verify.recipes.weight_decay_runs` (the
runs of ``feature_threshold.real_weight_decay``), the Spearman and Kendall rank correlation of
each metric at the end of training with the linear-probe accuracy, side by side. The
training-row metrics come from the last logged row; LiDAR from the final checkpoint
(:func:`~dynamics.verify.run_data.lidar_of_run`: 256 images x 8 views of the run's own
augmentation)."""

from __future__ import annotations

import math

import numpy as np
import torch

from dynamics.metrics.rank import rankme, rankme_from_singular_values
from dynamics.plots.prediction_figure import save_figure
from dynamics.theories.rank_metrics import PAPER
from dynamics.verify import run_data as rd
from dynamics.verify.prediction import (
    Context,
    Outcome,
    RunSpec,
    mean_std,
    spearman,
)
from dynamics.verify.recipes import (
    WDS,
    finished_runs,
    seed_note,
    simclr_specs,
    simclr_width_arms,
)
from dynamics.verify.recipes import weight_decay_runs as real_runs
from dynamics.verify.registry import prediction

DT = torch.float64


#: RankMe references of RankMe check 1 (N x 64, N = 25,600): i.i.d. Gaussian and rank 8.
RANKME_FULL, RANKME_RANK8 = 63.98, 7.84


# ------------------------------------------------------------------ RankMe check 1
def marchenko_pastur_singular_values(k: int, ratio: float) -> np.ndarray:
    """Singular values (up to a common scale) of a tall Gaussian matrix with k columns and
    ``ratio`` = columns/rows: square roots of the Marchenko-Pastur quantiles at (i + 1/2)/k."""
    lo, hi = (1 - math.sqrt(ratio)) ** 2, (1 + math.sqrt(ratio)) ** 2
    x = np.linspace(lo, hi, 20001)
    dens = np.sqrt(np.clip((hi - x) * (x - lo), 0, None)) / (2 * math.pi * ratio * x)
    cdf = np.concatenate([[0.0], np.cumsum((dens[1:] + dens[:-1]) / 2 * np.diff(x))])
    lam = np.interp((np.arange(k) + 0.5) / k, cdf / cdf[-1], x)
    return np.sqrt(lam)[::-1].copy()


def _rankme_cases():
    """(name, N, rank or None, expected, tolerance, how the expectation is known)."""
    mp_small = rankme_from_singular_values(torch.tensor(
        marchenko_pastur_singular_values(64, 64 / 2560)))
    return [("gaussian 25600x64", 25600, None, RANKME_FULL, 0.01, "reference (check 1)"),
            ("rank 8 25600x64", 25600, 8, RANKME_RANK8, 0.05, "reference (check 1)"),
            ("gaussian 2560x64", 2560, None, mp_small, 0.01, "Marchenko-Pastur quantiles")]


@prediction(
    "rank_metrics.rankme_reference",
    "RankMe of an i.i.d. Gaussian 25600 x 64 matrix is ~63.98 and of a rank-8 product "
    "(25600 x 8)(8 x 64) ~7.84; a 2560 x 64 Gaussian matrix gives the Marchenko-Pastur value.",
    PAPER.cite("RankMe check 1"),
    "contrastive",
)
def rankme_reference(ctx: Context) -> Outcome:
    """Mean RankMe over seeded random matrices against the reference values."""
    seeds = range(12) if ctx.quick else range(40)
    rows = []
    for name, n, rank, expected, tol, how in _rankme_cases():
        vals = []
        for s in seeds:
            g = torch.Generator().manual_seed(1000 * n + s)
            Z = (torch.randn(n, 64, dtype=DT, generator=g) if rank is None else
                 torch.randn(n, rank, dtype=DT, generator=g)
                 @ torch.randn(rank, 64, dtype=DT, generator=g))
            vals.append(rankme(Z))
        m, sd = mean_std(vals)
        rows.append({"case": name, "expected": expected, "mean": m, "std": sd, "tol": tol,
                     "ok": abs(m - expected) <= tol, "source": how, "values": vals})
    mp_full = rankme_from_singular_values(torch.tensor(
        marchenko_pastur_singular_values(64, 64 / 25600)))

    def draw(axes):
        for i, r in enumerate(rows):
            ax = axes[i]
            ax.plot(r["values"], "o", label="seeds")
            ax.axhline(r["expected"], color="k", label=f"expected {r['expected']:.3f}")
            ax.axhline(r["mean"], color="C1", ls="--", label=f"mean {r['mean']:.3f}")
            ax.axhspan(r["expected"] - r["tol"], r["expected"] + r["tol"], color="k",
                       alpha=0.1, label="tolerance (on the mean)")
            ax.set(title=r["case"], xlabel="seed", ylabel="RankMe")
            ax.legend(fontsize=6)

    fig = save_figure(ctx.figure("rank_metrics.rankme_reference"), draw, ncols=3, size=(3.2, 3.0))
    return Outcome.judged(
        all(r["ok"] for r in rows),
        theory="; ".join(f"{r['case']}: {r['expected']:.3f} ({r['source']})" for r in rows),
        measured="; ".join(f"{r['case']}: {r['mean']:.4f} (seed std {r['std']:.4f}, standard "
                           f"error {r['std'] / math.sqrt(len(r['values'])):.4f})" for r in rows),
        rule="|mean over seeds - expected| <= 0.01 for the Gaussian matrices (seed spread "
             "< 0.006) and <= 0.05 for rank 8 (its value depends on the random 8 x 64 factor: "
             "seed spread ~0.026)",
        details=f"{len(seeds)} seeds per case, float64, eps 1e-7; the 2560 x 64 expectation "
                f"is RankMe of the Marchenko-Pastur quantile singular values (ratio 64/2560), "
                f"which also gives {mp_full:.4f} at 25600 x 64",
        figure=fig, numbers={r["case"]: {k: r[k] for k in ("expected", "mean", "std", "tol")}
                             for r in rows})


def _rankme_runs(tier: str) -> list[RunSpec]:
    return simclr_specs(tier, simclr_width_arms(tier))


@prediction(
    "rank_metrics.rankme_ranks_runs",
    "Within one method, the RankMe of the learned representations ranks runs like their "
    "downstream accuracy (Spearman > 0.7), here for SimCLR runs of decreasing projector width.",
    PAPER.cite("RankMe check 2"),
    "contrastive", runs=_rankme_runs,
)
def rankme_ranks_runs(ctx: Context) -> Outcome:
    """Spearman of the backbone RankMe (test images) against kNN accuracy over all runs."""
    done, reason = finished_runs(ctx, _rankme_runs(ctx.tier))
    if reason:
        return Outcome.not_run(reason)
    cols = [(spec, folder, rd.collapse(folder)) for spec, folder in done]
    # one RankMe for all runs: of the un-augmented test images where every run has it
    key = ("rankme_backbone_test" if all(c.get("rankme_backbone_test") is not None
                                         for *_, c in cols) else "rankme_backbone")
    missing = [spec.name() for spec, _, c in cols if c.get(key) is None]
    if missing:
        return Outcome.not_run(f"no RankMe in summary.json of {', '.join(missing)}")
    pts = [(spec.label, float(c[key]), rd.knn_accuracy(folder)) for spec, folder, c in cols]
    rho = spearman([p[1] for p in pts], [p[2] for p in pts])
    threshold = 0.7
    passed = bool(rho > threshold)

    def draw(axes):
        for lab in dict.fromkeys(p[0] for p in pts):
            sel = [p for p in pts if p[0] == lab]
            axes[0].scatter([p[1] for p in sel], [p[2] for p in sel],
                            label=lab.split("-")[4])
        axes[0].set(xlabel=f"RankMe ({key})", ylabel="kNN top-1",
                    title=f"Spearman {rho:.2f}")
        axes[0].legend(fontsize=7, title="projector", title_fontsize=7)

    fig = save_figure(ctx.figure("rank_metrics.rankme_ranks_runs"), draw)
    widths = [a["proj"] for a in simclr_width_arms(ctx.tier)]
    return Outcome.judged(
        passed, theory=f"Spearman(RankMe, accuracy) > {threshold}",
        measured=f"Spearman {rho:.3f} over {len(pts)} runs",
        rule=f"Spearman rank correlation of RankMe with kNN top-1 over all runs > {threshold}",
        details=f"SimCLR InfoNCE (tau 0.5), projector width {widths} ({seed_note(ctx.tier)}); "
                f"RankMe ({key}) of the backbone features"
                + (" of the un-augmented test images" if key.endswith("test") else
                   " of recent augmented training samples"),
        figure=fig, numbers={"spearman": rho, "points": [
            {"label": lab, "rankme": r, "knn": k} for lab, r, k in pts]})


#: (row key or summary field, label, sign): sign -1 where a smaller value should mean a better
#: representation (alpha-ReQ: a slower spectral decay is a richer representation).
METRICS = (("collapse/rankme_h", "RankMe (backbone)", 1),
           ("collapse/rankme_z", "RankMe (projector)", 1),
           ("spectral/erank_z", "effective rank (projector)", 1),
           ("spectral/stable_rank_z", "stable rank (projector)", 1),
           ("spectral/alpha_req_z", "alpha-ReQ (projector)", -1),
           ("F/n_modes", "modes of F above the floor", 1),
           ("lidar", "LiDAR (projector)", 1))


#: Metrics computed from the run's checkpoint rather than read from its last training row.
FROM_CHECKPOINT = {"lidar"}


JUDGED = "collapse/rankme_h"


@prediction("rank_metrics.probe_correlation",
            "Across a hyper-parameter sweep, RankMe of the backbone features ranks the runs "
            "like the linear probe: a positive, significant rank correlation (the other rank "
            "metrics are reported beside it).",
            "Garrido et al., ICML 2023 (RankMe); Agrawal et al., NeurIPS 2022 (alpha-ReQ); "
            "Thilak et al., ICLR 2024", "training", tiers=("smoke", "cpu"), runs=real_runs,
            why_not="the paper tier's setting is not carried; the smoke (digits) and cpu "
                    "(CIFAR-10) tiers run it")
def probe_correlation(ctx: Context) -> Outcome:
    """Spearman and Kendall correlation of each metric with the probe over every finished run."""
    from scipy.stats import kendalltau, spearmanr

    from dynamics.verify.run_data import final_row, lidar_of_run, linear_accuracy

    folders = [f for wd in WDS for f in ctx.folders(f"wd{wd:g}")]
    acc = [linear_accuracy(f) for f in folders]
    rows = [final_row(f) for f in folders]
    keep = [i for i, a in enumerate(acc) if a is not None]
    if len(keep) < 5:
        return Outcome.not_run(f"only {len(keep)} finished runs with a linear probe (need 5)")
    y = np.array([acc[i] for i in keep])
    table = {}
    for key, label, sign in METRICS:
        if key in FROM_CHECKPOINT:
            vals = [lidar_of_run(folders[i]) for i in keep]
        else:
            vals = [rows[i].get(key) for i in keep]
        x = np.array([np.nan if v is None else float(v) for v in vals]) * sign
        ok = np.isfinite(x)
        if ok.sum() < 5:
            continue
        rho, p_rho = spearmanr(x[ok], y[ok])
        tau, p_tau = kendalltau(x[ok], y[ok])
        table[key] = {"label": label, "sign": sign, "spearman": float(rho),
                      "spearman_p": float(p_rho), "kendall": float(tau),
                      "kendall_p": float(p_tau), "n": int(ok.sum())}
    if JUDGED not in table:
        return Outcome.not_run(f"no run logged {JUDGED}")
    j = table[JUDGED]
    passed = bool(j["spearman"] > 0 and j["spearman_p"] / 2 < 0.05)

    def draw(axes):
        names = list(table)
        x = np.arange(len(names))
        axes[0].bar(x - 0.2, [table[k]["spearman"] for k in names], 0.4, label="Spearman")
        axes[0].bar(x + 0.2, [table[k]["kendall"] for k in names], 0.4, label="Kendall")
        axes[0].set_xticks(x, [table[k]["label"] for k in names], rotation=30, ha="right",
                           fontsize=6)
        axes[0].axhline(0, color="k", lw=0.5)
        axes[0].set_ylabel("rank correlation with the linear probe")
        axes[0].set_ylim(min(0.0, axes[0].get_ylim()[0]), 1.25)
        axes[0].legend(fontsize=7, loc="upper center", ncol=2)
    fig = save_figure(ctx.figure("rank_metrics.probe_correlation"), draw)
    side = "; ".join(f"{v['label']}: Spearman {v['spearman']:+.2f}, Kendall {v['kendall']:+.2f}"
                     for v in table.values())
    return Outcome.judged(
        passed, theory="RankMe ranks the sweep like the probe (positive rank correlation)",
        measured=f"over {j['n']} runs (probe accuracy {y.min():.3f}-{y.max():.3f}): {side}",
        rule="Spearman correlation of RankMe (backbone) with the probe > 0, one-sided p < 0.05; "
             "alpha-ReQ enters with its sign flipped (a slower decay should be better)",
        figure=fig, numbers={"metrics": table, "probe": y.tolist()})

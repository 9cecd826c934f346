"""Do label-free rank metrics rank a hyper-parameter sweep like the linear probe? RankMe (Garrido
et al., ICML 2023), alpha-ReQ (Agrawal et al., NeurIPS 2022) and LiDAR (Thilak et al., ICLR
2024) are proposed as label-free stand-ins for the probe; this prediction computes, across the
weight-decay sweep of ``threshold.real_weight_decay`` (the same runs), the Spearman and Kendall
rank correlation of each metric at the end of training with the linear-probe accuracy, side by
side. The training-row metrics come from the last logged row; LiDAR from the final checkpoint
(:func:`~dynamics.predictions.run_data.lidar_of_run`: 256 images x 8 views of the run's own
augmentation)."""

from __future__ import annotations

import numpy as np

from dynamics.predictions import Context, Outcome, prediction
from dynamics.predictions.feature_threshold import WDS, real_runs
from dynamics.predictions.plotting import save_figure

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


@prediction("rankcorr.probe_correlation",
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

    from dynamics.predictions.run_data import final_row, lidar_of_run, linear_accuracy

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
    fig = save_figure(ctx.figure("rankcorr.probe_correlation"), draw)
    side = "; ".join(f"{v['label']}: Spearman {v['spearman']:+.2f}, Kendall {v['kendall']:+.2f}"
                     for v in table.values())
    return Outcome.judged(
        passed, theory="RankMe ranks the sweep like the probe (positive rank correlation)",
        measured=f"over {j['n']} runs (probe accuracy {y.min():.3f}-{y.max():.3f}): {side}",
        rule="Spearman correlation of RankMe (backbone) with the probe > 0, one-sided p < 0.05; "
             "alpha-ReQ enters with its sign flipped (a slower decay should be better)",
        figure=fig, numbers={"metrics": table, "probe": y.tolist()})

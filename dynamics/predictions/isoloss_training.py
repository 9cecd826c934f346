"""Real-network prediction of Halvagal, Laborieux & Zenke (NeurIPS 2023): with IsoLoss the
equalised per-mode rates remove the need for the EMA target, so BYOL with a DirectPred predictor
and no EMA does not collapse. Arms on the BYOL + DirectPred base of
``threshold.real_weight_decay`` (small ConvNet, 10 epochs): IsoLoss without EMA (the claim), the
cosine loss without EMA (the control that degrades) and the cosine loss with the EMA target (the
reference)."""

from __future__ import annotations

import numpy as np

from dynamics.predictions import Context, Outcome, prediction
from dynamics.predictions.base import RunSpec, compare_means, mean_std
from dynamics.predictions.feature_threshold import REAL_BASE
from dynamics.predictions.isoloss import source
from dynamics.predictions.plotting import save_figure

SEEDS = (0, 1, 2)
ARMS = {"iso-noema": ("method.loss=isoloss", "method.ema=0"),
        "iso-cosine-noema": ("method.loss=cosine", "method.ema=0"),
        "iso-ema": ("method.loss=cosine",)}


def real_runs(tier: str) -> list[RunSpec]:
    """One run per arm and seed (the cpu tier; the smoke base is kept for tests)."""
    config, over = REAL_BASE[tier]
    return [RunSpec(config, (*over, *extra), s, arm) for arm, extra in ARMS.items()
            for s in SEEDS]


@prediction("isoloss.real_no_ema",
            "On a real network IsoLoss without an EMA target does not collapse: BYOL with a "
            "DirectPred predictor, no EMA, reaches a higher linear probe with IsoLoss than with "
            "the cosine loss, and one not below the cosine loss with EMA (within 2 standard "
            "errors).",
            source("Sec. 5 (IsoLoss removes the need for EMA)"), "training",
            tiers=("cpu",), runs=real_runs,
            why_not="needs real images: on the digits of the smoke tier (10 epochs) the seeds "
                    "spread too much to separate the arms (IsoLoss - cosine without EMA "
                    "+0.14 +- 0.08 when tried); the paper tier's setting is not carried")
def real_no_ema(ctx: Context) -> Outcome:
    """Probe accuracy (judged) and backbone RankMe (reported) per arm."""
    from dynamics.predictions.run_data import collapse, linear_accuracy

    acc, rank = {}, {}
    for arm in ARMS:
        folders = ctx.folders(arm)
        acc[arm] = [a for a in (linear_accuracy(f) for f in folders) if a is not None]
        rank[arm] = [r for r in (collapse(f).get("rankme_backbone") for f in folders)
                     if r is not None]
        if not acc[arm]:
            return Outcome.not_run(f"no finished {arm} run with a linear probe")
    d_acc, se_acc, worse_acc = compare_means(acc["iso-ema"], acc["iso-noema"])
    d_ctl, se_ctl, beats_ctl = compare_means(acc["iso-noema"], acc["iso-cosine-noema"])
    ok = beats_ctl and not worse_acc
    means = {arm: (mean_std(acc[arm])[0], mean_std(rank[arm])[0] if rank[arm] else np.nan)
             for arm in ARMS}

    def draw(axes):
        x = np.arange(len(ARMS))
        axes[0].bar(x, [means[a][0] for a in ARMS], yerr=[mean_std(acc[a])[1] for a in ARMS])
        axes[0].set_xticks(x, list(ARMS), fontsize=7)
        axes[0].set_ylabel("linear-probe accuracy")
    fig = save_figure(ctx.figure("isoloss.real_no_ema"), draw)
    return Outcome.judged(
        ok, theory="without EMA IsoLoss beats the cosine loss and matches the cosine loss with "
                   "EMA (no collapse)",
        measured="; ".join(f"{a}: probe {m[0]:.3f}, RankMe {m[1]:.1f}" for a, m in means.items())
                 + f" (IsoLoss - cosine, both no EMA: {d_ctl:+.3f} +- {se_ctl:.3f}; cosine with "
                   f"EMA - IsoLoss no EMA: {d_acc:+.3f} +- {se_acc:.3f})",
        rule="probe: IsoLoss no-EMA above cosine no-EMA by more than 2 standard errors and not "
             "below cosine with EMA by more than 2 standard errors (3 seeds each); the backbone "
             "RankMe is reported, not judged",
        figure=fig, numbers={"accuracy": acc, "rankme_backbone": rank})

"""Real-network predictions 17-22 of Tian, Chen & Ganguli (ICML 2021): which predictor, EMA and
weight-decay settings work and which collapse, each judged over seeds by the difference of
mean linear-probe accuracies (> 2 standard errors), at the cpu (CIFAR-10) and paper tiers. The
arms and base configs are those of :mod:`dynamics.theories.directpred.predictions.training`."""

from __future__ import annotations

from dynamics.plots.prediction_figure import save_figure
from dynamics.theories.directpred import PAPER
from dynamics.theories.directpred.predictions.training import (
    _REAL,
    _WHY,
    _accuracies,
    _better,
    arms,
)
from dynamics.verify.prediction import Context, Outcome, compare_means, fmt, mean_std
from dynamics.verify.registry import prediction
from dynamics.verify.run_data import collapse


def _rankme(ctx: Context, label: str) -> list[float]:
    return [collapse(f).get("rankme_projector") for f in ctx.folders(label)]


def _all_of(parts: list[Outcome], pid: str, ctx: Context, labels: list[str], theory: str,
            rule: str) -> Outcome:
    """One outcome from several comparisons: confirmed only if every part is."""
    ok = all(p.status == "confirmed" for p in parts)
    acc = {a: mean_std(_accuracies(ctx, a))[0] for a in labels}
    fig = save_figure(ctx.figure(pid), lambda axes: (
        axes[0].bar(labels, [acc[a] for a in labels],
                    yerr=[mean_std(_accuracies(ctx, a))[1] for a in labels]),
        axes[0].set_ylabel("linear-probe accuracy"),
        axes[0].tick_params(axis="x", labelrotation=30, labelsize=7)))
    return Outcome.judged(ok, theory=theory, measured=acc, rule=rule,
                          details="; ".join(p.details for p in parts), figure=fig,
                          numbers={f"{a}_acc": v for a, v in acc.items()})


@prediction("directpred.collapse_without_predictor_or_stopgrad",
            "Without a predictor, or without the stop-gradient, BYOL collapses: probe accuracy "
            "falls far below the linear predictor's and the representation's rank shrinks.",
            PAPER.cite("Theorem 2 (prediction 17)"), "training", tiers=_REAL, why_not=_WHY,
            runs=arms("linear", "no_predictor", "no_stopgrad"))
def collapse_without(ctx: Context) -> Outcome:
    """Accuracy of linear vs each collapsing arm; RankMe of the projector output beside."""
    parts = [_better(ctx, "directpred.collapse_without_predictor_or_stopgrad", "linear", arm,
                     "collapse", draw=False) for arm in ("no_predictor", "no_stopgrad")]
    out = _all_of(parts, "directpred.collapse_without_predictor_or_stopgrad", ctx,
                  ["linear", "no_predictor", "no_stopgrad"], "collapse (chance-level probe, "
                  "rank -> small)", "acc(linear) - acc(arm) > 2 SE for both arms")
    out.numbers.update({f"{a}_rankme": mean_std(_rankme(ctx, a))[0]
                        for a in ("linear", "no_predictor", "no_stopgrad")})
    return out


@prediction("directpred.symmetric_needs_ema",
            "A symmetric linear predictor without EMA collapses, and works with EMA.",
            PAPER.cite("Table 3 (prediction 18)"), "training", tiers=_REAL, why_not=_WHY,
            runs=arms("symmetric_ema", "symmetric_noema"))
def symmetric_needs_ema(ctx: Context) -> Outcome:
    """Accuracy with EMA vs without (symmetric predictor)."""
    return _better(ctx, "directpred.symmetric_needs_ema", "symmetric_ema", "symmetric_noema",
                   "EMA works (~75% STL-10), no EMA collapses (~36%)")


@prediction("directpred.symmetric_rescues",
            "Without EMA, a symmetric predictor is rescued by predictor-only weight decay and "
            "by a larger predictor learning rate (alpha_p > 1).",
            PAPER.cite("Table 5, Fig. 6 (prediction 19)"), "training", tiers=_REAL,
            why_not=_WHY, runs=arms("symmetric_noema", "symmetric_noema_pwd",
                                    "symmetric_noema_alpha"))
def symmetric_rescues(ctx: Context) -> Outcome:
    """Both rescues beat the plain symmetric no-EMA arm."""
    pid = "directpred.symmetric_rescues"
    parts = [_better(ctx, pid, arm, "symmetric_noema", "rescued", draw=False)
             for arm in ("symmetric_noema_pwd", "symmetric_noema_alpha")]
    return _all_of(parts, pid, ctx, ["symmetric_noema", "symmetric_noema_pwd",
                                     "symmetric_noema_alpha"],
                   "both rescues work (Table 5: ~71-73%)",
                   "acc(rescue) - acc(symmetric_noema) > 2 SE for both rescues")


@prediction("directpred.weight_decay_window",
            "No weight decay degrades BYOL, and a very large weight decay collapses it.",
            PAPER.cite("Table 2 and Observation 5 (prediction 20)"), "training", tiers=_REAL,
            why_not=_WHY, runs=arms("linear", "no_wd", "big_wd"))
def weight_decay_window(ctx: Context) -> Outcome:
    """linear (eta_bar 4e-4) beats no weight decay and a 0.05 weight decay."""
    pid = "directpred.weight_decay_window"
    parts = [_better(ctx, pid, "linear", arm, "worse", draw=False)
             for arm in ("no_wd", "big_wd")]
    return _all_of(parts, pid, ctx, ["no_wd", "linear", "big_wd"],
                   "no wd: ~71% vs 74.5%; very large wd: collapse",
                   "acc(linear) - acc(arm) > 2 SE for both arms")


@prediction("directpred.ridge_fails",
            "Setting the predictor to the ridge-optimal solution every step fails (the "
            "predictor is 'too fast').",
            PAPER.cite("Table 1 (prediction 21)"), "training", tiers=_REAL, why_not=_WHY,
            runs=arms("linear", "ridge"))
def ridge_fails(ctx: Context) -> Outcome:
    """The learned linear predictor beats the every-step ridge predictor."""
    return _better(ctx, "directpred.ridge_fails", "linear", "ridge",
                   "ridge every step: ~35-41% vs 74-75% (STL-10)")


@prediction("directpred.directpred_works",
            "DirectPred (rho 0.3, eps 0.1) matches or beats the learned linear predictor, "
            "eps = 0.5 hurts, and DirectCopy also works.",
            PAPER.cite("Tables 6 and 8; Wang et al. 2021 (prediction 22)"), "training",
            tiers=_REAL, why_not=_WHY,
            runs=arms("linear", "directpred", "directpred_eps05", "directcopy", "no_predictor"))
def directpred_works(ctx: Context) -> Outcome:
    """acc(DirectPred) >= acc(linear) - 2 SE; acc(DirectPred) - acc(eps 0.5) > 2 SE;
    acc(DirectCopy) - acc(no predictor) > 2 SE."""
    pid = "directpred.directpred_works"
    dp, lin = _accuracies(ctx, "directpred"), _accuracies(ctx, "linear")
    diff, se, _ = compare_means(dp, lin)
    matches = Outcome.judged(bool(diff >= -2 * se), details=f"DirectPred - linear = "
                                                            f"{fmt(diff)} +- {fmt(se)}")
    parts = [matches, _better(ctx, pid, "directpred", "directpred_eps05", "eps 0.5 hurts",
                              draw=False),
             _better(ctx, pid, "directcopy", "no_predictor", "DirectCopy works", draw=False)]
    return _all_of(parts, pid, ctx, ["linear", "directpred", "directpred_eps05",
                                     "directcopy", "no_predictor"],
                   "DirectPred 77.86 vs linear 74.5-75.1 (STL-10); eps 0.5: 75.06",
                   "DirectPred >= linear - 2 SE; DirectPred - eps0.5 > 2 SE; DirectCopy - "
                   "no predictor > 2 SE")

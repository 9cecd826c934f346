"""Contrastive predictions measured on trained SimCLR networks: alignment + uniformity against
downstream accuracy (Wang & Isola 2020, check 2.5.3), RankMe ranking runs like the probe
(Garrido et al. 2023, RankMe check 2) and DCL against InfoNCE at small batch (Yeh et al. 2022,
DCL check 3).

Every run is one arm of a small grid of SimCLR settings (:func:`simclr_arm`); an arm is fully
spelled out in its overrides (loss, temperature, uniformity weight, projector width, batch), so
two predictions that need the same arm declare the same :class:`RunSpec` and can share the run.
Smoke tier: the embedded 8x8 digits, a tiny ConvNet, 40 steps, one seed (said in the details),
four runs in all; cpu tier: the 5k-image CIFAR-10 subset of ``cpu_cifar10_simclr.yaml``
(``{data_root}``), 10 epochs, 3 seeds (30 runs of about 2 minutes each on one core); paper tier:
all of CIFAR-10, ResNet-18, 100 epochs (DCL: 200), 3 seeds. Accuracy is the weighted kNN top-1
of the final encoder (the linear probe is reported beside it).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from dynamics.predictions import (
    Context,
    Outcome,
    RunSpec,
    compare_means,
    mean_std,
    prediction,
    spearman,
)
from dynamics.predictions import run_data as rd
from dynamics.predictions.plotting import save_figure

SMOKE_BASE = ("device=cpu", "model.width=8", "model.projector_hidden=32", "optim.max_steps=40",
              "eval.every_epoch=false", "eval.linear_epochs=50", "log.log_every=5")
CPU_BASE = ("data.root={data_root}", "eval.every_epoch=false", "eval.linear_epochs=100")
PAPER_BASE = ("data.root={data_root}", "data.subset=null", "data.test_subset=null",
              "model.encoder=resnet18", "model.projector_hidden=512", "eval.every_epoch=false",
              "eval.linear_epochs=50")
#: Epochs per tier (smoke: capped by optim.max_steps).
DEFAULT_EPOCHS = {"smoke": 50, "cpu": 10, "paper": 100}
DEFAULT_PROJ = {"smoke": 16, "cpu": 128, "paper": 128}
DEFAULT_BATCH = {"smoke": 128, "cpu": 64, "paper": 128}


def simclr_arm(tier: str, *, loss: str = "infonce", tau: float = 0.5, unif_weight: float = 1.0,
               proj: int | None = None, batch: int | None = None, epochs: int | None = None
               ) -> tuple[str, tuple[str, ...]]:
    """(label, overrides) of one SimCLR arm at ``tier`` (every varied knob spelled out)."""
    proj = proj or DEFAULT_PROJ[tier]
    batch = batch or DEFAULT_BATCH[tier]
    base = {"smoke": SMOKE_BASE, "cpu": CPU_BASE, "paper": PAPER_BASE}[tier]
    over = (*base, f"method.loss={loss}", f"method.tau={tau:g}",
            f"method.unif_weight={unif_weight:g}", f"model.projector_dim={proj}",
            f"optim.batch_size={batch}", f"optim.epochs={epochs or DEFAULT_EPOCHS[tier]}")
    label = f"simclr-{loss}-t{tau:g}-w{unif_weight:g}-p{proj}-b{batch}"
    return label, over


def _config(tier: str) -> str:
    return "cpu_digits_simclr.yaml" if tier == "smoke" else "cpu_cifar10_simclr.yaml"


def _seeds(tier: str) -> tuple[int, ...]:
    return (0,) if tier == "smoke" else (0, 1, 2)


def _specs(tier: str, arms: list[dict]) -> list[RunSpec]:
    out = []
    for arm in arms:
        label, over = simclr_arm(tier, **arm)
        out.extend(RunSpec(_config(tier), over, seed=s, label=label) for s in _seeds(tier))
    return out


def _finished(ctx: Context, specs: list[RunSpec]) -> tuple[list[tuple[RunSpec, Path]], str]:
    """The (spec, folder) of every run with a kNN accuracy; a reason when any is missing."""
    done, missing = [], []
    for spec in specs:
        folder = ctx.runs.get(spec)
        if folder is None or rd.knn_accuracy(folder) is None:
            missing.append(spec.name())
        else:
            done.append((spec, Path(folder)))
    reason = (f"{len(missing)} of {len(specs)} runs missing or without a kNN accuracy: "
              f"{', '.join(missing[:4])}{' ...' if len(missing) > 4 else ''}") if missing else ""
    return done, reason


def _seed_note(tier: str) -> str:
    n = len(_seeds(tier))
    return ("1 seed per arm at the smoke tier (tiny runs: the ordering is fragile)" if n == 1
            else f"{n} seeds per arm")


# ------------------------------------------------------------------ Wang & Isola 2.5.3
def _au_arms(tier: str) -> list[dict]:
    """The RankMe width arms (shared runs) plus arms of another temperature and of the
    align_uniform loss (its uniformity weight varied at cpu/paper): encoders of different
    quality, cheaply (check 2.5.3 varies tau and the loss weights)."""
    extra = ([dict(loss="align_uniform", unif_weight=1.0)] if tier == "smoke" else
             [dict(tau=0.1), dict(loss="align_uniform", unif_weight=0.3),
              dict(loss="align_uniform", unif_weight=1.0)])
    return [*_rankme_arms(tier), *extra]


def _arm_text(arm: dict) -> str:
    if arm.get("loss") == "align_uniform":
        return f"align_uniform w {arm['unif_weight']:g}"
    return ", ".join([f"InfoNCE tau {arm.get('tau', 0.5):g}"]
                     + ([f"projector {arm['proj']}"] if "proj" in arm else []))


def _au_runs(tier: str) -> list[RunSpec]:
    return _specs(tier, _au_arms(tier))


@prediction(
    "metrics.align_uniform_vs_accuracy",
    "Across a grid of contrastive encoders, lower alignment + uniformity goes with higher "
    "downstream accuracy (Spearman correlation below -0.5).",
    "Wang & Isola, ICML 2020 (arXiv 2005.10242), main scatter figure; check 2.5.3",
    "contrastive", runs=_au_runs,
)
def align_uniform_vs_accuracy(ctx: Context) -> Outcome:
    """Spearman of (L_align + L_unif at the end of training) against kNN accuracy."""
    done, reason = _finished(ctx, _au_runs(ctx.tier))
    if reason:
        return Outcome.not_run(reason)
    pts = []
    for spec, folder in done:
        row = rd.final_row(folder)
        a, u = row.get("views/alignment"), row.get("views/uniformity")
        if a is None or u is None:
            return Outcome.not_run(f"{spec.name()}: no alignment/uniformity in metrics.jsonl")
        pts.append((spec.label, a, u, rd.knn_accuracy(folder), rd.linear_accuracy(folder)))
    total = [a + u for _, a, u, _, _ in pts]
    knn = [k for *_, k, _ in pts]
    rho = spearman(total, knn)
    lin = [x for *_, x in pts]
    rho_lin = spearman(total, lin) if all(v is not None for v in lin) else math.nan
    threshold = -0.5
    passed = bool(rho < threshold)

    def draw(axes):
        sc = axes[0].scatter([p[2] for p in pts], [p[1] for p in pts], c=knn, cmap="viridis")
        axes[0].figure.colorbar(sc, ax=axes[0], label="kNN top-1")
        axes[0].set(xlabel="L_uniform (t=2)", ylabel="L_align (alpha=2)",
                    title="encoders (colour: accuracy)")
        axes[1].scatter(total, knn)
        axes[1].set(xlabel="L_align + L_uniform", ylabel="kNN top-1",
                    title=f"Spearman {rho:.2f}")

    fig = save_figure(ctx.figure("metrics.align_uniform_vs_accuracy"), draw, ncols=2)
    return Outcome.judged(
        passed, theory=f"Spearman(L_align + L_unif, accuracy) < {threshold}",
        measured=f"Spearman {rho:.3f} over {len(pts)} runs (linear probe: {rho_lin:.3f})",
        rule=f"Spearman rank correlation of (L_align + L_uniform) with kNN top-1 over all runs "
             f"< {threshold}",
        details=f"SimCLR arms: {'; '.join(_arm_text(a) for a in _au_arms(ctx.tier))} "
                f"({_seed_note(ctx.tier)}); L_align, L_uniform of the normalised projector "
                f"outputs of the last logged training batch; kNN on the backbone features",
        figure=fig, numbers={"spearman": rho, "spearman_linear": rho_lin,
                             "points": [dict(zip(("label", "align", "unif", "knn", "linear"),
                                                 p, strict=True)) for p in pts]})


# ------------------------------------------------------------------ RankMe check 2
def _rankme_arms(tier: str) -> list[dict]:
    widths = (2, 16, 64) if tier == "smoke" else (4, 16, 128)
    return [dict(proj=w) for w in widths]


def _rankme_runs(tier: str) -> list[RunSpec]:
    return _specs(tier, _rankme_arms(tier))


@prediction(
    "metrics.rankme_ranks_runs",
    "Within one method, the RankMe of the learned representations ranks runs like their "
    "downstream accuracy (Spearman > 0.7), here for SimCLR runs of decreasing projector width.",
    "Garrido, Balestriero, Najman & LeCun, ICML 2023 (arXiv 2210.02885); RankMe check 2",
    "contrastive", runs=_rankme_runs,
)
def rankme_ranks_runs(ctx: Context) -> Outcome:
    """Spearman of the backbone RankMe (test images) against kNN accuracy over all runs."""
    done, reason = _finished(ctx, _rankme_runs(ctx.tier))
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

    fig = save_figure(ctx.figure("metrics.rankme_ranks_runs"), draw)
    widths = [a["proj"] for a in _rankme_arms(ctx.tier)]
    return Outcome.judged(
        passed, theory=f"Spearman(RankMe, accuracy) > {threshold}",
        measured=f"Spearman {rho:.3f} over {len(pts)} runs",
        rule=f"Spearman rank correlation of RankMe with kNN top-1 over all runs > {threshold}",
        details=f"SimCLR InfoNCE (tau 0.5), projector width {widths} ({_seed_note(ctx.tier)}); "
                f"RankMe ({key}) of the backbone features"
                + (" of the un-augmented test images" if key.endswith("test") else
                   " of recent augmented training samples"),
        figure=fig, numbers={"spearman": rho, "points": [
            {"label": lab, "rankme": r, "knn": k} for lab, r, k in pts]})


# ------------------------------------------------------------------ DCL check 3
BATCHES = (32, 256)
#: One temperature for both losses (the DCL reference code's default), so the loss is the only
#: difference between the arms.
DCL_TAU = 0.1


def _dcl_arms(tier: str) -> list[dict]:
    epochs = 200 if tier == "paper" else None
    return [dict(loss=loss, tau=DCL_TAU, batch=b, epochs=epochs)
            for b in BATCHES for loss in ("dcl", "infonce")]


def _dcl_runs(tier: str) -> list[RunSpec]:
    return _specs(tier, _dcl_arms(tier)) if tier != "smoke" else []


@prediction(
    "contrastive.dcl_small_batch",
    "Decoupled contrastive learning beats InfoNCE (SimCLR) at small batch size, and the gap "
    "shrinks as the batch grows.",
    "Yeh et al., ECCV 2022 (arXiv 2110.06848), small-batch CIFAR-10 table; DCL check 3",
    "contrastive", tiers=("cpu", "paper"), runs=_dcl_runs,
    why_not="needs real images (CIFAR-10) and 3 seeds per arm: cpu and paper tiers only",
)
def dcl_small_batch(ctx: Context) -> Outcome:
    """kNN accuracy of DCL vs InfoNCE at batch 32 and 256, 3 seeds each."""
    if ctx.quick:
        return Outcome.not_run("needs real images: cpu and paper tiers only")
    done, reason = _finished(ctx, _dcl_runs(ctx.tier))
    if reason:
        return Outcome.not_run(reason)
    acc: dict[tuple[str, int], list[float]] = {}
    for spec, folder in done:
        loss = next(o.split("=")[1] for o in spec.overrides if o.startswith("method.loss="))
        batch = int(next(o.split("=")[1] for o in spec.overrides
                         if o.startswith("optim.batch_size=")))
        acc.setdefault((loss, batch), []).append(rd.knn_accuracy(folder))
    gaps = {b: compare_means(acc[("dcl", b)], acc[("infonce", b)]) for b in BATCHES}
    small, large = BATCHES[0], BATCHES[-1]
    passed = gaps[small][2] and gaps[small][0] > gaps[large][0]

    def draw(axes):
        for loss, c in (("dcl", "C0"), ("infonce", "C1")):
            ms = [mean_std(acc[(loss, b)]) for b in BATCHES]
            axes[0].errorbar(BATCHES, [m for m, _ in ms], yerr=[s for _, s in ms], fmt="o-",
                             color=c, label=loss, capsize=3)
        axes[0].set(xscale="log", xlabel="batch size", ylabel="kNN top-1 (mean +- std)",
                    title="DCL vs InfoNCE")
        axes[0].legend(fontsize=7)

    fig = save_figure(ctx.figure("contrastive.dcl_small_batch"), draw)
    return Outcome.judged(
        passed, theory="DCL > InfoNCE at small batch; the gap shrinks with the batch",
        measured="; ".join(f"batch {b}: DCL - InfoNCE {g[0]:+.4f} +- {g[1]:.4f}"
                           for b, g in gaps.items()),
        rule=f"at batch {small} the mean kNN gap DCL - InfoNCE exceeds 2 standard errors "
             f"(compare_means over seeds), and it is larger than the gap at batch {large}",
        details=f"SimCLR on CIFAR-10 ({_seed_note(ctx.tier)}), tau {DCL_TAU} for both losses, "
                f"the same epochs and learning rate at every batch; "
                + ", ".join(f"{k[0]} b{k[1]}: {np.round(v, 4).tolist()}"
                            for k, v in sorted(acc.items())),
        figure=fig, numbers={"knn": {f"{k[0]}_b{k[1]}": v for k, v in acc.items()},
                             "gap": {b: g[0] for b, g in gaps.items()},
                             "gap_se": {b: g[1] for b, g in gaps.items()}})

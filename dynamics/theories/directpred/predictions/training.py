"""Real-network predictions 13-22 of Tian, Chen & Ganguli (ICML 2021), measured in training runs.

Every prediction names the *arms* it compares (a predictor / EMA / weight-decay setting, one run
per seed). The arms share one base config per tier:

* ``smoke`` -- BYOL on the embedded sklearn digits, a small ConvNet, 4 epochs, 3 seeds:
  seconds per run; only the dynamics predictions (13-16) run here;
* ``cpu``   -- BYOL on 5k CIFAR-10 images (``--data-root``), ConvNet, 40 epochs, 3 seeds
  (``experiments/train/cpu_cifar10_byol_linear.yaml``): about 5 minutes per run on one core;
* ``gpu``   -- all of CIFAR-10, ResNet-18 (``paper_table8_cifar10.yaml`` with the linear
  predictor), 15 epochs, 3 seeds: about ten minutes of one GPU in all; only the dynamics
  predictions of the linear predictor (13-16) run here;
* ``paper`` -- the paper's STL-10 / ResNet-18 / 100-epoch setting (``paper_table3.yaml``),
  3 seeds (the paper: 5), on a GPU.

Measure what the claim is about: the symmetry and PSD-ness of a learned Wp are judged on the
subspace that carries data (the eigenvectors of F whose eigenvalue exceeds
:data:`~dynamics.train.metric_groups.data_subspace.DATA_FRACTION` of the largest, logged
every row by that metric group; in the other directions the random initial weights
only shrink by weight decay), with the full-matrix values beside them; the log p vs log s
slope is reported as a time course. Accuracy comparisons use the rule of
:func:`~dynamics.verify.prediction.compare_means` (difference of means > 2 standard errors).
"""

from __future__ import annotations

import numpy as np

from dynamics.plots.prediction_figure import save_figure
from dynamics.theories.directpred import PAPER
from dynamics.verify.prediction import Context, Outcome, RunSpec, compare_means, fmt, mean_std
from dynamics.verify.registry import prediction
from dynamics.verify.run_data import series, spectra

SEEDS = (0, 1, 2)

#: Base config and overrides per tier.
BASE = {
    "smoke": ("cpu_digits_byol_linear.yaml",
              ("optim.epochs=4", "model.width=16", "eval.linear_epochs=10",
               "eval.every_epoch=false", "log.log_every=2")),
    "cpu": ("cpu_cifar10_byol_linear.yaml", ("data.root={data_root}",)),
    "gpu": ("paper_table8_cifar10.yaml",
            ("data.dataset=folder", "data.root={data_root}", "predictor.kind=linear",
             "optim.epochs=15",
             "eval.every_epoch=false", "eval.linear_epochs=20", "checkpoint_every=5")),
    "paper": ("paper_table3.yaml", ("data.root={data_root}",)),
}
#: The tiers of the dynamics predictions of the linear predictor (13-16): every tier.
DYNAMICS_TIERS = ("smoke", "cpu", "gpu", "paper")
#: The arms: label -> overrides on the tier's base config.
ARMS = {
    "linear": (),
    "symmetric_ema": ("predictor.kind=symmetric",),
    "symmetric_noema": ("predictor.kind=symmetric", "method.ema=0"),
    "symmetric_noema_pwd": ("predictor.kind=symmetric", "method.ema=0",
                            "optim.weight_decay=0", "optim.predictor_weight_decay=0.0004"),
    "symmetric_noema_alpha": ("predictor.kind=symmetric", "method.ema=0",
                              "optim.predictor_lr_mult=10"),
    # the alpha_p sweep of Fig. 6 (symmetric predictor, no EMA): alpha_p = 0.3 and 3 beside
    # symmetric_noema (alpha_p = 1) and symmetric_noema_alpha (alpha_p = 10)
    "symmetric_noema_alpha03": ("predictor.kind=symmetric", "method.ema=0",
                                "optim.predictor_lr_mult=0.3"),
    "symmetric_noema_alpha3": ("predictor.kind=symmetric", "method.ema=0",
                               "optim.predictor_lr_mult=3"),
    "no_predictor": ("predictor.kind=none",),
    "no_stopgrad": ("method.stop_grad=false", "method.ema=0"),
    "no_wd": ("optim.weight_decay=0",),
    "big_wd": ("optim.weight_decay=0.05",),
    "ridge": ("predictor.kind=ridge",),
    "directpred": ("predictor.kind=directpred", "predictor.eps=0.1"),
    "directpred_eps05": ("predictor.kind=directpred", "predictor.eps=0.5"),
    "directcopy": ("predictor.kind=directcopy",),
}
_REAL = ("cpu", "paper")
_WHY = "needs real images and longer training: the cpu tier (CIFAR-10) or the paper tier"


def arms(*labels: str):
    """``runs(tier)`` of the given arms: one RunSpec per arm and seed."""
    def runs(tier: str) -> list[RunSpec]:
        config, base = BASE[tier]
        return [RunSpec(config, base + ARMS[a], s, a) for a in labels for s in SEEDS]
    return runs


def _accuracies(ctx: Context, label: str) -> list[float]:
    from dynamics.verify.run_data import linear_accuracy

    return [linear_accuracy(f) for f in ctx.folders(label)]


def _start_end(ctx: Context, label: str, key: str) -> tuple[list[float], list[float]]:
    starts, ends = [], []
    for folder in ctx.folders(label):
        _, v = series(folder, key)
        if v.size:
            starts.append(float(v[0]))
            ends.append(float(v[-1]))
    return starts, ends


def _plot_series(ctx: Context, pid: str, label: str, keys: list[str], ylabel: str) -> str:
    def draw(axes):
        for ax, key in zip(axes, keys, strict=True):
            for folder in ctx.folders(label):
                e, v = series(folder, key)
                ax.plot(e, v, lw=1)
            ax.set_xlabel("epoch")
            ax.set_ylabel(key if len(keys) > 1 else ylabel)
    return save_figure(ctx.figure(pid), draw, ncols=len(keys), title=f"{pid} ({label}, "
                                                                    f"{len(SEEDS)} seeds)")


@prediction("directpred.eigenspace_alignment",
            "During BYOL training with a linear predictor, the predictor's eigenspace aligns "
            "with that of F: the weighted mean_j cos(Wp u_j, u_j) over F's modes rises.",
            PAPER.cite("Theorem 3, Fig. 2 (prediction 13)"), "training",
            runs=arms("linear"), tiers=DYNAMICS_TIERS)
def eigenspace_alignment(ctx: Context) -> Outcome:
    """Weighted alignment at the first vs the last logged step, over seeds."""
    starts, ends = _start_end(ctx, "linear", "predictor/weighted_alignment")
    diff, se, ok = compare_means(ends, starts)
    fig = _plot_series(ctx, "directpred.eigenspace_alignment", "linear",
                       ["predictor/weighted_alignment"], "weighted alignment")
    return Outcome.judged(ok, theory="rises towards 1",
                          measured={"start": mean_std(starts)[0], "end": mean_std(ends)[0]},
                          rule="end - start > 2 standard errors (over seeds)",
                          details=f"end - start = {fmt(diff)} +- {fmt(se)} (SE)", figure=fig,
                          numbers={"start_mean": mean_std(starts)[0],
                                   "end_mean": mean_std(ends)[0],
                                   "end_std": mean_std(ends)[1]})


@prediction("directpred.predictor_symmetric_psd",
            "A freely trained linear predictor becomes nearly symmetric and positive "
            "semi-definite on the subspace that carries data.",
            PAPER.cite("Sec. 3 / Fig. 2 column 4 (prediction 14)"), "training",
            runs=arms("linear"), tiers=DYNAMICS_TIERS)
def predictor_symmetric_psd(ctx: Context) -> Outcome:
    """Asymmetry ||skew|| / ||sym|| and min eig / max |eig| of the symmetric part of Wp on F's
    data subspace (logged every row by the ``predictor_data`` metric group: the eigenvectors
    of F above 1% of its largest eigenvalue), first and last row, full-matrix values beside."""
    keys = {"asym": "predictor/data_asymmetry", "lmin": "predictor/data_min_eig",
            "asym_full": "predictor/asymmetry", "lmin_full": "predictor/min_sym_eigenvalue"}
    start, end = {}, {}
    for name, key in keys.items():
        start[name], end[name] = _start_end(ctx, "linear", key)
    if not end["asym"]:
        return Outcome.not_run("the runs logged no predictor/data_* columns")
    ok = max(end["asym"]) < 0.25 and mean_std(end["lmin"])[0] > -0.05
    m = {f"{k}_{when}": mean_std(v[k])[0] for when, v in (("start", start), ("end", end))
         for k in keys}

    def draw(axes):
        for ax, (k_sub, k_full, label) in zip(axes, [("asym", "asym_full", "||skew|| / ||sym||"),
                                                     ("lmin", "lmin_full",
                                                      "min eig / max |eig| (sym part)")],
                                             strict=True):
            ax.bar(["start\nfull", "end\nfull", "start\ndata", "end\ndata"],
                   [m[f"{k_full}_start"], m[f"{k_full}_end"], m[f"{k_sub}_start"],
                    m[f"{k_sub}_end"]])
            ax.set_ylabel(label)
    fig = save_figure(ctx.figure("directpred.predictor_symmetric_psd"), draw, ncols=2,
                      title="directpred.predictor_symmetric_psd (linear predictor, mean over "
                            "seeds; data = F's eigenvectors above 1% of the top)")
    return Outcome.judged(
        ok, theory="asymmetry -> 0, min eig(sym) -> >= 0 where the data are",
        measured={"asym_data": m["asym_end"], "min_eig_data": m["lmin_end"],
                  "asym_full": m["asym_full_end"], "min_eig_full": m["lmin_full_end"]},
        rule="at the end, on F's data subspace (eigenvalues > 1% of the largest): asymmetry "
             "< 0.25 on every seed and mean normalised min eigenvalue > -0.05",
        details=f"data subspace: asymmetry {fmt(m['asym_start'])} -> {fmt(m['asym_end'])}, "
                f"min eig {fmt(m['lmin_start'])} -> {fmt(m['lmin_end'])}; full matrix: "
                f"asymmetry {fmt(m['asym_full_start'])} -> {fmt(m['asym_full_end'])}, min eig "
                f"(not normalised) {fmt(m['lmin_full_start'])} -> "
                f"{fmt(m['lmin_full_end'])}", figure=fig, numbers=m)


@prediction("directpred.spectra_bifurcate",
            "The eigenvalues of F bifurcate during training: some grow while others decay "
            "to ~0, and the predictor's negative eigenvalues shrink towards 0.",
            PAPER.cite("Fig. 2 columns 1-2 (prediction 15)"), "training",
            runs=arms("linear"), tiers=DYNAMICS_TIERS)
def spectra_bifurcate(ctx: Context) -> Outcome:
    """Counts of growing (x2) and vanishing (< 1e-3 of the top) modes between the first and
    last logged spectrum; most negative real eigenvalue of Wp at the start and end."""
    grow, vanish, neg0, neg1 = [], [], [], []
    for folder in ctx.folders("linear"):
        rows = [r for r in spectra(folder) if r.get("F_eigs")]
        s0, s1 = np.asarray(rows[0]["F_eigs"]), np.asarray(rows[-1]["F_eigs"])
        grow.append(int(np.sum(s1 > 2 * s0)))
        vanish.append(int(np.sum(s1 < 1e-3 * s1.max())))
        p = [r.get("predictor_eigs_real") for r in rows if r.get("predictor_eigs_real")]
        neg0.append(float(min(p[0])))
        neg1.append(float(min(p[-1])))
    ok = min(grow) >= 1 and min(vanish) >= 1 and mean_std(neg1)[0] > mean_std(neg0)[0]

    def draw(axes):
        for folder in ctx.folders("linear")[:1]:
            rows = [r for r in spectra(folder) if r.get("F_eigs")]
            ep = [r["epoch"] for r in rows]
            arr = np.asarray([r["F_eigs"] for r in rows])
            axes[0].semilogy(ep, np.maximum(arr, 1e-12), lw=0.6)
            axes[0].set_xlabel("epoch")
            axes[0].set_ylabel("eigenvalues of F")
    fig = save_figure(ctx.figure("directpred.spectra_bifurcate"), draw)
    return Outcome.judged(ok, theory="some s_j grow, others -> 0; min eig(Wp) -> 0",
                          measured={"growing": mean_std(grow)[0], "vanishing":
                                    mean_std(vanish)[0], "min_eig_start": mean_std(neg0)[0],
                                    "min_eig_end": mean_std(neg1)[0]},
                          rule="on every seed >= 1 mode grows x2 and >= 1 falls below 1e-3 of "
                               "the top; mean most negative eig(Wp) rises",
                          figure=fig, numbers={"growing_min": min(grow),
                                               "vanishing_min": min(vanish)})


@prediction("directpred.sqrt_law",
            "On aligned modes the predictor's eigenvalues follow p_j ~ sqrt(s_j): the "
            "log p vs log s slope is about 1/2 (Theorem 1 with alignment).",
            PAPER.cite("Theorem 1 + Eq. 14 (prediction 16)"), "training",
            runs=arms("linear"), tiers=DYNAMICS_TIERS)
def sqrt_law(ctx: Context) -> Outcome:
    """The slope's time course; judged after training (the spec's "after training": the
    median over the last quarter of the logged rows), the early value (first quarter)
    beside it. Theorem 1 gives p_j^2 / alpha_p = s_j + c_j e^{-2 eta t}, so the slope is 1/2
    only once s_j dominates the initial offset c_j."""
    early, late = [], []
    for folder in ctx.folders("linear"):
        _, v = series(folder, "predictor/slope")
        q = max(1, v.size // 4)
        early.append(float(np.median(v[:q])))
        late.append(float(np.median(v[-q:])))
    ok = abs(mean_std(late)[0] - 0.5) <= 0.2
    fig = _plot_series(ctx, "directpred.sqrt_law", "linear", ["predictor/slope"],
                       "slope of log p vs log s")
    return Outcome.judged(ok, theory=0.5, measured={"late": mean_std(late)[0],
                                                   "early": mean_std(early)[0]},
                          rule="mean over seeds of the late (last quarter) median slope "
                               "within 0.5 +- 0.2",
                          details=f"late {fmt(mean_std(late)[0])} +- "
                                  f"{fmt(mean_std(late)[1])} (std); the time course is in "
                                  f"the figure", figure=fig,
                          numbers={"late_mean": mean_std(late)[0],
                                   "early_mean": mean_std(early)[0]})


def _better(ctx: Context, pid: str, good: str, bad: str, claim: str, *,
            draw: bool = True) -> Outcome:
    """acc(good) - acc(bad) > 2 SE over seeds; ``draw=False`` when the caller draws one
    figure for several comparisons."""
    a, b = _accuracies(ctx, good), _accuracies(ctx, bad)
    diff, se, ok = compare_means(a, b)
    fig = None if not draw else save_figure(ctx.figure(pid), lambda axes: (
        axes[0].bar([good, bad], [mean_std(a)[0], mean_std(b)[0]],
                    yerr=[mean_std(a)[1], mean_std(b)[1]]),
        axes[0].set_ylabel("linear-probe accuracy")))
    return Outcome.judged(ok, theory=claim,
                          measured={good: mean_std(a)[0], bad: mean_std(b)[0]},
                          rule=f"acc({good}) - acc({bad}) > 2 SE over seeds",
                          details=f"difference {fmt(diff)} +- {fmt(se)} (SE); {good} "
                                  f"{fmt(mean_std(a)[0])} +- {fmt(mean_std(a)[1])}, {bad} "
                                  f"{fmt(mean_std(b)[0])} +- {fmt(mean_std(b)[1])}",
                          figure=fig, numbers={"difference": diff, "se": se})


__all__ = ["ARMS", "BASE", "SEEDS", "arms"]

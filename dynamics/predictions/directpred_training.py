"""Real-network predictions 13-22 of Tian, Chen & Ganguli (ICML 2021), measured in training runs.

Every prediction names the *arms* it compares (a predictor / EMA / weight-decay setting, one run
per seed). The arms share one base config per tier:

* ``smoke`` -- BYOL on the embedded sklearn digits, a small ConvNet, 4 epochs, 3 seeds:
  seconds per run; only the dynamics predictions (13-16) run here;
* ``cpu``   -- BYOL on 5k CIFAR-10 images (``--data-root``), ConvNet, 40 epochs, 3 seeds
  (``experiments/train/cpu_cifar10_byol_linear.yaml``): about 5 minutes per run on one core;
* ``paper`` -- the paper's STL-10 / ResNet-18 / 100-epoch setting (``paper_table3.yaml``),
  3 seeds (the paper: 5), on a GPU.

Measure what the claim is about: the symmetry and PSD-ness of a learned Wp are judged on the
subspace that carries data (the eigenvectors of F whose eigenvalue exceeds
:data:`DATA_FRACTION` of the largest; in the other directions the random initial weights
only shrink by weight decay), with the full-matrix values beside them; the log p vs log s
slope is reported as a time course. Accuracy comparisons use the rule of
:func:`~dynamics.predictions.base.compare_means` (difference of means > 2 standard errors).
"""

from __future__ import annotations

import numpy as np

from dynamics.predictions import prediction
from dynamics.predictions.base import Context, Outcome, RunSpec, compare_means, fmt, mean_std
from dynamics.predictions.plotting import save_figure
from dynamics.predictions.run_data import predictor_and_F, series, spectra

SEEDS = (0, 1, 2)
#: A direction of F belongs to the data subspace when its eigenvalue exceeds this fraction of
#: the largest one.
DATA_FRACTION = 0.01
_SOURCE = "Tian, Chen & Ganguli 2021"

#: Base config and overrides per tier.
BASE = {
    "smoke": ("cpu_digits_byol_linear.yaml",
              ("optim.epochs=4", "model.width=16", "eval.linear_epochs=10",
               "eval.every_epoch=false", "log.log_every=2")),
    "cpu": ("cpu_cifar10_byol_linear.yaml", ("data.root={data_root}",)),
    "paper": ("paper_table3.yaml", ("data.root={data_root}",)),
}
#: The arms: label -> overrides on the tier's base config.
ARMS = {
    "linear": (),
    "symmetric_ema": ("predictor.kind=symmetric",),
    "symmetric_noema": ("predictor.kind=symmetric", "method.ema=0"),
    "symmetric_noema_pwd": ("predictor.kind=symmetric", "method.ema=0",
                            "optim.weight_decay=0", "optim.predictor_weight_decay=0.0004"),
    "symmetric_noema_alpha": ("predictor.kind=symmetric", "method.ema=0",
                              "optim.predictor_lr_mult=10"),
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
    from dynamics.predictions.run_data import linear_accuracy

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
            f"{_SOURCE}, Theorem 3, Fig. 2 (prediction 13)", "training",
            runs=arms("linear"))
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


def _subspace_stats(folder) -> dict[str, float] | None:
    """Asymmetry and PSD-ness of Wp on F's data subspace and on the whole space."""
    wp, F = predictor_and_F(folder)
    if wp is None or F is None:
        return None
    s, u = np.linalg.eigh((F + F.T) / 2)
    keep = s > DATA_FRACTION * s.max()
    U = u[:, keep]

    def stats(M: np.ndarray) -> tuple[float, float]:
        sym, skew = (M + M.T) / 2, (M - M.T) / 2
        lam = np.linalg.eigvalsh(sym)
        return (float(np.linalg.norm(skew) / max(np.linalg.norm(sym), 1e-300)),
                float(lam.min() / max(abs(lam).max(), 1e-300)))

    a_sub, l_sub = stats(U.T @ wp @ U)
    a_full, l_full = stats(wp)
    return {"k": int(keep.sum()), "asym_sub": a_sub, "lmin_sub": l_sub, "asym_full": a_full,
            "lmin_full": l_full}


@prediction("directpred.predictor_symmetric_psd",
            "A freely trained linear predictor becomes nearly symmetric and positive "
            "semi-definite on the subspace that carries data.",
            f"{_SOURCE}, Sec. 3 / Fig. 2 column 4 (prediction 14)", "training",
            runs=arms("linear"))
def predictor_symmetric_psd(ctx: Context) -> Outcome:
    """Asymmetry ||skew|| / ||sym|| and lambda_min / |lambda|_max of Wp on F's data subspace."""
    stats = [s for s in (_subspace_stats(f) for f in ctx.folders("linear")) if s]
    if not stats:
        return Outcome.not_run("no linear predictor or F in the checkpoints")
    start, _ = _start_end(ctx, "linear", "predictor/asymmetry")
    a_sub = [s["asym_sub"] for s in stats]
    l_sub = [s["lmin_sub"] for s in stats]
    ok = max(a_sub) < 0.5 * mean_std(start)[0] and mean_std(l_sub)[0] > -0.05
    fig = save_figure(ctx.figure("directpred.predictor_symmetric_psd"), lambda axes: (
        axes[0].bar(["start\nfull", "end\nfull", "end\ndata subspace"],
                    [mean_std(start)[0], mean_std([s["asym_full"] for s in stats])[0],
                     mean_std(a_sub)[0]]), axes[0].set_ylabel("||skew|| / ||sym||"),
        axes[1].bar(["end\nfull", "end\ndata subspace"],
                    [mean_std([s["lmin_full"] for s in stats])[0], mean_std(l_sub)[0]]),
        axes[1].set_ylabel("min eig / max |eig| (sym part)")), ncols=2,
        title="directpred.predictor_symmetric_psd (linear predictor, mean over seeds)")
    return Outcome.judged(
        ok, theory="asymmetry -> 0, lambda_min(sym) -> >= 0",
        measured={"asym_sub": mean_std(a_sub)[0], "lmin_sub": mean_std(l_sub)[0],
                  "asym_full": mean_std([s["asym_full"] for s in stats])[0]},
        rule="on F's data subspace (eigenvalues > 1% of the largest): asymmetry below half "
             "the initial full-matrix asymmetry on every seed, and mean normalised "
             "lambda_min > -0.05",
        details=f"data subspace dims {[s['k'] for s in stats]}; initial full-matrix "
                f"asymmetry {fmt(mean_std(start)[0])}", figure=fig,
        numbers={"asym_sub_mean": mean_std(a_sub)[0], "lmin_sub_mean": mean_std(l_sub)[0]})


@prediction("directpred.spectra_bifurcate",
            "The eigenvalues of F bifurcate during training: some grow while others decay "
            "to ~0, and the predictor's negative eigenvalues shrink towards 0.",
            f"{_SOURCE}, Fig. 2 columns 1-2 (prediction 15)", "training",
            runs=arms("linear"))
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
            f"{_SOURCE}, Theorem 1 + Eq. 14 (prediction 16)", "training",
            runs=arms("linear"))
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


def _better(ctx: Context, pid: str, good: str, bad: str, claim: str) -> Outcome:
    a, b = _accuracies(ctx, good), _accuracies(ctx, bad)
    diff, se, ok = compare_means(a, b)
    fig = save_figure(ctx.figure(pid), lambda axes: (
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


__all__ = ["ARMS", "BASE", "DATA_FRACTION", "SEEDS", "arms"]

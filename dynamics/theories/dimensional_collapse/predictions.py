"""Predictions of Jing, Vincent, LeCun & Tian (ICLR 2022), "Understanding dimensional collapse in
contrastive self-supervised learning": the linear InfoNCE theory of
:mod:`dynamics.theories.dimensional_collapse.model` against SGD (the toys of
:mod:`dynamics.theories.dimensional_collapse.toys`), and SimCLR with a linear projector against
DirectCLR on real images."""

from __future__ import annotations

import numpy as np

from dynamics.plots.prediction_figure import save_figure
from dynamics.theories.dimensional_collapse import toys as ct
from dynamics.verify.prediction import Context, Outcome, RunSpec
from dynamics.verify.registry import prediction


@prediction("dimensional_collapse.augmentation_spectrum",
            "Strong augmentation suppresses a direction of a linear InfoNCE embedding: in the "
            "large-batch limit the embedding covariance's eigenvalue along a direction with data "
            "variance a and augmentation variance sigma2 is tau a/(a + sigma2) (half a clean "
            "direction's at sigma2 = a, Jing et al.'s threshold), a direction with no data "
            "variance collapses, and SGD follows the closed-form logistic modes.",
            "Jing, Vincent, LeCun & Tian 2022, Sec. 4 (strong augmentation); the large-batch "
            "closed form derived in dynamics.theories.dimensional_collapse.model", "simulation")
def augmentation_spectrum(ctx: Context) -> Outcome:
    """SGD's end spectrum and column norms against the closed form."""
    toy = ct.augmentation_toy(quick=ctx.quick)
    live = ct.A_TOY > 0
    dev = float(np.abs(toy.spectrum_sgd[live] / toy.spectrum_theory[live] - 1).max())
    traj = float(np.abs(toy.u_sgd[5:, live] / toy.u_theory[5:, live] - 1).max())
    dead = float(toy.spectrum_sgd[~live].max())
    dead_ratio = float(dead / toy.spectrum_theory[~live].max())
    dead_drop = float(toy.u_sgd[-1, ~live].max() / toy.u_sgd[0, ~live].max())
    ok = dev < 0.15 and traj < 0.25 and 0.5 < dead_ratio < 2

    def draw(axes):
        for k in range(ct.A_TOY.size):
            line, = axes[0].semilogy(toy.t, toy.u_theory[:, k], lw=1,
                                     label=f"a={ct.A_TOY[k]:g}, s2={ct.SIGMA2_TOY[k]:g}")
            axes[0].semilogy(toy.t, toy.u_sgd[:, k], "o", ms=2, color=line.get_color())
        axes[0].set_xlabel("t = lr x step")
        axes[0].set_ylabel("|W e_k|^2 (lines: theory, dots: SGD)")
        axes[0].legend(fontsize=6)
    fig = save_figure(ctx.figure("dimensional_collapse.augmentation_spectrum"), draw)
    return Outcome.judged(
        ok, theory="spectrum tau a/(a + sigma2) = "
                   + ", ".join(f"{v:.3g}" for v in toy.spectrum_theory[live])
                   + "; the a = 0 direction -> 0",
        measured="SGD " + ", ".join(f"{v:.3g}" for v in toy.spectrum_sgd[live])
                 + f"; a = 0 direction {dead:.2g} ({dead_ratio:.2f} x the algebraic decay's "
                   f"value, {dead_drop:.2g} x its start); largest deviation {dev:.1%}, along the "
                   f"trajectory {traj:.1%}",
        rule="end spectrum within 15 % and column norms within 25 % of the closed form (after "
             "the first records; SGD draws fresh samples every step); the a = 0 direction "
             "within a factor 2 of its algebraic decay u0 / (1 + 4 c^2 u0 t / tau^2) (tau "
             f"{ct.TAU_TOY:g}, batch 512, V = {toy.validity:.2f})",
        figure=fig, numbers={"spectrum_sgd": toy.spectrum_sgd.tolist(),
                             "spectrum_theory": toy.spectrum_theory.tolist(),
                             "max_rel_dev": dev, "trajectory_max_rel_dev": traj,
                             "dead_ratio": dead_ratio, "dead_drop": dead_drop})


@prediction("dimensional_collapse.two_layer_rank",
            "Implicit regularisation: with weak augmentation a one-layer linear InfoNCE network "
            "becomes full-rank, while a two-layer network started from the same product keeps "
            "its small singular values collapsed, because a mode's growth rate is proportional "
            "to its own singular value; the annealed flow and SGD agree.",
            "Jing, Vincent, LeCun & Tian 2022, Sec. 5 (two-layer linear network)", "simulation")
def two_layer_rank(ctx: Context) -> Outcome:
    """Collapsed singular values at the end: flow and SGD, one and two layers."""
    toy = ct.two_layer_toy(quick=ctx.quick)
    ok = (toy.collapsed_ode[1] == 0 and toy.collapsed_sgd[1] == 0
          and toy.collapsed_ode[2] >= 2 and toy.collapsed_sgd[2] >= 2)

    def draw(axes):
        for layers, ls in ((1, "--"), (2, "-")):
            axes[0].plot(toy.t_ode, np.log(toy.sv_ode[layers]), ls, lw=0.8,
                         color="C0" if layers == 1 else "C3")
            axes[0].plot(toy.t_sgd, np.log(toy.sv_sgd[layers]), ".", ms=1.5,
                         color="C0" if layers == 1 else "C3")
        axes[0].set_xlabel("t = lr x step")
        axes[0].set_ylabel("log singular values of W (blue: 1 layer, red: 2 layers)")
    fig = save_figure(ctx.figure("dimensional_collapse.two_layer_rank"), draw)
    return Outcome.judged(
        ok, theory=f"collapsed singular values: 1 layer {toy.collapsed_ode[1]}, 2 layers "
                   f"{toy.collapsed_ode[2]} (annealed flow)",
        measured=f"SGD: 1 layer {toy.collapsed_sgd[1]}, 2 layers {toy.collapsed_sgd[2]}; "
                 f"alignment of the two-layer net's learned modes {toy.alignment:.2f}",
        rule="no collapsed singular value (more than 4 e-folds below the largest) for one "
             "layer and at least 2 for two layers, in the flow and in SGD (d = 16, tau 0.1, "
             "noise std 1e-3, init exp(-0.35 k), batch 128, lr 0.01)",
        figure=fig, numbers={"collapsed_ode": toy.collapsed_ode,
                             "collapsed_sgd": toy.collapsed_sgd,
                             "alignment": toy.alignment})


# --------------------------------------------------------------------------------------------
# real networks: SimCLR with a linear projector against DirectCLR

SEEDS = (0, 1, 2)
D0 = 32
ARMS = {"linear": ("model.projector_kind=linear", f"model.projector_dim={D0}"),
        "directclr": ("model.projector=false", f"method.directclr_dim={D0}")}
REAL_BASE = {
    "smoke": ("cpu_digits_simclr.yaml", ("optim.epochs=5", "eval.every_epoch=false",
                                         "eval.linear_epochs=5")),
    "cpu": ("cpu_cifar10_simclr.yaml",
            ("data.root={data_root}", "optim.epochs=10", "eval.every_epoch=false",
             "eval.linear_epochs=50")),
}


def real_runs(tier: str) -> list[RunSpec]:
    """One run per arm and seed."""
    config, over = REAL_BASE[tier]
    return [RunSpec(config, (*over, *extra), s, f"dimcollapse-{arm}")
            for arm, extra in ARMS.items() for s in SEEDS]


def normalized_erank(eig: np.ndarray) -> float:
    """exp(entropy of eig / sum eig) / len(eig): 1 for a flat spectrum, 1/d for rank one
    (the Roy-Vetterli effective rank, RankMe with eps = 0, of the eigenvalues, divided by the
    dimension)."""
    import torch

    from dynamics.metrics.rank import rankme_from_singular_values

    eig = torch.from_numpy(np.ascontiguousarray(eig, dtype=float))
    return rankme_from_singular_values(eig, 0.0) / len(eig)


#: A dimension of the loss-input embedding counts as collapsed when its eigenvalue is below this
#: fraction of the largest (the floor ``feature_threshold.real_weight_decay`` uses for F).
FLOOR = 1e-3


def collapsed_dims(eig: np.ndarray, floor: float = FLOOR) -> int:
    """Eigenvalues below ``floor`` x the largest: the collapsed tail of the spectrum."""
    e = np.asarray(eig, dtype=float)
    return int(np.sum(e < floor * e.max()))


@prediction("dimensional_collapse.real_directclr",
            "On real images SimCLR with a linear projector collapses the tail of the spectrum "
            "of the embedding its loss sees, while DirectCLR (InfoNCE on the first d0 "
            "dimensions of the representation, no projector) keeps more of those d0 dimensions: "
            "fewer eigenvalues below 1e-3 of the largest.",
            "Jing, Vincent, LeCun & Tian 2022, Secs. 5-6 (linear projector, DirectCLR)",
            "training", tiers=("smoke", "cpu"), runs=real_runs,
            why_not="the paper tier's setting is not carried; the smoke (digits) and cpu "
                    "(CIFAR-10) tiers run it")
def real_directclr(ctx: Context) -> Outcome:
    """Collapsed tail (judged) and normalised effective rank (reported) of the loss-input
    embedding (probe-test images, eval mode)."""
    from dynamics.verify.prediction import compare_means, mean_std
    from dynamics.verify.run_data import loss_embedding_spectrum

    spectra, tail, eranks = {}, {}, {}
    for arm in ARMS:
        spectra[arm] = [s for s in (loss_embedding_spectrum(f)
                                    for f in ctx.folders(f"dimcollapse-{arm}")) if s is not None]
        if not spectra[arm]:
            return Outcome.not_run(f"no finished {arm} run with a checkpoint")
        tail[arm] = [collapsed_dims(s) for s in spectra[arm]]
        eranks[arm] = [normalized_erank(s) for s in spectra[arm]]
    diff, se, big = compare_means(tail["linear"], tail["directclr"])
    means = {arm: (mean_std(tail[arm])[0], mean_std(eranks[arm])[0]) for arm in ARMS}

    def draw(axes):
        for arm, color in (("linear", "C3"), ("directclr", "C0")):
            for i, s in enumerate(spectra[arm]):
                axes[0].semilogy(np.arange(1, len(s) + 1), s / s[0], color=color, lw=1,
                                 label=arm if i == 0 else None)
        axes[0].axhline(FLOOR, color="k", ls=":", lw=0.8)
        axes[0].set_xlabel("index")
        axes[0].set_ylabel("eigenvalue / largest (loss-input embedding)")
        axes[0].legend(fontsize=7)
    fig = save_figure(ctx.figure("dimensional_collapse.real_directclr"), draw)
    return Outcome.judged(
        big, theory="a linear projector collapses more of its output's tail than DirectCLR "
                    "does of its d0 dimensions",
        measured=f"collapsed dimensions (of {D0}): linear projector {means['linear'][0]:.1f}, "
                 f"DirectCLR {means['directclr'][0]:.1f} (difference {diff:.1f} +- {se:.1f}); "
                 f"normalised effective rank beside: linear {means['linear'][1]:.3f}, "
                 f"DirectCLR {means['directclr'][1]:.3f}",
        rule=f"eigenvalues below {FLOOR:g} of the largest: linear projector more than DirectCLR "
             f"by more than 2 standard errors ({len(SEEDS)} seeds each; both embeddings "
             f"{D0}-dimensional); the effective rank (weighted by the top of the spectrum) is "
             f"reported, not judged",
        figure=fig, numbers={"collapsed_dims": tail, "erank": eranks})

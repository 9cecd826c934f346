"""Covariance operator of Tian, Yu, Chen & Ganguli 2020 (Thm. 1): its spectrum for a SimCLR
network at initialisation and after contrastive training, measured on a fixed batch of the
run's images.

For a layer l with the ReLU gates fixed, f_L(x) = K_l(x)^T vec(W_l) with the connection
K_l(x) = f_{l-1}(x) kron J_l(x)^T, and the expected simple-contrastive update is
vec(dW_l) = eta OP_l vec(W_l), OP_l = V_{x0}[Kbar_l(x0)], Kbar_l(x0) = E_aug[K_l(x) | x0]
(:mod:`dynamics.theories.dual_networks.operator`). For the projector's last layer (linear, on top:
J_L = I) this is exact without any linear-network assumption:

    OP_L = Sigma_bar_g kron I_{n_L},   Sigma_bar_g = V_{x0}[ E_aug g(x) ],

with g the projector's hidden layer (the input of that layer; its bias is a constant input of
zero variance). So the eigenvalues of OP_L are those of Sigma_bar_g, each n_L times. Panel (a)
draws them; panel (b) draws the same augmentation-averaged covariance for the backbone
features h (the representation the probes read, and the input factor of the operator of the
projector's first layer). Both come from
:func:`dynamics.theories.dual_networks.operator.augmentation_averaged_covariance` on an (N images, A
views, d) array, i.e. exactly the operator of that finite sample x augmentation set. Eigenvalues are
divided by their sum (the trace), so the two networks are compared by shape, not scale.
Panel (c): the share of the feature variance that survives augmentation averaging,
tr Sigma_bar / tr Sigma_total, with Sigma_total the covariance over all N A views (same
function, one view per group): OP amplifies directions that vary across images but are stable
under augmentation, so training should raise it.

Networks: the run's own architecture built from its ``config.yaml`` with the run's seed (the
trainer's seeding: ``seed_everything(seed)`` then ``build_method_for``, the weights the run
started from, as ``ssl-dynamics eval --random-init`` builds them) and the same architecture with
``checkpoints/last.pt``. Fixed batch: ``N_IMAGES`` images drawn (seeded) from the run's
pre-training set, ``N_VIEWS`` views each from the run's augmentation recipe (seeded, the same
views for both networks). Forward passes as the training step computes them: train-mode
BatchNorm with batch statistics over batches of ``optim.batch_size`` different images (no
gradient; the running statistics of these throw-away copies change, nothing is written).

Effective rank: the participation ratio (sum lambda)^2 / sum lambda^2
(:func:`dynamics.metrics.participation_ratio`); concentration: the share of the top eigenvalue.
Runs: the InfoNCE arm (tau 0.5, the tier's default projector and batch) of the SimCLR grid of
``alignment_uniformity.vs_accuracy`` / ``rank_metrics.rankme_ranks_runs``, every seed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from dynamics.plots import style
from dynamics.plots.base import FigureContext, FigureResult, figure

#: Images and augmented views per image of the fixed batch, by ``quick``.
N_IMAGES = {True: 256, False: 1024}
N_VIEWS = {True: 8, False: 8}
BATCH_SEED = 1234
#: The feature layers compared: (key, label, panel).
LAYERS = (("g", "projector hidden g (input of the top layer)", "a"),
          ("h", "backbone features h", "b"))


def runs(tier: str) -> list:
    """The InfoNCE arm (tau 0.5) of the contrastive SimCLR grid at ``tier``: the same
    :class:`~dynamics.verify.prediction.RunSpec` objects as ``rank_metrics.rankme_ranks_runs``."""
    from dynamics.verify.recipes import simclr_arm
    from dynamics.verify.registry import PREDICTIONS

    label = simclr_arm(tier)[0]
    return [s for s in PREDICTIONS["rank_metrics.rankme_ranks_runs"].runs_for(tier)
            if s.label == label]


def _networks(folder: Path) -> tuple[Any, Any, Any, Any]:
    """(cfg, data, initial method, trained method) of one run folder."""
    from dynamics.train.data.run_images import load_run_data
    from dynamics.train.run_folder import load_checkpoint, load_method_state, require_run_dir
    from dynamics.train.setup import build_method_for, seed_everything

    run = require_run_dir(folder)
    cfg = run.read_config()
    data = load_run_data(cfg)
    dev = torch.device("cpu")
    seed_everything(cfg.seed)
    init = build_method_for(cfg, data.in_shape, dev)
    trained = build_method_for(cfg, data.in_shape, dev)
    load_method_state(trained, load_checkpoint(run.last)["method"])
    return cfg, data, init, trained


def _fixed_batch(data: Any, n_images: int, n_views: int) -> torch.Tensor:
    """(A, N, C, H, W) augmented views of N seeded images of the pre-training set."""
    images = data.pretrain.images
    g = torch.Generator().manual_seed(BATCH_SEED)
    idx = torch.randperm(images.shape[0], generator=g)[:min(n_images, images.shape[0])]
    x = images[idx]
    return torch.stack([data.recipe(x, g) for _ in range(n_views)])


@torch.no_grad()
def _features(method: Any, views: torch.Tensor, batch: int) -> dict[str, torch.Tensor]:
    """Backbone h and projector-hidden g of every view, float64 (N, A, d), train-mode BN over
    batches of ``batch`` different images (as a training step sees them)."""
    method.train()
    hidden = method.projector[:-1]  # Linear -> BN -> ReLU: the input of the last Linear
    out: dict[str, list] = {"h": [], "g": []}
    for views_a in views:  # one pass over the N images per augmentation
        hs, gs = [], []
        for start in range(0, views_a.shape[0], batch):
            h = method.encoder(views_a[start:start + batch])
            hs.append(h)
            gs.append(hidden(h))
        out["h"].append(torch.cat(hs))
        out["g"].append(torch.cat(gs))
    return {k: torch.stack(v, dim=1).double() for k, v in out.items()}


def covariances(feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(Sigma_bar, Sigma_total) of an (N images, A views, d) array: the covariance of the
    augmentation-averaged features V_{x0}[E_aug f] and that of all N A views, both by
    :func:`~dynamics.theories.dual_networks.operator.augmentation_averaged_covariance` (population
    normalisation; Sigma_total with one view per group)."""
    from dynamics.theories.dual_networks.operator import augmentation_averaged_covariance

    n, a, d = feats.shape
    return (augmentation_averaged_covariance(feats),
            augmentation_averaged_covariance(feats.reshape(n * a, 1, d)))


def spectrum_stats(feats: torch.Tensor) -> dict[str, Any]:
    """Eigenvalues of Sigma_bar = V_{x0}[E_aug f] (descending, divided by the trace) and the
    numbers drawn: participation ratio, the shares of the top eigenvalue and of the tail
    (the eigenvalues after the first d // 4), the invariant variance share
    tr Sigma_bar / tr Sigma_total and, per eigenvector v_k of Sigma_bar,
    lambda_k / (v_k^T Sigma_total v_k) (the share of the variance along v_k that survives
    augmentation averaging; in [0, 1] since Sigma_total = Sigma_bar + E_{x0}[V_aug] on the
    finite set)."""
    from dynamics.metrics.rank import participation_ratio

    d = feats.shape[-1]
    sig_bar, sig_tot = covariances(feats)
    lam_t, vec_t = torch.linalg.eigh(sig_bar)
    lam_t, vec_t = lam_t.flip(0).clamp_min(0), vec_t.flip(1)
    tot_k = torch.einsum("ik,ij,jk->k", vec_t, sig_tot, vec_t)
    lam = lam_t.numpy()
    trace = float(lam.sum())
    tail = max(1, d // 4)
    return {"eig": lam / trace, "pr": participation_ratio(lam), "top1": float(lam[0] / trace),
            "tail": float(lam[tail:].sum() / trace), "tail_k": tail,
            "invariant_share": float(torch.trace(sig_bar) / torch.trace(sig_tot)),
            "inv_k": (lam_t / tot_k.clamp_min(1e-300)).numpy(), "dim": d}


def measure_run(folder: Path, quick: bool) -> dict[str, dict[str, dict[str, Any]]]:
    """``{"init"|"trained": {layer: spectrum_stats}}`` of one run folder."""
    cfg, data, init, trained = _networks(folder)
    views = _fixed_batch(data, N_IMAGES[quick], N_VIEWS[quick])
    return {name: {k: spectrum_stats(v) for k, v in
                   _features(net, views, int(cfg.optim.batch_size)).items()}
            for name, net in (("init", init), ("trained", trained))}


def _rises(a: float, b: float) -> str:
    return "rises" if b > a else "falls"


def _summarise(res: list[dict]) -> dict[str, float | str]:
    """Seed means (and sample std over seeds) of every scalar of :func:`spectrum_stats`."""
    numbers: dict[str, float | str] = {}
    for layer, *_ in LAYERS:
        for name in ("init", "trained"):
            for stat in ("pr", "top1", "tail", "invariant_share"):
                vals = [r[name][layer][stat] for r in res]
                numbers[f"{layer}_{name}_{stat}"] = float(np.mean(vals))
                if len(vals) > 1:
                    numbers[f"{layer}_{name}_{stat}_std"] = float(np.std(vals, ddof=1))
        # directions whose trace-normalised eigenvalue grew (seed means; the last one, ~0 as
        # the rank of N centred images is N - 1 at most, is left out)
        e0 = np.mean([r["init"][layer]["eig"] for r in res], axis=0)[:-1]
        e1 = np.mean([r["trained"][layer]["eig"] for r in res], axis=0)[:-1]
        grown = e1 > e0
        numbers[f"{layer}_grown_n"] = float(grown.sum())
        numbers[f"{layer}_grown_init_share"] = float(e0[grown].sum())
        numbers[f"{layer}_grown_trained_share"] = float(e1[grown].sum())
        if grown.any():
            numbers[f"{layer}_grown_kmin"] = float(np.flatnonzero(grown)[0] + 1)
            numbers[f"{layer}_grown_kmax"] = float(np.flatnonzero(grown)[-1] + 1)
        numbers[f"{layer}_dim"] = float(res[0]["init"][layer]["dim"])
        numbers[f"{layer}_tail_k"] = float(res[0]["init"][layer]["tail_k"])
    return numbers


def draw(out_dir: Path, res: list[dict], numbers: dict, names: dict, note: str) -> list[Path]:
    """The six panels (spectra, their ratio, per-direction and total invariance)."""
    colors = {"init": style.NEUTRAL, "trained": style.VERMILION}
    layer_colors = {"g": style.BLUE, "h": style.GREEN}
    with style.paper_style():
        fig, axes = style.new_figure(2, 3, width=13.0, height=7.6)
        for j, (layer, text, panel) in enumerate(LAYERS):
            ax, ax_inv = axes[0, j], axes[1, j]
            for name in ("init", "trained"):
                for i, r in enumerate(res):
                    st = dict(color=colors[name], lw=1.6 if i == 0 else 0.8,
                              alpha=1.0 if i == 0 else 0.55,
                              label=names[name] if i == 0 else None)
                    eig = r[name][layer]["eig"]
                    k = np.arange(1, eig.size + 1)
                    ax.plot(k, np.maximum(eig, 1e-12), **st)
                    ax_inv.plot(k, r[name][layer]["inv_k"], **st)
            d = int(numbers[f"{layer}_dim"])
            n = {s: (numbers[f"{layer}_init_{s}"], numbers[f"{layer}_trained_{s}"])
                 for s in ("pr", "top1")}
            n["grown"] = (numbers[f"{layer}_grown_init_share"],
                          numbers[f"{layer}_grown_trained_share"])
            low = min(float(r[m][layer]["eig"][-2]) for r in res for m in ("init", "trained"))
            ax.set(yscale="log", xscale="log", xlabel="eigenvalue index k",
                   ylabel=r"$\lambda_k / \mathrm{tr}\,\bar\Sigma$",
                   ylim=(max(1e-7, 0.3 * low), 1.0))
            ax.set_title(f"({panel}) {text}, d = {d}\neff. rank {n['pr'][0]:.1f} -> "
                         f"{n['pr'][1]:.1f}; {int(numbers[f'{layer}_grown_n'])} directions "
                         f"grew, share {n['grown'][0]:.2f} -> {n['grown'][1]:.2f}", fontsize=9)
            ax.legend(loc="lower left")
            ax_inv.set(xscale="log", ylim=(0, 1.02), xlabel="eigenvalue index k (of (a, b))",
                       ylabel=r"$\lambda_k / v_k^\top \Sigma_{total} v_k$")
            ax_inv.set_title(f"({'de'[j]}) {text.split(' (')[0]}: share of the variance along "
                             f"$v_k$\nthat survives augmentation averaging")
            ax_inv.legend(loc="lower left")
        ax = axes[0, 2]
        for layer, text, _ in LAYERS:
            for i, r in enumerate(res):
                e0, e1 = r["init"][layer]["eig"], r["trained"][layer]["eig"]
                m = min(e0.size - 1, e1.size - 1)  # the last eigenvalue is ~0 (rank N - 1)
                ax.plot(np.arange(1, m + 1), e1[:m] / np.maximum(e0[:m], 1e-300),
                        color=layer_colors[layer], lw=1.4 if i == 0 else 0.7,
                        alpha=1.0 if i == 0 else 0.55,
                        label=text.split(" (")[0] if i == 0 else None)
        ax.axhline(1.0, color="k", lw=0.8, ls=":")
        ax.set(xscale="log", yscale="log", xlabel="eigenvalue index k",
               ylabel="trained / initial (trace-normalised)")
        ax.set_title("(c) which directions grew: ratio of the\nnormalised spectra (> 1: grew)")
        ax.legend(loc="lower left")
        ax = axes[1, 2]
        xs = np.arange(len(LAYERS))
        for off, name in ((-0.18, "init"), (0.18, "trained")):
            vals = np.array([[r[name][layer]["invariant_share"] for r in res]
                             for layer, *_ in LAYERS])
            ax.bar(xs + off, vals.mean(axis=1), width=0.34, color=colors[name], alpha=0.85,
                   label=names[name])
            for i in range(vals.shape[0]):
                ax.scatter(np.full(vals.shape[1], xs[i] + off), vals[i], s=12, color="k",
                           zorder=3)
        ax.set_xticks(xs, ["projector hidden g", "backbone h"])
        ax.set(ylim=(0, 1), ylabel=r"$\mathrm{tr}\,\bar\Sigma / \mathrm{tr}\,\Sigma_{total}$")
        ax.set_title("(f) all directions: variance surviving augmentation\n"
                     "averaging (bars: mean over seeds; dots: seeds)")
        ax.legend(loc="upper left")
        style.settings_note(fig, note)
        return style.save_figure(fig, out_dir, "dual_networks_covop_spectrum")


@figure('dual_networks_covop_spectrum',
        'Covariance operator: spectrum of a trained versus an untrained network',
        paper_ref='Covariance operator (Thm. 1)',
        predictions=('dual_networks.covariance_operator_identity', 'dual_networks.linear_pca'),
        run_based=True)
def make(out_dir: Path, *, quick: bool = False, ctx: FigureContext) -> FigureResult:
    """Measure the initial and trained networks of every seed of the arm and draw the spectra
    of their covariance operators into ``out_dir``."""
    from dynamics.train.run_folder import require_run_dir

    specs = runs(ctx.tier)
    label = specs[0].label
    folders = ctx.folders(label)
    res = [measure_run(f, quick) for f in folders]
    cfg = require_run_dir(folders[0]).read_config()
    numbers: dict[str, float | str] = {"runs": float(len(res)), "arm": label,
                                       **_summarise(res)}
    names = {"init": "initialisation", "trained": f"after training ({cfg.optim.epochs} "
                                                  f"epochs)"}
    n_img, n_views = N_IMAGES[quick], N_VIEWS[quick]
    seeds = sorted(s.seed for s in specs if s in ctx.runs)
    note = (f"{label} (seeds {seeds}; thick line: seed {seeds[0]}), {cfg.data.dataset} data, "
            f"{cfg.model.encoder} width {cfg.model.width}\nfixed batch: {n_img} pre-training "
            f"images x {n_views} views of the run's augmentation, train-mode BatchNorm over "
            f"batches of {cfg.optim.batch_size}. The top layer's operator is "
            r"OP$_L = \bar\Sigma_g \otimes I$: its eigenvalues are those in (a).")
    paths = draw(out_dir, res, numbers, names, note)
    g = {s: (numbers[f"g_init_{s}"], numbers[f"g_trained_{s}"])
         for s in ("pr", "top1", "tail", "invariant_share")}
    g["grown"] = (numbers["g_grown_init_share"], numbers["g_grown_trained_share"])
    h = {s: (numbers[f"h_init_{s}"], numbers[f"h_trained_{s}"])
         for s in ("pr", "invariant_share")}
    band = (f" between k = {int(numbers['g_grown_kmin'])} and {int(numbers['g_grown_kmax'])}"
            if "g_grown_kmin" in numbers else "")
    caption = (
        f"Training moves the trace of the top layer's covariance operator OP_L = Sigma_bar_g "
        f"kron I into a band of {int(numbers['g_grown_n'])} of its "
        f"{int(numbers['g_dim'])} directions{band} (trace-normalised share "
        f"{g['grown'][0]:.2f} -> {g['grown'][1]:.2f}); the largest eigenvalue's share "
        f"{_rises(*g['top1'])} ({g['top1'][0]:.2f} -> {g['top1'][1]:.2f}) and the tail's "
        f"(k > {int(numbers['g_tail_k'])}) {_rises(*g['tail'])} ({g['tail'][0]:.3f} -> "
        f"{g['tail'][1]:.3f}), so the effective rank (participation ratio) goes "
        f"{g['pr'][0]:.1f} -> {g['pr'][1]:.1f} (backbone features: {h['pr'][0]:.1f} -> "
        f"{h['pr'][1]:.1f}). The share of the variance that survives augmentation averaging, "
        f"the part the operator amplifies, {_rises(*g['invariant_share'])} from "
        f"{g['invariant_share'][0]:.2f} to {g['invariant_share'][1]:.2f} (projector hidden) "
        f"and {_rises(*h['invariant_share'])} from {h['invariant_share'][0]:.2f} to "
        f"{h['invariant_share'][1]:.2f} (backbone). Look at the ratio in (c) (above 1: the "
        f"direction grew) and at grey versus vermilion in (d-f); means over {len(res)} "
        f"seed(s) of {label}.")
    settings = {"arm": label, "tier": ctx.tier, "seeds": seeds,
                "images": n_img, "views_per_image": n_views, "batch_seed": BATCH_SEED,
                "batchnorm": f"train mode, batches of {cfg.optim.batch_size} images",
                "initial_weights": "rebuilt from config.yaml with the run's seed",
                "trained_weights": "checkpoints/last.pt"}
    return FigureResult("dual_networks_covop_spectrum", paths, numbers, settings=settings,
                        caption=caption)

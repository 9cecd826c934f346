"""Wang & Isola 2020, Fig. 2 style: features on S^1 of a small encoder trained with different
losses, drawn on the circle with their density over the angle.

Encoder f: a bias-carrying MLP 64 -> 64 -> 64 -> 2 (ReLU) on scikit-learn's 8x8 digits (the
library's embedded copy, its fixed stratified train/test split), output L2-normalised,
u = f(x) / ||f(x)|| in S^1. Positive pairs are two views of the training engine's ``digits``
augmentation recipe (mild random crop, pixel noise, normalisation). Four encoders from the same
initial weights:

* random initialisation (no training);
* alignment only: ``LOSSES["align_uniform"]`` with uniformity weight 0, i.e.
  L = L_align = E ||u(x) - u(y)||^2: its minimum is any constant map (collapse);
* InfoNCE: ``LOSSES["infonce"]`` (NT-Xent over the 2N anchors, temperature ``TAU``);
* alignment + uniformity: ``LOSSES["align_uniform"]`` with weight 1, t = 2,
  L = L_align + (L_unif(u1) + L_unif(u2)) / 2, L_unif(u) = log mean_{i<j} exp(-t ||u_i - u_j||^2).

Measured on the held-out test digits (never seen in training), with the library's metrics:
``uniformity(u, t=2)`` of the un-augmented features (the points drawn), ``alignment`` (alpha = 2)
of two augmented views of every test image, and the weighted kNN top-1
(``knn_accuracy``, train features as memory). The reference is the uniform measure on S^1,
``uniformity_on_sphere(2, t=2)`` = -1.575 (its alignment would be 2 for independent points).

Density over the angle: a von Mises kernel density estimate,
p(theta) = (1/N) sum_i exp(kappa cos(theta - theta_i)) / (2 pi I_0(kappa)), kappa = ``KAPPA``,
drawn as a ring around each circle and against theta below (the uniform density is 1/(2 pi)).

Choices not in the paper (which used CIFAR-10 and AlexNet-style encoders): the data set, the
MLP, Adam, the step counts and learning rates, tau = ``TAU``. ``quick`` trains fewer, larger
steps (``STEPS``). Everything is seeded (``SEED``): the same call draws the same figure.

The pieces are public (the ``alignment_uniformity`` notebook trains further losses with them):
:func:`circle_data` (the digits and the held-out views), :func:`train_encoder` (one encoder,
optionally with its path in the alignment-uniformity plane), :func:`unit_features`,
:func:`circle_features` (several arms), :func:`measure` and :func:`draw_circle`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dynamics.plots import style
from dynamics.plots.base import FigureResult, figure

SEED = 0
TAU = 0.2
KAPPA = 40.0
#: Top of the density axes and rings: three times the uniform density (spikes are clipped).
DENS_MAX = 3.0 / (2 * np.pi)
UNIF_T = 2.0
#: (steps, batch, Adam learning rate) by size.
STEPS = {True: (150, 128, 1e-2), False: (1000, 256, 4e-3)}
#: The encoders drawn: (key, title, LOSSES entry or None for the untrained net, loss kwargs).
ARMS = (
    ("init", "random initialisation", None, {}),
    ("align", r"alignment only ($L_{align}$)", "align_uniform", {"t": UNIF_T, "weight": 0.0}),
    ("infonce", rf"InfoNCE ($\tau={TAU:g}$)", "infonce", {"tau": TAU}),
    ("align_uniform", r"$L_{align} + L_{uniform}$", "align_uniform",
     {"t": UNIF_T, "weight": 1.0}),
)
#: One colour per digit (matplotlib's tab10: ten distinct hues; the paper palette has eight).
CLASS_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
                "#7f7f7f", "#bcbd22", "#17becf"]


def _encoder(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 64),
                         nn.ReLU(), nn.Linear(64, 2))


def _data():
    from dynamics.train.data.augment import TwoViewAugment, eval_transform, get_recipe
    from dynamics.train.data.datasets import load_digits

    recipe = get_recipe("digits")
    return (load_digits("train"), load_digits("test"), TwoViewAugment(recipe),
            eval_transform(recipe))


@dataclass(frozen=True)
class CircleData:
    """The digits of the toy: ``train``/``test`` (the library's digits sets, ``images`` and
    ``labels``), ``augment`` (the two-view ``digits`` augmentation), their un-augmented
    normalised images ``x_train``/``x_test`` and ``view1``/``view2``, two augmented views of
    every test image (seeded: the same for every encoder)."""

    train: Any
    test: Any
    augment: Any
    x_train: torch.Tensor
    x_test: torch.Tensor
    view1: torch.Tensor
    view2: torch.Tensor


def circle_data(seed: int = SEED) -> CircleData:
    """Load the digits and draw the two held-out views of every test image (seed + 101)."""
    train, test, aug, plain = _data()
    x_tr, x_te = plain(train.images), plain(test.images)
    v1, v2 = aug(test.images, torch.Generator().manual_seed(seed + 101))
    return CircleData(train, test, aug, x_tr, x_te, v1, v2)


@torch.no_grad()
def unit_features(net: nn.Module, data: CircleData) -> dict[str, np.ndarray]:
    """Features of ``net`` on S^1 (L2-normalised, float64 numpy): ``test`` (held-out,
    un-augmented, (N, 2)), ``train`` (the kNN memory), ``view1``/``view2`` (the two
    augmented views of the test images), with ``test_labels`` and ``train_labels``."""
    def unit(x):
        return F.normalize(net(x).double(), dim=1).numpy()

    return {"test": unit(data.x_test), "train": unit(data.x_train), "view1": unit(data.view1),
            "view2": unit(data.view2), "test_labels": data.test.labels.numpy(),
            "train_labels": data.train.labels.numpy()}


def train_encoder(loss_name: str | None, kwargs: dict[str, Any] | None = None, *,
                  data: CircleData | None = None, quick: bool = False, seed: int = SEED,
                  every: int = 0) -> tuple[nn.Module, list[tuple[int, dict[str, float]]]]:
    """Train one encoder of the toy with ``LOSSES[loss_name](f(x), f(y), **kwargs)`` (``None``:
    the untrained net) from the initial weights of ``seed``, on the batches of ``seed`` (the
    same for every loss), ``STEPS[quick]`` Adam steps. Returns the net and, for ``every > 0``,
    its path: ``(step, measure(unit_features))`` at step 0 and every ``every`` steps."""
    from dynamics.losses import LOSSES

    data = circle_data(seed) if data is None else data
    steps, batch, lr = STEPS[bool(quick)]
    net = _encoder(seed)
    path = [(0, measure(unit_features(net, data)))] if every > 0 else []
    if loss_name is None:
        return net, path
    fn, kwargs = LOSSES[loss_name], dict(kwargs or {})
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    g = torch.Generator().manual_seed(seed + 1)  # same batches for every loss
    for step in range(1, steps + 1):
        idx = torch.randint(0, data.x_train.shape[0], (batch,), generator=g)
        a, b = data.augment(data.train.images[idx], g)
        loss = fn(net(a), net(b), **kwargs)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if every > 0 and step % every == 0:
            path.append((step, measure(unit_features(net, data))))
    return net, path


def circle_features(quick: bool = False, seed: int = SEED,
                    arms: tuple = ARMS) -> dict[str, dict[str, np.ndarray]]:
    """Train the encoders of ``arms`` (default :data:`ARMS`; same initial weights, same
    batches, :func:`train_encoder`) and return, per arm key, its :func:`unit_features`:
    ``test`` (held-out un-augmented features on S^1, (N, 2)), ``test_labels``, ``train``
    (training-set features, the kNN memory), ``train_labels``, ``view1``/``view2`` (two
    augmented views of the test images, normalised), all float64 numpy."""
    data = circle_data(seed)
    return {key: unit_features(train_encoder(loss_name, kwargs, data=data, quick=quick,
                                             seed=seed)[0], data)
            for key, _, loss_name, kwargs in arms}


def von_mises_kde(angles: np.ndarray, grid: np.ndarray, kappa: float = KAPPA) -> np.ndarray:
    """p(theta) = mean_i exp(kappa (cos(theta - theta_i) - 1)) / (2 pi I0e(kappa)) on ``grid``
    (I0e: the exponentially scaled Bessel function, so large kappa does not overflow)."""
    from scipy.special import i0e

    d = np.cos(grid[:, None] - angles[None, :]) - 1.0
    return np.exp(kappa * d).mean(axis=1) / (2 * np.pi * i0e(kappa))


def measure(feats: dict[str, np.ndarray]) -> dict[str, float]:
    """Uniformity (t = 2) of the test features, alignment (alpha = 2) of the test views, kNN
    top-1 and the mean resultant length R = |mean_i exp(i theta_i)| (1: one point, ~0:
    spread around the circle)."""
    from dynamics.metrics.alignment_uniformity import alignment, uniformity
    from dynamics.metrics.probes import knn_accuracy

    u = feats["test"]
    theta = np.arctan2(u[:, 1], u[:, 0])
    return {"uniformity": uniformity(u, t=UNIF_T),
            "alignment": alignment(feats["view1"], feats["view2"], alpha=2.0),
            "knn_top1": float(knn_accuracy(feats["train"], feats["train_labels"], u,
                                           feats["test_labels"], k=20, num_classes=10)),
            "resultant_length": float(np.abs(np.exp(1j * theta).mean()))}


def draw_circle(ax, feats: dict[str, np.ndarray], grid: np.ndarray | None = None,
                dens: np.ndarray | None = None, rng: np.random.Generator | None = None,
                dens_max: float = DENS_MAX) -> None:
    """Points on S^1 (class colours, a small radial jitter only, angles exact) and the angle
    density as a grey ring outside (thickness proportional to p(theta), clipped at
    ``dens_max``), with the uniform density 1/(2 pi) as a dotted ring. ``feats``: one arm of
    :func:`circle_features`; ``grid`` (angles), ``dens`` (its :func:`von_mises_kde` on
    ``grid``) and ``rng`` (the jitter) default to 361 angles, the density of ``feats`` and
    the generator of ``SEED``."""
    u, y = feats["test"], feats["test_labels"]
    grid = np.linspace(-np.pi, np.pi, 361) if grid is None else grid
    dens = von_mises_kde(np.arctan2(u[:, 1], u[:, 0]), grid) if dens is None else dens
    rng = np.random.default_rng(SEED) if rng is None else rng
    ax.plot(np.cos(grid), np.sin(grid), color="0.75", lw=0.8, zorder=1)
    r_in, width = 1.12, 0.5
    r_out = r_in + width * np.minimum(dens, dens_max) / dens_max
    ax.fill(np.r_[r_out * np.cos(grid), r_in * np.cos(grid[::-1])],
            np.r_[r_out * np.sin(grid), r_in * np.sin(grid[::-1])],
            color=style.NEUTRAL, alpha=0.45, lw=0, zorder=1)
    r_ref = r_in + width / (2 * np.pi) / dens_max
    ax.plot(r_ref * np.cos(grid), r_ref * np.sin(grid), color="k", lw=0.7, ls=":", zorder=2)
    jitter = 1.0 + rng.uniform(-0.04, 0.04, size=u.shape[0])
    order = rng.permutation(u.shape[0])
    ax.scatter(u[order, 0] * jitter[order], u[order, 1] * jitter[order], s=7,
               c=[CLASS_COLORS[int(c)] for c in y[order]], lw=0, alpha=0.85, zorder=3)
    lim = r_in + width + 0.03
    ax.set(xlim=(-lim, lim), ylim=(-lim, lim), xticks=[], yticks=[], aspect="equal")
    for side in ("left", "bottom"):
        ax.spines[side].set_visible(False)


def _num(v: float) -> str:
    """3 decimals, or scientific notation for values below 1e-3 (a collapsed encoder)."""
    return f"{v:.3f}" if abs(v) >= 1e-3 else f"{v:.1e}"


@figure('alignment_uniformity_circle',
        "Features on S^1: a small encoder trained with different losses, drawn on the circle with "
        "their density",
        paper_ref='Fig. 2',
        predictions=('alignment_uniformity.uniformity_reference',))
def make(out_dir: Path, *, quick: bool = False) -> FigureResult:
    """Train the four encoders and draw them on S^1 (top), their angle densities (middle) and
    the positive-pair distances (bottom) into ``out_dir``."""
    from dynamics.metrics.alignment_uniformity import uniformity_on_sphere

    feats = circle_features(quick)
    stats = {key: measure(feats[key]) for key, *_ in ARMS}
    ref = uniformity_on_sphere(2, t=UNIF_T)
    grid = np.linspace(-np.pi, np.pi, 361)
    dens = {k: von_mises_kde(np.arctan2(f["test"][:, 1], f["test"][:, 0]), grid)
            for k, f in feats.items()}
    ymax = DENS_MAX
    rng = np.random.default_rng(SEED)
    with style.paper_style():
        fig, axes = style.new_figure(3, len(ARMS), width=12.5, height=8.6,
                                     gridspec_kw={"height_ratios": [1.7, 1.0, 1.0]})
        for j, (key, title, _, _) in enumerate(ARMS):
            s = stats[key]
            draw_circle(axes[0, j], feats[key], grid, dens[key], rng, dens_max=ymax)
            axes[0, j].set_title(f"({'abcd'[j]}) {title}\n"
                                 rf"$L_{{uniform}}$ = {_num(s['uniformity'])}, "
                                 rf"$L_{{align}}$ = {_num(s['alignment'])}"
                                 f"\nkNN top-1 {100 * s['knn_top1']:.0f}%", fontsize=9)
            ax = axes[1, j]
            ang = np.arctan2(feats[key]["test"][:, 1], feats[key]["test"][:, 0])
            y = feats[key]["test_labels"]
            for c in range(10):
                sel = y == c
                ax.plot(grid, von_mises_kde(ang[sel], grid) * sel.mean(),
                        color=CLASS_COLORS[c], lw=0.9)
            ax.plot(grid, dens[key], color="k", lw=1.6, label="all classes")
            ax.axhline(1 / (2 * np.pi), color="k", ls=":", lw=0.9, label=r"uniform $1/2\pi$")
            peak = float(dens[key].max())
            if peak > ymax:
                ax.text(0.98, 0.95, f"peak {peak:.1f}\n(clipped)", transform=ax.transAxes,
                        ha="right", va="top", fontsize=7.5)
            ax.set(xlim=(-np.pi, np.pi), ylim=(0, ymax), xlabel=r"angle $\theta$",
                   xticks=[-np.pi, 0, np.pi], xticklabels=[r"$-\pi$", "0", r"$\pi$"])
            if j == 0:
                ax.set_ylabel("density of the angle")
            ax = axes[2, j]
            dist = np.linalg.norm(feats[key]["view1"] - feats[key]["view2"], axis=1)
            ax.hist(dist, bins=np.linspace(0, 2, 41), color=style.BLUE, alpha=0.85)
            ax.axvline(float(np.mean(dist)), color=style.VERMILION, lw=1.2)
            ax.set(xlim=(0, 2), xlabel=r"positive-pair distance $\|u(x)-u(y)\|$")
            if j == 0:
                ax.set_ylabel("held-out pairs")
        from matplotlib.lines import Line2D

        handles = [Line2D([], [], ls="none", marker="o", ms=5, color=CLASS_COLORS[c],
                          label=f"digit {c}") for c in range(10)]
        handles += [Line2D([], [], color="k", lw=1.6, label="density, all digits (von Mises "
                                                            "KDE; thin: per digit)"),
                    Line2D([], [], color="k", lw=0.9, ls=":", label=r"uniform density $1/2\pi$"),
                    Line2D([], [], color=style.VERMILION, lw=1.2, label="mean distance")]
        fig.legend(handles=handles, loc="outside upper center", ncols=7, fontsize=7.5)
        steps, batch, lr = STEPS[bool(quick)]
        style.settings_note(
            fig, f"MLP 64-64-64-2 on 8x8 digits ({feats['init']['train'].shape[0]} train / "
                 f"{feats['init']['test'].shape[0]} held-out test images shown), digits "
                 f"augmentation; Adam lr {lr:g}, batch {batch}, {steps} steps, seed {SEED}; "
                 f"t = {UNIF_T:g}; uniform reference on S^1: L_uniform = {ref:.3f}; "
                 f"density: von Mises KDE, kappa = {KAPPA:g}")
        paths = style.save_figure(fig, out_dir, "alignment_uniformity_circle")
    numbers: dict[str, float | str] = {"uniform_reference": ref}
    for key, s in stats.items():
        numbers.update({f"{key}_{m}": v for m, v in s.items()})
    au, al = stats["align_uniform"], stats["align"]
    one = "all points at one angle, " if al["resultant_length"] > 0.99 else ""
    caption = (
        f"The uniformity term spreads the features over the circle, alignment alone collapses "
        f"them: with L_align + L_uniform the held-out digits reach L_uniform = "
        f"{au['uniformity']:.3f} (uniform measure {ref:.3f}) at L_align = {au['alignment']:.3f}, "
        f"while alignment only gives L_align = {al['alignment']:.2g} but L_uniform = "
        f"{al['uniformity']:.2g} ({one}mean resultant length "
        f"{al['resultant_length']:.3f}). InfoNCE (tau {TAU:g}) reaches L_uniform "
        f"{stats['infonce']['uniformity']:.3f} at L_align {stats['infonce']['alignment']:.3f}, "
        f"the untrained encoder L_uniform {stats['init']['uniformity']:.3f} at L_align "
        f"{stats['init']['alignment']:.3f}. Look at the grey density rings and the middle row "
        f"against the dotted uniform level, and at the bottom row for how close the two views "
        f"of a test digit land.")
    settings = {"data": "sklearn digits 8x8 (embedded), fixed stratified split",
                "encoder": "MLP 64-64-64-2, ReLU, output L2-normalised",
                "augmentation": "digits recipe (crop 60-100%, noise 0.1, normalise)",
                "optimizer": "Adam", "lr": lr, "batch": batch, "steps": steps,
                "tau": TAU, "unif_t": UNIF_T, "kde_kappa": KAPPA, "seed": SEED,
                "knn": "weighted cosine, k = 20, T = 0.07"}
    return FigureResult("alignment_uniformity_circle", paths, numbers,
                        settings=settings, caption=caption)


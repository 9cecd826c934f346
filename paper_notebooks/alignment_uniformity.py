# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Alignment and uniformity on the hypersphere
#
# Wang & Isola, *Understanding contrastive representation learning through alignment and
# uniformity on the hypersphere*, ICML 2020 (arXiv 2005.10242). For an encoder
# $f: \mathcal{X} \to S^{d-1}$ (L2-normalised features):
#
# $$\mathcal{L}_\mathrm{align}(f;\alpha) =
#   \mathbb{E}_{(x,y)\sim p_\mathrm{pos}}\|f(x)-f(y)\|_2^\alpha,
#   \qquad
#   \mathcal{L}_\mathrm{uniform}(f;t) = \log\,\mathbb{E}_{x,y\,\sim\, p_\mathrm{data}}\,
#   e^{-t\|f(x)-f(y)\|_2^2},$$
#
# defaults $\alpha = 2$, $t = 2$; lower is better for both. As the number of negatives
# $M \to \infty$, InfoNCE minus $\log M$ tends to (Theorem 1)
#
# $$-\tfrac1\tau\,\mathbb{E}_\mathrm{pos}[f(x)^\top f(y)]
#   + \mathbb{E}_x \log \mathbb{E}_{x^-} e^{f(x^-)^\top f(x)/\tau}:$$
#
# the first term is minimised by perfect alignment, the second by the uniform distribution on
# the sphere.
#
# Metrics: `dynamics.metrics` (`alignment`, `uniformity`, `uniformity_on_sphere`,
# `knn_accuracy`); losses: the `contrastive` family of the registry `dynamics.losses.LOSSES`.
#
# **Size.** `SSL_NOTEBOOK_SIZE=smoke` (CI) trains a few encoders for a few hundred steps; the
# default `full` trains a larger grid for longer.

# %%
# %matplotlib inline

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from IPython.display import Image, Markdown, display

from dynamics.losses import LOSSES
from dynamics.metrics.alignment_uniformity import alignment, uniformity, uniformity_on_sphere
from dynamics.plots import make_figure
from dynamics.plots.notebook import notebook_setup
from dynamics.theories.alignment_uniformity.figures import circle as au_circle
from dynamics.theories.alignment_uniformity.figures.scatter import correlations

SIZE, OUT = notebook_setup("alignment_uniformity")  # SSL_NOTEBOOK_SIZE, temp folder
SMOKE, pick = SIZE.smoke, SIZE.pick
torch.set_num_threads(1)
gen = torch.Generator().manual_seed(0)

# %% [markdown]
# ## Reference values
# For the uniform measure $\sigma_{d-1}$ the similarity $s = u^\top v$ has density
# $\propto (1-s^2)^{(d-3)/2}$, hence
# $\mathcal{L}_\mathrm{uniform} = -2t + \log[\Gamma(d/2)\,t^{1-d/2}\,I_{d/2-1}(2t)]$
# ($\to -2t + 2t^2/d$ as $d \to \infty$), the minimum over all distributions on the sphere.
# Collapsed features (all equal) give $\mathcal{L}_\mathrm{uniform} = 0$ and
# $\mathcal{L}_\mathrm{align} = 0$; independent uniform pairs give
# $\mathcal{L}_\mathrm{align}(2) = 2$.
# Monte Carlo with points drawn uniformly on the sphere (normalised Gaussians):

# %%
n_mc = pick(1000, 4000)
rows = ["| d | t | closed form | Monte Carlo | collapsed |", "|---|---|---|---|---|"]
for d in (2, 3, 16, 128):
    u = F.normalize(torch.randn(n_mc, d, generator=gen, dtype=torch.float64), dim=1)
    for t in (1, 2, 3):
        rows.append(f"| {d} | {t} | {uniformity_on_sphere(d, t):.3f} | {uniformity(u, t):.3f} | "
                    f"{uniformity(torch.ones(n_mc, d) / d**0.5, t):.1f} |")
display(Markdown("\n".join(rows)))

# %% [markdown]
# Between the two limits: points $u = \mathrm{normalise}(e_1 + \sigma g)$, $g \sim N(0, I)$, go from
# collapsed ($\sigma \to 0$) to uniform ($\sigma \to \infty$); positive pairs
# $(u, \mathrm{normalise}(u + \epsilon g))$ go from aligned ($\epsilon \to 0$) to independent.

# %%
sig = np.logspace(-2, 2, pick(13, 25))
fig, ax = plt.subplots(1, 2, figsize=(10, 3.2))
for d, col in zip((2, 3, 16), ("C0", "C1", "C2"), strict=True):
    e1 = torch.zeros(d, dtype=torch.float64)
    e1[0] = 1
    vals, aligns = [], []
    for s in sig:
        u = F.normalize(e1 + s * torch.randn(n_mc, d, generator=gen, dtype=torch.float64), dim=1)
        v = F.normalize(u + s * torch.randn(n_mc, d, generator=gen, dtype=torch.float64), dim=1)
        vals.append(uniformity(u))
        aligns.append(alignment(u, v))
    ax[0].semilogx(sig, vals, "o-", ms=3, color=col, label=f"d = {d}")
    ax[0].axhline(uniformity_on_sphere(d, 2), color=col, ls=":", lw=1)
    ax[1].semilogx(sig, aligns, "o-", ms=3, color=col, label=f"d = {d}")
ax[0].axhline(0, color="k", lw=0.8)
ax[0].set(xlabel=r"spread $\sigma$", ylabel=r"$\mathcal{L}_\mathrm{uniform}(t=2)$",
          title="collapsed (0) to uniform (dotted: closed form)")
ax[1].axhline(2, color="k", ls=":", lw=1)
ax[1].set(xlabel=r"noise $\epsilon$ of the positive",
          ylabel=r"$\mathcal{L}_\mathrm{align}(\alpha=2)$",
          title="aligned (0) to independent (2)")
for a in ax:
    a.legend(fontsize=7)
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Features on $S^1$: a small encoder trained with different losses
# The paper's Fig. 2 in miniature, as the figure `alignment_uniformity_circle`
# (`dynamics/theories/alignment_uniformity/figures/circle.py`)
# draws it: scikit-learn's 8x8 digits (the library's embedded copy, its fixed stratified
# train/test split), the training engine's `digits` augmentation for the positive pairs, an MLP
# $64 \to 64 \to 64 \to 2$ whose output is L2-normalised onto the circle, Adam. Four encoders
# from the same initial weights on the same batches: untrained, alignment alone
# (`align_uniform` with uniformity weight $w = 0$, whose minimum is any constant map), InfoNCE
# and alignment + uniformity ($w = 1$). The losses come from the registry; `align_uniform` is
# $\mathcal{L}_\mathrm{align} + w\,\mathcal{L}_\mathrm{uniform}$. Measured on the held-out
# digits: the metrics above and the 20-NN accuracy (training features as memory). Grey rings
# and the middle row: the density of the angle (von Mises kernel estimate) against the uniform
# density $1/2\pi$ (dotted).

# %%
contrastive = LOSSES.entries(family="contrastive")
display(Markdown("| loss | what | source |\n|---|---|---|\n" + "\n".join(
    f"| `{e.name}` | {e.doc} | {e.source} |" for e in contrastive)))
circle = make_figure("alignment_uniformity_circle", OUT / "figures", quick=SMOKE)
display(Image(filename=str(circle.png), width=900))
display(Markdown(circle.caption))

# %% [markdown]
# Two more losses of the registry on the same toy, trained by `au_circle.train_encoder` (same
# initial weights, batches and temperature as the InfoNCE encoder above) and drawn with
# `au_circle.draw_circle`: the decoupled contrastive loss (no positive in the denominator) and
# the exact-covariance InfoNCE. `train_encoder` also records each encoder's path through the
# $(\mathcal{L}_\mathrm{uniform}, \mathcal{L}_\mathrm{align})$ plane, used below.

# %%
data = au_circle.circle_data()
EVERY = pick(50, 100)  # steps between the points of a path
tau = au_circle.TAU
OTHER = {f"DCL, τ = {tau:g}": ("dcl", {"tau": tau}),
         f"exact-cov InfoNCE, τ = {tau:g}": ("exact_cov", {"tau": tau})}
paths, feats = {}, {}
for name, (loss, kwargs) in OTHER.items():
    net, paths[name] = au_circle.train_encoder(loss, kwargs, data=data, quick=SMOKE, every=EVERY)
    feats[name] = au_circle.unit_features(net, data)
fig, axes = plt.subplots(1, len(OTHER), figsize=(3.3 * len(OTHER), 3.6))
for ax, (name, f) in zip(axes, feats.items(), strict=True):
    au_circle.draw_circle(ax, f)
    m = paths[name][-1][1]
    ax.set_title(f"{name}\nalign {m['alignment']:.2f}, unif {m['uniformity']:.2f}, "
                 f"kNN {m['knn_top1']:.0%}", fontsize=8)
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Alignment vs uniformity and downstream accuracy
# The paper's main figure: one point per trained encoder in the
# $(\mathcal{L}_\mathrm{uniform}, \mathcal{L}_\mathrm{align})$ plane, coloured by downstream
# accuracy (here 20-NN on the held-out digits); the best encoders sit at the lower left. Points:
# the four encoders of the figure above (its numbers), the two above and more encoders trained
# here, InfoNCE over $\tau$ and `align_uniform` over the weight $w$; grey lines: the training
# paths of the encoders trained in this notebook. The Spearman correlations are
# `dynamics.theories.alignment_uniformity.figures.scatter.correlations`, the function behind the
# real-network version
# of this plot (SimCLR runs, linear-probe accuracy):
# `ssl-dynamics figures alignment_uniformity_scatter --tier smoke --out OUT`.

# %%
SWEEP = pick([("infonce", {"tau": 0.1}), ("align_uniform", {"t": 2.0, "weight": 0.3}),
              ("align_uniform", {"t": 2.0, "weight": 5.0})],
             [("infonce", {"tau": t}) for t in (0.05, 0.1, 0.5, 1.0)]
             + [("dcl", {"tau": 0.1}), ("dclw", {"tau": 0.5, "sigma": 0.5})]
             + [("align_uniform", {"t": 2.0, "weight": w}) for w in (0.1, 0.3, 3.0, 10.0)])
for loss, kwargs in SWEEP:
    paths[f"{loss} {kwargs}"] = au_circle.train_encoder(loss, kwargs, data=data, quick=SMOKE,
                                                        every=EVERY)[1]


def point(arm, m):
    """One encoder as a point of the plane (the keys of alignment_uniformity_scatter's points)."""
    return {"arm": arm, "align": m["alignment"], "unif": m["uniformity"], "knn": m["knn_top1"]}


points = [point(title, {m: circle.numbers[f"{key}_{m}"]
                        for m in ("alignment", "uniformity", "knn_top1")})
          for key, title, *_ in au_circle.ARMS]
points += [point(name, path[-1][1]) for name, path in paths.items()]
unif = np.array([p["unif"] for p in points])
align = np.array([p["align"] for p in points])
ref = uniformity_on_sphere(2, au_circle.UNIF_T)
fig, ax = plt.subplots(figsize=(6, 4.2))
for path in paths.values():
    ax.plot([m["uniformity"] for _, m in path], [m["alignment"] for _, m in path],
            color="0.75", lw=0.8)
sc = ax.scatter(unif, align, c=[p["knn"] for p in points], cmap="viridis", s=40,
                edgecolor="k", lw=0.4, zorder=3)
ax.axvline(ref, color="k", ls=":", lw=1)
ax.text(ref, align.max(), " uniform on $S^1$", fontsize=7, va="top")
plt.colorbar(sc, ax=ax, label="20-NN accuracy (held out)")
ax.set(xlabel=r"$\mathcal{L}_\mathrm{uniform}(t=2)$",
       ylabel=r"$\mathcal{L}_\mathrm{align}(\alpha=2)$",
       title=f"{len(points)} encoders")
plt.show()
rho = correlations(points, accuracies=("knn",))
print(f"Spearman correlation of kNN accuracy with L_align + L_uniform: "
      f"{rho['spearman_knn_sum']:.2f} (L_align alone {rho['spearman_knn_align']:.2f}, "
      f"L_uniform alone {rho['spearman_knn_unif']:.2f}; {len(points)} encoders; expected "
      f"negative: lower-left encoders are better)")

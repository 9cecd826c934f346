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
# # Understanding SSL with dual deep networks — the covariance operator and the HLTM
#
# Tian, Yu, Chen & Ganguli (2020, arXiv 2010.00578), with the metrics of Wang & Isola (2020)
# and Garrido et al. (2023). Every number is computed by `ssl-dynamics`
# (`dynamics.theories.dual_networks`, `dynamics.metrics`, `dynamics.plots`); the small figures are
# drawn
# here, the HLTM figure is the library's `dual_networks_hltm`.
#
# Notation: $x_0 \sim p$ a clean sample, $x \sim p_\mathrm{aug}(\cdot|x_0)$ an augmentation,
# $r = \tfrac12\|f(x_1) - f(x')\|^2$ for a positive ($r_+$) or a negative ($r_-$) pair.
#
# **Size.** `SSL_NOTEBOOK_SIZE=smoke` runs every section small (seconds, for CI); the default
# `full` trains longer and on a larger HLTM grid.

# %%
# %matplotlib inline

import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import Image, Markdown, display

from dynamics.losses.contrastive import dcl, npc_multiplier, nt_xent
from dynamics.losses.distance import simple_contrastive
from dynamics.metrics.alignment_uniformity import uniformity, uniformity_on_sphere
from dynamics.metrics.rank import rankme
from dynamics.plots import make_figure
from dynamics.plots.notebook import notebook_setup
from dynamics.theories.dual_networks.figures.covop_spectrum import covariances, spectrum_stats
from dynamics.theories.dual_networks.operator import (
    LayeredNet,
    expected_loss,
    simple_loss_gradient_operator,
    vec,
)

SIZE, OUT = notebook_setup("dual_deep_networks")  # SSL_NOTEBOOK_SIZE, temp folder
SMOKE, pick = SIZE.smoke, SIZE.pick
gen = torch.Generator().manual_seed(0)

# %% [markdown]
# ## The SGD update of the simple contrastive loss is a covariance operator
# For a bias-free ReLU net, $f_L(x) = K_l(x)^\top \mathrm{vec}(W_l)$ with the connection
# $K_l(x) = f_{l-1}(x) \otimes J_l(x)^\top$. For $L_\mathrm{simp} = r_+ - r_-$ (gates held fixed)
#
# $$-\nabla_{\mathrm{vec} W_l}\, \mathbb{E}[L_\mathrm{simp}] = 2\,\mathrm{OP}_l\,\mathrm{vec}(W_l),
#   \qquad \mathrm{OP}_l = \mathbb{V}_{x_0}\big[\bar K_l(x_0)\big] \succeq 0,\quad
#   \bar K_l(x_0) = \mathbb{E}_{x \sim p_\mathrm{aug}(\cdot|x_0)}[K_l(x)]$$
#
# (exact expectation over an enumerated sample x augmentation set).

# %%
net = LayeredNet([5, 6, 4, 3], generator=gen)
x0 = torch.randn(6, 1, 5, dtype=torch.float64, generator=gen)
x_aug = x0 + 0.3 * torch.randn(6, 4, 5, dtype=torch.float64, generator=gen)  # 6 samples x 4 augs
for layer in (1, 2, 3):
    net.zero_grad()
    expected_loss(net, x_aug, lambda rp, rn: simple_contrastive(rp, rn[:, 0])).backward()
    W = net.weight(layer)
    OP = simple_loss_gradient_operator(net, x_aug, layer)
    lhs, rhs = -vec(W.grad), 2 * OP @ vec(W.detach())
    print(f"layer {layer}: relative mismatch {float((lhs - rhs).norm() / rhs.norm()):.1e}, "
          f"lambda_min(OP) = {float(torch.linalg.eigvalsh(OP)[0]):.1e}")

# %% [markdown]
# ### What the operator amplifies: its spectrum before and after training
# Gradient descent on $\mathbb{E}[L_\mathrm{simp}]$ is power iteration with $\mathrm{OP}_l$ (the
# norm of each $W_l$ is held fixed, as output normalisation would). Clustered data (10 clean
# samples, 4 augmentations each) and a $8 \to 12 \to 6$ ReLU net. Left: the spectrum of
# $\mathrm{OP}_1$ concentrates on a few directions during training. Right: the Rayleigh quotient
# $\mathrm{vec}(W_l)^\top \mathrm{OP}_l \mathrm{vec}(W_l) / (\lambda_{\max}\|W_l\|^2)$ goes to 1:
# each layer ends in the top eigenspace of its own operator (layer 1 dips on the way: its gates,
# and with them $\mathrm{OP}_1$ itself, change during training). The figure
# `dual_networks_covop_spectrum` measures the same operator for the top layer of a trained SimCLR
# network (`ssl-dynamics figures dual_networks_covop_spectrum --tier smoke --out OUT`).

# %%
g = torch.Generator().manual_seed(1)
N, A, n0 = 10, 4, 8
xa = 2 * torch.randn(N, 1, n0, dtype=torch.float64, generator=g)
xa = xa + 0.5 * torch.randn(N, A, n0, dtype=torch.float64, generator=g)
relu_net = LayeredNet([n0, 12, 6], generator=g)
norms = [relu_net.weight(layer).detach().norm() for layer in (1, 2)]


def op_state():
    """Eigenvalues of OP_1 (descending) and the Rayleigh quotient of W_l, l = 1, 2."""
    out = []
    for layer in (1, 2):
        op = simple_loss_gradient_operator(relu_net, xa, layer)
        ev = torch.linalg.eigvalsh(op).flip(0)
        w = vec(relu_net.weight(layer).detach())
        out.append((ev.numpy(), float(w @ op @ w / (w @ w) / ev[0])))
    return out


steps, every = pick(40, 150), pick(4, 5)
opt = torch.optim.SGD(relu_net.parameters(), lr=0.03)
before = op_state()
history = [(0, before[0][1], before[1][1])]
for step in range(1, steps + 1):
    opt.zero_grad()
    expected_loss(relu_net, xa, lambda rp, rn: simple_contrastive(rp, rn[:, 0])).backward()
    opt.step()
    with torch.no_grad():
        for layer, n in zip((1, 2), norms, strict=True):
            relu_net.weight(layer).mul_(n / relu_net.weight(layer).norm())
    if step % every == 0:
        state = op_state()
        history.append((step, state[0][1], state[1][1]))
after = op_state()
history = np.array(history)

fig, ax = plt.subplots(1, 2, figsize=(10, 3.3))
for (ev, _), lab, col in ((before[0], "untrained", "0.5"),
                          (after[0], f"after {steps} steps", "C0")):
    ax[0].semilogy(np.arange(1, len(ev) + 1), np.clip(ev / ev.sum(), 1e-12, None), "o-", ms=3,
                   color=col, label=lab)
ax[0].set(xlabel="eigen-index", ylabel=r"$\lambda_i / \mathrm{tr}\,\mathrm{OP}_1$",
          ylim=(1e-6, 1), title=r"spectrum of $\mathrm{OP}_1$")
ax[0].legend(fontsize=7)
ax[1].plot(history[:, 0], history[:, 1], "o-", ms=3, label="layer 1")
ax[1].plot(history[:, 0], history[:, 2], "s-", ms=3, label="layer 2 (linear top)")
ax[1].set(xlabel="gradient step", ylim=(0, 1.05),
          title=r"$\mathrm{vec}(W_l)^\top \mathrm{OP}_l\, \mathrm{vec}(W_l)"
                r"/\lambda_{\max}\|W_l\|^2$")
ax[1].legend(fontsize=7)
plt.tight_layout()
plt.show()

# %% [markdown]
# ### The linear case: contrastive PCA of the augmentation-averaged data
# Without ReLUs, $\mathrm{OP}_l = \bar\Sigma_{l-1} \otimes J_l^\top J_l$ with
# $\bar\Sigma = \mathbb{V}_{x_0}[\mathbb{E}_\mathrm{aug}\, x]$; for one layer
# $\Delta W \propto W\bar\Sigma$ (power iteration). The rows of $W$ find the top eigenvectors of
# $\bar\Sigma$, not those of the plain covariance: here the largest variance of the inputs lives
# only within augmentations (offsets $\pm 6$ along $e_\mathrm{aug}$), and $W$ drops it.
# $\bar\Sigma$, the covariance $\Sigma_\mathrm{total}$ of all augmented inputs and the share of
# the variance that survives augmentation averaging come from
# `dynamics.theories.dual_networks.figures.covop_spectrum` (`covariances`, `spectrum_stats`), the
# functions of the
# `dual_networks_covop_spectrum` figure.

# %%
k, n0 = 2, 6
g = torch.Generator().manual_seed(2)
clean = torch.zeros(12, 1, n0, dtype=torch.float64)
clean[:, 0, :k] = 2 * torch.randn(12, k, dtype=torch.float64, generator=g)
clean[:, 0, k:-1] = 0.3 * torch.randn(12, n0 - k - 1, dtype=torch.float64, generator=g)
offsets = torch.tensor([-6.0, 6.0], dtype=torch.float64)
xl = clean.repeat(1, 2, 1)
xl[:, :, -1] += offsets
sigma_bar, total = covariances(xl)
lin = LayeredNet([n0, k], activation="linear", generator=g)
W = lin.weight(1)
with torch.no_grad():
    W[:, -1] = 2.0
top = torch.linalg.eigh(sigma_bar)[1][:, -k:]
cosines, aug_weight = [], []
lr = 0.5 / float(torch.linalg.eigvalsh(sigma_bar)[-1])
for _ in range(pick(40, 100)):
    with torch.no_grad():
        Q = torch.linalg.qr(W.T)[0]  # orthonormal basis of the row space of W
        cosines.append(float(torch.linalg.svdvals(top.T @ Q).min()))
        aug_weight.append(float(Q[-1].norm()))
    lin.zero_grad()
    expected_loss(lin, xl, lambda rp, rn: simple_contrastive(rp, rn[:, 0])).backward()
    with torch.no_grad():
        W += lr * W.grad.neg()
        W.copy_(torch.linalg.qr(W.T)[0].T)  # keep the rows orthonormal (subspace iteration)
fig, ax = plt.subplots(1, 2, figsize=(10, 3.2))
ax[0].semilogy(1 - np.array(cosines) + 1e-16, label=r"$1 - \cos$ (largest principal angle)")
ax[0].semilogy(np.array(aug_weight) + 1e-16, label=r"weight of $e_\mathrm{aug}$ in the rows of $W$")
ax[0].set(xlabel="gradient step", title=r"one linear layer on $L_\mathrm{simp}$")
ax[0].legend(fontsize=7)
idx = np.arange(n0)
ax[1].bar(idx - 0.2, torch.linalg.eigvalsh(total).flip(0).numpy(), 0.4, color="0.6",
          label=r"$\Sigma_\mathrm{total}$: covariance of all augmented inputs")
ax[1].bar(idx + 0.2, torch.linalg.eigvalsh(sigma_bar).flip(0).numpy(), 0.4, color="C0",
          label=r"$\bar\Sigma = \mathbb{V}_{x_0}[\mathbb{E}_\mathrm{aug}x]$")
ax[1].set(xlabel="eigen-index", ylabel="eigenvalue", title="spectra")
ax[1].legend(fontsize=7)
plt.tight_layout()
plt.show()
stats = spectrum_stats(xl)
print(f"tr Sigma_bar / tr Sigma_total = {stats['invariant_share']:.2f}; share surviving along "
      f"each eigenvector of Sigma_bar (descending): {np.round(stats['inv_k'], 2)}")

# %% [markdown]
# ## InfoNCE vs DCL: the negative-positive coupling
# The InfoNCE gradient of each anchor is $q_{B,i}$ times the DCL gradient,
# $q_{B,i} = 1 - e^{s_i/\tau}/(e^{s_i/\tau} + U_{i})$ (Yeh et al. 2022, Prop. 1): an easy positive
# or a small batch (small $U_i$) makes $q \to 0$ and damps InfoNCE. Random unit embeddings in
# $d = 128$, positives are noisy copies with cosine $\approx 0.96$, $\tau = 0.1$.

# %%
fig, ax = plt.subplots(figsize=(5.5, 3.2))
for n, col in zip(pick((32, 128, 512), (32, 128, 512, 2048)), ("C0", "C1", "C2", "C3"),
                  strict=False):
    z1 = torch.nn.functional.normalize(torch.randn(n, 128, generator=gen), dim=1)
    z2 = torch.nn.functional.normalize(z1 + 0.025 * torch.randn(n, 128, generator=gen), dim=1)
    q = npc_multiplier(z1, z2, 0.1)
    ax.hist(np.log10(q.numpy().ravel()), bins=30, density=True, histtype="step", color=col,
            label=f"N = {n}: mean q = {float(q.mean()):.3f}")
    print(f"N={n:4d}: mean q = {float(q.mean()):.3f}, NT-Xent {float(nt_xent(z1, z2, 0.1)):.3f},"
          f" DCL {float(dcl(z1, z2, 0.1)):.3f}")
ax.set(xlabel=r"$\log_{10} q_{B,i}$", ylabel="density", title="NPC multiplier by batch size")
ax.legend(fontsize=7)
plt.show()

# %% [markdown]
# ## Metrics with known values
# Uniformity of points drawn uniformly on $S^{127}$ against the closed form
# $-2t + \log[\Gamma(d/2)\,t^{1-d/2} I_{d/2-1}(2t)]$, and RankMe of an i.i.d. Gaussian and a
# rank-8 embedding (more in the `alignment_uniformity` notebook).

# %%
u = torch.nn.functional.normalize(torch.randn(pick(2000, 4000), 128, generator=gen), dim=1)
print("uniformity (t=2):", round(uniformity(u), 4), " closed form:",
      round(uniformity_on_sphere(128, 2), 4))
n_rank = pick(6400, 25600)
print(f"RankMe ({n_rank} x 64) Gaussian:", round(rankme(torch.randn(n_rank, 64, generator=gen)), 2),
      " rank 8:", round(rankme(torch.randn(n_rank, 8, generator=gen)
                               @ torch.randn(8, 64, generator=gen)), 2))

# %% [markdown]
# ## Hierarchical latent tree model (Sec. 5)
# Binary latents on a tree: each child equals its parent with probability $(1+\rho)/2$,
# $|\rho| \sim U[\delta_\mathrm{lower}, 1]$; the input is the leaves. A positive pair shares only
# the root. Contrastive training (InfoNCE, $\tau = 0.1$) of a tree-shaped ReLU net makes its hidden
# units correlate with latent variables it never sees. The figure `dual_networks_hltm` trains a grid
# of
# tree nets and shows the best $|\mathrm{corr}|$ per tree level (root = 0) at initialisation
# (dashed, open markers) and after training (solid), one panel per depth and polarity
# $\delta_\mathrm{lower}$, one colour per width `hid`, bars min-max over seeds. Expected trends:
# training raises it, least near the root; larger polarity and width help.

# %%
hltm = make_figure("dual_networks_hltm", OUT / "figures", quick=SMOKE)
display(Image(filename=str(hltm.png), width=900))
display(Markdown(hltm.caption))
g = hltm.settings
print(f"grid: hid {g['hids']}, delta_lower {g['delta_lowers']}, depth {g['depths']}, seeds "
      f"{g['seeds']}; {g['epochs']} epochs x {g['draws_per_epoch']} draws; trained in "
      f"{hltm.numbers['train_seconds']:.0f} s")

# %% [markdown]
# The same grid runner with any widths, polarities, depths and seeds is `ssl-dynamics hltm`;
# the figure alone is `ssl-dynamics figures dual_networks_hltm`, and `ssl-dynamics reproduce`
# includes
# both.

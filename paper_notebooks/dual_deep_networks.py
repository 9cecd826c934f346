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
# and Garrido et al. (2023). Every number is computed by `ssl-dynamics`.

# %%
import numpy as np
import torch

from dynamics.contrastive import (
    LayeredNet,
    dcl,
    expected_loss,
    npc_multiplier,
    nt_xent,
    simple_contrastive,
    simple_loss_gradient_operator,
    vec,
)
from dynamics.contrastive.hltm import HLTM, TreeNet, train_hltm
from dynamics.metrics import rankme, uniformity, uniformity_on_sphere

gen = torch.Generator().manual_seed(0)

# %% [markdown]
# ## The SGD update of the simple contrastive loss is a covariance operator
# For a bias-free ReLU net and $L_\mathrm{simp} = r_+ - r_-$ with $r = \tfrac12\|f - f'\|^2$,
# $-\nabla_{\mathrm{vec} W_l} \mathbb{E}[L_\mathrm{simp}] = 2\,\mathrm{OP}_l\,\mathrm{vec}(W_l)$,
# with $\mathrm{OP}_l = \mathbb{V}_{x_0}[\bar K_l(x_0)]$ positive semi-definite.

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
# ## InfoNCE vs DCL: the negative-positive coupling
# The InfoNCE gradient of each anchor is $q_{B,i}$ times the DCL gradient; $q$ grows with the
# batch size, so small batches damp InfoNCE (positives: noisy copies with cosine ~0.96).

# %%
for n in (32, 128, 512):
    z1 = torch.nn.functional.normalize(torch.randn(n, 128, generator=gen), dim=1)
    z2 = torch.nn.functional.normalize(z1 + 0.025 * torch.randn(n, 128, generator=gen), dim=1)
    q = npc_multiplier(z1, z2, 0.1)
    print(f"N={n:4d}: mean q = {float(q.mean()):.3f}, NT-Xent {float(nt_xent(z1, z2, 0.1)):.3f},"
          f" DCL {float(dcl(z1, z2, 0.1)):.3f}")

# %% [markdown]
# ## Metrics with known values
# Uniformity of points drawn uniformly on $S^{127}$ against the closed form, and RankMe of an
# i.i.d. Gaussian and a rank-8 embedding.

# %%
u = torch.nn.functional.normalize(torch.randn(4000, 128, generator=gen), dim=1)
print("uniformity (t=2):", round(uniformity(u), 4), " closed form:",
      round(uniformity_on_sphere(128, 2), 4))
Z = torch.randn(25600, 64, generator=gen)
print("RankMe Gaussian:", round(rankme(Z), 2), " rank 8:",
      round(rankme(torch.randn(25600, 8, generator=gen) @ torch.randn(8, 64, generator=gen)), 2))

# %% [markdown]
# ## Hierarchical latent tree model
# Contrastive training makes hidden units of the tree-shaped net correlate with the latent
# variables they never see (best |corr| per tree level, root first).

# %%
tree = HLTM(depth=3, delta_lower=0.7, seed=1)
tnet = TreeNet(tree, hid=10, seed=1)
hist = train_hltm(tree, tnet, loss="nce", tau=0.1, epochs=3, draws_per_epoch=8192, seed=1,
                  eval_samples=4096, op_samples=0)
print("before:", np.round(hist.corr[0], 2))
print("after :", np.round(hist.corr[-1], 2))

# %% [markdown]
# The full grid (width, polarity, depth, seeds) is `ssl-dynamics hltm`; `ssl-dynamics reproduce`
# includes a small one.

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
# # Understanding SSL dynamics without contrastive pairs — the linear theory
#
# Tian, Chen & Ganguli, ICML 2021. This notebook walks through the theory with
# `ssl-dynamics`: every number below is computed by the library's single implementation of
# each equation (`dynamics.theory`).
#
# Model: online `W`, predictor `Wp`, target `Wa`; loss
# $J = \tfrac12 \mathbb{E}\|W_p W x_1 - \mathrm{StopGrad}(W_a x_2)\|^2$.

# %%
import numpy as np

from dynamics.theory import (
    MatrixFlowConfig,
    collapse_threshold,
    fixed_points,
    simulate_matrix,
    simulate_modes,
)
from dynamics.theory.data_models import AdditiveGaussian
from dynamics.theory.sgd import simulate_sgd

rng = np.random.default_rng(0)

# %% [markdown]
# ## Theorem 1: weight decay balances predictor and online network
# Along the flow of Lemma 1 (Eqs. 2-4),
# $W W^\top - \alpha_p^{-1} W_p^\top W_p = e^{-2\eta t} C$ for any target dynamics.

# %%
n1, n2 = 8, 4
A = rng.standard_normal((n1, n1))
X = A @ A.T / n1
Xp = 0.2 * np.eye(n1)
cfg = MatrixFlowConfig(alpha_p=2.0, beta=0.5, eta=0.05)
traj = simulate_matrix(0.5 * rng.standard_normal((n2, n1)), X, Xp, cfg,
                       Wp0=0.5 * rng.standard_normal((n2, n2)), t_end=30)
print("max relative residual of Theorem 1:", traj.invariant_residual().max())
print("final ||[F, Wp]||_F (Theorem 3, alignment):", traj.commutator_norm()[-1])

# %% [markdown]
# ## Theorem 2: no stop-gradient means collapse

# %%
nsg = simulate_matrix(rng.standard_normal((n2, n1)), X, Xp,
                      MatrixFlowConfig(target="simsiam", stop_grad=False, eta=0.01), t_end=40)
print("||W(T)|| / ||W(0)|| without stop-gradient:", nsg.W_norm()[-1] / nsg.W_norm()[0])

# %% [markdown]
# ## Decoupled modes (Eqs. 11-13) and the collapse threshold
# On the invariant parabola $s = p^2/\alpha_p$ the 1-D flow (Eq. 16) has fixed points
# $0, p^*_-, p^*_+$ for $\eta \le \tau^2 / (4(1+\sigma^2))$; initial $p < p^*_-$ collapses.

# %%
tau, sigma2 = 1.0, 0.0
for eta in (0.01, 0.1, 0.24, 0.26):
    pm, pp = fixed_points(tau, sigma2, eta)
    p0 = np.linspace(0.01, 1.0, 100)
    tr = simulate_modes(p0, p0**2, eta=eta, sigma2=sigma2, t_end=3000, n_save=2)
    print(f"eta={eta:5.2f}  threshold={collapse_threshold(tau, sigma2):.2f}  "
          f"p*-={pm:.3f}  p*+={pp:.3f}  collapsed: {np.mean(tr.s[-1] < 1e-6):.0%}")

# %% [markdown]
# ## EMA as an automatic curriculum (Sec. 3.3)
# With $W_a(0) = 0$, $\tau$ starts at 0 and rises to 1 while $p_j$ follows its moving goal.

# %%
ema = simulate_modes(np.array([0.05, 0.2, 0.5]), np.array([0.05, 0.2, 0.5]) ** 2,
                     eta=0.04, beta=0.4, tau0=0.0, t_end=100, n_save=6)
print("t   :", ema.t)
print("tau :", ema.tau[:, 2].round(3))
print("p   :", ema.p[:, 2].round(3))

# %% [markdown]
# ## Theory == training
# Minibatch SGD of the same linear network (learning rate `lr`, EMA momentum `1 - lr*beta`,
# per-step weight decay `lr*eta`) follows the flow as `lr -> 0`, batch `-> inf`.

# %%
data = AdditiveGaussian(X, Xp)
W0, Wp0 = 0.5 * rng.standard_normal((n2, n1)), 0.5 * rng.standard_normal((n2, n2))
ode = simulate_matrix(W0, X, Xp, cfg, Wp0=Wp0, t_end=5, n_save=11)
for lr, batch in ((0.02, 64), (0.005, 512)):
    sgd = simulate_sgd(W0, data, cfg, Wp0=Wp0, lr=lr, batch_size=batch, t_end=5, n_save=11)
    err = np.linalg.norm(sgd.F - ode.F, axis=(1, 2)) / np.linalg.norm(ode.F, axis=(1, 2))
    print(f"lr={lr:<6} batch={batch:<4} max relative error of F(t): {err.max():.4f}")

# %% [markdown]
# The paper figures (Figs. 3, 4, 5, 7, 8, 9, 10) are made by `ssl-dynamics figures` or
# `ssl-dynamics reproduce`; see `figures/README.md`.

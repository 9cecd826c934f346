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
# Tian, Chen & Ganguli, ICML 2021 (arXiv 2102.06810). Every curve below is computed by the
# library's single implementation of each equation (`dynamics.theories.directpred`); the figures are
# drawn
# here from those simulations.
#
# **Model.** Online `W`, predictor `Wp`, target `Wa`; loss (Eq. 1)
# $J = \tfrac12 \mathbb{E}\|W_p W x_1 - \mathrm{StopGrad}(W_a x_2)\|^2$, with
# $X = \mathbb{E}[\bar x \bar x^\top]$ and $X' = \mathbb{E}[\mathbb{V}_{x'|x}[x']]$. Lemma 1
# (Eqs. 2-4):
#
# $$\dot W_p = \alpha_p(-W_p W (X+X') + W_a X) W^\top - \eta W_p,\quad
#   \dot W = W_p^\top(-W_p W (X+X') + W_a X) - \eta W,\quad
#   \dot W_a = \beta(W - W_a).$$
#
# **Size.** `SSL_NOTEBOOK_SIZE=smoke` runs every section small (seconds, for CI);
# the default `full` uses the settings of the paper figures.

# %%
# %matplotlib inline

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Image, display

from dynamics.numerics.data_models import AdditiveGaussian
from dynamics.plots import make_figures, style
from dynamics.plots.notebook import notebook_setup
from dynamics.theories.directpred.closed_form import (
    collapse_threshold,
    fixed_points,
    k_eigenvalue,
    parabola_flow,
    tau_ema,
)
from dynamics.theories.directpred.matrix_flow import MatrixFlowConfig, lemma2_bound, simulate_matrix
from dynamics.theories.directpred.modes import simulate_modes
from dynamics.theories.directpred.phase import (
    S_TOL,
    basin_grid,
    flow_field,
    mode_fixed_points,
    parabola_fixed_points,
)
from dynamics.theories.directpred.sgd import simulate_sgd

SIZE, OUT = notebook_setup("directpred_theory")  # SSL_NOTEBOOK_SIZE, temp folder
SMOKE, pick = SIZE.smoke, SIZE.pick
rng = np.random.default_rng(0)

# %% [markdown]
# ## Theorems 1 and 3 on the full matrix flow
# **Theorem 1.** Along Eqs. 2-4, for any target dynamics,
# $W W^\top - \alpha_p^{-1} W_p^\top W_p = e^{-2\eta t} C$: weight decay balances predictor and
# online network. **Theorem 3.** In the symmetrised flow (Eq. 7) the commutator
# $L = [F, W_p]$, $F = W X W^\top$, obeys $\dot L = -KL - LK$; the eigenspaces of $F$ and $W_p$
# align. Here: a random non-isotropic $X$, $X' = 0.2 I$, a learned non-symmetric predictor and an
# EMA target.

# %%
n1, n2 = 8, 4
A = rng.standard_normal((n1, n1))
X = A @ A.T / n1
Xp = 0.2 * np.eye(n1)
cfg = MatrixFlowConfig(alpha_p=2.0, beta=0.5, eta=0.05)
traj = simulate_matrix(0.5 * rng.standard_normal((n2, n1)), X, Xp, cfg,
                       Wp0=0.5 * rng.standard_normal((n2, n2)), t_end=30, n_save=pick(61, 301))
WWt = traj.W @ np.swapaxes(traj.W, 1, 2)
PtP = np.swapaxes(traj.Wp, 1, 2) @ traj.Wp / cfg.alpha_p
gap = np.linalg.norm(WWt - PtP, axis=(1, 2))

fig, ax = plt.subplots(1, 3, figsize=(12, 3.2))
ax[0].plot(traj.t, traj.F_eigvals(), color="C0")
ax[0].plot(traj.t, traj.Wp_eigvals().real, color="C1", ls="--")
ax[0].set(xlabel="t", title=r"eigenvalues of $F$ (solid) and $W_p$ (dashed)")
ax[1].semilogy(traj.t, gap, label=r"$\|WW^\top - W_p^\top W_p/\alpha_p\|_F$")
ax[1].semilogy(traj.t, np.exp(-2 * cfg.eta * traj.t) * np.linalg.norm(traj.invariant_C0()),
               "k:", label=r"$e^{-2\eta t}\|C\|_F$ (Theorem 1)")
ax[1].semilogy(traj.t, traj.invariant_residual() + 1e-17, color="C3",
               label="relative residual")
ax[1].set(xlabel="t", title="Theorem 1")
ax[1].legend(fontsize=7)
ax[2].semilogy(traj.t, traj.commutator_norm())
ax[2].set(xlabel="t", title=r"$\|[F, W_p]\|_F$ (Theorem 3: alignment)")
plt.tight_layout()
plt.show()
print(f"max relative residual of Theorem 1: {traj.invariant_residual().max():.1e}")

# %% [markdown]
# ## Theorem 2: without stop-gradient the weights collapse
# With $W_a = W$ and the gradient flowing through both branches,
# $\dot{\mathrm{vec}}(W) = -H\,\mathrm{vec}(W)$ with
# $H = X' \otimes (W_p^\top W_p + I) + X \otimes \tilde W_p^\top \tilde W_p + \eta I \succeq 0$,
# $\tilde W_p = W_p - I$, so $\|W(t)\| \le e^{-\lambda_0 t}\|W(0)\|$ (Lemma 2). The same
# start with stop-gradient (SimSiam) does not collapse.

# %%
W0 = rng.standard_normal((n2, n1))
runs = {"no stop-gradient": MatrixFlowConfig(target="simsiam", stop_grad=False, eta=0.01),
        "stop-gradient (SimSiam)": MatrixFlowConfig(target="simsiam", eta=0.01)}
fig, ax = plt.subplots(figsize=(5, 3.2))
for (name, c), col in zip(runs.items(), ("C3", "C0"), strict=True):
    tr = simulate_matrix(W0, X, Xp, c, t_end=40, n_save=pick(41, 201))
    ax.semilogy(tr.t, tr.W_norm(), color=col, label=name)
    if not c.stop_grad:
        gronwall, _ = lemma2_bound(tr)
        ax.semilogy(tr.t, gronwall, "k:", label=r"$e^{-\int\lambda_{\min}(H)}\|W(0)\|$ (Lemma 2)")
        print(f"||W(T)|| / ||W(0)|| without stop-gradient: {tr.W_norm()[-1] / tr.W_norm()[0]:.1e}")
ax.set(xlabel="t", ylabel=r"$\|W(t)\|_F$", title="Theorem 2")
ax.legend(fontsize=7)
plt.show()

# %% [markdown]
# ## Decoupled modes (Eqs. 11-13) and the phase portrait (Fig. 3)
# Under the assumptions A1-A3 ($W_a = \tau W$, $X = I$, $X' = \sigma^2 I$, symmetric $W_p$) and
# once aligned, $W_p = U\,\mathrm{diag}(p_j)U^\top$, $F = U\,\mathrm{diag}(s_j)U^\top$:
#
# $$\dot p_j = \alpha_p s_j[\tau - (1+\sigma^2)p_j] - \eta p_j \;(11),\qquad
#   \dot s_j = 2 p_j s_j[\tau - (1+\sigma^2)p_j] - 2\eta s_j \;(12),\qquad
#   s_j\dot\tau = \beta(1-\tau)s_j - \tau\dot s_j/2 \;(13).$$
#
# Fig. 3: the $(p_j, s_j)$ plane at $\tau = 1$, $\alpha_p = 1$ for $\eta = 0, 0.01, 1$. Flow lines
# of Eqs. 11-12, fixed points with their stability, the parabola $s = p^2/\alpha_p$ (dashed; for
# $\eta > 0$ every trajectory converges to it, Eq. 14) and the simulated collapse basin (shaded:
# final $s_j < 10^{-6}$). $\sigma^2 = 0$ (not stated in the paper).

# %%
P_LIM, S_LIM = (-1.0, 1.6), (0.0, 2.0)
nx, ny = pick((20, 15), (60, 45))
gp, gs = np.linspace(*P_LIM, 120), np.linspace(*S_LIM, 100)
P, S = np.meshgrid(gp, gs)
bp = P_LIM[0] + (np.arange(nx) + 0.5) * (P_LIM[1] - P_LIM[0]) / nx
bs = S_LIM[0] + (np.arange(ny) + 0.5) * (S_LIM[1] - S_LIM[0]) / ny
fig, axes = plt.subplots(1, 3, figsize=(13, 4), sharey=True)
for ax, eta, t_end in zip(axes, (0.0, 0.01, 1.0), (300.0, 300.0, 50.0), strict=True):
    basin = basin_grid(bp, bs, tau=1.0, alpha_p=1.0, eta=eta, t_end=t_end, rtol=1e-6, atol=1e-9)
    ax.imshow(np.where(basin.collapsed, 1.0, np.nan), origin="lower", aspect="auto",
              extent=(*P_LIM, *S_LIM), cmap="Reds", vmin=0, vmax=5, interpolation="nearest")
    dp, ds = flow_field(P, S, tau=1.0, alpha_p=1.0, eta=eta)
    ax.streamplot(gp, gs, dp, ds, color="0.55", density=pick(0.7, 1.1), linewidth=0.7)
    ax.plot(gp, gp**2, "k--", lw=1)
    for f in mode_fixed_points(tau=1.0, alpha_p=1.0, eta=eta, sigma2=0.0):
        if f.kind == "non-isolated":  # eta = 0: the lines s = 0 and p = tau/(1+sigma2)
            for lo, hi, kind in f.segments:
                col = "#0072B2" if kind == "stable" else "#D55E00"
                if f.parameter == "p":
                    ax.plot([max(lo, P_LIM[0]), min(hi, P_LIM[1])], [0, 0], color=col, lw=4)
                else:
                    ax.plot([f.p, f.p], [max(lo, S_LIM[0]), min(hi, S_LIM[1])], color=col, lw=4)
        else:
            style.mark_points(ax, [f.p], [f.s], [f.kind], size=64, zorder=5)
            if f.kind == "saddle" and f.p < 0.1:  # next to the stable origin
                ax.annotate(rf"saddle at $p^*_- = {f.p:.3f}$", (f.p, f.s), xytext=(0.1, 0.35),
                            fontsize=8, arrowprops=dict(arrowstyle="->", lw=0.8))
    ax.set(xlim=P_LIM, ylim=S_LIM, xlabel=r"$p_j$",
           title=rf"$\eta = {eta:g}$: {basin.fraction_collapsed:.0%} of the grid collapses")
axes[0].set_ylabel(r"$s_j$")
fig.suptitle(r"Fig. 3: phase portraits of Eqs. 11-12 ($\tau = 1$, $\alpha_p = 1$, "
             r"$\sigma^2 = 0$); $\eta = 1 > \eta_c = 1/4$ collapses everything", fontsize=9)
plt.tight_layout()
plt.show()

# %% [markdown]
# ## The flow on the invariant parabola (Eq. 16, Fig. 4) and the collapse threshold
# On $s_j = p_j^2/\alpha_p$ at fixed $\tau$:
#
# $$\dot p_j = p_j^2[\tau - (1+\sigma^2)p_j] - \eta p_j
#   = -(1+\sigma^2)\,p_j(p_j - p^*_-)(p_j - p^*_+),$$
#
# $p^*_\pm = [\tau \pm \sqrt{\tau^2 - 4\eta(1+\sigma^2)}]/(2(1+\sigma^2))$. For
# $0 < \eta \le \eta_c = \tau^2/(4(1+\sigma^2))$ a mode starting below $p^*_-$ collapses; above
# $\eta_c$ every mode does (Obs. 5). Right: the end state $p_j(T)$ of the mode ODEs (Eqs. 11-12)
# started on the parabola, against $p_j(0)$; the jump sits at $p^*_-$ (dotted).

# %%
tau, sigma2 = 1.0, 0.0
pgrid = np.linspace(-0.3, 1.25, 400)
fig, ax = plt.subplots(1, 4, figsize=(14, 3.2))
for a, eta in zip(ax[:3], (0.0, 0.1, 0.4), strict=True):
    a.axhline(0, color="0.6", lw=0.8)
    a.plot(pgrid, parabola_flow(pgrid, tau, sigma2, eta), color="0.3")
    for f in parabola_fixed_points(tau=tau, eta=eta, sigma2=sigma2):
        style.mark_points(a, [f.p], [0.0], [f.kind], size=64, zorder=5)
    a.set(xlabel=r"$p_j$", ylim=(-0.25, 0.2),
          title=rf"Eq. 16, $\eta = {eta:g}$" + (r" $> \eta_c$" if eta > 0.25 else ""))
ax[0].set_ylabel(r"$\dot p_j$")
p0 = np.linspace(0.005, 1.0, pick(60, 200))
etas = np.array([0.01, 0.1, 0.24, 0.26])
tr = simulate_modes(p0, p0**2, eta=etas[:, None], sigma2=sigma2, t_end=3000, n_save=2)
for k, eta in enumerate(etas):
    pm, pp = fixed_points(tau, sigma2, eta)
    ax[3].plot(p0, tr.p[-1, k], color=f"C{k}",
               label=rf"$\eta = {eta:g}$: {np.mean(tr.s[-1, k] < S_TOL):.0%} collapse")
    if np.isfinite(pm):
        ax[3].axvline(pm, color=f"C{k}", ls=":")
    print(f"eta={eta:5.2f}  threshold={collapse_threshold(tau, sigma2):.2f}  "
          f"p*-={pm:.3f}  p*+={pp:.3f}  collapsed: {np.mean(tr.s[-1, k] < S_TOL):.0%}")
ax[3].set(xlabel=r"$p_j(0)$ (on the parabola)", ylabel=r"$p_j(T)$", title="simulated end state")
ax[3].legend(fontsize=7)
plt.tight_layout()
plt.show()

# %% [markdown]
# ## EMA as an automatic curriculum (Sec. 3.3) and the sweeps of Fig. 5
# With $W_a(0) = 0$, $\tau$ starts at 0 and rises to 1; $p_j$ follows the moving goal
# $\tau/(1+\sigma^2)$. On the parabola Eq. 13 integrates to Eq. 15,
# $\tau(t) = p_j(t)^{-1}\beta e^{-\beta t}\int_0^t p_j(t')e^{\beta t'}dt'$ (dots: Eq. 15 evaluated
# on the simulated $p_j(t)$).

# %%
p_start = np.array([0.05, 0.2, 0.5])
ema = simulate_modes(p_start, p_start**2, eta=0.04, beta=0.4, tau0=0.0, t_end=60,
                     n_save=pick(121, 601))
fig, ax = plt.subplots(1, 2, figsize=(10, 3.2))
for j in range(3):
    ax[0].plot(ema.t, ema.p[:, j], color=f"C{j}", label=rf"$p_j(0) = {p_start[j]:g}$")
    ax[1].plot(ema.t, ema.tau[:, j], color=f"C{j}")
    ok = ema.p[:, j] > 1e-3
    ax[1].plot(ema.t[ok][::6], tau_ema(ema.t, ema.p[:, j], 0.4)[ok][::6], ".", color=f"C{j}")
ax[0].plot(ema.t, ema.tau[:, 2], "k:", label=r"goal $\tau/(1+\sigma^2)$ of the last mode")
ax[0].set(xlabel="t", title=r"$p_j(t)$, $\eta = 0.04$, $\beta = 0.4$")
ax[0].legend(fontsize=7)
ax[1].set(xlabel="t", title=r"$\tau_j(t)$: simulated (lines), Eq. 15 (dots)")
plt.tight_layout()
plt.show()

# %% [markdown]
# Fig. 5: 8 modes with $p_j(0), s_j(0) \sim U(0, 0.3)$, $\tau_j(0) = 0$, $\alpha_p = 1$,
# $\sigma^2 = 0$ (unstated in the paper). Top: weight decay $\eta$ at $\beta = 0.4$;
# bottom: EMA rate $\beta$ at $\eta = 0.04$ (SGD rate 0.01: momentum $1 - 0.01\beta$).
# Right column: $\min_j \lambda_j(K)$ with
# $\lambda_j(K) = \alpha_p(1+\sigma^2)s_j/2 - \Delta_j + \eta/2$; $K \succ 0$ keeps the eigenspaces
# aligned (Eq. 17).

# %%
n_modes = pick(6, 8)
p0, s0 = rng.uniform(0, 0.3, n_modes), rng.uniform(0, 0.3, n_modes)
settings = [(0.01, 0.4), (0.04, 0.4), (0.2, 0.4), (0.04, 0.04), (0.04, 0.4), (0.04, 4.0)]
eta_b = np.array([e for e, _ in settings])[:, None]
beta_b = np.array([b for _, b in settings])[:, None]
sweep = simulate_modes(p0, s0, eta=eta_b, beta=beta_b, tau0=0.0, t_end=300,
                       n_save=pick(151, 601), rtol=pick(1e-6, 1e-8))
kmin = k_eigenvalue(sweep.p, sweep.s, sweep.tau, 1.0, eta_b, 0.0).min(axis=-1)
fig, axes = plt.subplots(2, 3, figsize=(13, 6), sharex=True)
for row, idx, name in ((0, (0, 1, 2), r"\eta"), (1, (3, 4, 5), r"\beta")):
    for c, i in zip(("#3b0f70", "#1f9e89", "#d8c623"), idx, strict=True):
        val = settings[i][row]
        axes[row, 0].plot(sweep.t, sweep.p[:, i], color=c, lw=0.9)
        axes[row, 1].plot(sweep.t, sweep.s[:, i], color=c, lw=0.9)
        n_col = int(np.sum(sweep.s[-1, i] < S_TOL))
        axes[row, 2].plot(sweep.t, kmin[:, i], color=c,
                          label=rf"${name} = {val:g}$ ({n_col}/{n_modes} collapse)")
    axes[row, 2].axhline(0, color="0.6", lw=0.8)
    axes[row, 2].legend(fontsize=7)
    axes[row, 0].set_ylabel(r"$p_j(t)$")
    axes[row, 1].set_ylabel(r"$s_j(t)$")
    axes[row, 2].set_ylabel(r"$\min_j \lambda_j(K)$")
for a in axes[1]:
    a.set_xlabel("t")
fig.suptitle("Fig. 5: decoupled dynamics with EMA (Eqs. 11-13); top: weight decay, "
             "bottom: EMA rate", fontsize=9)
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Theory == training
# Minibatch SGD of the same linear network (learning rate `lr`, EMA momentum `1 - lr*beta`,
# per-step weight decay `lr*eta`) follows the flow as `lr -> 0`, batch `-> inf`: eigenvalues of
# $F(t)$ from the ODE (black) and from SGD.

# %%
data = AdditiveGaussian(X, Xp)
W0, Wp0 = 0.5 * rng.standard_normal((n2, n1)), 0.5 * rng.standard_normal((n2, n2))
ode = simulate_matrix(W0, X, Xp, cfg, Wp0=Wp0, t_end=5, n_save=26)
fig, ax = plt.subplots(figsize=(5.5, 3.4))
ax.plot(ode.t, ode.F_eigvals(), "k", lw=2)
for (lr, batch), col in zip(pick(((0.02, 64),), ((0.02, 64), (0.005, 512))), ("C1", "C0"),
                            strict=False):
    sgd = simulate_sgd(W0, data, cfg, Wp0=Wp0, lr=lr, batch_size=batch, t_end=5, n_save=26)
    err = np.linalg.norm(sgd.F - ode.F, axis=(1, 2)) / np.linalg.norm(ode.F, axis=(1, 2))
    ax.plot(sgd.t, sgd.F_eigvals(), color=col, ls="--")
    ax.plot([], [], color=col, ls="--", label=f"SGD lr={lr}, batch={batch}")
    print(f"lr={lr:<6} batch={batch:<4} max relative error of F(t): {err.max():.4f}")
ax.plot([], [], "k", lw=2, label="ODE (Eqs. 2-4)")
ax.set(xlabel="t = lr x steps", ylabel="eigenvalues of F")
ax.legend(fontsize=7)
plt.show()

# %% [markdown]
# ## Explore: the phase portrait with EMA
# Background: the flow of Eqs. 11-12 at $\tau = 1$ (where the EMA ends) with its fixed points and
# the parabola $s = p^2/\alpha_p$. Coloured: trajectories of the full 3-D system (Eqs. 11-13)
# started with $W_a(0) = 0$ ($\tau_j(0) = 0$), blue when the mode survives, red when it collapses.
# Raising $\eta$ enlarges the collapse basin (Obs. 4) until everything collapses at $\eta_c$;
# raising $\alpha_p$ flattens the parabola (Obs. 1); a smaller $\beta$ keeps $\tau$ small for
# longer and traps more modes (Obs. 10); $\sigma^2$ lowers $p^*_+ $ and $\eta_c$.
#
# The static figure shows $\eta = 0.1$, $\alpha_p = 1$, $\beta = 0.4$, $\sigma^2 = 0$; in a live
# Jupyter kernel the sliders below redraw it (needs `ipywidgets`: `pip install -e ".[notebooks]"`).

# %%
STARTS = np.array([(p, s) for p in (0.01, 0.05, 0.2, 0.6, 1.2)
                   for s in (0.005, 0.05, 0.5, 1.5)])


def phase_portrait(eta=0.1, alpha_p=1.0, beta=0.4, sigma2=0.0):
    """(p, s) portrait: the tau = 1 flow of Eqs. 11-12 and EMA trajectories of Eqs. 11-13."""
    gp, gs = np.linspace(-0.2, 1.6, 60), np.linspace(0.0, 2.0, 50)
    P, S = np.meshgrid(gp, gs)
    dp, ds = flow_field(P, S, tau=1.0, alpha_p=alpha_p, eta=eta, sigma2=sigma2)
    fig, ax = plt.subplots(figsize=(6.2, 4.4))
    ax.streamplot(gp, gs, dp, ds, color="0.75", density=0.7, linewidth=0.6)
    ax.plot(gp, gp**2 / alpha_p, "k--", lw=1, label=r"$s = p^2/\alpha_p$")
    t_end = min(200.0 + 10.0 / beta + (3.0 / eta if eta > 0 else 300.0), 2000.0)
    tr = simulate_modes(STARTS[:, 0], STARTS[:, 1], alpha_p=alpha_p, eta=eta, sigma2=sigma2,
                        beta=beta, tau0=0.0, t_end=t_end, n_save=300, rtol=1e-6, atol=1e-9)
    dead = np.asarray(tr.s[-1]) < S_TOL
    for j in range(len(STARTS)):
        ax.plot(tr.p[:, j], tr.s[:, j], color="#D55E00" if dead[j] else "#0072B2", lw=1)
        ax.plot(*STARTS[j], "k.", ms=4)
    for f in mode_fixed_points(tau=1.0, alpha_p=alpha_p, eta=eta, sigma2=sigma2):
        if f.kind != "non-isolated":
            style.mark_points(ax, [f.p], [f.s], [f.kind], size=64, zorder=5)
    eta_c = collapse_threshold(1.0, sigma2)
    ax.set(xlim=(-0.2, 1.6), ylim=(0, 2), xlabel=r"$p_j$", ylabel=r"$s_j$",
           title=rf"$\eta={eta:g}$, $\alpha_p={alpha_p:g}$, $\beta={beta:g}$, "
                 rf"$\sigma^2={sigma2:g}$ ($\eta_c={eta_c:.3g}$): "
                 f"{dead.sum()}/{len(STARTS)} collapse")
    ax.legend(loc="upper left", fontsize=7)
    plt.show()


phase_portrait()  # static: eta = 0.1, alpha_p = 1, beta = 0.4, sigma2 = 0

# %%
try:
    import ipywidgets as widgets
    from IPython import get_ipython

    LIVE = getattr(get_ipython(), "kernel", None) is not None
except ImportError:
    LIVE = False
if LIVE:
    slider = dict(continuous_update=False, readout_format=".3g")
    widgets.interact(
        phase_portrait,
        eta=widgets.FloatSlider(value=0.1, min=0.0, max=0.35, step=0.005,
                                description="eta", **slider),
        alpha_p=widgets.FloatLogSlider(value=1.0, base=10, min=-1, max=1, step=0.05,
                                       description="alpha_p", **slider),
        beta=widgets.FloatLogSlider(value=0.4, base=10, min=-2, max=1, step=0.1,
                                    description="beta", **slider),
        sigma2=widgets.FloatSlider(value=0.0, min=0.0, max=1.0, step=0.05,
                                   description="sigma2", **slider),
    )
else:
    print("ipywidgets or a live kernel is missing: the static figure above is all there is")

# %% [markdown]
# ## The publication figures
# `dynamics.plots.make_figures` draws the paper figures with their captions and key numbers
# (`ssl-dynamics figures fig3 fig4 ...` on the command line; `figures/README.md` lists the
# settings). The sliders above explore one setting at a time; the phase diagrams
# `directpred_phase_eta_alpha_p` and `directpred_phase_eta_beta` sweep whole planes of the same Eqs.
# 11-13 (collapsed
# share of a grid of starts over $(\eta, \alpha_p)$ at $\tau = 1$ and over $(\eta, \beta)$
# with an EMA target from $W_a(0) = 0$). At smoke size only Fig. 4 and the $(\eta, \beta)$
# diagram are made here.

# %%
names = pick(["fig4", "directpred_phase_eta_beta"],
             ["fig3", "fig4", "fig5", "fig7", "fig8", "fig9", "fig10",
              "directpred_phase_eta_alpha_p", "directpred_phase_eta_beta"])
for name, res in make_figures(names, OUT / "figures", quick=SMOKE).items():
    print(f"{name}: {res.paths[0].name} ({res.seconds:.1f} s)")
    display(Image(filename=str(res.paths[0]), width=900))

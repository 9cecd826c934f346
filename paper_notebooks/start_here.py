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
# # Start here: a tour of `ssl-dynamics`
#
# The toolkit puts the theory of self-supervised learning and real training side by side: ODE
# simulations of the linear theory, phase diagrams, an instrumented training engine, and
# `verify`, which judges every registered prediction of the theory. This tour touches each of
# them once; the paper notebooks (`directpred_theory`, `dual_deep_networks`,
# `alignment_uniformity`) go deeper.
#
# **The model** (Tian, Chen & Ganguli, ICML 2021). A linear online network $W$, a linear
# predictor $W_p$ and a target $W_a$ minimise
# $J = \tfrac12\mathbb{E}\|W_p W x_1 - \mathrm{StopGrad}(W_a x_2)\|^2$ over two views $x_1, x_2$ of
# the same sample (Eq. 1). With $X = \mathbb{E}[\bar x\bar x^\top]$ (augmentation-averaged data) and
# $X' = \mathbb{E}[\mathbb{V}[x'|x]]$ (augmentation noise), gradient flow with predictor rate
# $\alpha_p$, weight decay $\eta$ and EMA rate $\beta$ is Lemma 1 (Eqs. 2-4);
# $W W^\top - \alpha_p^{-1}W_p^\top W_p \to 0$ (Theorem 1), stop-gradient is what prevents collapse
# (Theorem 2), and $W_p$ aligns its eigenvectors with those of $F = WXW^\top$ (Theorem 3). With
# $W_a = \tau W$, $X = I$, $X' = \sigma^2 I$ and a symmetric predictor, every eigenmode $j$
# (eigenvalue $p_j$ of $W_p$, $s_j$ of $F$) evolves on its own (Eqs. 11-13):
#
# $$\dot p_j = \alpha_p s_j[\tau - (1+\sigma^2)p_j] - \eta p_j,\qquad
#   \dot s_j = 2p_j s_j[\tau - (1+\sigma^2)p_j] - 2\eta s_j,\qquad
#   s_j\dot\tau = \beta(1-\tau)s_j - \tau\dot s_j/2 .$$
#
# A mode either collapses ($s_j \to 0$) or settles at
# $p^*_+ = [\tau + \sqrt{\tau^2 - 4\eta(1+\sigma^2)}]/(2(1+\sigma^2))$; for
# $\eta > \eta_c = \tau^2/(4(1+\sigma^2))$ every mode collapses.
#
# **Size.** `SSL_NOTEBOOK_SIZE=smoke` (CI) keeps every step to seconds; the default `full` runs
# larger grids and a longer training run. Everything this notebook writes goes to a fresh
# temporary folder (`OUT`).

# %%
# %matplotlib inline
import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Image, Markdown, display

from dynamics.plots import make_figure
from dynamics.plots.notebook import notebook_setup
from dynamics.theories.directpred.closed_form import fixed_points
from dynamics.theories.directpred.modes import simulate_modes
from dynamics.theories.directpred.phase import S_TOL
from dynamics.train import trainer
from dynamics.train.config import load_config
from dynamics.verify.runner import CONFIG_DIR, VerifyRun, verify

SIZE, OUT = notebook_setup("ssl_start_here")  # SSL_NOTEBOOK_SIZE, temp folder
SMOKE, pick = SIZE.smoke, SIZE.pick

# %% [markdown]
# ## 1. Simulate the mode ODE
# `simulate_modes` integrates Eqs. 11-13 for a whole batch of modes and hyper-parameters at
# once (numpy or torch, CPU or GPU). Here 16 modes with small random $p_j(0)$, $s_j(0)$ and an
# EMA target started at $W_a(0) = 0$ ($\tau_j(0) = 0$), for two weight decays: at the larger one
# the modes that start too small fall into the collapse basin.

# %%
rng = np.random.default_rng(0)
p0, s0 = rng.uniform(0, 0.3, 16), rng.uniform(0, 0.3, 16)
etas = np.array([0.04, 0.15])
traj = simulate_modes(p0, s0, eta=etas[:, None], beta=0.4, tau0=0.0, t_end=300,
                      n_save=pick(151, 601))
fig, axes = plt.subplots(1, 2, figsize=(10, 3.2), sharey=True)
for ax, k in zip(axes, range(len(etas)), strict=True):
    dead = traj.s[-1, k] < S_TOL  # the library's collapse criterion
    for j in range(len(p0)):
        ax.plot(traj.t, traj.s[:, k, j], color="#D55E00" if dead[j] else "#0072B2", lw=0.9)
    p_plus = fixed_points(1.0, 0.0, etas[k])[1]
    ax.axhline(p_plus**2, color="k", ls=":", lw=1, label=r"$s = (p^*_+)^2$ ($\alpha_p = 1$)")
    ax.set(xlabel="t", title=rf"$\eta = {etas[k]:g}$, $\beta = 0.4$: "
                             f"{dead.sum()}/{len(p0)} modes collapse")
    ax.legend(fontsize=7)
axes[0].set_ylabel(r"$s_j(t)$ (eigenvalue of $F$)")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 2. A phase diagram
# `hyperparameter_diagram` (`dynamics.theories.directpred.phase`) runs a batch of modes over a grid
# of two
# hyper-parameters (any two of $\eta, \alpha_p, \beta, \sigma^2, \tau$) and reports the fraction
# that collapses, with the theory's rigorous bounds. The figure `directpred_phase_eta_alpha_p`
# (`dynamics/theories/directpred/figures/phase_diagrams.py`) runs it for weight decay against the
# predictor rate at
# fixed $\tau = 1$, $\sigma^2 = 0.5$, with a regular grid of starts in $(0, 0.3]^2$: beyond
# $\eta_c = \tau^2/(4(1+\sigma^2))$ (dashed) everything collapses; below it a larger
# $\alpha_p$ shrinks the basin of collapse (Obs. 1). Its companion `directpred_phase_eta_beta` does
# the
# same for the EMA rate $\beta$ (`directpred_theory` shows it, with the phase portraits behind
# both and sliders). Command line: `ssl-dynamics figures directpred_phase_eta_alpha_p
# directpred_phase_eta_beta`.

# %%
phase = make_figure("directpred_phase_eta_alpha_p", OUT / "figures", quick=SMOKE)
display(Image(filename=str(phase.png), width=900))
display(Markdown(phase.caption))

# %% [markdown]
# ## 3. Train a real network
# The training engine runs BYOL, SimSiam or SimCLR with every predictor of the DirectPred
# paper and logs what the theory talks about: the spectrum of $F$ (the correlation of the
# predictor's input), the predictor's eigenvalues and their alignment, RankMe, alignment and
# uniformity, kNN and linear-probe accuracy. Below: BYOL with a learned linear predictor on
# scikit-learn's 8x8 digits (offline, CPU). The command line equivalent is
#
#     ssl-dynamics train experiments/train/smoke_byol_digits.yaml out_dir=/tmp/runs
#
# A config is YAML plus `key=value` overrides, checked against a typed schema before anything
# runs.

# %%
overrides = [f"out_dir={OUT / 'runs'}", "log.log_every=1"]
overrides += pick(["optim.epochs=2", "optim.max_steps=20"],
                  ["optim.epochs=10", "optim.max_steps=null"])
cfg = load_config(CONFIG_DIR / "smoke_byol_digits.yaml", overrides)
summary = trainer.train(cfg, progress=False)
run_dir = Path(summary["run_dir"])
rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
train_rows = [r for r in rows if r["kind"] == "train"]
spectra = [json.loads(line) for line in (run_dir / "spectra.jsonl").read_text().splitlines()]

fig, ax = plt.subplots(1, 3, figsize=(13, 3.2))
steps = [r["step"] for r in train_rows]
ax[0].plot(steps, [r["loss"] for r in train_rows])
ax[0].set(xlabel="step", title="BYOL loss")
ax[1].semilogy([s["step"] for s in spectra], [np.clip(s["F_eigs"], 1e-8, None) for s in spectra],
               color="C0", lw=0.8)
ax[1].set(xlabel="step", title=r"eigenvalues of $F$ (predictor input)")
ax[2].plot(steps, [r["predictor/weighted_alignment"] for r in train_rows],
           label=r"eigenspace alignment of $W_p$ with $F$")
ax[2].plot(steps, [r["predictor/asymmetry"] for r in train_rows], label=r"asymmetry of $W_p$")
ax[2].set(xlabel="step", title="Theorem 3 and assumption A3 in training")
ax[2].legend(fontsize=7)
plt.tight_layout()
plt.show()
print(f"{summary['step']} steps; kNN top-1 {summary['knn']['top1']:.3f}, linear probe "
      f"{summary['linear_eval']['final_accuracy']:.3f}, RankMe of the projector "
      f"{summary['collapse']['rankme_projector']:.1f} / {cfg.model.projector_dim}")
print("run folder:", sorted(p.name for p in run_dir.iterdir()))

# %% [markdown]
# ## 4. Verify predictions
# Every testable claim of the theory is a registered prediction (in
# `dynamics/theories/<paper>/predictions`): the
# claim, its source, what the theory says, how to measure it and the rule that judges it.
# `verify` runs what they need and writes `report.md`, `report.json` and one figure per
# prediction. The command line equivalent of the call below is
#
#     ssl-dynamics verify --tier smoke --only directpred.theorem1_invariant ... --out OUT/verify
#
# (without `--only`, all of them; `--tier cpu --data-root cifar10.tar.gz` adds the real-image
# comparisons). Here a handful of simulation predictions at the smoke tier:

# %%
only = ["directpred.theorem1_invariant", "directpred.collapse_threshold",
        "directpred.strong_weight_decay_collapse", "alignment_uniformity.uniformity_reference",
        "dual_networks.covariance_operator_identity"]
run = VerifyRun(tier="smoke", only=only, out=str(OUT / "verify"), runs=str(OUT / "verify_runs"))
report = verify(run, log=lambda line: None)
c = report["counts"]
print(f"{c['confirmed']} confirmed, {c['refuted']} refuted, {c['not run']} not run "
      f"({report['wall_s']:.0f} s)")


def cell(x, n=110):
    """A report value as one short Markdown table cell."""
    text = str(x).replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= n else text[: n - 3] + "..."


display(Markdown("| prediction | outcome | theory | measured |\n|---|---|---|---|\n" + "\n".join(
    f"| `{p['id']}` | **{p['status']}** | {cell(p['theory'])} | {cell(p['measured'])} |"
    for p in report["predictions"])))
first = report["predictions"][1]
print(first["claim"])
display(Image(filename=first["figure"], width=800))

# %% [markdown]
# ## Where next
# | | |
# |---|---|
# | `directpred_theory` | Theorems 1-3, Figs. 3-5, EMA curriculum, SGD vs ODE; sliders |
# | `dual_deep_networks` | covariance operator, contrastive PCA, InfoNCE vs DCL, HLTM |
# | `alignment_uniformity` | Wang & Isola's metrics, features on $S^1$, align vs uniform |
# | `ssl-dynamics reproduce` | every theory figure and the smoke-tier verification |
# | `ssl-dynamics verify --tier smoke` | every prediction of the smoke tier |
# | `ssl-dynamics COMMAND --help` | `figures`, `phase`, `simulate`, `hltm`, `sweep`, `table`, ... |

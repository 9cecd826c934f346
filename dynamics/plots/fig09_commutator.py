"""Fig. 9 (Appendix B): eigenspace alignment under the symmetrised flow, Eq. 67.

Integrates Eq. 67 at constant tau (:func:`~dynamics.theory.reduced.simulate_reduced`,
``kind="eq67"``) from a random, non-aligned symmetric initial state and plots the commutator
||[F, Wp]||_F (:meth:`ReducedTrajectory.commutator_norm`, top row) and the smallest eigenvalue of
Theorem 3's K (:meth:`ReducedTrajectory.K_min_eig`, bottom row). By Theorem 3,
dL/dt = -K L - L K for L = [F, Wp]: while lambda_min(K) > 0 the commutator decays; small or zero
eta and/or large tau make K indefinite and the commutator can grow.

Paper settings: constant tau, various eta. Settings the paper does not state (our choice):
tau in {0.5, 1, 2} (columns), eta in {0, 0.01, 0.1, 0.5}; alpha_p = 1, sigma2 = 0; n = 6;
Wp(0) = (G1 + G1^T)/2 and F(0) = 1e-3 G2 G2^T with G1, G2 i.i.d. N(0, 1/n) (seed 0, identical
for every run; a small F(0) makes Delta_j > s_j/2 early on, where K is indefinite); horizon t = 60;
DOP853 with rtol 1e-12 (the commutator row is cut at 1e-10, below which it is round-off).

Numbers per (tau, eta): max_t ||L(t)|| / ||L(0)|| (growth factor), ||L(T)|| / ||L(0)||,
min_t lambda_min(K), lambda_min(K(T)) and ||F(T)||_F.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dynamics.plots import style
from dynamics.plots.base import FigureResult
from dynamics.theory.reduced import simulate_reduced

N = 6
TAUS = (0.5, 1.0, 2.0)
ETAS = (0.0, 0.01, 0.1, 0.5)
ALPHA_P, SIGMA2 = 1.0, 0.0
F_SCALE = 1e-3
SEED = 0


def initial_state(seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """Random non-aligned symmetric (Wp0, F0) used by the figure."""
    rng = np.random.default_rng(seed)
    G = rng.standard_normal((N, N)) / np.sqrt(N)
    F0 = F_SCALE * G @ G.T
    P = rng.standard_normal((N, N)) / np.sqrt(N)
    return (P + P.T) / 2, F0


def make(out_dir: Path, *, quick: bool = False) -> FigureResult:
    """Draw Fig. 9 (||[F, Wp]||_F and lambda_min(K) under Eq. 67) into ``out_dir``."""
    t_end = 60.0
    n_save = 241 if quick else 1201
    Wp0, F0 = initial_state()
    numbers: dict[str, float | str] = {"n": float(N), "t_end": t_end}
    with style.paper_style():
        fig, axes = style.new_figure(2, 3, width=12.5, height=6.6, sharex=True)
        for c, tau in enumerate(TAUS):
            for k, eta in enumerate(ETAS):
                tr = simulate_reduced(Wp0, F0, kind="eq67", alpha_p=ALPHA_P, eta=eta,
                                      sigma2=SIGMA2, tau=tau, t_end=t_end, n_save=n_save,
                                      rtol=1e-12, atol=1e-14)
                if tr.status != "completed":
                    raise RuntimeError(f"fig9 (tau={tau}, eta={eta}): {tr.status}")
                L = tr.commutator_norm()
                K = tr.K_min_eig()
                col = style.SWEEP[k if k < 2 else k + 1]
                axes[0, c].plot(tr.t, L, color=col, lw=1.5, label=rf"$\eta={eta:g}$")
                axes[1, c].plot(tr.t, K, color=col, lw=1.5, label=rf"$\eta={eta:g}$")
                key = f"tau={tau:g}_eta={eta:g}"
                numbers[f"{key}_L_growth"] = float(L.max() / L[0])
                numbers[f"{key}_L_final_rel"] = float(L[-1] / L[0])
                numbers[f"{key}_Kmin_min"] = float(K.min())
                numbers[f"{key}_Kmin_final"] = float(K[-1])
                numbers[f"{key}_F_norm_final"] = float(np.linalg.norm(tr.F[-1]))
            axes[0, c].set_yscale("log")
            axes[0, c].set_title(rf"$\tau = {tau:g}$: commutator $\|[F, W_p]\|_F$")
            axes[1, c].set_title(rf"$\tau = {tau:g}$: $\lambda_{{\min}}(K)$ (Theorem 3)")
            axes[1, c].axhline(0, color="0.5", lw=0.8, ls=":")
            axes[1, c].set_xlabel("$t$")
            axes[1, c].set_xlim(0, t_end)
            for r in range(2):
                axes[r, c].grid(alpha=0.25, lw=0.5)
        # Shared log range for the commutator row.
        lo = min(ax.get_ylim()[0] for ax in axes[0])
        hi = max(ax.get_ylim()[1] for ax in axes[0])
        for ax in axes[0]:
            ax.set_ylim(max(lo, 1e-10), hi)
        axes[0, 0].set_ylabel(r"$\|[F, W_p]\|_F$")
        axes[1, 0].set_ylabel(r"$\lambda_{\min}(K(t))$")
        handles, labels = axes[0, 0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside upper center", ncols=len(ETAS))
        style.settings_note(
            fig, rf"Eq. 67 (symmetrised), constant $\tau$, $\alpha_p={ALPHA_P:g}$, "
                 rf"$\sigma^2={SIGMA2:g}$, $n={N}$; ours: $W_p(0)$ random symmetric, "
                 rf"$F(0)={F_SCALE:g}\,GG^\top$, entries $\mathcal{{N}}(0,1/n)$ (seed {SEED}), "
                 r"same initial state in every panel; below $10^{-10}$ the commutator is at "
                 "round-off level (not shown).")
        paths = style.save_figure(fig, out_dir, "fig09_commutator")
    return FigureResult("fig9", paths, numbers,
                        settings={"n": N, "taus": list(TAUS), "etas": list(ETAS),
                                  "alpha_p": ALPHA_P, "sigma2": SIGMA2, "F_scale": F_SCALE,
                                  "seed": SEED, "t_end": t_end})

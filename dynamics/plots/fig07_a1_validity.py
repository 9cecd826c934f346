"""Fig. 7 (Appendix B): how well assumption A1 (Wa = tau W) holds in full-matrix BYOL dynamics.

Integrates Lemma 1 (Eqs. 2-4: learned, non-symmetric predictor, EMA target, stop-gradient) with
:func:`~dynamics.theory.matrix_flow.simulate_matrix` and plots the normalised correlation
<Wa, W>_F / (||Wa||_F ||W||_F) (:meth:`MatrixTrajectory.target_correlation`) over time,
mean +- one standard deviation over random initialisations. A1 holds exactly when it equals 1.

Paper settings: X = I, X' = sigma^2 I with sigma = 0.03, eta in {0, 0.01, 0.1}, several EMA
momenta gamma_a, 10 random initialisations, Wa(0) = 0.
Settings the paper does not state (our choice): n1 = n2 = 10; alpha_p = 1; SGD rate alpha = 0.01,
so beta = (1 - gamma_a)/alpha with gamma_a in {0.9, 0.99, 0.996} (beta = 10, 1, 0.4); W(0) and
Wp(0) with i.i.d. N(0, 0.3^2/n) entries (seeds 0-9); horizon t = 100 (10k SGD steps);
solve_ivp DOP853 with rtol 1e-7. ``quick``: 3 seeds, t = 40.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dynamics.plots import style
from dynamics.plots.base import FigureResult
from dynamics.theory.matrix_flow import MatrixFlowConfig, simulate_matrix

N = 10
SIGMA = 0.03
ETAS = (0.0, 0.01, 0.1)
GAMMAS = (0.9, 0.99, 0.996)
ALPHA_SGD = 0.01
ALPHA_P = 1.0
INIT_SCALE = 0.3


def _runs(eta: float, beta: float, seeds: range, t_end: float, n_save: int):
    X = np.eye(N)
    Xp = SIGMA**2 * np.eye(N)
    cfg = MatrixFlowConfig(alpha_p=ALPHA_P, beta=beta, eta=eta, predictor="learned",
                           target="ema")
    corr, s_final = [], []
    t = None
    for seed in seeds:
        rng = np.random.default_rng(seed)
        W0 = INIT_SCALE * rng.standard_normal((N, N)) / np.sqrt(N)
        Wp0 = INIT_SCALE * rng.standard_normal((N, N)) / np.sqrt(N)
        tr = simulate_matrix(W0, X, Xp, cfg, Wp0=Wp0, Wa0=np.zeros((N, N)), t_end=t_end,
                             n_save=n_save, rtol=1e-7, atol=1e-10)
        if not tr.ok:
            raise RuntimeError(f"fig7 run (eta={eta}, beta={beta}, seed={seed}): {tr.status}")
        t = tr.t
        corr.append(tr.target_correlation())
        s_final.append(tr.F_eigvals()[-1])
    return t, np.array(corr), np.array(s_final)


def make(out_dir: Path, *, quick: bool = False) -> FigureResult:
    """Draw Fig. 7 (correlation of Wa and W under Lemma 1, Eqs. 2-4) into ``out_dir``."""
    seeds = range(3 if quick else 10)
    t_end = 40.0 if quick else 100.0
    n_save = 161 if quick else 401
    numbers: dict[str, float | str] = {"sigma": SIGMA, "n_seeds": float(len(seeds)),
                                       "t_end": t_end}
    overall_min = 1.0
    with style.paper_style():
        fig, axes = style.new_figure(1, 3, width=12.5, height=3.9, sharey=True)
        for k, eta in enumerate(ETAS):
            ax = axes[0, k]
            for c, gamma in enumerate(GAMMAS):
                beta = (1 - gamma) / ALPHA_SGD
                t, corr, s_fin = _runs(eta, beta, seeds, t_end, n_save)
                # t = 0 is undefined (Wa(0) = 0); start at the first saved time.
                tt, cc = t[1:], corr[:, 1:]
                mean, sd = cc.mean(0), cc.std(0)
                col = style.SWEEP[[0, 2, 4][c]]
                ax.plot(tt, mean, color=col, lw=1.5,
                        label=rf"$\gamma_a={gamma:g}$ ($\beta={beta:.3g}$)")
                ax.fill_between(tt, mean - sd, np.minimum(mean + sd, 1.0), color=col,
                                alpha=0.2, lw=0)
                key = f"eta={eta:g}_gamma={gamma:g}"
                numbers[f"{key}_corr_min"] = float(cc.min())
                numbers[f"{key}_corr_mean_min"] = float(mean.min())
                numbers[f"{key}_corr_final_mean"] = float(mean[-1])
                numbers[f"{key}_n_live_modes_mean"] = float((s_fin > 1e-6).sum(1).mean())
                overall_min = min(overall_min, float(cc.min()))
            ax.set_title(rf"$\eta = {eta:g}$, $\sigma = {SIGMA:g}$")
            ax.set_xlabel(r"$t$ = 0.01 $\times$ SGD steps")
            ax.set_xscale("log")
            ax.set_xlim(t[1], t_end)
            ax.grid(alpha=0.25, lw=0.5)
            if k == 0:
                ax.set_ylabel(r"$\langle W_a, W\rangle / (\|W_a\|\,\|W\|)$")
        axes[0, 0].legend(loc="lower left")
        lo = min(overall_min, 0.99)
        axes[0, 0].set_ylim(lo - 0.15 * (1 - lo), 1.0 + 0.05 * (1 - lo))
        numbers["corr_min_overall"] = overall_min
        style.settings_note(
            fig, rf"Lemma 1 (learned $W_p$, EMA target), $X=I$, $X'=\sigma^2 I$, "
                 rf"$W_a(0)=0$; mean $\pm$ sd over {len(seeds)} seeds. Ours: $n_1=n_2={N}$, "
                 rf"$\alpha_p={ALPHA_P:g}$, $\beta=(1-\gamma_a)/0.01$, "
                 rf"$W(0),W_p(0)\sim\mathcal{{N}}(0,{INIT_SCALE:g}^2/n)$.")
        paths = style.save_figure(fig, out_dir, "fig07_a1_validity")
    return FigureResult("fig7", paths, numbers,
                        settings={"n1": N, "n2": N, "sigma": SIGMA, "etas": list(ETAS),
                                  "gammas": list(GAMMAS), "alpha_sgd": ALPHA_SGD,
                                  "alpha_p": ALPHA_P, "init_scale": INIT_SCALE,
                                  "seeds": list(seeds), "t_end": t_end})

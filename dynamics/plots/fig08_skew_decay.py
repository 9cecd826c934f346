"""Fig. 8 (Appendix B): the non-symmetrised reduced flow drives the predictor to be symmetric.

Integrates Eq. 62's predictor equation on Theorem 1's balanced manifold F = Wp^T Wp / alpha_p
(C = 0) at constant tau (:func:`~dynamics.theory.reduced.simulate_reduced` with
``kind="balanced"``) and plots ||A||_F and ||B||_F, A = (Wp + Wp^T)/2, B = (Wp - Wp^T)/2
(:meth:`ReducedTrajectory.sym_skew_norms`). Paper's statement: B always -> 0; A -> 0 when eta is
large and/or tau small (eta > tau^2/(4(1+sigma2)) in the aligned-mode picture).

Paper settings: constant tau grid, eta in {0.001, 0.01, 0.05}.
Settings the paper does not state (our choice): tau in {0.2, 0.5, 1}; alpha_p = 1; sigma2 = 0;
n = 8; Wp(0) with i.i.d. N(0, 1/n) entries (non-symmetric, seed 0, the same for every panel);
horizon t = 200; DOP853 with rtol 1e-10, atol 1e-12 (norms below ~1e-10 are at the integrator's
tolerance and are clipped in the plot).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dynamics.plots import style
from dynamics.plots.base import FigureResult
from dynamics.theory.closed_form import collapse_threshold
from dynamics.theory.reduced import simulate_reduced

N = 8
ETAS = (0.001, 0.01, 0.05)
TAUS = (0.2, 0.5, 1.0)
ALPHA_P, SIGMA2 = 1.0, 0.0
SEED = 0
FLOOR = 1e-10


def make(out_dir: Path, *, quick: bool = False) -> FigureResult:
    """Draw Fig. 8 (||A||_F and ||B||_F under Eq. 62 on the balanced manifold) into ``out_dir``."""
    t_end = 200.0
    n_save = 201 if quick else 801
    rng = np.random.default_rng(SEED)
    Wp0 = rng.standard_normal((N, N)) / np.sqrt(N)
    numbers: dict[str, float | str] = {"n": float(N), "t_end": t_end}
    ratio_max = 0.0
    with style.paper_style():
        fig, axes = style.new_figure(1, 3, width=12.5, height=4.0, sharey=True)
        for k, eta in enumerate(ETAS):
            ax = axes[0, k]
            for c, tau in enumerate(TAUS):
                tr = simulate_reduced(Wp0, kind="balanced", alpha_p=ALPHA_P, eta=eta,
                                      sigma2=SIGMA2, tau=tau, t_end=t_end, n_save=n_save)
                if tr.status != "completed":
                    raise RuntimeError(f"fig8 (eta={eta}, tau={tau}): {tr.status}")
                A, B = tr.sym_skew_norms()
                col = style.SWEEP[[0, 2, 4][c]]
                ax.plot(tr.t, np.maximum(A, FLOOR), color=col, lw=1.6,
                        label=rf"$\|A\|_F$, $\tau={tau:g}$")
                ax.plot(tr.t, np.maximum(B, FLOOR), color=col, lw=1.3, ls="--",
                        label=rf"$\|B\|_F$, $\tau={tau:g}$")
                key = f"eta={eta:g}_tau={tau:g}"
                numbers[f"{key}_A0"] = float(A[0])
                numbers[f"{key}_B0"] = float(B[0])
                numbers[f"{key}_A_final"] = float(A[-1])
                numbers[f"{key}_B_final"] = float(B[-1])
                numbers[f"{key}_A_collapsed"] = "yes" if A[-1] < 1e-3 else "no"
                ratio_max = max(ratio_max, float(B[-1] / B[0]))
            ax.set_yscale("log")
            ax.set_ylim(FLOOR / 3, 10)
            ax.set_xlim(0, t_end)
            ax.set_xlabel("$t$")
            eta_c = ", ".join(rf"{float(collapse_threshold(t, SIGMA2)):.3g}" for t in TAUS)
            ax.set_title(rf"$\eta = {eta:g}$  (collapse threshold $\tau^2/4$ = {eta_c})")
            ax.grid(alpha=0.25, lw=0.5)
            if k == 0:
                ax.set_ylabel(r"$\|A\|_F$ (solid), $\|B\|_F$ (dashed)")
        handles, labels = axes[0, 0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside upper center", ncols=6)
        numbers["B_final_over_B0_max"] = ratio_max
        style.settings_note(
            fig, rf"Eq. 62 on $F = W_p^\top W_p/\alpha_p$ (Thm 1, $C=0$), constant $\tau$; "
                 rf"$A=(W_p+W_p^\top)/2$, $B=(W_p-W_p^\top)/2$. Ours: $n={N}$, "
                 rf"$\alpha_p={ALPHA_P:g}$, $\sigma^2={SIGMA2:g}$, $W_p(0)$ i.i.d. "
                 rf"$\mathcal{{N}}(0,1/n)$ (seed {SEED}); norms clipped at {FLOOR:g}.")
        paths = style.save_figure(fig, out_dir, "fig08_skew_decay")
    return FigureResult("fig8", paths, numbers,
                        settings={"n": N, "etas": list(ETAS), "taus": list(TAUS),
                                  "alpha_p": ALPHA_P, "sigma2": SIGMA2, "seed": SEED,
                                  "t_end": t_end})

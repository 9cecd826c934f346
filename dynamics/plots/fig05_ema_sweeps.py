"""Fig. 5: synthetic decoupled dynamics with EMA (Eqs. 11-13), symmetric predictor.

Each mode j evolves by Eqs. 11-13 with its own EMA ratio tau_j (Eq. 13), started from
tau_j(0) = 0 (Wa(0) = 0), integrated for all modes and all hyper-parameter settings in one batched
:func:`~dynamics.theory.modes.simulate_modes` call. Columns: p_j(t), s_j(t) and
min_j lambda_j(K), the smallest eigenvalue of Theorem 3's K on the modes
(:func:`~dynamics.theory.closed_form.k_eigenvalue`; K > 0 means eigenspace alignment is stable).

Paper settings: SGD rate alpha = 0.01, baseline beta = 0.4 (EMA momentum 1 - alpha beta = 0.996)
and eta = 0.04 (alpha eta = 4e-4); time t = alpha x (number of SGD steps).
Settings the paper does not state (our choice): alpha_p = 1, sigma2 = 0; 8 modes with
p_j(0) ~ U(0, 0.3), s_j(0) ~ U(0, 0.3) (seed 0; the same modes in every run); horizon t = 300
(30k steps); top row eta in {0.01, 0.04, 0.2} at beta = 0.4; bottom row beta in
{0.04, 0.4, 4} (momentum 0.9996, 0.996, 0.96) at eta = 0.04. Non-negative p_j(0) are used because
Eq. 13's ratio tau_j = Wa/W is singular when a mode's W changes sign, which a negative p_j drives
it to do (tau_j then blows up in finite time).

Numbers: per setting the number of collapsed modes (s_j(T) < 1e-6), the surviving p_j(T), the
minimum over time of min_j lambda_j(K), and the convergence time (first time after which every
s_j stays within 2% of max_j s_j(T) of its final value).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dynamics.plots import style
from dynamics.plots.base import FigureResult
from dynamics.theory.closed_form import k_eigenvalue
from dynamics.theory.modes import simulate_modes

ALPHA_SGD = 0.01
ALPHA_P, SIGMA2 = 1.0, 0.0
BETA0, ETA0 = 0.4, 0.04
ETA_SWEEP = (0.01, 0.04, 0.2)
BETA_SWEEP = (0.04, 0.4, 4.0)
SEED = 0


def _convergence_time(t: np.ndarray, s: np.ndarray, frac: float = 0.02) -> float:
    """First time after which every s_j stays within ``frac * max_j s_j(T)`` of s_j(T)."""
    tol = frac * max(float(np.max(np.abs(s[-1]))), 1e-12)
    ok = np.all(np.abs(s - s[-1]) <= tol, axis=1)
    if ok.all():
        return float(t[0])
    last_bad = len(ok) - 1 - int(np.argmax(~ok[::-1]))
    return float(t[min(last_bad + 1, len(t) - 1)])


def make(out_dir: Path, *, quick: bool = False) -> FigureResult:
    """Draw Fig. 5 (Eqs. 11-13 with EMA, eta and beta sweeps) into ``out_dir``."""
    n_modes = 8
    t_end = 300.0
    n_save = 301 if quick else 1201
    rng = np.random.default_rng(SEED)
    p0 = rng.uniform(0.0, 0.3, n_modes)
    s0 = rng.uniform(0.0, 0.3, n_modes)
    settings = [("eta", e, e, BETA0) for e in ETA_SWEEP] + [("beta", b, ETA0, b)
                                                          for b in BETA_SWEEP]
    eta = np.array([s[2] for s in settings])[:, None]
    beta = np.array([s[3] for s in settings])[:, None]
    tr = simulate_modes(p0[None, :], s0[None, :], alpha_p=ALPHA_P, eta=eta, sigma2=SIGMA2,
                        tau0=0.0, beta=beta, t_end=t_end, n_save=n_save)
    if not tr.ok:
        raise RuntimeError(f"fig5 simulation did not complete: {tr.status_text()}")
    t = tr.t
    # K's eigenvalue on each mode, with each mode's own tau_j; shape (T, settings, modes).
    k = k_eigenvalue(tr.p, tr.s, tr.tau, ALPHA_P, eta[None], SIGMA2)
    kmin = k.min(axis=2)

    numbers: dict[str, float | str] = {"n_modes": float(n_modes), "t_end": t_end}
    for i, (kind, val, _eta, _beta) in enumerate(settings):
        key = f"{kind}={val:g}"
        s_end = tr.s[-1, i]
        alive = s_end >= 1e-6
        numbers[f"{key}_n_collapsed"] = float((~alive).sum())
        numbers[f"{key}_p_final_max"] = float(tr.p[-1, i].max())
        numbers[f"{key}_s_final_max"] = float(s_end.max())
        numbers[f"{key}_minK_min"] = float(kmin[:, i].min())
        numbers[f"{key}_t_converge"] = _convergence_time(t, tr.s[:, i])
        numbers[f"{key}_tau_final_alive_mean"] = (float(tr.tau[-1, i][alive].mean())
                                                  if alive.any() else float("nan"))

    with style.paper_style():
        fig, axes = style.new_figure(2, 3, width=12.5, height=7.0)
        rows = (("eta", r"$\eta$", ETA_SWEEP, rf"$\beta={BETA0:g}$"),
                ("beta", r"$\beta$", BETA_SWEEP, rf"$\eta={ETA0:g}$"))
        for r, (kind, sym, vals, fixed) in enumerate(rows):
            idx = [i for i, s in enumerate(settings) if s[0] == kind]
            for c, i in enumerate(idx):
                col = style.SWEEP[[0, 2, 4][c]]
                mom = 1 - ALPHA_SGD * settings[i][3]
                lab = f"{sym} = {vals[c]:g}" + (f" (EMA momentum {mom:.4g})"
                                                if kind == "beta" else "")
                axes[r, 0].plot(t, tr.p[:, i], color=col, lw=0.9, alpha=0.85)
                axes[r, 1].plot(t, tr.s[:, i], color=col, lw=0.9, alpha=0.85)
                axes[r, 2].plot(t, kmin[:, i], color=col, lw=1.5, label=lab)
                axes[r, 0].plot([], [], color=col, label=lab)
            axes[r, 2].axhline(0, color="0.5", lw=0.8, ls=":")
            axes[r, 0].set_ylabel(r"$p_j(t)$ (eigenvalues of $W_p$)")
            axes[r, 1].set_ylabel(r"$s_j(t)$ (eigenvalues of $F$)")
            axes[r, 2].set_ylabel(r"$\min_j \lambda_j(K)$")
            axes[r, 0].legend(loc="lower right")
            axes[r, 2].legend(loc="lower right")
            what = "weight decay" if kind == "eta" else "EMA rate"
            for c in range(3):
                axes[r, c].set_title(f"vary {what} {sym} ({fixed}): "
                                     + ("$p_j$", "$s_j$", r"$\lambda_{\min}(K)$")[c])
                axes[r, c].set_xlabel(r"$t$ = 0.01 $\times$ SGD steps")
                axes[r, c].set_xlim(0, t_end)
            axes[r, 2].set_xscale("symlog", linthresh=10.0)
            axes[r, 2].set_xlim(0, t_end)
        style.settings_note(
            fig, rf"Eqs. 11-13, symmetric $W_p$, $\alpha_p={ALPHA_P:g}$, $\sigma^2={SIGMA2:g}$, "
                 rf"$\tau_j(0)=0$ ($W_a(0)=0$); {n_modes} modes, $p_j(0),s_j(0)\sim U(0,0.3)$ "
                 rf"(seed {SEED}); paper baseline $\beta={BETA0:g}$, $\eta={ETA0:g}$, "
                 r"$\alpha=0.01$; mode count, initial law, $\sigma^2$ and sweep values are ours."
                 "\nOne line per mode; right column: smallest eigenvalue of Theorem 3's K over "
                 "the modes (symlog time axis).")
        paths = style.save_figure(fig, out_dir, "fig05_ema_sweeps")
    return FigureResult("fig5", paths, numbers,
                        settings={"alpha_p": ALPHA_P, "sigma2": SIGMA2, "n_modes": n_modes,
                                  "p0": p0.tolist(), "s0": s0.tolist(), "t_end": t_end,
                                  "eta_sweep": list(ETA_SWEEP), "beta_sweep": list(BETA_SWEEP),
                                  "beta0": BETA0, "eta0": ETA0, "seed": SEED})

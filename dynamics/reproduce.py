"""One-command reproduction: every registered paper figure plus headline checks of the theory.

:func:`run_reproduce` makes all figures of :data:`dynamics.plots.FIGURES` into
``out_dir/figures/`` and runs a handful of quantitative checks, each a fresh simulation whose
measured value is compared with what the paper's theory says:

* ``theorem1_invariant`` — Theorem 1: along a random full-matrix EMA trajectory (learned
  non-symmetric predictor, random non-isotropic X and X', alpha_p != 1, eta > 0),
  W W^T - Wp^T Wp / alpha_p - e^{-2 eta t} C stays 0 (relative residual, integrator accuracy).
* ``collapse_threshold`` — Obs. #5 / Eq. 16: modes started on the invariant parabola at fixed
  tau survive iff p0 > p*_- when eta is 5% below tau^2/(4(1+sigma2)) (ending at p*_+), and all
  collapse when eta is 5% above it (one batched ``simulate_modes`` call).
* ``no_predictor_collapse`` — Remark after Theorem 2: without a predictor (Wp = I, Wa = W,
  stop-grad), ||W(T)|| / ||W(0)|| -> 0 and stays below Lemma 2's bound.
* ``no_stopgrad_collapse`` — Theorem 2: without stop-gradient (learned predictor), W -> 0.
* ``sgd_vs_ode`` — Sec. 1.3 mapping: minibatch SGD with sampled data
  (:func:`dynamics.theory.sgd.simulate_sgd`, :class:`AdditiveGaussian`) follows the ODE
  (:func:`simulate_matrix`): max over time of ||F_sgd - F_ode||_F / ||F_ode||_F.
* ``batched_vs_scipy`` — the batched torch integrator (``simulate_modes``) against
  ``scipy.integrate.solve_ivp`` on Eqs. 11-13 (``modes.mode_rhs``) for a few modes.

Every number written is computed in the run. Results go to ``out_dir/summary.json`` and
``out_dir/summary.md`` (both written atomically).
"""

from __future__ import annotations

import json
import math
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dynamics.config import option
from dynamics.io import atomic_write_text, jsonable

# --------------------------------------------------------------------------------------------
# Checks


def _check(name: str, description: str, measured: float, threshold: float, passed: bool,
           **details: Any) -> dict[str, Any]:
    return {"name": name, "description": description, "measured": float(measured),
            "threshold": float(threshold), "passed": bool(passed), "details": details}


def _random_psd(rng: np.random.Generator, n: int, scale: float, floor: float) -> np.ndarray:
    A = rng.standard_normal((n, n))
    return scale * A @ A.T / n + floor * np.eye(n)


def check_theorem1(quick: bool) -> dict[str, Any]:
    from dynamics.theory.matrix_flow import MatrixFlowConfig, simulate_matrix

    rng = np.random.default_rng(11)
    n2, n1 = 4, 5
    X = _random_psd(rng, n1, 1.0, 0.3)
    Xp = _random_psd(rng, n1, 0.3, 0.05)
    W0 = rng.standard_normal((n2, n1)) / np.sqrt(n1)
    Wp0 = rng.standard_normal((n2, n2)) / np.sqrt(n2)
    cfg = MatrixFlowConfig(alpha_p=2.0, beta=0.5, eta=0.05, predictor="learned", target="ema")
    t_end = 10.0 if quick else 30.0
    tr = simulate_matrix(W0, X, Xp, cfg, Wp0=Wp0, Wa0=np.zeros((n2, n1)), t_end=t_end,
                         n_save=101)
    res = float(np.nanmax(tr.invariant_residual()))
    thr = 1e-8
    return _check("theorem1_invariant",
                  "Theorem 1: max_t |W W^T - Wp^T Wp/alpha_p - e^{-2 eta t} C| (relative), "
                  "full-matrix EMA flow, learned predictor, random X, X'",
                  res, thr, tr.ok and res < thr, status=tr.status, n1=n1, n2=n2,
                  alpha_p=cfg.alpha_p, beta=cfg.beta, eta=cfg.eta, t_end=t_end,
                  C0_norm=float(np.linalg.norm(tr.invariant_C0())))


def check_collapse_threshold(quick: bool) -> dict[str, Any]:
    from dynamics.theory.closed_form import collapse_threshold, fixed_points
    from dynamics.theory.modes import simulate_modes

    tau, sigma2, alpha_p = 1.0, 0.2, 1.0
    eta_c = float(collapse_threshold(tau, sigma2))
    etas = np.array([0.95 * eta_c, 1.05 * eta_c])
    p0 = np.linspace(0.01, 1.0, 40 if quick else 120)
    tr = simulate_modes(p0[None, :], p0[None, :] ** 2 / alpha_p, alpha_p=alpha_p,
                        eta=etas[:, None], sigma2=sigma2, tau0=tau, beta=None,
                        t_end=600.0, n_save=2)
    p_end, s_end = tr.p[-1], tr.s[-1]
    pm, pp = (float(v) for v in fixed_points(tau, sigma2, etas[0]))
    clear = np.abs(p0 - pm) > 0.01  # starts right at the unstable point may not have left yet
    survive_below = s_end[0] >= 1e-6
    predicted = p0 > pm
    agree = float(np.mean(survive_below[clear] == predicted[clear]))
    p_err = float(np.max(np.abs(p_end[0][survive_below] - pp))) if survive_below.any() else 0.0
    max_s_above = float(np.max(s_end[1]))
    passed = tr.ok and agree == 1.0 and p_err < 1e-4 and max_s_above < 1e-6
    return _check("collapse_threshold",
                  "Eq. 16 / Obs. #5 on the parabola at fixed tau: eta = 0.95 eta_c -> survive iff "
                  "p0 > p*_- (agreement fraction measured); eta = 1.05 eta_c -> all collapse",
                  agree, 1.0, passed, eta_c=eta_c, eta_below=float(etas[0]),
                  eta_above=float(etas[1]), p_minus=pm, p_plus=pp, tau=tau, sigma2=sigma2,
                  survive_fraction_below=float(survive_below.mean()),
                  survivor_p_max_err=p_err, max_final_s_above=max_s_above,
                  n_modes=int(p0.size), status=tr.status_text())


def _collapse_run(cfg_kwargs: dict, quick: bool, seed: int):
    from dynamics.theory.matrix_flow import MatrixFlowConfig, simulate_matrix

    rng = np.random.default_rng(seed)
    n2, n1 = 4, 5
    sigma2 = 0.3
    X, Xp = np.eye(n1), sigma2 * np.eye(n1)
    W0 = rng.standard_normal((n2, n1)) / np.sqrt(n1)
    Wp0 = np.eye(n2) + 0.3 * rng.standard_normal((n2, n2)) / np.sqrt(n2)
    cfg = MatrixFlowConfig(**cfg_kwargs)
    t_end = 30.0 if quick else 60.0
    tr = simulate_matrix(W0, X, Xp, cfg, Wp0=Wp0, t_end=t_end, n_save=121)
    return tr, sigma2, t_end


def check_no_predictor(quick: bool) -> dict[str, Any]:
    from dynamics.theory.matrix_flow import lemma2_bound

    tr, sigma2, t_end = _collapse_run({"predictor": "identity", "target": "simsiam",
                                       "eta": 0.0}, quick, seed=12)
    norm = tr.W_norm()
    ratio = float(norm[-1] / norm[0])
    _, lemma2 = lemma2_bound(tr)
    within = bool(np.all(norm <= lemma2 * (1 + 1e-6) + 1e-12))
    thr = 1e-3
    return _check("no_predictor_collapse",
                  "No predictor (Wp = I, Wa = W, stop-grad), X = I, X' = sigma2 I: "
                  "||W(T)||/||W(0)||; also below Lemma 2's bound e^{-lambda0 t}||W(0)||",
                  ratio, thr, tr.ok and ratio < thr and within, sigma2=sigma2, t_end=t_end,
                  below_lemma2_bound=within, lemma2_ratio=float(lemma2[-1] / norm[0]))


def check_no_stopgrad(quick: bool) -> dict[str, Any]:
    tr, sigma2, t_end = _collapse_run({"predictor": "learned", "target": "simsiam",
                                       "stop_grad": False, "eta": 0.0}, quick, seed=13)
    norm = tr.W_norm()
    ratio = float(norm[-1] / norm[0])
    thr = 1e-2
    return _check("no_stopgrad_collapse",
                  "Theorem 2: no stop-gradient (Wa = W, learned predictor), X = I, "
                  "X' = sigma2 I: ||W(T)||/||W(0)||",
                  ratio, thr, tr.ok and ratio < thr, sigma2=sigma2, t_end=t_end)


def check_sgd_vs_ode(quick: bool) -> dict[str, Any]:
    from dynamics.theory.data_models import AdditiveGaussian
    from dynamics.theory.matrix_flow import MatrixFlowConfig, simulate_matrix
    from dynamics.theory.sgd import simulate_sgd

    rng = np.random.default_rng(14)
    n2, n1 = 3, 4
    data = AdditiveGaussian.isotropic(n1, 0.1)
    W0 = rng.standard_normal((n2, n1)) / np.sqrt(n1)
    Wp0 = rng.standard_normal((n2, n2)) / np.sqrt(n2)
    cfg = MatrixFlowConfig(alpha_p=1.0, beta=1.0, eta=0.01, predictor="learned", target="ema")
    lr = 5e-3 if quick else 2e-3
    batch = 1024 if quick else 4096
    t_end = 5.0
    n_save = 51
    sgd = simulate_sgd(W0, data, cfg, Wp0=Wp0, lr=lr, batch_size=batch, t_end=t_end,
                       n_save=n_save, seed=0)
    ode = simulate_matrix(W0, data.X, data.Xprime, cfg, Wp0=Wp0, t_end=t_end, n_save=n_save)
    F_ode = ode.F
    if sgd.t.shape != ode.t.shape or not np.allclose(sgd.t, ode.t, atol=1e-9):
        flat = F_ode.reshape(F_ode.shape[0], -1)
        F_ode = np.stack([np.interp(sgd.t, ode.t, flat[:, k]) for k in range(flat.shape[1])],
                         axis=1).reshape((sgd.t.size,) + F_ode.shape[1:])
    err = np.linalg.norm(sgd.F - F_ode, axis=(-2, -1)) / np.linalg.norm(F_ode, axis=(-2, -1))
    worst = float(np.max(err))
    thr = 0.05
    return _check("sgd_vs_ode",
                  "Minibatch SGD (sampled additive-Gaussian data) vs the ODE of Lemma 1: "
                  "max_t ||F_sgd - F_ode||_F / ||F_ode||_F",
                  worst, thr, sgd.ok and ode.ok and worst < thr, lr=lr, batch_size=batch,
                  t_end=t_end, n_steps=int(round(t_end / lr)), sigma2=0.1,
                  F_growth=float(np.linalg.norm(F_ode[-1]) / np.linalg.norm(F_ode[0])))


def check_batched_vs_scipy(quick: bool) -> dict[str, Any]:
    from scipy.integrate import solve_ivp

    from dynamics.theory.modes import mode_rhs, simulate_modes

    # (p0, s0, tau0, beta or None, eta, sigma2, alpha_p)
    cases = [
        (0.3, 0.2, 1.0, None, 0.0, 0.0, 1.0),
        (0.2, 0.05, 1.0, None, 0.02, 0.1, 2.0),
        (0.05, 0.3, 1.0, None, 0.05, 0.0, 1.0),
        (0.2, 0.1, 0.0, 0.4, 0.04, 0.0, 1.0),
        (0.1, 0.25, 0.0, 1.0, 0.01, 0.2, 0.5),
    ]
    t_end = 50.0 if quick else 100.0
    t_eval = np.linspace(0.0, t_end, 101)
    worst = 0.0
    per_case = []
    for p0, s0, tau0, beta, eta, sigma2, alpha_p in cases:
        tr = simulate_modes(p0, s0, alpha_p=alpha_p, eta=eta, sigma2=sigma2, tau0=tau0,
                            beta=beta, t_end=t_end, n_save=101, rtol=1e-10, atol=1e-12)

        def rhs(_t, y, beta=beta, eta=eta, sigma2=sigma2, alpha_p=alpha_p):
            return list(mode_rhs(y[0], y[1], y[2], alpha_p=alpha_p, eta=eta, sigma2=sigma2,
                                 beta=beta))

        ref = solve_ivp(rhs, (0.0, t_end), [p0, s0, tau0], method="DOP853", t_eval=t_eval,
                        rtol=1e-12, atol=1e-14)
        ours = np.stack([tr.p, tr.s, tr.tau], axis=0)
        scale = max(1.0, float(np.max(np.abs(ref.y))))
        diff = float(np.max(np.abs(ours - ref.y)) / scale)
        per_case.append(diff)
        worst = max(worst, diff)
    thr = 1e-6
    return _check("batched_vs_scipy",
                  "Batched torch integrator (simulate_modes) vs scipy solve_ivp(DOP853) on "
                  "Eqs. 11-13: max relative deviation over time and cases",
                  worst, thr, worst < thr, n_cases=len(cases), t_end=t_end,
                  per_case=per_case)


CHECKS: dict[str, Callable[[bool], dict[str, Any]]] = {
    "theorem1_invariant": check_theorem1,
    "collapse_threshold": check_collapse_threshold,
    "no_predictor_collapse": check_no_predictor,
    "no_stopgrad_collapse": check_no_stopgrad,
    "sgd_vs_ode": check_sgd_vs_ode,
    "batched_vs_scipy": check_batched_vs_scipy,
}


# --------------------------------------------------------------------------------------------
# Output


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        if not math.isfinite(v):
            return str(v)
        if v == 0 or 1e-3 <= abs(v) < 1e4:
            return f"{v:.6g}"
        return f"{v:.3e}"
    return str(v)


def _cell(v: Any) -> str:
    """A Markdown table cell: formatted value with pipes escaped."""
    return _fmt(v).replace("|", "\\|")


def render_markdown(summary: dict[str, Any]) -> str:
    """The reproduction summary as Markdown: environment, theory checks table and figures."""
    lines = ["# Reproduction summary: Tian, Chen & Ganguli (ICML 2021)", ""]
    lines.append(f"- mode: {'quick' if summary['quick'] else 'full'}; total runtime "
                 f"{summary['runtime_s']:.1f} s; all checks passed: "
                 f"**{'yes' if summary['all_checks_passed'] else 'NO'}**")
    lines.append(f"- python {summary['environment']['python']}, numpy "
                 f"{summary['environment']['numpy']}, matplotlib "
                 f"{summary['environment']['matplotlib']}")
    lines += ["", "## Theory checks", "",
              "| check | measured | threshold | passed | what |",
              "|---|---|---|---|---|"]
    for c in summary["checks"]:
        lines.append(f"| `{c['name']}` | {_cell(c['measured'])} | {_cell(c['threshold'])} | "
                     f"{'yes' if c['passed'] else '**NO**'} | {_cell(c['description'])} |")
    lines += ["", "## Figures", ""]
    for name, fig in summary["figures"].items():
        lines.append(f"### {name}: {fig['title']}")
        lines.append("")
        files = ", ".join(f"`{Path(p).name}`" for p in fig["paths"])
        lines.append(f"Files: {files} ({fig['seconds']:.1f} s)")
        lines.append("")
        lines += ["| quantity | value |", "|---|---|"]
        for k, v in fig["numbers"].items():
            lines.append(f"| {_cell(k)} | {_cell(v)} |")
        lines.append("")
    if "hltm" in summary:
        lines += _render_hltm(summary["hltm"])
    return "\n".join(lines) + "\n"


def _render_hltm(h: dict[str, Any]) -> list[str]:
    """The HLTM section: mean best |corr| per tree level (root first) before -> after."""
    st = h["settings"]
    lines = ["## Hierarchical latent tree model (Tian, Yu, Chen & Ganguli 2020)", "",
             f"Grid: hid {st['hids']}, delta_lower {st['delta_lowers']}, depth {st['depths']}, "
             f"seeds {st['seeds']}; loss {st['loss']} (tau {st['tau']}), SGD lr {st['lr']}, "
             f"batch {st['batch_size']}; {h['runtime_s']:.1f} s. Files: "
             + ", ".join(f"`hltm/{Path(p).name}`" for p in h["paths"]), "",
             "Mean over seeds of the best |correlation| between each latent node and its "
             "layer's hidden units, per tree level (level 0 = root):", "",
             "| depth | delta_lower | hid | before | after | root after (min over seeds) |",
             "|---|---|---|---|---|---|"]
    for c in h["configs"]:
        fmt = lambda v: " ".join(f"{x:.2f}" for x in v)  # noqa: E731
        lines.append(f"| {c['depth']} | {c['delta_lower']:g} | {c['hid']} | "
                     f"{fmt(c['corr_before'])} | {fmt(c['corr_after'])} | "
                     f"{c['root_after_min']:.2f} |")
    lines += ["", "| trend | value |", "|---|---|"]
    lines += [f"| {k} | {_cell(float(v))} |" for k, v in h["trends"].items()]
    lines.append("")
    return lines


@dataclass
class ReproduceRun:
    """The typed config of ``ssl-dynamics reproduce`` (loaded by
    :func:`dynamics.config.load_typed`)."""

    out: str = option("results", "output folder (summary.md, summary.json, figures/)")
    quick: bool = option(False, "smaller, faster version")


def run_reproduce(out_dir: Path | str, *, quick: bool = False,
                  log: Callable[[str], object] = print) -> dict[str, Any]:
    """Make every registered figure into ``out_dir/figures/`` and run the theory checks.

    Writes ``out_dir/summary.json`` and ``out_dir/summary.md`` and returns the summary dict:
    ``figures`` (name -> paths, numbers, settings, seconds, title), ``checks`` (a list, in the
    order of :data:`CHECKS`, of dicts with name, description, measured, threshold, passed,
    details, seconds), ``all_checks_passed``, ``quick``, ``runtime_s``, ``environment``.

    Before any work ``out_dir`` and ``out_dir/figures`` are checked (created, no file in the
    way, writable) and ``out_dir`` is locked (:class:`dynamics.locks.FolderLock`) for the whole
    run: a second reproduce into the same folder is refused with a one-line
    :class:`~dynamics.errors.ConfigError` on ``out`` that names the running process.
    """
    from dynamics.config import write_config  # noqa: I001
    from dynamics.io import check_output_dir
    from dynamics.locks import FolderLock

    out = check_output_dir("out", out_dir)
    with FolderLock(out, field="out", what="output folder"):
        check_output_dir("out", out / "figures")
        write_config(ReproduceRun(str(out_dir), quick), out, command="reproduce")
        return _reproduce(out, quick, log)


def _reproduce(out: Path, quick: bool, log: Callable[[str], object]) -> dict[str, Any]:
    """The work of :func:`run_reproduce` (``out`` checked and locked)."""
    import matplotlib

    from dynamics.plots import FIGURES, make_figures
    from dynamics.reproduce_hltm import hltm_summary

    fig_dir = out / "figures"
    t0 = time.perf_counter()
    log(f"reproduce: {'quick' if quick else 'full'} run into {out}")
    figures = make_figures(None, fig_dir, quick=quick, log=log)
    checks: list[dict[str, Any]] = []
    for name, fn in CHECKS.items():
        tc = time.perf_counter()
        res = fn(quick)
        res["seconds"] = round(time.perf_counter() - tc, 3)
        checks.append(res)
        log(f"check {name}: measured {_fmt(res['measured'])} (threshold "
            f"{_fmt(res['threshold'])}) -> {'pass' if res['passed'] else 'FAIL'}")
    log("reproduce: HLTM grid (Tian, Yu, Chen & Ganguli 2020)")
    hltm = hltm_summary(out / "hltm", quick=quick)
    log(f"hltm: {len(hltm['configs'])} configurations in {hltm['runtime_s']:.1f} s; "
        + ", ".join(f"{k} {v:+.3f}" if "effect" in k or "gain" in k else f"{k} {v:.3f}"
                    for k, v in hltm["trends"].items()))
    summary: dict[str, Any] = {
        "generated_by": "dynamics.reproduce.run_reproduce",
        "quick": bool(quick),
        "figures": {name: {**res.to_dict(), "title": FIGURES[name].title,
                           "paper_ref": FIGURES[name].paper_ref}
                    for name, res in figures.items()},
        "checks": checks,
        "all_checks_passed": all(c["passed"] for c in checks),
        "hltm": hltm,
        "environment": {"python": platform.python_version(), "numpy": np.__version__,
                        "matplotlib": matplotlib.__version__},
    }
    summary["runtime_s"] = round(time.perf_counter() - t0, 2)
    summary = jsonable(summary)
    atomic_write_text(out / "summary.json",
                       json.dumps(summary, indent=1, allow_nan=False) + "\n")
    atomic_write_text(out / "summary.md", render_markdown(summary))
    log(f"reproduce: wrote {out / 'summary.json'} and {out / 'summary.md'} "
        f"({summary['runtime_s']:.1f} s; all checks passed: {summary['all_checks_passed']})")
    return summary


__all__ = ["CHECKS", "render_markdown", "run_reproduce"]

"""Figures of the papers (DirectPred, dual networks, Wang & Isola, the theories beyond
DirectPred) and of the bridges between theory and training.

Every figure lives in its own module with ``make(out_dir, *, quick=False) -> FigureResult``
(plus ``ctx`` and a module-level ``runs(tier)`` for figures drawn from training runs); the
registry :data:`FIGURES` maps names to them (modules are imported only when a figure is made).
``quick=True`` runs fewer and shorter trajectories (seconds per figure; the smoke tier and the
tests). Run-based figures use the same :class:`~dynamics.predictions.base.RunSpec` runs as the
predictions they draw, so ``figures`` reuses the run folders of ``verify`` and vice versa.

>>> from dynamics.plots import make_figures
>>> results = make_figures(["fig3"], "out/figures", quick=True)   # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from dynamics.errors import ConfigError
from dynamics.plots.base import PAPERS, FigureContext, FigureResult, FigureSpec
from dynamics.registry import Registry

#: Every figure by name (a :class:`~dynamics.registry.Registry` of :class:`FigureSpec`; the
#: CLI, ``reproduce``, the gallery and the docs read it).
FIGURES = Registry("figure", field="figure")
_P = "dynamics.plots."
for _spec in (
        # -- Tian, Chen & Ganguli 2021 (DirectPred) -------------------------------------------
        FigureSpec("fig2", "Real network: spectra of F and of the learned predictor, their "
                   "eigenspace alignment and the predictor's symmetry over training",
                   _P + "fig02_real_network", paper_ref="Fig. 2",
                   predictions=("directpred.eigenspace_alignment",
                                "directpred.predictor_symmetric_psd",
                                "directpred.spectra_bifurcate"), run_based=True),
        FigureSpec("fig3", "Phase portrait of the decoupled mode dynamics (Eqs. 11-12)",
                   _P + "fig03_phase_portrait", paper_ref="Fig. 3",
                   predictions=("directpred.collapse_threshold", "directpred.eta0_fate")),
        FigureSpec("fig4", "1-D flow on the invariant parabola (Eq. 16)",
                   _P + "fig04_parabola_flow", paper_ref="Fig. 4",
                   predictions=("directpred.mode_invariant", "directpred.collapse_threshold",
                                "directpred.strong_weight_decay_collapse")),
        FigureSpec("fig5", "Synthetic decoupled dynamics with EMA: effect of weight decay and "
                   "EMA rate (Eqs. 11-13)", _P + "fig05_ema_sweeps", paper_ref="Fig. 5",
                   predictions=("directpred.ema_curriculum",)),
        FigureSpec("fig6", "Real networks without EMA, symmetric predictor: accuracy and "
                   "collapse against the predictor's relative learning rate alpha_p",
                   _P + "fig06_alpha_p_sweep", paper_ref="Fig. 6",
                   predictions=("directpred.symmetric_rescues",
                                "directpred.symmetric_needs_ema"), run_based=True),
        FigureSpec("fig7", "Validity of assumption A1: correlation of Wa and W in full-matrix "
                   "BYOL dynamics", _P + "fig07_a1_validity", paper_ref="Fig. 7",
                   predictions=("directpred.a1_validity",)),
        FigureSpec("fig8", "Non-symmetrised Eq. 62 on the balanced manifold: the skew part "
                   "of Wp vanishes", _P + "fig08_skew_decay", paper_ref="Fig. 8",
                   predictions=("directpred.skew_decay_symmetric_fixed_point",)),
        FigureSpec("fig9", "Commutator ||[F, Wp]|| and lambda_1 + lambda_2 of K for the "
                   "symmetrised Eq. 67", _P + "fig09_commutator", paper_ref="Fig. 9",
                   predictions=("directpred.commutator_alignment",)),
        FigureSpec("fig10", "Appendix D scalar model: flows with and without predictor",
                   _P + "fig10_scalar_model", paper_ref="Fig. 10",
                   predictions=("directpred.appendix_d_scalar",)),
        # -- Tian, Yu, Chen & Ganguli 2020 (dual deep networks) -------------------------------
        FigureSpec("dual_hltm", "HLTM: correlation of hidden nodes with the latent variables "
                   "before and after training, by width and polarity", _P + "dual_hltm",
                   paper_ref="HLTM (Sec. 5)", paper="dual",
                   predictions=("contrastive.hltm_trends",)),
        FigureSpec("dual_covop_spectrum", "Covariance operator: spectrum of a trained versus "
                   "an untrained network", _P + "dual_covop_spectrum",
                   paper_ref="Covariance operator (Thm. 1)", paper="dual",
                   predictions=("contrastive.covariance_operator_identity",
                                "contrastive.linear_pca"), run_based=True),
        # -- Wang & Isola 2020 ----------------------------------------------------------------
        FigureSpec("wi_align_uniform", "Alignment versus uniformity of trained encoders, "
                   "coloured by linear-probe accuracy", _P + "wi_align_uniform",
                   paper_ref="Fig. 1 / Sec. 5", paper="wang_isola",
                   predictions=("metrics.align_uniform_vs_accuracy",), run_based=True),
        FigureSpec("wi_circle", "Features on S^1: a small encoder trained with different "
                   "losses, drawn on the circle with their density", _P + "wi_circle",
                   paper_ref="Fig. 2", paper="wang_isola",
                   predictions=("metrics.uniformity_reference",)),
        # -- Simon et al. 2023 (stepwise learning) ---------------------------------------------
        FigureSpec("simon_stepwise", "Linear Barlow Twins from a small start: eigenvalues "
                   "learned one at a time, a staircase loss and the predicted step times",
                   _P + "simon_stepwise", paper_ref="Fig. 1 (linear model)", paper="simon",
                   predictions=("stepwise.logistic_modes", "stepwise.step_times",
                                "stepwise.gd_limit", "stepwise.whitened_limit")),
        # -- Halvagal et al. 2023 (IsoLoss) -----------------------------------------------------
        FigureSpec("halvagal_modes", "Eigenvalues as learning-rate multipliers: Euclidean loss, "
                   "IsoLoss and cosine loss with a closed-form predictor", _P + "halvagal_modes",
                   paper_ref="Secs. 4-5 (linear model)", paper="halvagal",
                   predictions=("isoloss.equal_rates", "isoloss.sgd_limit",
                                "isoloss.cosine_vs_euclidean")),
        # -- Wang, Chen, Du & Tian 2021 (weight decay as a threshold) -----------------------
        FigureSpec("wang_threshold", "Weight decay as a feature threshold: surviving features "
                   "against weight decay with a per-feature augmentation variance",
                   _P + "wang_threshold", paper_ref="weight decay as an implicit threshold",
                   paper="wang", predictions=("threshold.survivor_count",)),
        # -- Jing, Vincent, LeCun & Tian 2022 (dimensional collapse) --------------------------
        FigureSpec("jing_collapse", "Dimensional collapse of linear InfoNCE: strong "
                   "augmentation suppresses directions, two layers keep small modes collapsed",
                   _P + "jing_collapse", paper_ref="Secs. 4-5 (linear models)", paper="jing",
                   predictions=("collapse.augmentation_spectrum", "collapse.two_layer_rank")),
        # -- Littwin et al. 2024 (deep linear JEPA) -------------------------------------------
        FigureSpec("littwin_jepa", "Deep linear JEPA against MAE: critical times and the "
                   "order inversion with depth", _P + "littwin_jepa",
                   paper_ref="Fig. 2 (linear model)", paper="littwin",
                   predictions=("jepa.critical_times", "jepa.order_inversion")),
        # -- beyond the papers ----------------------------------------------------------------
        FigureSpec("bridge_linear", "Linear bridge: mode ODE, linear-network SGD and the "
                   "training engine's linear BYOL, eigenvalue trajectories overlaid",
                   _P + "bridge_linear", paper_ref="Eqs. 11-13 vs training", paper="beyond",
                   predictions=("bridge.linear_byol_vs_ode", "directpred.sgd_matches_ode"),
                   run_based=True),
        FigureSpec("phase_eta_alpha_p", "Phase diagram of collapse over weight decay eta and "
                   "predictor rate alpha_p", _P + "phase_diagrams", function="make_eta_alpha_p",
                   paper_ref="Eqs. 11-13", paper="beyond",
                   predictions=("directpred.collapse_threshold", "directpred.alpha_p_basin")),
        FigureSpec("phase_eta_beta", "Phase diagram of collapse over weight decay eta and EMA "
                   "rate beta", _P + "phase_diagrams", function="make_eta_beta",
                   paper_ref="Eqs. 11-13", paper="beyond",
                   predictions=("directpred.ema_curriculum",
                                "directpred.strong_weight_decay_collapse")),
):
    FIGURES.register(_spec.name, _spec, doc=_spec.title, source=_spec.paper_ref,
                     paper=_spec.paper, run_based=_spec.run_based)


def resolve_names(names: Iterable[str] | str | None) -> list[str]:
    """Figure names in registry order of the request; ``None``, ``"all"`` or ``[]`` mean
    every figure.

    Accepts ``fig3``, ``3`` or ``fig03`` for the numbered DirectPred figures and the exact name
    of the others. Unknown names raise :class:`ConfigError`.
    """
    if names is None or names == "all":
        return list(FIGURES)
    if isinstance(names, str):
        names = [names]
    names = list(names)
    if not names or "all" in names:
        return list(FIGURES)
    out = []
    for raw in names:
        key = str(raw).strip().lower()
        if key not in FIGURES:
            num = key[3:] if key.startswith("fig") else key
            if num.isdigit():
                key = "fig" + (num.lstrip("0") or "0")
        if key not in FIGURES:
            raise ConfigError("figure", f"unknown figure {raw!r}; choose from "
                                        f"{', '.join(FIGURES)} or all")
        if key not in out:
            out.append(key)
    return out


def make_figure(name: str, out_dir: Path | str, *, quick: bool = False) -> FigureResult:
    """Make one registered simulation figure into ``out_dir`` (PNG + PDF + caption); the name
    and the folder are checked first (see :meth:`FigureSpec.make`). Run-based figures go
    through :func:`make_figures` with a tier."""
    return make_figures([name], out_dir, quick=quick)[resolve_names([name])[0]]


def make_figures(
    names: Iterable[str] | str | None,
    out_dir: Path | str,
    quick: bool | None = None,
    *,
    tier: str | None = None,
    runs_dir: Path | str = "runs/verify",
    data_root: str | None = None,
    jobs: int = 1,
    device: str = "cpu",
    log: Callable[[str], object] | None = None,
    skipped: dict[str, str] | None = None,
) -> dict[str, FigureResult]:
    """Make the named figures (``None``/``"all"`` = every registered one) into ``out_dir``.

    ``tier`` (``smoke`` or ``cpu``; default ``smoke`` when ``quick`` else ``cpu``) sets the
    simulation size (``quick`` overrides it) and the training runs of run-based figures:
    finished run folders in ``runs_dir`` are reused, missing ones trained (``jobs`` at a
    time) through the verify runner. Runs that need real images and are not yet in
    ``runs_dir`` need ``data_root``: a figure asked for by name without them is a one-line
    :class:`ConfigError` before any work; with ``names=None`` it is skipped and the reason
    goes to ``skipped`` (and ``log``).

    Returns ``{name: FigureResult}`` in request order. ``log`` (e.g. ``print``) receives one
    line per finished figure.
    """
    from dynamics.io import check_output_dir
    from dynamics.plots.base import FIGURE_TIERS

    explicit = not (names is None or names == "all" or names == [] or
                    (not isinstance(names, str) and "all" in list(names)))
    keys = resolve_names(names)
    if tier is None:
        tier = "smoke" if quick else "cpu"
    if tier not in FIGURE_TIERS:
        raise ConfigError("tier", f"must be one of {', '.join(FIGURE_TIERS)}, got {tier!r}")
    quick = (tier == "smoke") if quick is None else bool(quick)
    out = check_output_dir("out_dir", out_dir)
    skipped = {} if skipped is None else skipped
    ctxs = _prepare_runs([k for k in keys if FIGURES[k].run_based], tier, Path(runs_dir),
                         data_root, jobs, device, explicit, skipped, log)
    results: dict[str, FigureResult] = {}
    for key in keys:
        if key in skipped:
            if log is not None:
                log(f"{key}: skipped ({skipped[key]})")
            continue
        res = FIGURES[key].make(out, quick=quick, ctx=ctxs.get(key))
        results[key] = res
        if log is not None:
            log(f"{key}: {', '.join(str(p) for p in res.paths)} ({res.seconds:.1f} s)")
    return results


def _prepare_runs(keys, tier, runs_dir, data_root, jobs, device, explicit, skipped, log
                  ) -> dict[str, FigureContext]:
    """Train or reuse the runs of the run-based figures ``keys``; their contexts."""
    from dynamics.predictions.runner import VerifyRun, execute_runs, lacking_data

    if not keys:
        return {}
    need = {k: FIGURES[k].runs_for(tier) for k in keys}
    for k, specs in need.items():
        lacking = lacking_data(specs, runs_dir, data_root)
        if lacking:
            why = (f"needs {len(lacking)} {tier}-tier run(s) on real images that are not in "
                   f"{runs_dir}: pass --data-root (CIFAR-10 folder or .tar.gz) or --tier smoke")
            if explicit:
                raise ConfigError("data_root", f"figure {k} {why}")
            skipped[k] = why
    specs = list(dict.fromkeys(s for k in keys if k not in skipped for s in need[k]))
    cfg = VerifyRun(tier=tier, runs=str(runs_dir), jobs=jobs, data_root=data_root,
                    device=device)
    results = execute_runs(specs, runs_dir, cfg, log or (lambda m: None), what="figures")
    ctxs = {}
    for k in keys:
        if k in skipped:
            continue
        failed = [results[s] for s in need[k] if results[s].folder is None]
        if failed:
            skipped[k] = (f"{len(failed)} of {len(need[k])} run(s) failed; first: "
                          f"{failed[0].spec.name()}: {failed[0].note}")
            continue
        ctxs[k] = FigureContext(tier, {s: results[s].folder for s in need[k]})
    return ctxs


__all__ = ["FIGURES", "PAPERS", "FigureContext", "FigureResult", "FigureSpec", "make_figure",
           "make_figures", "resolve_names"]

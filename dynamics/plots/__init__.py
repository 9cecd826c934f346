"""Figures of the papers (DirectPred, dual networks, Wang & Isola, the theories beyond
DirectPred) and of the bridges between theory and training.

This package is the figure machinery only (the registry, the style, the gallery, the notebook
set-up). Every figure lives beside its theory, in ``dynamics.theories.<key>.figures``, as a
function ``make(out_dir, *, quick=False) -> FigureResult`` (plus ``ctx`` and a module-level
``runs(tier)`` for figures drawn from training runs) that registers itself in :data:`FIGURES`
with :func:`~dynamics.plots.base.figure`.
``quick=True`` runs fewer and shorter trajectories (seconds per figure; the smoke tier and the
tests). Run-based figures use the same :class:`~dynamics.verify.prediction.RunSpec` runs as the
predictions they draw, so ``figures`` reuses the run folders of ``verify`` and vice versa.

>>> from dynamics.plots import make_figures
>>> results = make_figures(["directpred_fig3"], "out/figures", quick=True)   # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from dynamics.errors import ConfigError
from dynamics.plots.base import FIGURES, FigureContext, FigureResult, FigureSpec, figure
from dynamics.threads import with_thread_policy


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
    aliases = {a: n for n in FIGURES for a in FIGURES[n].aliases}
    out = []
    for raw in names:
        key = str(raw).strip().lower()
        if key not in FIGURES:
            num = key[3:] if key.startswith("fig") else key
            if num.isdigit():
                key = "fig" + (num.lstrip("0") or "0")
            key = aliases.get(key, key)
        if key not in FIGURES:
            raise ConfigError("figure", f"unknown figure {raw!r}; choose from "
                                        f"{', '.join(FIGURES)} or all")
        if key not in out:
            out.append(key)
    return out


@with_thread_policy
def make_figure(name: str, out_dir: Path | str, *, quick: bool = False) -> FigureResult:
    """Make one registered simulation figure into ``out_dir`` (PNG + PDF + caption); the name
    and the folder are checked first (see :meth:`FigureSpec.make`). Run-based figures go
    through :func:`make_figures` with a tier."""
    return make_figures([name], out_dir, quick=quick)[resolve_names([name])[0]]


@with_thread_policy
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
    skip_missing: bool | None = None,
) -> dict[str, FigureResult]:
    """Make the named figures (``None``/``"all"`` = every registered one) into ``out_dir``.

    ``tier`` (``smoke`` or ``cpu``; default ``smoke`` when ``quick`` else ``cpu``) sets the
    simulation size (``quick`` overrides it) and the training runs of run-based figures:
    finished run folders in ``runs_dir`` are reused, missing ones trained (``jobs`` at a
    time) through the verify runner. Runs that need real images and are not yet in
    ``runs_dir`` need ``data_root``: a figure asked for by name without them is a one-line
    :class:`ConfigError` before any work; with ``names=None`` (or ``skip_missing=True``) it is
    skipped and the reason goes to ``skipped`` (and ``log``).

    Returns ``{name: FigureResult}`` in request order. ``log`` (e.g. ``print``) receives one
    line per finished figure.
    """
    from dynamics.io import check_output_dir
    from dynamics.plots.base import FIGURE_TIERS

    explicit = not (names is None or names == "all" or names == [] or
                    (not isinstance(names, str) and "all" in list(names)))
    if skip_missing is not None:
        explicit = not skip_missing
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
    from dynamics.verify.runner import VerifyRun, execute_runs, lacking_data

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


__all__ = ["FIGURES", "FigureContext", "FigureResult", "FigureSpec", "figure", "make_figure",
           "make_figures", "resolve_names"]

"""One-command reproduction: every prediction that runs at the chosen verification tier and
every registered figure, in one summary.

:func:`run_reproduce` runs ``ssl-dynamics verify`` (:func:`dynamics.verify.runner
.verify`) at ``verify_tier`` (default ``smoke``: every simulation prediction of the theory and
the fast training ones; ``cpu`` adds the real-image training predictions, given
``data_root``) into ``out_dir/verify/`` (report.md, report.json, one figure per prediction;
training runs in ``out_dir/verify_runs/``, reused by a rerun), then makes every figure of
:data:`dynamics.plots.FIGURES` into ``out_dir/figures/`` (the run-based ones from the verify
runs; the HLTM grid of Tian, Yu, Chen & Ganguli 2020 is the ``dual_networks_hltm`` figure). The
predictions that ran are the summary's ``checks`` (id, claim, measured, rule, passed).
Results go to ``out_dir/summary.json`` and ``out_dir/summary.md`` (both written atomically);
every number is computed in the run.
"""

from __future__ import annotations

import functools
import json
import math
import platform
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dynamics.config import option
from dynamics.io import atomic_write_text, jsonable
from dynamics.threads import with_thread_policy

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
    v = summary["verify"]
    lines += ["", f"## Predictions (verify, tier `{v['tier']}`)", "",
              f"{v['counts']['confirmed']} confirmed, {v['counts']['refuted']} refuted, "
              f"{v['counts']['not run']} not run; the full report with a figure per "
              f"prediction: `verify/report.md`.", "",
              "| prediction | measured | rule | passed |", "|---|---|---|---|"]
    for c in summary["checks"]:
        lines.append(f"| `{c['name']}` | {_cell(c['measured'])} | {_cell(c['threshold'])} | "
                     f"{'yes' if c['passed'] else '**NO**'} |")
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
    for name, why in summary.get("figures_skipped", {}).items():
        lines.append(f"- `{name}` not made: {why}")
    if summary.get("figures_skipped"):
        lines.append("")
    return "\n".join(lines) + "\n"


@dataclass
class ReproduceRun:
    """The typed config of ``ssl-dynamics reproduce`` (loaded by
    :func:`dynamics.config.load_typed`)."""

    out: str = option("results", "output folder (summary.md, summary.json, figures/, "
                                 "verify/)")
    quick: bool = option(False, "smaller, faster figures (the smoke size of every simulation)")
    verify_tier: str = option("smoke", "tier of the predictions verified: smoke (minutes, no "
                                       "data) or cpu (real images, hours)",
                              choices=("smoke", "cpu", "paper"))
    data_root: str | None = option(None, "CIFAR-10 (folder or .tar.gz) for the cpu tier")
    jobs: int = option(2, "worker processes, each one CPU thread: training runs, predictions "
                          "and figures at once")


@with_thread_policy
def run_reproduce(out_dir: Path | str, *, quick: bool = False,
                  log: Callable[[str], object] = print, verify_tier: str = "smoke",
                  data_root: str | None = None, jobs: int = 2,
                  only: list[str] | None = None,
                  figures: list[str] | None = None) -> dict[str, Any]:
    """Verify the predictions, then make the figures into ``out_dir/figures/``.

    ``only`` limits the predictions and ``figures`` the figures (None: all). Run-based figures
    are drawn from the verify runs (``out_dir/verify_runs``) at the verify tier (the ``cpu``
    figure tier for ``paper``), so nothing is trained twice.

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
        run = ReproduceRun(str(out_dir), quick, verify_tier, data_root, jobs)
        write_config(run, out, command="reproduce")
        return _reproduce(out, run, log, only or [], figures)


def _checks(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The predictions that ran, as the summary's checks."""
    return [{"name": p["id"], "description": p["claim"], "measured": p["measured"],
             "threshold": p["rule"], "passed": p["status"] == "confirmed",
             "status": p["status"], "seconds": p["seconds"]}
            for p in report["predictions"] if p["status"] != "not run"]


def _run_based_figures(names: list[str], out: Path, quick: bool, tier: str, runs_dir: Path,
                       data_root: str | None, skip_missing: bool
                       ) -> tuple[dict[str, Any], dict[str, str]]:
    """The run-based figures ``names`` from the finished runs in ``runs_dir`` (a work item of
    the verify pool): the results and the figures skipped, with the reason."""
    from dynamics.plots import make_figures

    skipped: dict[str, str] = {}
    made = make_figures(names, out, quick=quick, tier=tier, runs_dir=runs_dir,
                        data_root=data_root, jobs=1, skipped=skipped, skip_missing=skip_missing)
    return made, skipped


def _reproduce(out: Path, run: ReproduceRun, log: Callable[[str], object],
               only: list[str], figure_names: list[str] | None) -> dict[str, Any]:
    """The work of :func:`run_reproduce` (``out`` checked and locked)."""
    import matplotlib

    from dynamics.plots import FIGURES, make_figures, resolve_names
    from dynamics.verify.pool import WorkPool
    from dynamics.verify.run_batch import locked_log
    from dynamics.verify.runner import RunBatch, VerifyRun, lacking_data, verify

    quick = run.quick
    t0 = time.perf_counter()
    log = locked_log(log)  # one line at a time from the pool's threads
    names = resolve_names(figure_names)
    simulated = [n for n in names if not FIGURES[n].run_based]
    run_based = [n for n in names if FIGURES[n].run_based]
    log(f"reproduce: {'quick' if quick else 'full'} run into {out}: verify the predictions "
        f"(tier {run.verify_tier}) and make {len(names)} figure(s); the {len(simulated)} "
        f"simulation figure(s) are made beside the training runs, {run.jobs} piece(s) of work "
        "at a time")
    skipped: dict[str, str] = {}
    figures: dict[str, Any] = {}
    figure_tier = "smoke" if run.verify_tier == "smoke" else "cpu"

    def figure_made(name: str, fut: Future) -> None:
        if fut.cancelled() or fut.exception() is not None:
            return  # raised after verify (cancelled: verify was stopped)
        figures.update(fut.result())
        log(f"reproduce: figure {len(figures)}/{len(simulated)} {name} "
            f"({figures[name].seconds:.1f} s, {time.perf_counter() - t0:.0f} s so far)")

    made: list[Future] = []
    runs_dir = out / "verify_runs"

    def side_work(pool: WorkPool) -> list[Future]:
        """The simulation figures, then the runs of the run-based ones, in the verify pool."""
        for name in simulated:
            fut = pool.submit(functools.partial(make_figures, quick=quick, tier=figure_tier),
                              [name], out / "figures")
            fut.add_done_callback(functools.partial(figure_made, name))
            made.append(fut)
        if run_based:
            specs = list(dict.fromkeys(s for n in run_based
                                       for s in FIGURES[n].runs_for(figure_tier)))
            specs = [s for s in specs if s not in lacking_data(specs, runs_dir, run.data_root)]
            RunBatch(specs, runs_dir, VerifyRun(tier=figure_tier, runs=str(runs_dir),
                                                jobs=run.jobs, data_root=run.data_root),
                     log, "figures", pool)
        return made

    def after_runs(pool: WorkPool) -> list[Future]:
        """The run-based figures, once the runs are done, one work item each."""
        if not run_based:
            return []
        log(f"reproduce: {len(run_based)} run-based figure(s) from the verify runs")
        futs = [pool.submit(_run_based_figures, [name], out / "figures", quick, figure_tier,
                            runs_dir, run.data_root, figure_names is None)
                for name in run_based]
        made.extend(futs)
        return futs

    report = verify(VerifyRun(tier=run.verify_tier, only=only, runs=str(runs_dir),
                              out=str(out / "verify"), jobs=run.jobs,
                              data_root=run.data_root), log=log, side_work=side_work,
                    after_runs=after_runs)
    for fut in made:
        res = fut.result()  # a figure's error is raised here
        if isinstance(res, tuple):  # the run-based figures and the ones skipped
            res, missing = res
            skipped.update(missing)
            for name, fig in res.items():
                log(f"{name}: {', '.join(str(p) for p in fig.paths)} ({fig.seconds:.1f} s)")
        figures.update(res)
    checks = _checks(report)
    figures = {n: figures[n] for n in names if n in figures}  # the registry's order
    summary: dict[str, Any] = {
        "generated_by": "dynamics.workflows.reproduce.run_reproduce",
        "quick": bool(quick),
        "figures": {name: {**res.to_dict(), "title": FIGURES[name].title,
                           "paper_ref": FIGURES[name].paper_ref}
                    for name, res in figures.items()},
        "figures_skipped": skipped,
        "checks": checks,
        "verify": {"tier": report["tier"], "counts": report["counts"],
                   "report": str(out / "verify" / "report.md")},
        "all_checks_passed": all(c["passed"] for c in checks),
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


__all__ = ["ReproduceRun", "render_markdown", "run_reproduce"]

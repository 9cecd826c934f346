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
    jobs: int = option(2, "training runs at once during verify")


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


def _reproduce(out: Path, run: ReproduceRun, log: Callable[[str], object],
               only: list[str], figure_names: list[str] | None) -> dict[str, Any]:
    """The work of :func:`run_reproduce` (``out`` checked and locked)."""
    import matplotlib

    from dynamics.plots import FIGURES, make_figures, resolve_names
    from dynamics.verify.runner import VerifyRun, verify

    quick = run.quick
    t0 = time.perf_counter()
    names = resolve_names(figure_names)
    simulated = [n for n in names if not FIGURES[n].run_based]
    run_based = [n for n in names if FIGURES[n].run_based]
    log(f"reproduce: {'quick' if quick else 'full'} run into {out}: verify the predictions "
        f"(tier {run.verify_tier}) and make {len(names)} figure(s); the {len(simulated)} "
        "simulation figure(s) are made while the training runs go")
    skipped: dict[str, str] = {}
    figures: dict[str, Any] = {}
    figure_tier = "smoke" if run.verify_tier == "smoke" else "cpu"

    def simulation_figures() -> None:
        for i, name in enumerate(simulated, 1):
            figures.update(make_figures([name], out / "figures", quick=quick, tier=figure_tier))
            log(f"reproduce: figure {i}/{len(simulated)} {name} "
                f"({figures[name].seconds:.1f} s, {time.perf_counter() - t0:.0f} s so far)")

    report = verify(VerifyRun(tier=run.verify_tier, only=only, runs=str(out / "verify_runs"),
                              out=str(out / "verify"), jobs=run.jobs,
                              data_root=run.data_root), log=log, side_work=simulation_figures)
    checks = _checks(report)
    if run_based:
        log(f"reproduce: {len(run_based)} run-based figure(s) from the verify runs")
        figures.update(make_figures(run_based, out / "figures", quick=quick, tier=figure_tier,
                                    runs_dir=out / "verify_runs", data_root=run.data_root,
                                    jobs=run.jobs, log=log, skipped=skipped,
                                    skip_missing=figure_names is None))
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

"""``ssl-dynamics figures`` and ``ssl-dynamics reproduce``: the paper figures and the full
reproduction (figures + theory checks + summary), each from a typed config
(:class:`~dynamics.plots.base.FiguresRun`, :class:`~dynamics.workflows.reproduce.ReproduceRun`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from dynamics.cli.common import resolve_config
from dynamics.config import add_schema_arguments


def _cmd_figures(args) -> int:
    """Checks the names and the output folder (created; no file in the way, writable) first;
    the resolved config goes to ``<out>/config.yaml``."""
    from dynamics.config import write_config
    from dynamics.io import check_output_dir
    from dynamics.plots import make_figures, resolve_names
    from dynamics.plots.base import FiguresRun

    args.overrides = [i for i in args.names if "=" in i]
    args.names = [i for i in args.names if "=" not in i] or argparse.SUPPRESS
    if args.names is argparse.SUPPRESS:
        del args.names
    run = resolve_config(FiguresRun, args)
    resolve_names(run.names)  # the library's own name rules (fig3, 3, fig03, all), checked first
    out = check_output_dir("out", run.out)
    if run.gallery is not None:
        check_output_dir("gallery", Path(run.gallery).parent)
    write_config(run, out, command="figures")
    skipped: dict[str, str] = {}
    results = make_figures(run.names or None, out, quick=True if run.quick else None,
                           tier=run.tier, runs_dir=run.runs, data_root=run.data_root,
                           jobs=run.jobs, device=run.device, log=print, skipped=skipped)
    if run.gallery is not None:
        from dynamics.plots.gallery import write_gallery

        cmd = "ssl-dynamics figures" + "".join(f" {n}" for n in run.names) + \
            f" --tier {run.tier}" + (" --quick" if run.quick else "") + \
            f" --out {run.out} --gallery {run.gallery}"
        print(f"gallery: {write_gallery(run.gallery, results, cmd, skipped)}")
    return 0


def _cmd_reproduce(args) -> int:
    """The output folder is checked and locked (one ``reproduce`` per folder) before any work
    (see :func:`dynamics.workflows.reproduce.run_reproduce`)."""
    from dynamics.workflows.reproduce import ReproduceRun, run_reproduce

    run = resolve_config(ReproduceRun, args)
    summary = run_reproduce(Path(run.out), quick=run.quick, verify_tier=run.verify_tier,
                            data_root=run.data_root, jobs=run.jobs)
    failed = [c for c in summary.get("checks", []) if not c.get("passed", False)]
    print(f"reproduce: wrote {Path(run.out) / 'summary.md'} and "
          f"{len(summary.get('figures', {}))} figures under {Path(run.out) / 'figures'}; "
          f"{len(summary.get('checks', [])) - len(failed)}/{len(summary.get('checks', []))} "
          f"predictions confirmed (verify tier {run.verify_tier}; verify/report.md)")
    return 1 if failed else 0


def add_figures_arguments(f: argparse.ArgumentParser) -> None:
    """``figures [NAME ...] [key=value ...]`` plus the fields of FiguresRun as flags."""
    from dynamics.plots.base import FiguresRun

    f.add_argument("names", nargs="*", metavar="NAME|key=value",
                   help="figure names (default: all) and key=value overrides")
    add_schema_arguments(f, FiguresRun, positional_overrides=False, skip=("names",))
    f.set_defaults(func=_cmd_figures)


def add_reproduce_arguments(r: argparse.ArgumentParser) -> None:
    """``reproduce`` with the fields of ReproduceRun as flags / overrides."""
    from dynamics.workflows.reproduce import ReproduceRun

    add_schema_arguments(r, ReproduceRun)
    r.set_defaults(func=_cmd_reproduce)

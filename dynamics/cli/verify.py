"""``ssl-dynamics verify``: every prediction of the registry at a tier, judged in one report
(:mod:`dynamics.verify.runner`); exit code 0 when nothing that ran was refuted, 1
otherwise."""

from __future__ import annotations

import argparse
import sys

from dynamics.cli.common import _plain, resolve_config
from dynamics.config import add_schema_arguments, write_config


def _cmd_verify(args) -> int:
    from dynamics.verify.runner import VerifyRun, select, verify

    run = resolve_config(VerifyRun, args)
    select(run.only)  # unknown ids: one line, before any work
    write_config(run, run.out, command="verify")
    report = verify(run, log=lambda m: print(m, file=sys.stderr, flush=True))
    c = report["counts"]
    print(f"verify ({run.tier}): {c['confirmed']} confirmed, {c['refuted']} refuted, "
          f"{c['not run']} not run; wrote {run.out}/report.md ({report['wall_s'] / 60:.1f} min)")
    return 0 if report["all_confirmed"] else 1


def add_verify_arguments(p: argparse.ArgumentParser) -> None:
    """``verify`` with the fields of VerifyRun as flags / overrides."""
    from dynamics.verify.runner import VerifyRun

    p.description = _plain(__doc__.split("\n\n")[0])
    add_schema_arguments(p, VerifyRun)
    p.set_defaults(func=_cmd_verify)

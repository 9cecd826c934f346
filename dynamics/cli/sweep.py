"""``ssl-dynamics sweep`` (run a paper table's cells over seeds, locally or on SLURM through
submitit) and ``ssl-dynamics table`` (the table rebuilt from finished runs, beside the
published numbers, as Markdown, CSV or LaTeX)."""

from __future__ import annotations

import argparse
import sys

from dynamics.cli.common import _plain, resolve_config
from dynamics.config import add_schema_arguments, write_config


def _cmd_sweep(args) -> int:
    from dynamics.workflows.sweeps import SweepRun, find_table, run_sweep

    table = find_table(args.table_config, args.paper, args.table)
    run = resolve_config(SweepRun, args)
    index = run_sweep(table, run, log=lambda m: print(m, file=sys.stderr, flush=True))
    write_config(run, index["out"], command="sweep")
    n = sum(len(v) for v in index["cells"].values())
    print(f"sweep {table.paper} table {table.id}: {n - len(index['failed'])}/{n} runs finished "
          f"in {index['out']} (index.json)" + (f"; failed: {index['failed'][0]}"
                                               if index["failed"] else ""))
    return 1 if index["failed"] else 0


def _cmd_table(args) -> int:
    from dynamics.workflows.paper_tables import TableRun, table_text

    print(table_text(resolve_config(TableRun, args)), end="")
    return 0


def add_sweep_arguments(p: argparse.ArgumentParser) -> None:
    """``sweep [TABLE_CONFIG] [--paper P --table T]`` plus the fields of SweepRun."""
    from dynamics.workflows.sweeps import SweepRun

    p.description = _plain(__doc__.split("\n\n")[0])
    p.add_argument("table_config", nargs="?", default="", metavar="CONFIG.yaml",
                   help="a table's base config, e.g. experiments/train/paper_table6.yaml")
    p.add_argument("--paper", default=None, help="paper of the table (with --table)")
    p.add_argument("--table", default=None, help="table id, e.g. 6 or 8-stl10")
    add_schema_arguments(p, SweepRun, positional_overrides=False)
    p.set_defaults(func=_cmd_sweep)


def add_table_arguments(p: argparse.ArgumentParser) -> None:
    """``table --paper P --table T --runs DIR`` (the fields of TableRun)."""
    from dynamics.workflows.paper_tables import TableRun

    add_schema_arguments(p, TableRun)
    p.set_defaults(func=_cmd_table)

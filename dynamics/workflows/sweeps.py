"""Paper tables as data, and ``ssl-dynamics sweep``: run every cell of a table over seeds.

The tables of a paper live in one YAML file under ``experiments/tables/`` (``<paper>.yaml``):
for each table its ``id``, ``title``, ``base`` training config (in ``experiments/train/``), the
row and column labels, and its cells (``row``, ``col``, ``name``, ``overrides`` on the base
config, and the published ``paper: [mean, std]`` where the paper gives one). The published
numbers are stated there once; ``ssl-dynamics table`` (:mod:`dynamics.workflows.paper_tables`) reads
them.

:func:`run_sweep` expands a table's cells x seeds into training runs in one folder
(``<out>/<cell>-s<seed>-<hash>/``, the names of :class:`~dynamics.verify.prediction.RunSpec`)
with an ``index.json`` (table, cells, seeds, run names), and runs what is missing: locally in a
pool of processes (finished runs reused, interrupted ones resumed) or on a SLURM cluster
through ``submitit`` (``executor="slurm"``: one job per run, partition / GPUs / time limit
from the config).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dynamics.config import option, read_mapping
from dynamics.errors import ConfigError
from dynamics.threads import with_thread_policy
from dynamics.verify.prediction import RunSpec
from dynamics.verify.runner import CONFIG_DIR, DATA_ROOT, RunResult, VerifyRun, execute_runs

TABLE_DIR = CONFIG_DIR.parent / "tables"
EXECUTORS = ("local", "slurm")


@dataclass(frozen=True)
class Cell:
    """One cell of a paper table."""

    row: str
    col: str
    name: str
    overrides: tuple[str, ...]
    paper: tuple[float, float] | None = None


@dataclass(frozen=True)
class Table:
    """One table of a paper (see the module docstring)."""

    paper: str
    id: str
    title: str
    base: str
    rows: tuple[str, ...]
    cols: tuple[str, ...]
    cells: tuple[Cell, ...]
    reference_only: bool = False

    def cell(self, row: str, col: str) -> Cell | None:
        """The cell at (row, col), or None."""
        return next((c for c in self.cells if c.row == row and c.col == col), None)


def load_tables(paper: str) -> dict[str, Table]:
    """The tables of ``paper`` (``experiments/tables/<paper>.yaml``) by id."""
    papers = sorted(p.stem for p in TABLE_DIR.glob("*.yaml"))
    if paper not in papers:
        raise ConfigError("paper", f"must be one of {', '.join(papers)}; got {paper!r}")
    data = read_mapping(TABLE_DIR / f"{paper}.yaml", "paper")
    out = {}
    for t in data["tables"]:
        cells = tuple(Cell(c["row"], c["col"], c["name"], tuple(c.get("overrides") or ()),
                           tuple(c["paper"]) if c.get("paper") else None) for c in t["cells"])
        out[str(t["id"])] = Table(paper, str(t["id"]), t["title"], t["base"], tuple(t["rows"]),
                                  tuple(t["cols"]), cells, bool(t.get("reference_only")))
    return out


def find_table(source: str, paper: str | None = None, table: str | None = None) -> Table:
    """A table by ``paper`` and ``table`` id, or by the path / name of its base config."""
    if paper and table:
        tables = load_tables(paper)
        if table not in tables:
            raise ConfigError("table", f"must be one of {', '.join(tables)}; got {table!r}")
        return tables[table]
    name = Path(source).name
    for p in sorted(x.stem for x in TABLE_DIR.glob("*.yaml")):
        for t in load_tables(p).values():
            if t.base == name:
                return t
    raise ConfigError("table", f"no table has the base config {name!r} (tables live in "
                               f"{TABLE_DIR})")


def parse_seeds(text: str) -> list[int]:
    """``"0-4"`` -> [0, 1, 2, 3, 4]; ``"0,2,5"`` -> [0, 2, 5] (one-line error otherwise)."""
    seeds: list[int] = []
    try:
        for part in str(text).split(","):
            lo, _, hi = part.strip().partition("-")
            seeds += list(range(int(lo), int(hi or lo) + 1))
    except ValueError:
        raise ConfigError("seeds", f"must look like 0-4 or 0,2,5; got {text!r}") from None
    if not seeds or min(seeds) < 0:
        raise ConfigError("seeds", f"must be non-negative integers; got {text!r}")
    return sorted(set(seeds))


def specs(table: Table, seeds: Sequence[int], extra: Sequence[str] = ()) -> list[RunSpec]:
    """One RunSpec per cell and seed (``extra`` overrides appended to every cell)."""
    return [RunSpec(table.base, c.overrides + tuple(extra), s, c.name)
            for c in table.cells for s in seeds]


@dataclass
class SweepRun:
    """The typed config of ``ssl-dynamics sweep``."""

    seeds: str = option("0-2", "seeds, e.g. 0-4 or 0,2,5")
    out: str | None = option(None, "sweep folder (default runs/sweeps/<paper>_<table>)")
    jobs: int = option(1, "local runs at once (each one CPU thread)")
    executor: str = option("local", "local processes or slurm (through submitit)",
                           choices=EXECUTORS)
    partition: str | None = option(None, "SLURM partition")
    gpus: int = option(1, "GPUs per SLURM job")
    time_min: int = option(720, "SLURM time limit per run, minutes")
    device: str = option("auto", "device of the runs (cpu, cuda, auto)")
    data_root: str | None = option(None, "data.root for every run (the table's data set)")
    set: list[str] = option(help="extra key=value training overrides for every cell",
                            factory=list)


def _train_argv(spec: RunSpec, out: Path, cfg: SweepRun) -> list[str]:
    over = [o.replace(DATA_ROOT, str(cfg.data_root)) for o in spec.overrides]
    return ["train", str(CONFIG_DIR / spec.config), *over,
            f"seed={spec.seed}", f"name={spec.name()}", f"out_dir={out}", f"device={cfg.device}",
            "--no-progress"]


def _train_job(argv: list[str]) -> int:
    """What one SLURM job runs: ``python -m dynamics train ...`` in a child process, resuming
    when the run folder exists; returns its exit code."""
    import subprocess
    import sys

    folder = Path(next(a for a in argv if a.startswith("out_dir=")).split("=", 1)[1]) / next(
        a for a in argv if a.startswith("name=")).split("=", 1)[1]
    resume = ["--resume"] if (folder / "config.yaml").is_file() else []
    return subprocess.run([sys.executable, "-m", "dynamics", *argv, *resume]).returncode


def slurm_executor(folder: Path, cfg: SweepRun) -> Any:
    """A submitit executor for SLURM with the sweep's partition, GPUs and time limit."""
    import submitit

    ex = submitit.AutoExecutor(folder=str(folder), cluster="slurm")
    ex.update_parameters(timeout_min=cfg.time_min, gpus_per_node=cfg.gpus,
                         **({"slurm_partition": cfg.partition} if cfg.partition else {}))
    return ex


def _run_slurm(todo: list[RunSpec], out: Path, cfg: SweepRun,
               log: Callable[[str], Any]) -> dict[RunSpec, RunResult]:
    from dynamics.verify.runner import _state

    ex = slurm_executor(out / "submitit", cfg)
    jobs = [(s, ex.submit(_train_job, _train_argv(s, out, cfg))) for s in todo]
    log(f"sweep: submitted {len(jobs)} job(s) through submitit")
    results = {}
    for spec, job in jobs:
        try:
            code = job.result()
        except Exception as exc:  # noqa: BLE001 - a failed job is reported, not raised
            code = f"job failed: {str(exc).strip().splitlines()[-1] if str(exc) else exc}"
        folder = out / spec.name()
        ok = _state(folder) == "finished"
        results[spec] = RunResult(spec, folder if ok else None,
                                  "trained (slurm)" if ok else f"failed: {code}")
    return results


@with_thread_policy
def run_sweep(table: Table, cfg: SweepRun, log: Callable[[str], Any] = print
              ) -> dict[str, Any]:
    """Run every cell x seed of ``table`` that is not finished yet (see the module
    docstring); returns the index (also written to ``<out>/index.json``)."""
    from dynamics.io import atomic_write_text, check_output_dir, to_json
    from dynamics.locks import FolderLock
    from dynamics.verify.runner import _state

    seeds = parse_seeds(cfg.seeds)
    out = check_output_dir("out", cfg.out or f"runs/sweeps/{table.paper}_{table.id}")
    # the data root enters as a placeholder: run names do not depend on where the data is
    extra = [*cfg.set, *([f"data.root={DATA_ROOT}"] if cfg.data_root else [])]
    all_specs = specs(table, seeds, extra)
    with FolderLock(out, field="out", what="sweep folder"):
        index = {"paper": table.paper, "table": table.id, "title": table.title,
                 "base": table.base, "seeds": seeds, "overrides": list(cfg.set),
                 "cells": {c.name: [s.name() for s in all_specs if s.label == c.name]
                           for c in table.cells}}
        atomic_write_text(out / "index.json", to_json(index))
        if cfg.executor == "local":
            local = VerifyRun(jobs=cfg.jobs, device=cfg.device, data_root=cfg.data_root)
            results = execute_runs(all_specs, out, local, log, what="sweep")
        else:
            todo = [s for s in all_specs if _state(out / s.name()) != "finished"]
            results = _run_slurm(todo, out, cfg, log)
        failed = [r for r in results.values() if r.folder is None]
        index["failed"] = [f"{r.spec.name()}: {r.note}" for r in failed]
        atomic_write_text(out / "index.json", to_json(index))
    index["out"] = str(out)
    return index


__all__ = ["EXECUTORS", "TABLE_DIR", "Cell", "SweepRun", "Table", "find_table", "load_tables",
           "parse_seeds", "run_sweep", "slurm_executor", "specs"]

"""``ssl-dynamics hltm``: contrastive training on the hierarchical latent tree model.

Trains one tree-shaped ReLU net per (depth, delta_lower, hid, seed) on the HLTM of Tian, Yu, Chen
& Ganguli 2020 (:mod:`dynamics.theories.dual_networks.hltm`) and records how well each hidden
layer's best unit correlates with its latent variable, per tree level, before and after training.
Writes ``OUT/hltm_table.csv``, ``OUT/hltm_table.md``, ``OUT/hltm.json`` (all rows with per-epoch
histories) and the figure ``OUT/hltm_corr.png``/``.pdf``, and prints a short summary.

    ssl-dynamics hltm --hid 2 10 50 --delta-lower 0.5 0.7 0.9 --depth 3 5 --seeds 1 2 3 \\
        --epochs 10 --draws 32000 --loss nce --tau 0.1 --out hltm_out

Resumable: the output folder is checked (and locked against a second ``hltm``) before any work;
every finished grid cell is recorded at once in ``OUT/cells/<key>.json`` with the settings that
produced it (:class:`~dynamics.theories.dual_networks.hltm.grid.CellStore`). Running the same
command again reuses the recorded cells and trains only the missing ones (with the same numbers as
an uninterrupted run); cells of other settings are refused unless ``--overwrite`` clears them. The
tables, JSON and figure are written from all finished cells at the end, and on SIGINT/SIGTERM
from the cells finished so far (exit code 130/143, one line saying how many cells are saved).

The HLTM figure of ``ssl-dynamics figures`` / ``reproduce`` (``dual_networks_hltm``) trains its own
fixed grid (:mod:`dynamics.theories.dual_networks.figures.hltm`).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dynamics.cli.common import _plain, resolve_config
from dynamics.config import add_schema_arguments, write_config
from dynamics.errors import ConfigError, check_choice, check_range
from dynamics.io import check_output_dir
from dynamics.theories.dual_networks.figures.hltm_grid import write_outputs
from dynamics.theories.dual_networks.hltm.config import MAX_LEAVES, HLTMGridRun
from dynamics.theories.dual_networks.hltm.train import loss_options
from dynamics.threads import (  # noqa: F401 - torch_threads: kept importable from here
    cpu_threads,
    parse_threads,
    torch_threads,
)

#: The grid's defaults (read from
#: :class:`~dynamics.theories.dual_networks.hltm.config.HLTMGridRun`).
DEFAULTS: dict[str, Any] = dataclasses.asdict(HLTMGridRun())
PROG = "ssl-dynamics"
# The settings that determine the cells (recorded with each one and compared on resume).
SETTING_KEYS = ("hid", "delta_lower", "depth", "seeds", "epochs", "draws", "loss", "tau", "lr",
                "batch_size", "delta_upper", "num_children", "bn", "eval_samples", "op_samples")
OUTPUT_NAMES = ("hltm_table.csv", "hltm_table.md", "hltm.json", "hltm_corr.png",
                "hltm_corr.pdf", "config.yaml")
CELLS_DIR = "cells"



def add_hltm_arguments(p: argparse.ArgumentParser) -> None:
    """Add the ``hltm`` flags (grid, training, output) to the sub-parser ``p``."""
    p.description = _plain(__doc__.split("\n\n")[0])
    add_schema_arguments(p, HLTMGridRun, positional_overrides=True)
    p.add_argument("--quiet", action="store_true", help="no per-run progress lines on stderr")
    p.add_argument("--out", default="hltm_out",
                   help="output folder (default hltm_out); created if missing. Finished cells "
                        "are kept in OUT/cells/ and reused when the same command runs again")
    p.add_argument("--overwrite", action="store_true",
                   help="clear the cells and outputs of an earlier grid in --out first (needed "
                        "when its settings differ)")
    # hltm applies its own --threads (default 1, not the global auto) around the grid only.
    p.set_defaults(threads_applied_by_command=True)


def _validate(args) -> tuple[HLTMGridRun, Any, Path]:
    """The checked typed config, its thread setting and the output folder (created), before
    any work."""
    from dynamics.theories.dual_networks.hltm import validate_training

    run = resolve_config(HLTMGridRun, args)
    for h in run.hid:
        if h < 1:
            raise ConfigError("hid", f"must be integers >= 1, got {h}")
    check_range("delta_upper", run.delta_upper, low=0.0, high=1.0)
    for d in run.delta_lower:
        check_range("delta_lower", d, low=0.0, high=run.delta_upper)
    if run.num_children < 2:
        raise ConfigError("num_children", f"must be an integer >= 2, got {run.num_children}")
    for d in run.depth:
        if d < 1 or run.num_children**d > MAX_LEAVES:
            raise ConfigError("depth", f"must be >= 1 with num_children^depth <= {MAX_LEAVES} "
                                       f"leaves, got {d} ({run.num_children}^{d})")
    for s in run.seeds:
        if s < 0:
            raise ConfigError("seeds", f"must be integers >= 0, got {s}")
    check_choice("loss", run.loss, loss_options())
    validate_training(run.loss, run.tau, run.lr, run.batch_size, run.epochs, run.draws,
                      run.eval_samples, run.op_samples)
    threads = parse_threads(run.threads)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ConfigError("out", f"must be a folder, but {args.out!r} is a file")
    return run, threads, check_output_dir("out", out)  # created; one-line error if unwritable








def _levels(values: Sequence[float]) -> str:
    return "[" + " ".join(f"{v:.2f}" for v in values) + "]"


def summary_lines(rows: Sequence[dict[str, Any]]) -> list[str]:
    """One line per (depth, delta_lower, hid): mean best |corr| per level before -> after."""
    from dynamics.theories.dual_networks.hltm import summarise_rows

    lines = []
    for s in summarise_rows(rows):
        lines.append(f"  depth {s['depth']} delta_lower {s['delta_lower']:g} hid {s['hid']}: "
                     f"best |corr| root..leaf-parents {_levels(s['corr_before'])} -> "
                     f"{_levels(s['corr_after'])}"
                     + (f" (root min over {s['n_seeds']} seeds {s['root_after_min']:.2f})"
                        if s["n_seeds"] > 1 else ""))
    return lines


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _show(value: Any) -> str:
    """A setting as it would be typed on the command line."""
    if isinstance(value, list):
        return " ".join(_show(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return "unset" if value is None else str(value)


def _remove_outputs(out: Path) -> None:
    for name in OUTPUT_NAMES:
        with contextlib.suppress(FileNotFoundError):
            (out / name).unlink()


def _remove_stale_temporaries(out: Path) -> None:
    """Temporary files of our writers killed with SIGKILL (we hold the folder's lock)."""
    for name in OUTPUT_NAMES:
        for tmp in out.glob(f".{name}.*.tmp"):
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()


def open_cell_store(out: Path, settings: dict[str, Any], overwrite: bool, log=_log):
    """The :class:`~dynamics.theories.dual_networks.hltm.grid.CellStore` of ``OUT/cells`` for these
    settings. Cells of other settings: ConfigError naming the first differing setting, or with
    ``overwrite`` they (and the old outputs) are removed. Call with the folder locked."""
    from dynamics.theories.dual_networks.hltm.grid import CellStore

    store = CellStore(out / CELLS_DIR, settings)
    if overwrite:
        n = store.clear()
        _remove_outputs(out)
        if n:
            log(f"hltm: --overwrite: removed {n} cell record(s) of an earlier grid from "
                f"{store.folder}")
    else:
        mm = store.mismatch()
        if mm is not None:
            flag = "--" + mm.setting.replace("_", "-")
            raise ConfigError("out", f"{out} holds {mm.cells} finished cell(s) of a grid with "
                                     f"other settings ({flag} {_show(mm.recorded)} there, "
                                     f"{_show(mm.current)} now); use another --out, or "
                                     f"--overwrite to clear them")
        store.remove_stale_temporaries()
        if store.unreadable:
            log(f"hltm: ignoring {len(store.unreadable)} unreadable file(s) in {store.folder} "
                f"(e.g. {store.unreadable[0].name}); their cells are trained again")
    _remove_stale_temporaries(out)
    return store


def _interrupted(exc: KeyboardInterrupt, store, cells, out: Path, settings: dict[str, Any],
                 runtime: float, reused: int) -> int:
    """Write the outputs from the finished cells (if any) and say what is saved; returns
    130 (SIGINT) or 143 (SIGTERM), as :func:`dynamics.cli.main`."""
    signum = int(getattr(exc, "signum", signal.SIGINT))
    rows = store.finished(cells)
    note = ""
    if rows:
        try:  # atomic writers: a second interrupt leaves every file whole (old or new)
            write_outputs(rows, out, settings, runtime, {"finished": len(rows),
                                                         "total": len(cells), "reused": reused})
            note = "; the tables and figure show them"
        except KeyboardInterrupt:
            note = "; the tables were not rewritten (interrupted again)"
        except (OSError, ValueError) as err:
            note = f"; the tables could not be written ({err})"
    print(f"{PROG}: hltm interrupted by {signal.Signals(signum).name}: {len(rows)} of "
          f"{len(cells)} cells saved in {store.folder}{note}; rerun the same command to resume",
          file=sys.stderr, flush=True)
    return 128 + signum


def run_hltm(args) -> int:
    """Run ``ssl-dynamics hltm``: train the missing grid cells, write tables + figure; exit code."""
    from dynamics.locks import FolderLock
    from dynamics.theories.dual_networks.hltm.grid import grid_cells, run_grid
    from dynamics.threads import choose_threads

    run, threads, out = _validate(args)
    settings = {k: getattr(run, k) for k in SETTING_KEYS}
    cells = grid_cells(run.hid, run.delta_lower, run.depth, run.seeds,
                       delta_upper=run.delta_upper)
    log = None if args.quiet else _log
    with FolderLock(out, field="out", what="HLTM output folder"):
        store = open_cell_store(out, settings, getattr(args, "overwrite", False))
        write_config(run, out, command="hltm")
        reused = len(store.finished(cells))
        if reused:
            _log(f"hltm: resuming in {out}: {reused} of {len(cells)} cells already finished "
                 f"(reused), {len(cells) - reused} to train")
        choice = choose_threads(threads)
        meta = {**settings, "threads": choice.to_dict()}
        t0 = time.perf_counter()
        try:
            with cpu_threads(choice.threads):
                rows = run_grid(run.hid, run.delta_lower, run.depth, run.seeds,
                                epochs=run.epochs, draws_per_epoch=run.draws, loss=run.loss,
                                tau=run.tau, lr=run.lr, batch_size=run.batch_size,
                                delta_upper=run.delta_upper, num_children=run.num_children,
                                bn=run.bn, eval_samples=run.eval_samples,
                                op_samples=run.op_samples, log=log, store=store)
            runtime = time.perf_counter() - t0
            paths = write_outputs(rows, out, meta, runtime, {"finished": len(rows),
                                                             "total": len(cells),
                                                             "reused": reused})
        except KeyboardInterrupt as exc:
            return _interrupted(exc, store, cells, out, meta, time.perf_counter() - t0, reused)
        except OSError as err:  # disk full, folder removed...: say what is kept
            print(f"{PROG}: error: out: could not write in {out}: {err.strerror or err}; "
                  f"{len(store.finished(cells))} of {len(cells)} cells are saved in "
                  f"{store.folder}: rerun the same command to resume", file=sys.stderr)
            return 1
    print(f"hltm: {len(rows)} run(s)" + (f" ({reused} reused from {store.folder})" if reused
                                         else "")
          + f", loss {run.loss} (tau {run.tau:g}), {run.epochs} epochs x {run.draws} draws, "
          f"{runtime:.1f} s, {choice.text()}")
    print("\n".join(summary_lines(rows)))
    print(f"wrote {', '.join(str(p) for p in paths)}")
    return 0





"""Grids of HLTM training runs (:mod:`dynamics.theories.dual_networks.hltm`), optionally resumable.

A grid is every combination (depth, delta_lower, hid, seed) -- one *cell* -- trained with the
same settings. :func:`run_cell` trains one cell and returns its row; :func:`run_grid` runs the
cells in order (depth, delta_lower, hid, seed, each axis without repeated values).

With a :class:`CellStore` every finished cell is written at once, atomically, to its own record
``FOLDER/<key>.json`` (``key`` = :attr:`Cell.key`, e.g. ``d4_dl0.7_hid10_s1``) together with the
settings that produced it, and cells already recorded there are reused instead of trained
again. A cell depends only on its own seed (the tree, the initial weights and every sample are
drawn from generators seeded by it; no global random state is used), so a grid interrupted and
resumed gives exactly the numbers of an uninterrupted one (timings aside). Rows read back from a
record are the rows that were written (JSON keeps floats exactly; NaN is stored as null and read
back as NaN), and a freshly computed cell is returned in that same decoded form, so a resumed
grid and an uninterrupted one produce identical tables.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from dynamics.errors import ConfigError, check_range
from dynamics.theories.dual_networks.hltm.data import HLTM, _check_int
from dynamics.theories.dual_networks.hltm.net import TreeNet
from dynamics.theories.dual_networks.hltm.train import _levels, train_hltm, validate_training

RECORD_FORMAT = "ssl-dynamics hltm cell"
RECORD_VERSION = 1


class Cell(NamedTuple):
    """One grid point; ``key`` names its record file.
    Attributes:
        depth: tree depth; delta_lower: lower end of |delta|; hid: outputs per node.
        seed: seeds the tree, the initial weights and the data.
    Example:
        >>> Cell(4, 0.7, 10, 1).key, Cell(4, 0.7, 10, 1).text()
        ('d4_dl0.7_hid10_s1', 'depth 4 delta_lower 0.7 hid 10 seed 1')"""

    depth: int
    delta_lower: float
    hid: int
    seed: int

    @property
    def key(self) -> str:  # repr(float) round-trips, so distinct values get distinct keys
        """Record file stem, e.g. ``d4_dl0.7_hid10_s1``."""
        return f"d{self.depth}_dl{self.delta_lower!r}_hid{self.hid}_s{self.seed}"

    def text(self) -> str:
        """The cell's coordinates in words, for log lines."""
        return (f"depth {self.depth} delta_lower {self.delta_lower:g} hid {self.hid} "
                f"seed {self.seed}")


def _seq(name: str, values: Any) -> list:
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        values = [values]
    values = list(values)
    if not values:
        raise ConfigError(name, "needs at least one value")
    return values


def grid_cells(hids: Sequence[int], delta_lowers: Sequence[float], depths: Sequence[int],
               seeds: Sequence[int], *, delta_upper: float = 1.0) -> list[Cell]:
    """The checked cells in run order (depth, delta_lower, hid, seed); a value given twice on
    an axis counts once.
    Args:
        hids: ints >= 1; delta_lowers: floats in [0, delta_upper]; depths: ints >= 1.
        seeds: ints >= 0 (each axis a sequence or one value); delta_upper: upper end of |delta|.
    Returns:
        A list of :class:`Cell` (ConfigError on a bad value).
    Example:
        >>> [c.key for c in grid_cells([2, 10], [0.7], 3, [1, 1])]
        ['d3_dl0.7_hid2_s1', 'd3_dl0.7_hid10_s1']"""
    hids = [_check_int("hid", h, 1) for h in _seq("hid", hids)]
    depths = [_check_int("depth", d, 1) for d in _seq("depth", depths)]
    seeds = [_check_int("seeds", s, 0) for s in _seq("seeds", seeds)]
    delta_lowers = [float(d) for d in _seq("delta_lower", delta_lowers)]
    for d in delta_lowers:
        check_range("delta_lower", d, low=0.0, high=1.0)
        if d > delta_upper:
            raise ConfigError("delta_lower", f"must be <= delta_upper ({delta_upper:g}), got {d:g}")
    uniq = dict.fromkeys
    return [Cell(depth, dl, hid, seed) for depth in uniq(depths) for dl in uniq(delta_lowers)
            for hid in uniq(hids) for seed in uniq(seeds)]


def run_cell(cell: Cell, *, epochs: int, draws_per_epoch: int, loss: str, tau: float,
             lr: float, batch_size: int, delta_upper: float, num_children: int, bn: bool,
             eval_samples: int, op_samples: int) -> dict[str, Any]:
    """Train one cell from scratch (everything seeded by ``cell.seed``); returns its row.
    Args:
        cell: the :class:`Cell`; the keywords: the settings of :func:`run_grid`.
    Returns:
        The row, a dict (keys in :func:`run_grid`)."""
    depth, dl, hid, seed = cell
    tree = HLTM(depth, num_children, dl, delta_upper, seed=seed)
    net = TreeNet(tree, hid, bn=bn, seed=seed)
    h = train_hltm(tree, net, loss, tau, lr, batch_size, epochs, draws_per_epoch, seed,
                   eval_samples=eval_samples, op_samples=op_samples)
    return {
        "depth": depth,
        "num_children": num_children,
        "hid": hid,
        "delta_lower": dl,
        "delta_upper": float(delta_upper),
        "bn": bool(bn),
        "seed": seed,
        "loss": loss,
        "tau": float(tau),
        "lr": float(lr),
        "batch_size": int(batch_size),
        "epochs": int(epochs),
        "draws_per_epoch": int(draws_per_epoch),
        "corr_before": h.corr[0].tolist(),
        "corr_after": h.corr[-1].tolist(),
        "op_before": h.op_norm[0].tolist(),
        "op_after": h.op_norm[-1].tolist(),
        "weight_after": h.weight_norm[-1].tolist(),
        "loss_first": float(h.loss[1]) if epochs else float("nan"),
        "loss_last": float(h.loss[-1]) if epochs else float("nan"),
        "runtime_s": float(h.runtime_s),
        "history": h.to_dict(),
    }


def run_grid(
    hids: Sequence[int] = (2, 10),
    delta_lowers: Sequence[float] = (0.7, 0.9),
    depths: Sequence[int] = (4,),
    seeds: Sequence[int] = (1, 2, 3),
    *,
    epochs: int = 10,
    draws_per_epoch: int = 32000,
    loss: str = "nce",
    tau: float = 0.1,
    lr: float = 0.1,
    batch_size: int = 128,
    delta_upper: float = 1.0,
    num_children: int = 2,
    bn: bool = False,
    eval_samples: int = 8192,
    op_samples: int = 1024,
    log: Callable[[str], None] | None = None,
    store: CellStore | None = None,
) -> list[dict[str, Any]]:
    """Train one tree net per (depth, delta_lower, hid, seed), sequentially, and return one row
    per run: the settings, ``corr_before``/``corr_after`` (mean best |corr| per level, root
    first), ``op_before``/``op_after`` (mean ||OP||_F per level), ``weight_after``,
    ``loss_first``/``loss_last`` (the first and last epoch's mean loss), ``runtime_s`` and the
    full per-epoch ``history`` (a dict, for the JSON output).

    The seed fixes the tree (so runs that differ only in ``hid`` or the delta range share the
    signs and the ordering of the polarities), the initial weights and the data. The defaults
    (12 runs of 32k draws x 10 epochs = 2500 SGD steps each, depth 4) take about a minute on
    one CPU core (a depth-5, hid-10 run about 10 s; hid 50 about three times that); the
    official code's README example uses 64k draws x 20 epochs at depth 5.

    ``store``: a :class:`CellStore` (already checked against the settings): cells recorded in it
    are reused, every newly finished cell is recorded at once. An interrupt (KeyboardInterrupt,
    SIGTERM turned into one by the CLI) propagates; the cells finished before it are on disk.
    Args:
        hids, delta_lowers, depths, seeds: the axes (:func:`grid_cells`).
        epochs, draws_per_epoch, loss, tau, lr, batch_size, eval_samples, op_samples: the
            training and measurement settings of
            :func:`~dynamics.theories.dual_networks.hltm.train.train_hltm`.
        delta_upper, num_children: the tree; bn: the net's batch-norm ablation.
        log: called with one line per trained cell, or None; store: a CellStore or None.
    Returns:
        The rows (dicts), in run order.
    Example:
        >>> rows = run_grid([2], [0.7], [3], [1], epochs=1, draws_per_epoch=256, batch_size=64,
        ...                 eval_samples=256, op_samples=0)
        >>> len(rows), [round(c, 3) for c in rows[0]["corr_after"]]
        (1, [0.699, 0.818, 0.901])"""
    cells = grid_cells(hids, delta_lowers, depths, seeds, delta_upper=delta_upper)
    validate_training(loss, tau, lr, batch_size, epochs, draws_per_epoch, eval_samples, op_samples)
    train_kw = {"epochs": epochs, "draws_per_epoch": draws_per_epoch, "loss": loss, "tau": tau,
                "lr": lr, "batch_size": batch_size, "delta_upper": delta_upper,
                "num_children": num_children, "bn": bn, "eval_samples": eval_samples,
                "op_samples": op_samples}
    rows = []
    for k, cell in enumerate(cells, 1):
        row = store.get(cell) if store is not None else None
        if row is None:
            row = run_cell(cell, **train_kw)
            if store is not None:
                row = store.put(cell, row)
            if log:
                log(f"[{k}/{len(cells)}] {cell.text()}: corr {_levels(row['corr_before'])} -> "
                    f"{_levels(row['corr_after'])} ({row['runtime_s']:.1f} s)")
        rows.append(row)
    return rows


# --------------------------------------------------------------------------------------------
# Per-cell records


def _nan_for_null(value: Any) -> Any:
    """JSON null (how :func:`dynamics.io.to_json` stores NaN) back to NaN, recursively."""
    if value is None:
        return float("nan")
    if isinstance(value, dict):
        return {k: _nan_for_null(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_nan_for_null(v) for v in value]
    return value


def _plain(value: Any) -> Any:
    """``value`` as it reads back from JSON (tuples become lists, numpy scalars numbers)."""
    from dynamics.io import to_json

    return json.loads(to_json(value))


class Mismatch(NamedTuple):
    """The first setting in which recorded cells differ from the current ones.
    Attributes:
        setting: its name; recorded: its recorded value; current: its current value.
        cells: how many records differ (in any setting)."""

    setting: str
    recorded: Any
    current: Any
    cells: int  #: how many records differ


class CellStore:
    """One JSON record per finished cell in ``folder`` (created on the first write).

    ``settings`` are the settings of the whole grid (as the caller names them); a record is
    reused only when its settings equal them exactly (:meth:`mismatch` reports the first
    difference, :meth:`clear` removes every record). The caller holds the folder's lock.
    Args:
        folder: the records' folder; settings: the grid's settings (a JSON-able mapping).
    Attributes:
        folder: a Path; settings: the settings as they read back from JSON; unreadable: files
            of the folder that are not records (trained again and replaced).
    Example:
        >>> import tempfile
        >>> store, cell = CellStore(tempfile.mkdtemp(), {"epochs": 1}), Cell(3, 0.7, 2, 1)
        >>> store.get(cell) is None, store.put(cell, {"corr_after": [0.5, float("nan")]})
        (True, {'corr_after': [0.5, nan]})
        >>> len(store), store.mismatch(), CellStore(store.folder, {"epochs": 2}).mismatch()
        (1, None, Mismatch(setting='epochs', recorded=1, current=2, cells=1))
        >>> import shutil; shutil.rmtree(store.folder)"""

    def __init__(self, folder: str | os.PathLike, settings: Mapping[str, Any]):
        self.folder = Path(folder)
        self.settings: dict[str, Any] = _plain(dict(settings))
        self.unreadable: list[Path] = []
        self._records: dict[str, dict[str, Any]] = {}
        self._scan()

    def path(self, cell: Cell) -> Path:
        """The record file of ``cell``, ``FOLDER/<key>.json``.
        Args:
            cell: a :class:`Cell`.
        Returns:
            A Path (the file may not exist)."""
        return self.folder / f"{cell.key}.json"

    def _read(self, path: Path) -> dict[str, Any] | None:
        try:
            rec = json.loads(path.read_text())
            cell = Cell(**rec["cell"])
            ok = (rec.get("format") == RECORD_FORMAT and cell.key == path.stem
                  and isinstance(rec.get("settings"), dict) and isinstance(rec.get("row"), dict))
        except (OSError, ValueError, TypeError, KeyError):
            ok = False
        return rec if ok else None

    def _scan(self) -> None:
        self._records.clear()
        self.unreadable = []
        if not self.folder.is_dir():
            return
        for path in sorted(self.folder.glob("*.json")):
            rec = self._read(path)
            if rec is None:
                self.unreadable.append(path)  # not ours or damaged: trained again, replaced
            else:
                self._records[path.stem] = rec

    def __len__(self) -> int:
        return len(self._records)

    def mismatch(self) -> Mismatch | None:
        """The first setting (in the order of ``settings``, then the record's extra keys) whose
        recorded value differs from the current one, over all records; None if all match.
        Returns:
            A :class:`Mismatch` or None."""
        differ = [r["settings"] for r in self._records.values() if r["settings"] != self.settings]
        if not differ:
            return None
        first = differ[0]
        for key in [*self.settings, *(k for k in first if k not in self.settings)]:
            if first.get(key) != self.settings.get(key):
                return Mismatch(key, first.get(key), self.settings.get(key), len(differ))
        raise AssertionError("unreachable")  # pragma: no cover

    def clear(self) -> int:
        """Remove every record (and temporary file left by a killed writer); returns how many
        records there were.
        Returns:
            The number of records removed, an int."""
        n = 0
        if self.folder.is_dir():
            for path in self.folder.iterdir():
                if path.suffix == ".json" or (path.name.startswith(".")
                                              and path.name.endswith(".tmp")):
                    n += path.suffix == ".json"
                    with contextlib.suppress(FileNotFoundError):
                        path.unlink()
        self._scan()
        return n

    def remove_stale_temporaries(self) -> None:
        """Temporary files of a writer killed with SIGKILL (never completed records)."""
        if self.folder.is_dir():
            for path in self.folder.glob(".*.tmp"):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()

    def get(self, cell: Cell) -> dict[str, Any] | None:
        """The recorded row of ``cell`` if it was produced with the current settings.
        Args:
            cell: a :class:`Cell`.
        Returns:
            The row (a dict, JSON null read back as NaN) or None."""
        rec = self._records.get(cell.key)
        if rec is None or rec["settings"] != self.settings or Cell(**rec["cell"]) != cell:
            return None
        return _nan_for_null(rec["row"])

    def put(self, cell: Cell, row: Mapping[str, Any]) -> dict[str, Any]:
        """Record a finished cell atomically; returns the row as it reads back.
        Args:
            cell: a :class:`Cell`; row: its row (JSON-able; NaN is stored as null).
        Returns:
            The row as decoded from the record (a dict)."""
        from dynamics.io import atomic_write_text, to_json

        rec = {"format": RECORD_FORMAT, "version": RECORD_VERSION, "cell": cell._asdict(),
               "settings": self.settings, "row": row}
        text = to_json(rec)
        self.folder.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.path(cell), text)
        rec = json.loads(text)
        self._records[cell.key] = rec
        return _nan_for_null(rec["row"])

    def finished(self, cells: Iterable[Cell]) -> list[dict[str, Any]]:
        """The rows of the given cells that are on disk with the current settings, in order
        (read from disk again: a record may have landed just before an interrupt).
        Args:
            cells: the cells (:class:`Cell`) to look up.
        Returns:
            A list of rows (dicts), cells without a matching record left out."""
        rows = []
        for cell in cells:
            rec = self._records.get(cell.key)
            if rec is None and self.path(cell).is_file():
                rec = self._read(self.path(cell))
                if rec is not None:
                    self._records[cell.key] = rec
            row = self.get(cell) if rec is not None else None
            if row is not None:
                rows.append(row)
        return rows


__all__ = ["Cell", "CellStore", "Mismatch", "grid_cells", "run_cell", "run_grid"]

"""Atomic, format-by-suffix writing of results (.json, .csv, .npz).

Every write goes to a temporary file in the destination folder and is moved into place with
``os.replace``, so an interrupted run never leaves a truncated file behind.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from dynamics.errors import ConfigError

FORMATS = (".json", ".csv", ".npz")


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temp file in the same folder + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, (np.floating, float)):
        v = float(value)
        return v if np.isfinite(v) else None
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def to_json(value: Any) -> str:
    """JSON text for nested dicts of arrays/scalars (NaN/Inf become null)."""
    return json.dumps(_jsonable(value), indent=1)


def check_output_path(field: str, path: str | os.PathLike) -> Path:
    path = Path(path)
    if path.suffix not in FORMATS:
        raise ConfigError(field, f"must end in one of {', '.join(FORMATS)}; got {str(path)!r}")
    return path


def save_arrays(path: str | os.PathLike, arrays: Mapping[str, Any],
                meta: Mapping[str, Any] | None = None) -> Path:
    """Save named arrays by suffix.

    * ``.npz``: one array per name (``meta`` stored as a JSON string under ``"meta"``).
    * ``.json``: ``{"meta": ..., "arrays": {name: nested lists}}``.
    * ``.csv``: one row per time step (the first axis of every array), one column per scalar
      entry, named ``name`` or ``name[i,j]``; ``meta`` in ``#`` comment lines at the top.
    """
    path = check_output_path("out", path)
    meta = dict(meta or {})
    arrays = {k: np.asarray(v) for k, v in arrays.items() if v is not None}
    if path.suffix == ".npz":
        buf = io.BytesIO()
        np.savez_compressed(buf, meta=np.array(to_json(meta)), **arrays)
        return atomic_write_bytes(path, buf.getvalue())
    if path.suffix == ".json":
        return atomic_write_text(path, to_json({"meta": meta, "arrays": arrays}))
    # CSV: all arrays must share the first (time) axis.
    lengths = {a.shape[0] for a in arrays.values() if a.ndim >= 1}
    if len(lengths) != 1:
        raise ConfigError("out", "csv output needs arrays with one common first (time) axis; "
                                 "use .json or .npz")
    n = lengths.pop()
    header: list[str] = []
    cols: list[np.ndarray] = []
    for name, a in arrays.items():
        if a.ndim == 0:
            continue
        flat = a.reshape(n, -1)
        if a.ndim == 1:
            header.append(name)
        else:
            header.extend(f"{name}[{','.join(map(str, idx))}]"
                          for idx in np.ndindex(*a.shape[1:]))
        cols.append(flat)
    table = np.concatenate(cols, axis=1)
    out = io.StringIO()
    for k, v in meta.items():
        out.write(f"# {k}: {json.dumps(_jsonable(v))}\n")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for row in table:
        writer.writerow([f"{float(x):.17g}" for x in row])
    return atomic_write_text(path, out.getvalue())


def load_arrays(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Inverse of :func:`save_arrays` for .npz and .json (CSV is for spreadsheets)."""
    path = check_output_path("path", path)
    if path.suffix == ".npz":
        with np.load(path) as z:
            meta = json.loads(str(z["meta"])) if "meta" in z else {}
            return {k: z[k] for k in z.files if k != "meta"}, meta
    if path.suffix == ".json":
        data = json.loads(path.read_text())
        return {k: np.asarray(v, dtype=float) for k, v in data["arrays"].items()}, data["meta"]
    raise ConfigError("path", "can load .npz or .json")

"""Atomic, format-by-suffix writing of results (.json, .csv, .npz).

Every write goes to a temporary file in the destination folder and is moved into place with
``os.replace`` (:func:`atomic_writer`), so an interrupted run never leaves a truncated file
behind; files get the mode ``open`` would give them (the umask is honoured). Output places are
checked before any work starts (:func:`check_output_dir`, :func:`check_output_file`).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from dynamics.errors import ConfigError

FORMATS = (".json", ".csv", ".npz")


def _current_umask() -> int:
    """The process umask (read by setting and restoring it; cheap)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not supported everywhere (e.g. some network FS)
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike, *, fsync: bool = True) -> Iterator[BinaryIO]:
    """Open a temporary file next to ``path`` for writing; on success it is flushed, fsync'ed,
    given the mode a plain ``open`` would give (``0o666`` minus the umask) and moved onto
    ``path`` with :func:`os.replace`. On any error or interrupt (including SIGTERM turned into
    an exception by the CLI) the temporary file is removed and ``path`` is left as it was.

    This is the one atomic writer of the package: text, JSON, arrays, figures and checkpoints
    all go through it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            if fsync:
                os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_current_umask())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if fsync:
        _fsync_dir(path.parent)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_writer`)."""
    with atomic_writer(path) as fh:
        fh.write(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically (see :func:`atomic_writer`)."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_copy(src: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """Copy ``src`` onto ``dst`` atomically: an independent file (never a hard link), so that
    damage to one of the two leaves the other intact."""
    with open(src, "rb") as fin, atomic_writer(dst) as fout:
        shutil.copyfileobj(fin, fout, length=1 << 20)
    return Path(dst)


# --------------------------------------------------------------------------------------------
# Output paths, checked before any work starts


PROBE_PREFIX = ".write-test."
"""Name prefix of the short-lived files :func:`check_output_dir` creates to test a folder."""


def _probe_writable(field: str, folder: Path) -> None:
    """Create and remove a file in ``folder`` (the only test that also holds for root, on
    read-only mounts and on network file systems)."""
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=PROBE_PREFIX)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ConfigError(field, f"cannot write to {str(folder)!r}: "
                                 f"{exc.strerror or exc}") from None


def _first_existing_parent(path: Path) -> Path:
    p = path
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def check_output_dir(field: str, path: str | os.PathLike, *, create: bool = True) -> Path:
    """Check (before any work) that ``path`` can be used as an output folder: an existing
    folder or a creatable one, with no file in the way, writable. With ``create`` the folder
    is made. Raises a one-line :class:`ConfigError` naming ``field``."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ConfigError(field, f"{str(path)!r} is a file, but a folder is needed here")
    base = _first_existing_parent(path.absolute())
    if not base.is_dir():
        raise ConfigError(field, f"cannot create {str(path)!r}: {str(base)!r} is a file, "
                                 f"not a folder")
    if not create:
        _probe_writable(field, base)
        return path
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(field, f"cannot create the folder {str(path)!r}: "
                                 f"{exc.strerror or exc}") from None
    _probe_writable(field, path)
    return path


def check_output_file(field: str, path: str | os.PathLike,
                      suffixes: Sequence[str] | None = None) -> Path:
    """Check (before any work) that the file ``path`` can be written: allowed suffix, not a
    folder, its folder creatable and writable (the folder is created)."""
    path = Path(path)
    if suffixes is not None and path.suffix not in suffixes:
        raise ConfigError(field, f"must end in one of {', '.join(suffixes)}; got {str(path)!r}")
    if path.is_dir():
        raise ConfigError(field, f"{str(path)!r} is a folder, but a file is needed here")
    check_output_dir(field, path.parent if str(path.parent) else Path("."))
    return path


def jsonable(value: Any) -> Any:
    """The package's one JSON convention: a JSON-ready copy of nested dicts/lists of torch
    tensors, numpy arrays and scalars, paths and complex numbers; **NaN and +-Inf become
    null** (JSON has no literal for them; readers map null back to NaN where a number is
    expected). Tuples become lists, keys strings, tensors are detached and moved to the CPU."""
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return v if np.isfinite(v) else None
    if isinstance(value, complex):
        return [jsonable(value.real), jsonable(value.imag)]
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if type(value).__module__.startswith("torch"):
        import torch

        if isinstance(value, torch.Tensor):
            value = value.detach().cpu()
            return jsonable(value.item() if value.ndim == 0 else value.tolist())
    return value


def to_json(value: Any, indent: int | None = 1) -> str:
    """JSON text in the convention of :func:`jsonable` (strict: no NaN tokens)."""
    seps = (",", ":") if indent is None else None
    return json.dumps(jsonable(value), indent=indent, separators=seps, allow_nan=False)


def check_output_path(field: str, path: str | os.PathLike) -> Path:
    """A results file for :func:`save_arrays`: a known suffix and a writable place."""
    return check_output_file(field, path, FORMATS)


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
        out.write(f"# {k}: {json.dumps(jsonable(v))}\n")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for row in table:
        writer.writerow([f"{float(x):.17g}" for x in row])
    return atomic_write_text(path, out.getvalue())


def load_arrays(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Inverse of :func:`save_arrays` for .npz and .json (CSV is for spreadsheets)."""
    path = Path(path)
    if path.suffix not in (".npz", ".json"):
        raise ConfigError("path", f"can load .npz or .json; got {str(path)!r}")
    if path.suffix == ".npz":
        with np.load(path) as z:
            meta = json.loads(str(z["meta"])) if "meta" in z else {}
            return {k: z[k] for k in z.files if k != "meta"}, meta
    if path.suffix == ".json":
        data = json.loads(path.read_text())
        return {k: np.asarray(v, dtype=float) for k, v in data["arrays"].items()}, data["meta"]
    raise ConfigError("path", "can load .npz or .json")

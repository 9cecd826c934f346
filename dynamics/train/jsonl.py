"""JSON-lines logs of a run (``metrics.jsonl``, ``spectra.jsonl``): one compact JSON object a
line in the package's JSON convention (NaN/Inf -> null), appended and flushed as training goes;
a torn last line from a crash is skipped when read back."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from dynamics.io import atomic_write_text, jsonable, to_json

plain = jsonable  #: the package's one JSON convention (NaN/Inf -> null), see dynamics.io


def json_line(row: Mapping[str, Any]) -> str:
    """One compact JSON line (no NaN tokens: non-finite floats are null)."""
    return to_json(row, indent=None)


def read_jsonl(path: str | os.PathLike) -> list[dict[str, Any]]:
    """All complete rows of a JSON-lines file (a torn last line from a crash is skipped)."""
    path = Path(path)
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


def truncate_jsonl(path: str | os.PathLike, keep: Callable[[dict[str, Any]], bool]) -> int:
    """Atomically rewrite ``path`` with the rows for which ``keep(row)``; returns how many."""
    path = Path(path)
    if not path.is_file():
        return 0
    rows = [r for r in read_jsonl(path) if keep(r)]
    atomic_write_text(path, "".join(json_line(r) + "\n" for r in rows))
    return len(rows)


class JsonlWriter:
    """Append-only JSON-lines file; every row is flushed at once (readable while training)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()

    def write(self, row: Mapping[str, Any]) -> None:
        """Append ``row`` as one JSON line and flush."""
        self._fh.write(json_line(row) + "\n")
        self._fh.flush()

    def sync(self) -> None:
        """Flush and fsync the file (before a checkpoint refers to its rows)."""
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        """Close the file (idempotent)."""
        if not self._fh.closed:
            self._fh.close()


__all__ = ["JsonlWriter", "json_line", "plain", "read_jsonl", "truncate_jsonl"]

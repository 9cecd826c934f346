"""Output-folder locks: one writer per run folder, and no lock left stuck by a crash.

A :class:`FolderLock` holds an exclusive ``fcntl.flock`` on ``FOLDER/.lock`` for as long as the
process works in that folder. The kernel drops the lock when the process ends, however it ends
(crash, ``kill -9``, power loss of a node), so a crashed run never blocks the next one. The file
records who holds it (PID, host, command, start time) so that a refused process can name the
live one in its one-line error::

    run: runs/cpu/a is in use by process 4242 on host1 (ssl-dynamics train ..., since
    2026-12-03T16:40:01); wait for it to end, or choose another name

Every command that writes into a folder it may share with another process takes the lock:
``train`` (rank 0), ``eval``, ``hltm`` and ``reproduce``. On platforms without ``fcntl`` the
lock degrades to a no-op with the same interface.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

from dynamics.errors import ConfigError

LOCK_NAME = ".lock"

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


def _holder_text(info: dict[str, Any]) -> str:
    if not info:
        return "another process"
    cmd = info.get("command") or "?"
    if len(cmd) > 120:
        cmd = cmd[:117] + "..."
    return (f"process {info.get('pid', '?')} on {info.get('host', '?')} ({cmd}, since "
            f"{info.get('since', '?')})")


def read_holder(folder: str | os.PathLike) -> dict[str, Any]:
    """What the lock file of ``folder`` says about its holder (may be stale if unlocked)."""
    try:
        data = json.loads((Path(folder) / LOCK_NAME).read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


class FolderLock:
    """Exclusive lock on ``folder`` (created if missing). ``field`` names the option the
    one-line error points at; ``what`` is how the folder is called in it ("run", "output")."""

    def __init__(self, folder: str | os.PathLike, *, field: str = "out", what: str = "folder",
                 hint: str = "wait for it to end, or choose another output folder"):
        self.folder = Path(folder)
        self.field, self.what, self.hint = field, what, hint
        self._fd: int | None = None

    @property
    def path(self) -> Path:
        """The lock file, ``FOLDER/.lock``."""
        return self.folder / LOCK_NAME

    @property
    def held(self) -> bool:
        """Whether this object holds the lock now."""
        return self._fd is not None

    def acquire(self) -> FolderLock:
        """Take the lock now or raise :class:`ConfigError` naming the live holder."""
        if self._fd is not None:
            return self
        self.folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                raise ConfigError(self.field, f"{self.what} {self.folder} is in use by "
                                              f"{_holder_text(read_holder(self.folder))}; "
                                              f"{self.hint}") from None
        info = {"pid": os.getpid(), "host": socket.gethostname(),
                "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
                "since": time.strftime("%Y-%m-%dT%H:%M:%S")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(info) + "\n").encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        """Clear the holder record and drop the lock (a no-op when not held)."""
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(self._fd, 0)
        if fcntl is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> FolderLock:
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()


def check_unlocked(folder: str | os.PathLike, *, field: str = "out", what: str = "folder",
                   hint: str = "wait for it to end, or choose another output folder") -> None:
    """Raise the one-line :class:`ConfigError` of :meth:`FolderLock.acquire` if a live process
    holds ``folder``; touches nothing when the folder or its lock file does not exist."""
    path = Path(folder) / LOCK_NAME
    if fcntl is None or not path.is_file():
        return
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        raise ConfigError(field, f"{what} {Path(folder)} is in use by "
                                 f"{_holder_text(read_holder(folder))}; {hint}") from None
    finally:
        os.close(fd)  # closing drops the probe lock


__all__ = ["LOCK_NAME", "FolderLock", "check_unlocked", "read_holder"]

"""Long-lived worker processes for many small pieces of work: training runs, predictions and
figures of ``verify`` and ``reproduce``.

Starting a Python process that imports torch and the toolkit costs 3-5 s on a 2-core machine,
while a smoke-tier run trains in 1-4 s. :class:`WorkPool` therefore keeps ``jobs`` worker
processes (``python -m dynamics.verify.pool``) that import once and take one piece of work after
another, each on one thread (the pieces run side by side, one per core). A work item is a
module-level function and its arguments, pickled to the worker over the worker's own pipe; the
result (or the exception) comes back the same way and completes a
:class:`concurrent.futures.Future`. Work starts in the order it was submitted.

A worker imports the ``dynamics`` of the calling process and finds the caller's modules (its
``sys.path`` is the caller's), never another installed copy.

:func:`dynamics.verify.run_batch.train_run` is the work item of a training run.
:meth:`WorkPool.stop` sends SIGTERM to the workers: a run in progress stops at its next step,
saves its checkpoint and records the interruption (a rerun resumes it); other work ends at
once without half-written files (every output is written atomically); work not started is
cancelled. Each worker has a pipe of its own, so a worker that
ends (stopped, or killed from outside) never blocks the others. Ctrl-C is handled by the calling
process, which stops the pool the same way (the workers ignore SIGINT between work items).
"""

from __future__ import annotations

import contextlib
import io
import os
import pickle
import queue
import signal
import struct
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, BinaryIO

_HEADER = struct.Struct("<Q")


class WorkerEnded(RuntimeError):
    """The worker process of a work item ended before returning its result."""


def _send(stream: BinaryIO, obj: Any) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(data)) + data)
    stream.flush()


def _receive_bytes(stream: BinaryIO) -> bytes:
    head = stream.read(_HEADER.size)
    if len(head) < _HEADER.size:
        raise EOFError
    (size,) = _HEADER.unpack(head)
    data = stream.read(size)
    if len(data) < size:
        raise EOFError
    return data


def _receive(stream: BinaryIO) -> Any:
    return pickle.loads(_receive_bytes(stream))


_CALLER_MAIN = "_ssl_dynamics_caller_main"


class _CallerUnpickler(pickle.Unpickler):
    """Finds the functions of the caller's main script (pickled as ``__main__.name``) in that
    script, loaded once as ``__mp_main__`` (so its ``if __name__ == "__main__"`` block does not
    run), as multiprocessing does."""

    def find_class(self, module: str, name: str) -> Any:
        if module == "__main__":
            main = sys.modules.get(_CALLER_MAIN)
            path = os.environ.get("SSL_DYNAMICS_POOL_MAIN")
            if main is None and path:
                import runpy
                import types

                main = types.ModuleType(_CALLER_MAIN)
                main.__dict__.update(runpy.run_path(path, run_name="__mp_main__"))
                sys.modules[_CALLER_MAIN] = main
            if main is not None:
                return getattr(main, name)
        return super().find_class(module, name)


def _serve(threads: int) -> None:
    """The worker's loop: read (function, args), run it, write ("ok", result) or ("error",
    exception); stop at the end of the input."""
    channel_in = os.fdopen(os.dup(0), "rb")
    channel_out = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)  # work items never read the channel
    os.dup2(2, 1)  # their prints go to stderr, not into the channel
    sys.stdout = sys.stderr
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(threads)
    from dynamics.threads import set_threads

    set_threads(threads)
    while True:
        try:
            data = _receive_bytes(channel_in)
        except EOFError:
            return
        try:
            fn, args = _CallerUnpickler(io.BytesIO(data)).load()
            reply = ("ok", fn(*args))
        except BaseException as exc:  # noqa: BLE001 - every failure goes back to the caller
            reply = ("error", exc)
        try:
            _send(channel_out, reply)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            _send(channel_out, ("error", RuntimeError(f"unpicklable result: {exc}")))


class _Worker:
    """One worker process and the thread that feeds it work items from the shared queue."""

    def __init__(self, pool: WorkPool):
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
               "OMP_NUM_THREADS": str(pool.threads), "MKL_NUM_THREADS": str(pool.threads)}
        main = getattr(sys.modules.get("__main__"), "__file__", None)
        if main and main.endswith(".py") and os.path.isfile(main):
            env["SSL_DYNAMICS_POOL_MAIN"] = os.path.abspath(main)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "dynamics.verify.pool", str(pool.threads)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        self.pool = pool
        self.thread = threading.Thread(target=self._feed, daemon=True)
        self.thread.start()

    def _feed(self) -> None:
        pool = self.pool
        while True:
            item = pool._queue.get()
            if item is None:
                break
            fut, fn, args = item
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                _send(self.proc.stdin, (fn, args))
                status, value = _receive(self.proc.stdout)
            except (EOFError, OSError):
                fut.set_exception(WorkerEnded(
                    f"the worker process ended (exit {self.proc.wait()}) during "
                    f"{getattr(fn, '__name__', fn)}"))
                pool._replace(self)  # the rest of the queue still gets done
                break
            except BaseException as exc:  # noqa: BLE001 - e.g. an unpicklable work item
                fut.set_exception(exc)
                continue
            if status == "ok":
                fut.set_result(value)
            else:
                fut.set_exception(value)
        with contextlib.suppress(OSError):
            self.proc.stdin.close()

    def terminate(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()

    def join(self) -> None:
        self.thread.join()
        with contextlib.suppress(OSError):
            self.proc.stdin.close()
        self.proc.wait()


class WorkPool:
    """``jobs`` worker processes (see the module docstring); use as a context manager.

    ``submit(fn, *args)`` queues ``fn(*args)`` (a module-level function, picklable arguments)
    and returns its :class:`~concurrent.futures.Future`. Leaving the ``with`` block waits for
    the work; an exception (or Ctrl-C / SIGTERM turned into one) stops the workers first.
    Workers start with the first work item."""

    def __init__(self, jobs: int, threads: int = 1):
        self.jobs, self.threads = int(jobs), int(threads)
        self._queue: queue.Queue = queue.Queue()
        self._workers: list[_Worker] = []
        self.stopped = False
        self._lock = threading.Lock()
        #: Training runs queued in this pool, by run folder (a run is never queued twice).
        self.training: dict[str, Future] = {}

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        """Queue ``fn(*args)`` in a worker; its future."""
        if self.stopped:
            raise RuntimeError("the pool was stopped")
        fut: Future = Future()
        self._queue.put((fut, fn, args))
        with self._lock:
            if len(self._workers) < self.jobs:
                self._workers.append(_Worker(self))
        return fut

    def _replace(self, worker: _Worker) -> None:
        """A new worker for one that ended (unless the pool is stopping)."""
        with self._lock:
            if not self.stopped and worker in self._workers:
                self._workers[self._workers.index(worker)] = _Worker(self)

    def stop(self) -> None:
        """Cancel the work not started and SIGTERM every worker (runs save their state)."""
        with self._lock:
            self.stopped = True
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                item[0].cancel()
        for w in self._workers:
            w.terminate()
        self._close()

    def _close(self) -> None:
        with self._lock:
            workers = list(self._workers)
        for _ in workers:
            self._queue.put(None)
        for w in workers:
            w.join()
        with self._lock:  # replacements started meanwhile
            late = [w for w in self._workers if w not in workers]
        if late:
            for _ in late:
                self._queue.put(None)
            for w in late:
                w.join()

    def __enter__(self) -> WorkPool:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.stop()
        else:
            self._close()


__all__ = ["WorkPool", "WorkerEnded"]


if __name__ == "__main__":
    _serve(int(sys.argv[1]) if len(sys.argv) > 1 else 1)

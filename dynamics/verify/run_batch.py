"""The training runs of ``verify``, ``figures`` and ``sweep``: which runs a folder already holds,
the ``ssl-dynamics train`` work item of each missing one, and a batch of them in a
:class:`~dynamics.verify.pool.WorkPool` with its progress lines and time estimate.

A run folder's name is a hash of its config, overrides and seed
(:meth:`~dynamics.verify.prediction.RunSpec.name`): ``finished`` folders are reused, ``partial``
ones (interrupted) resumed, ``missing`` ones trained. Each run trains in a worker with one CPU
thread, through the same library call as ``ssl-dynamics train`` (:func:`train_run`); its exit
code follows the command's (0 finished, 1 diverged, 2 bad config, 130/143 interrupted).
"""

from __future__ import annotations

import contextlib
import functools
import io
import signal
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dynamics.config import EXPERIMENTS
from dynamics.errors import ConfigError
from dynamics.verify.pool import WorkPool
from dynamics.verify.prediction import RunSpec

#: Where the training configs named by the predictions live.
CONFIG_DIR = EXPERIMENTS / "train"
DATA_ROOT = "{data_root}"


def train_run(config_file: str, overrides: Sequence[str], resume: bool
              ) -> tuple[int, str, float]:
    """Train one run in this process (a :class:`WorkPool` work item), as ``ssl-dynamics train
    CONFIG_FILE *overrides [--resume]`` does: (exit code, its last message, seconds). SIGTERM
    during the run stops it at its next step with its checkpoint saved (143)."""
    from dynamics.train.config import load_config
    from dynamics.train.run_folder import TrainingDiverged, TrainingInterrupted
    from dynamics.train.trainer import train

    t0 = time.perf_counter()
    sink = io.StringIO()
    try:
        with contextlib.redirect_stderr(sink), contextlib.redirect_stdout(sink):
            train(load_config(config_file, list(overrides)), resume=resume, progress=False)
    except ConfigError as exc:
        return 2, f"error: {exc}", time.perf_counter() - t0
    except TrainingDiverged as exc:
        return 1, f"error: {exc}", time.perf_counter() - t0
    except TrainingInterrupted as exc:
        code = 143 if exc.signum == signal.SIGTERM else 130
        return code, str(exc), time.perf_counter() - t0
    return 0, "", time.perf_counter() - t0


def _config_path(spec: RunSpec) -> Path:
    path = Path(spec.config)
    return path if path.is_absolute() else CONFIG_DIR / path


def _overrides(spec: RunSpec, runs_dir: Path, cfg: Any) -> list[str]:
    """The ``key=value`` overrides of one run (one CPU thread)."""
    over = [o.replace(DATA_ROOT, str(cfg.data_root)) for o in spec.overrides]
    return [*over, f"seed={spec.seed}", f"name={spec.name()}", f"out_dir={runs_dir}",
            f"device={cfg.device}", "threads=1"]


def _argv(spec: RunSpec, runs_dir: Path, cfg: Any, resume: bool) -> list[str]:
    """The same run as ``ssl-dynamics train`` arguments (for a user to rerun it by hand)."""
    argv = [str(_config_path(spec)), *_overrides(spec, runs_dir, cfg), "--no-progress"]
    return argv + (["--resume"] if resume else [])


def _state(folder: Path) -> str:
    """``finished``, ``partial`` (a run folder to resume) or ``missing``."""
    from dynamics.verify.run_data import summary

    if not (folder / "config.yaml").is_file():
        return "missing"
    return "finished" if summary(folder).get("status") == "finished" else "partial"


def lacking_data(specs: Sequence[RunSpec], runs_dir: Path, data_root: str | None
                 ) -> set[RunSpec]:
    """The runs on real images (a ``{data_root}`` override) that cannot run: no ``data_root``
    and not already finished in ``runs_dir`` (finished ones are reused without the data)."""
    if data_root:
        return set()
    return {s for s in specs if any(DATA_ROOT in o for o in s.overrides)
            and _state(runs_dir / s.name()) != "finished"}


@dataclass
class RunResult:
    """What happened to one run: its folder (None if it failed) and a one-line note."""

    spec: RunSpec
    folder: Path | None
    note: str
    seconds: float = 0.0


class RunBatch:
    """The training runs of one command, all submitted to a :class:`WorkPool` at once; each
    result is logged as it comes, with the estimated time left. ``results`` maps every spec
    (finished folders reused without training) to its :class:`RunResult`; ``futures`` are the
    runs in the pool."""

    def __init__(self, specs: Sequence[RunSpec], runs_dir: Path, cfg: Any,
                 log: Callable[[str], Any], what: str, pool: WorkPool):
        runs_dir.mkdir(parents=True, exist_ok=True)
        self.runs_dir, self.jobs, self.log, self.pool = runs_dir, cfg.jobs, log, pool
        self.lock = threading.Lock()
        self.results: dict[RunSpec, RunResult] = {}
        self.done: list[RunResult] = []
        self.todo = [s for s in dict.fromkeys(specs) if _state(runs_dir / s.name()) != "finished"]
        for s in dict.fromkeys(specs):
            if s not in self.todo:
                self.results[s] = RunResult(s, runs_dir / s.name(), "reused")
        self.futures: list[Future] = []
        self._queued: list[tuple[RunSpec, str, Future]] = []
        if self.todo:
            log(f"{what}: {len(self.todo)} training run(s) to do "
                f"({len(self.results)} reused), {cfg.jobs} at a time")
        for s in self.todo:
            state = _state(runs_dir / s.name())
            key = str(runs_dir / s.name())
            fut = pool.training.get(key)  # another batch of this pool trains it already
            if fut is None:
                fut = pool.training[key] = pool.submit(
                    train_run, str(_config_path(s)), _overrides(s, runs_dir, cfg),
                    state == "partial")
            fut.add_done_callback(functools.partial(self._finished, s, state))
            self.futures.append(fut)
            self._queued.append((s, state, fut))

    def _result(self, spec: RunSpec, state: str, fut: Future) -> RunResult:
        folder = self.runs_dir / spec.name()
        if fut.cancelled():
            return RunResult(spec, None, "not started (stopped)")
        exc = fut.exception()
        if exc is not None:
            if self.pool.stopped:
                return RunResult(spec, None, "stopped (resumable)"
                                 if _state(folder) == "partial" else "not started (stopped)")
            return RunResult(spec, None, f"failed: the worker process ended ({exc})")
        rc, err, seconds = fut.result()
        if rc == 0 and _state(folder) == "finished":
            return RunResult(spec, folder, "resumed" if state == "partial" else "trained",
                             seconds)
        return RunResult(spec, None, f"failed (exit {rc}): {err or 'no message'}", seconds)

    def collect(self) -> dict[RunSpec, RunResult]:
        """``results`` once every run's future is done (a future's done callbacks may still be
        running when a wait on it returns: a result not yet recorded is taken here)."""
        for spec, state, fut in self._queued:
            with self.lock:
                if spec not in self.results:
                    self.results[spec] = self._result(spec, state, fut)
        return self.results

    def _finished(self, spec: RunSpec, state: str, fut: Future) -> None:
        res = self._result(spec, state, fut)
        with self.lock:
            self.done.append(res)
            self.results.setdefault(spec, res)
            pending = [s for s in self.todo if s not in self.results]
            left = time_left(pending, self.done, self.jobs)
            self.log(f"  run {len(self.done)}/{len(self.todo)} {spec.name()}: {res.note} "
                     f"({res.seconds:.0f} s; about {left / 60:.1f} min left)")


def execute_runs(specs: Sequence[RunSpec], runs_dir: Path, cfg: Any,
                 log: Callable[[str], Any] = print, what: str = "verify"
                 ) -> dict[RunSpec, RunResult]:
    """Run (or reuse / resume) every spec, ``cfg.jobs`` at a time in a :class:`WorkPool`;
    progress lines with the estimated time left go to ``log``. An exception (or SIGTERM /
    Ctrl-C) stops the runs: each saves a checkpoint, so a rerun resumes it."""
    log = locked_log(log)
    if all(_state(runs_dir / s.name()) == "finished" for s in specs):
        return {s: RunResult(s, runs_dir / s.name(), "reused") for s in specs}
    with WorkPool(cfg.jobs) as pool:
        batch = RunBatch(specs, runs_dir, cfg, log, what, pool)
        wait(batch.futures)
    return batch.collect()


def _epochs(spec: RunSpec) -> float:
    """``optim.epochs`` of a run: its override, else its config file's value, else 1."""
    from dynamics.config import read_mapping

    for o in spec.overrides:
        if o.startswith("optim.epochs="):
            return float(o.split("=", 1)[1])
    path = Path(spec.config)
    path = path if path.is_absolute() else CONFIG_DIR / path
    try:
        return float((read_mapping(path).get("optim") or {}).get("epochs", 1))
    except (ConfigError, OSError, TypeError, ValueError):
        return 1.0


def time_left(pending: Sequence[RunSpec], done: Sequence[RunResult], jobs: int) -> float:
    """Estimated wall seconds for the ``pending`` runs, ``jobs`` at a time.

    A pending run is expected to take the seconds per epoch of the finished runs of its own
    config file times its epochs (runs of one config differ mainly in their length); a config
    with no finished run yet takes the mean duration of all finished runs. Reused runs (0 s)
    do not count."""
    timed = [r for r in done if r.seconds > 0]
    if not timed:
        return 0.0
    per_epoch: dict[str, list[float]] = {}
    for r in timed:
        per_epoch.setdefault(r.spec.config, []).append(r.seconds / _epochs(r.spec))
    fallback = sum(r.seconds for r in timed) / len(timed)
    total = sum(_epochs(s) * sum(per_epoch[s.config]) / len(per_epoch[s.config])
                if s.config in per_epoch else fallback for s in pending)
    return total / max(1, jobs)


def locked_log(log: Callable[[str], Any]) -> Callable[[str], Any]:
    """``log`` behind a lock: one whole line at a time when several threads log."""
    lock = threading.Lock()

    def locked(message: str) -> None:  # one line at a time from several threads
        with lock:
            log(message)

    return locked


__all__ = ["CONFIG_DIR", "DATA_ROOT", "RunBatch", "RunResult", "execute_runs", "lacking_data",
           "locked_log", "time_left", "train_run"]

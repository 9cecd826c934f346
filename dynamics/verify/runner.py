"""``ssl-dynamics verify``: run what the chosen predictions need, judge them, write the report.

:func:`verify` takes the predictions of a tier (all, or ``only``), collects the training runs
they need (:class:`~dynamics.verify.prediction.RunSpec`, shared runs counted once), runs the
missing ones (finished run folders are reused, interrupted ones resumed), evaluates every
prediction on the finished folders and writes ``report.json`` and ``report.md`` with one figure
per prediction (:mod:`dynamics.verify.report`). A run folder's name is a hash of its config,
overrides and seed, so a rerun (or another tier) finds it again.

The work goes to ``jobs`` long-lived worker processes, each with one CPU thread
(:class:`~dynamics.verify.pool.WorkPool`): a training run is the ``ssl-dynamics train``
command run inside a worker (the same code path a user runs; stopped by SIGTERM, it saves its
checkpoint), a prediction is judged in a worker too. A run that fails makes the predictions
that need it ``not run`` (the reason is the run's last error line); nothing is judged on a
partial set of seeds.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dynamics.config import EXPERIMENTS, option
from dynamics.errors import ConfigError
from dynamics.threads import with_thread_policy
from dynamics.verify.pool import WorkPool, train_run
from dynamics.verify.prediction import NOT_RUN, TIERS, Context, Outcome, Prediction, RunSpec

#: Where the training configs named by the predictions live.
CONFIG_DIR = EXPERIMENTS / "train"
DATA_ROOT = "{data_root}"


@dataclass
class VerifyRun:
    """The typed config of ``ssl-dynamics verify``."""

    tier: str = option("smoke", "smoke (seconds, toy data), cpu (a 2-core laptop, about 3 h "
                                "with --jobs 2, real images), paper (the paper's settings, a GPU)",
                       choices=TIERS)
    only: list[str] = option(help="prediction ids (or prefixes such as directpred.) to "
                                  "verify; empty: all", factory=list)
    runs: str = option("runs/verify", "folder of the training runs (reused and resumed)")
    out: str = option("results/verify", "folder of report.md, report.json and figures/")
    jobs: int = option(2, "worker processes, each one CPU thread: training runs and "
                          "predictions at once")
    data_root: str | None = option(None, "real images for the cpu/paper tiers: CIFAR-10 as a "
                                         "folder or .tar.gz of train/ and test/ class folders")
    device: str = option("cpu", "device of the training runs (cpu, cuda, auto)")

    def validate(self) -> None:
        """``jobs`` >= 1."""
        if self.jobs < 1:
            raise ConfigError("jobs", f"must be an integer >= 1, got {self.jobs}")


def select(only: Sequence[str] = ()) -> list[Prediction]:
    """The registered predictions whose id is in ``only`` or starts with one of its entries
    ending in ``.`` (all when empty); an entry matching nothing is a one-line error."""
    from dynamics.verify.registry import PREDICTIONS

    if not only:
        return list(PREDICTIONS.values())
    chosen = []
    for item in only:
        match = [p for p in PREDICTIONS.values()
                 if p.id == item or (item.endswith(".") and p.id.startswith(item))]
        if not match:
            raise ConfigError("only", f"no prediction {item!r}; ids: "
                                      f"{', '.join(PREDICTIONS)} (or a prefix ending in '.')")
        chosen += [p for p in match if p not in chosen]
    return chosen


def _argv(spec: RunSpec, runs_dir: Path, cfg: VerifyRun, resume: bool) -> list[str]:
    """The ``ssl-dynamics train`` arguments of one run (one CPU thread, no progress bar)."""
    path = Path(spec.config)
    path = path if path.is_absolute() else CONFIG_DIR / path
    over = [o.replace(DATA_ROOT, str(cfg.data_root)) for o in spec.overrides]
    argv = [str(path), *over, f"seed={spec.seed}", f"name={spec.name()}", f"out_dir={runs_dir}",
            f"device={cfg.device}", "--no-progress", "--threads", "1"]
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

    def __init__(self, specs: Sequence[RunSpec], runs_dir: Path, cfg: VerifyRun,
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
                    train_run, _argv(s, runs_dir, cfg, resume=state == "partial"))
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


def execute_runs(specs: Sequence[RunSpec], runs_dir: Path, cfg: VerifyRun,
                 log: Callable[[str], Any] = print, what: str = "verify"
                 ) -> dict[RunSpec, RunResult]:
    """Run (or reuse / resume) every spec, ``cfg.jobs`` at a time in a :class:`WorkPool`;
    progress lines with the estimated time left go to ``log``. An exception (or SIGTERM /
    Ctrl-C) stops the runs: each saves a checkpoint, so a rerun resumes it."""
    log = _locked(log)
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


def _evaluate(pred: Prediction, tier: str, fig_dir: Path, results: dict[RunSpec, RunResult],
              data_root: str | None = None) -> Outcome:
    if tier not in pred.tiers:
        return Outcome.not_run(pred.why_not or f"runs at the {', '.join(pred.tiers)} tier(s)")
    specs = pred.runs_for(tier)
    failed = [results[s] for s in specs if results[s].folder is None]
    if failed:
        return Outcome.not_run(f"{len(failed)} of {len(specs)} run(s) failed; first: "
                               f"{failed[0].spec.name()}: {failed[0].note}")
    ctx = Context(tier, fig_dir, {s: results[s].folder for s in specs}, data_root)
    try:
        return pred.evaluate(ctx)
    except ConfigError as exc:  # e.g. missing data for this tier
        return Outcome.not_run(str(exc))


def _locked(log: Callable[[str], Any]) -> Callable[[str], Any]:
    lock = threading.Lock()

    def locked(message: str) -> None:  # one line at a time from several threads
        with lock:
            log(message)

    return locked


def judge_in_worker(pred_id: str, tier: str, fig_dir: str, data_root: str | None,
                    results: dict[RunSpec, RunResult] | None = None) -> tuple[Outcome, float]:
    """Judge the prediction ``pred_id`` on its runs' ``results`` (a :class:`WorkPool` work
    item): its outcome and seconds."""
    from dynamics.verify.registry import PREDICTIONS

    t0 = time.perf_counter()
    outcome = _evaluate(PREDICTIONS[pred_id], tier, Path(fig_dir), results or {}, data_root)
    return outcome, time.perf_counter() - t0


def _wait(futures: Iterable[Future], watch: Sequence[Future]) -> None:
    """Wait until ``futures`` are done; the first error of a ``watch`` future is raised at once
    (the caller's pool then stops the rest)."""
    todo, watch = set(futures), set(watch)
    while True:
        for fut in watch:
            if fut.done() and not fut.cancelled() and fut.exception() is not None:
                raise fut.exception()
        todo = {f for f in todo if not f.done()}
        if not todo:
            return
        wait(todo | {f for f in watch if not f.done()}, return_when=FIRST_COMPLETED)


def _in_toolkit(pred: Prediction) -> bool:
    """Whether a worker process finds ``pred`` in its registry (registered by a module of the
    toolkit, not by the calling script)."""
    return getattr(pred.evaluate, "__module__", "").startswith("dynamics.")


@with_thread_policy
def verify(cfg: VerifyRun, log: Callable[[str], Any] = print,
           side_work: Callable[[WorkPool], Iterable[Future] | None] | None = None,
           after_runs: Callable[[WorkPool], Iterable[Future] | None] | None = None
           ) -> dict[str, Any]:
    """Verify the selected predictions at ``cfg.tier`` (see the module docstring); returns the
    report dict (also written to ``cfg.out``).

    All the work goes to ``cfg.jobs`` worker processes (:class:`~dynamics.verify.pool.WorkPool`,
    one thread each), queued in this order: ``side_work(pool)`` (the caller's own work items,
    whose futures it returns: ``reproduce`` queues its simulation figures, the longest pieces,
    first), the training runs, the predictions that need no run; once the runs are done, the
    predictions that read them and ``after_runs(pool)`` (likewise). A prediction registered
    outside the toolkit (a script's own) is judged in this process. An error (in a prediction
    or a side work item, raised here as soon as it happens) or a stop signal stops the workers
    (a run saves a checkpoint; a rerun resumes it)."""
    from dynamics.io import check_output_dir
    from dynamics.locks import FolderLock
    from dynamics.threads import cpu_threads
    from dynamics.verify.report import write_report

    preds = select(cfg.only)
    out = check_output_dir("out", cfg.out)
    runs_dir = check_output_dir("runs", cfg.runs)
    log = _locked(log)
    t0 = time.perf_counter()
    with FolderLock(out, field="out", what="verify output folder"):
        specs = list(dict.fromkeys(s for p in preds for s in p.runs_for(cfg.tier)))
        lacking = lacking_data(specs, runs_dir, cfg.data_root)
        preds_data = {p.id for p in preds if lacking & set(p.runs_for(cfg.tier))}
        specs = [s for s in specs if s not in lacking]
        training = any(_state(runs_dir / s.name()) != "finished" for s in specs)
        judge = _Judge(cfg, out, preds, preds_data, log)
        free = [p for p in preds if not p.runs_for(cfg.tier)]
        based = [p for p in preds if p.runs_for(cfg.tier)]
        pooled = {p.id for p in preds if _in_toolkit(p) and p.id not in preds_data}
        if not (training or side_work is not None or after_runs is not None
                or (cfg.jobs > 1 and len(pooled) > 1)):
            judge.results = {s: RunResult(s, runs_dir / s.name(), "reused") for s in specs}
            judge.all(free + based)
        else:
            with WorkPool(cfg.jobs) as pool:
                side = list(side_work(pool) or []) if side_work is not None else []
                batch = RunBatch(specs, runs_dir, cfg, log, "verify", pool)
                judged = [judge.submit(pool, p) for p in free if p.id in pooled]
                with cpu_threads(1):
                    judge.all(p for p in free if p.id not in pooled)
                _wait(pool.training.values(), side + judged)  # its runs and the side work's
                judge.results = batch.collect()
                judged += [judge.submit(pool, p) for p in based if p.id in pooled]
                if after_runs is not None:
                    side += list(after_runs(pool) or [])
                with cpu_threads(1):
                    judge.all(p for p in based if p.id not in pooled)
                _wait(side + judged, side + judged)
                judge.collect()
        return write_report(out, cfg, [judge.entries[p.id] for p in preds],
                            time.perf_counter() - t0)


class _Judge:
    """Evaluates predictions one by one (here, or in a worker), logging each verdict as it
    comes."""

    def __init__(self, cfg: VerifyRun, out: Path, preds: list[Prediction], preds_data: set[str],
                 log: Callable[[str], Any]):
        self.cfg, self.out, self.n, self.log = cfg, out, len(preds), log
        self.preds_data = preds_data
        self.results: dict[RunSpec, RunResult] = {}
        self.entries: dict[str, tuple] = {}
        self.lock = threading.Lock()
        self._submitted: list[tuple[Prediction, Future]] = []

    def all(self, preds) -> None:
        """Judge every prediction of ``preds``."""
        for pred in preds:
            self.one(pred)

    def one(self, pred: Prediction) -> None:
        """Judge ``pred`` (not run when its runs lack data) and log the verdict."""
        cfg = self.cfg
        t1 = time.perf_counter()
        if pred.id in self.preds_data:
            outcome = Outcome.not_run(f"needs real images: pass --data-root (CIFAR-10 as a "
                                      f"folder or .tar.gz) for the {cfg.tier} tier (its "
                                      f"runs are not all finished in {cfg.runs})")
        else:
            outcome = _evaluate(pred, cfg.tier, self.out / "figures", self.results,
                                cfg.data_root)
        self.record(pred, outcome, time.perf_counter() - t1)

    def submit(self, pool: WorkPool, pred: Prediction) -> Future:
        """Judge ``pred`` in a worker of ``pool`` (on the runs done so far); recorded when
        done."""
        runs = {s: self.results[s] for s in pred.runs_for(self.cfg.tier) if s in self.results}
        fut = pool.submit(judge_in_worker, pred.id, self.cfg.tier, str(self.out / "figures"),
                          self.cfg.data_root, runs)

        def done(f: Future) -> None:
            if not f.cancelled() and f.exception() is None:
                self.record(pred, *f.result())

        fut.add_done_callback(done)
        self._submitted.append((pred, fut))
        return fut

    def collect(self) -> None:
        """Record the verdicts of finished work whose done callbacks have not run yet."""
        for pred, fut in self._submitted:
            if fut.done() and not fut.cancelled() and fut.exception() is None:
                self.record(pred, *fut.result())

    def record(self, pred: Prediction, outcome: Outcome, seconds: float) -> None:
        """Keep ``pred``'s verdict and log it (once)."""
        with self.lock:
            if pred.id in self.entries:
                return
            self.log(f"[{len(self.entries) + 1}/{self.n}] {pred.id}: {outcome.status}"
                     + (f" ({outcome.details})" if outcome.status == NOT_RUN else "")
                     + f" ({seconds:.1f} s)")
            self.entries[pred.id] = (pred, outcome, seconds,
                                     [self.results[s] for s in pred.runs_for(self.cfg.tier)
                                      if s in self.results])


__all__ = ["CONFIG_DIR", "RunBatch", "RunResult", "VerifyRun", "execute_runs", "judge_in_worker",
           "lacking_data", "select", "verify"]

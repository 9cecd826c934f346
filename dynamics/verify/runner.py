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

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dynamics.config import option
from dynamics.errors import ConfigError
from dynamics.threads import with_thread_policy
from dynamics.verify.pool import WorkPool
from dynamics.verify.prediction import NOT_RUN, TIERS, Context, Outcome, Prediction, RunSpec
from dynamics.verify.run_batch import (  # noqa: F401 - re-exported: the runner's public face
    CONFIG_DIR,
    DATA_ROOT,
    RunBatch,
    RunResult,
    _argv,
    _state,
    execute_runs,
    lacking_data,
    locked_log,
    time_left,
)


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
    log = locked_log(log)
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

"""The training loop of a set-up run (:class:`~dynamics.train.run_state.RunState`).

:func:`train_epochs` reads top to bottom; every step of it is one short function below::

    for every epoch from the run's position:
        for every batch (view1, view2) of the epoch:
            train_step          # forward, NaN check, backward, DDP sync, optimizer step
            advance             # step counters, instrument.observe
            log_train_row       # every log.log_every steps: metrics.jsonl / spectra.jsonl
            show_progress       # every PROGRESS_EVERY steps and at the epoch end
            stop on a signal    # SIGINT/SIGTERM: checkpoint of this step, TrainingInterrupted
            stop at optim.max_steps
        end_of_pass             # NaN check; at an epoch end: kNN + probe row, checkpoint,
                                # summary.json; at max_steps inside an epoch: checkpoint

Training time (summary ``runtime.train_s``) counts the steps only, not the logging, the
evaluations and the checkpoints (:class:`TrainClock`). The step profile (summary ``profile``,
:mod:`dynamics.train.step_profile`) splits every step into data, forward, backward, optimizer,
update and instrument time, beside eval, checkpoint and final_eval.
"""

from __future__ import annotations

import signal
import time

import torch

from dynamics.errors import SingularSystem
from dynamics.train import run_folder as runs
from dynamics.train.ddp_checks import any_rank_stopped
from dynamics.train.evaluate import autocast_for, online_eval
from dynamics.train.guards import StopSignals
from dynamics.train.resume import save
from dynamics.train.run_log import eval_row, train_row, update_online_best
from dynamics.train.run_state import RunState

PROGRESS_EVERY = 10  #: steps between progress-bar updates (and NaN checks on CUDA)


class TrainClock:
    """The run's training time (``run.train_time``, steps only) and the start (time, step) of
    the interval the next train row's images/s is measured over."""

    def __init__(self, run: RunState):
        self.run = run
        self.interval = (time.perf_counter(), run.step)
        self.started = time.perf_counter()

    def pause(self) -> None:
        """Add the time since the last (re)start to the training time."""
        self.run.train_time += time.perf_counter() - self.started

    def restart(self) -> None:
        """Count training time (and the next row's interval) from now on."""
        self.started = time.perf_counter()
        self.interval = (self.started, self.run.step)


def train_epochs(run: RunState, stop: StopSignals) -> None:
    """Train from the run's position to its end (``optim.epochs`` or ``optim.max_steps``);
    raises TrainingInterrupted (checkpoint saved) when a stop signal arrives."""
    cfg = run.cfg
    check_every = 1 if run.device.type == "cpu" else PROGRESS_EVERY
    run.ui.start(run.total_steps(), run.step)
    clock = TrainClock(run)
    while not runs.is_done(cfg, run.epoch, run.step):
        for v1, v2 in run.source.epoch(run.epoch, run.epoch_step):
            run.profile.begin_step(run.step + 1)
            out = train_step(run, v1, v2, check_now=(run.step + 1) % check_every == 0)
            advance(run, out)
            if run.step % cfg.log.log_every == 0:
                log_train_row(run, clock)
            if run.step % PROGRESS_EVERY == 0 or run.epoch_step == run.source.steps_per_epoch:
                show_progress(run, out)
            run.profile.mark("instrument")
            if any_rank_stopped(run.dist, run.device, stop.requested is not None,
                                check_now=run.step % check_every == 0):
                clock.pause()
                interrupted(run, stop)
            if cfg.optim.max_steps is not None and run.step >= cfg.optim.max_steps:
                break
        clock.pause()
        end_of_pass(run)
        clock.restart()
    run.ui.close()


def train_step(run: RunState, v1: torch.Tensor, v2: torch.Tensor, *, check_now: bool):
    """One optimizer step. A non-finite loss is caught before it reaches the weights when
    ``check_now`` (every step on CPU); errors caused by NaN/Inf further down (e.g. an
    eigendecomposition of a NaN F) are reported as a divergence, not a crash."""
    if run.channels_last and v1.ndim == 4:
        v1 = v1.contiguous(memory_format=torch.channels_last)
        v2 = v2.contiguous(memory_format=torch.channels_last)
    try:
        with autocast_for(run.device, run.precision):
            out = run.step_fn(v1, v2)
        run.guard.update(out.loss, run.step + 1)
        if check_now:
            run.check_nan()
        run.profile.mark("forward")
        run.optimizer.zero_grad(set_to_none=True)
        out.loss.backward()
        run.profile.mark("backward")
        run.dist.sync_gradients(run.method)
        run.optimizer.step()
        run.profile.mark("optimizer")
        run.method.after_optimizer_step(run.step)
        run.profile.mark("update")
    except runs.TrainingDiverged:
        raise
    except SingularSystem as exc:  # e.g. the ridge predictor once a mode of F has collapsed
        run.diverged(run.step + 1, f"the predictor's system became singular "
                                   f"({exc.field}: {exc.problem})",
                     hint=f"pass a larger predictor.{exc.field}")
    except Exception:
        run.check_nan()
        if not runs.all_finite(run.method.parameters()):
            run.diverged(run.step + 1, "the weights became NaN/Inf")
        raise
    return out


def advance(run: RunState, out) -> None:
    """Count the step just taken and let the instrument observe its outputs."""
    run.step += 1
    run.epoch_step += 1
    run.instrument.observe(out)
    run.profile.mark("instrument")


def log_train_row(run: RunState, clock: TrainClock) -> None:
    """A NaN check, then a train row (and its spectra); its time is not training time."""
    clock.pause()
    run.check_nan()
    metrics, spectra = run.instrument.row()
    started, first_step = clock.interval
    steps = run.step - first_step
    row = train_row(step=run.step, steps_per_epoch=run.source.steps_per_epoch,
                    lr=run.optimizer.param_groups[0]["lr"], metrics=metrics,
                    images=steps * run.cfg.optim.batch_size * run.dist.world_size,
                    seconds=time.perf_counter() - started, train_time=run.train_time)
    run.log.last_row = row
    run.log.emit(row, spectra)
    clock.restart()


def show_progress(run: RunState, out) -> None:
    """Let the thread governor follow the load; update the progress bar (main process)."""
    run.governor.tick()
    if run.ui.enabled:
        run.ui.update(step=run.step, epoch=run.epoch, epoch_step=run.epoch_step,
                      steps_per_epoch=run.source.steps_per_epoch,
                      loss=float(out.loss.detach()),
                      images_per_step=run.cfg.optim.batch_size * run.dist.world_size)


def end_of_pass(run: RunState) -> None:
    """After a pass over (the rest of) an epoch: a NaN check, then the epoch's end, or a
    checkpoint when ``optim.max_steps`` stopped the run inside the epoch."""
    run.check_nan()
    if run.epoch_step >= run.source.steps_per_epoch:
        end_of_epoch(run)
    else:
        with run.profile.phase("checkpoint"):
            save(run, epoch_file=False)


def end_of_epoch(run: RunState) -> None:
    """The epoch is complete: evaluation row, progress line, checkpoint, summary.json."""
    run.epoch += 1
    run.epoch_step = 0
    evaluate_epoch(run)
    run.ui.epoch_done(epoch=run.epoch, step=run.step, loss=run.log.last_row.get("loss"),
                      evaluation=run.last_eval, train_s=run.train_time)
    done = runs.is_done(run.cfg, run.epoch, run.step)
    with run.profile.phase("checkpoint"):
        save(run, epoch_file=done or run.epoch % run.cfg.checkpoint_every == 0)
    run.write_summary()


def evaluate_epoch(run: RunState) -> None:
    """kNN and a short linear probe on the held-out data (``eval.every_epoch``): an eval row
    and the summary's ``online`` numbers. Collective under DDP; its time is eval time."""
    if not (run.cfg.eval.every_epoch and run.data.eval is not None):
        return
    t0 = time.perf_counter()
    with run.profile.phase("eval"):
        res = online_eval(run.method, run.data.eval, run.cfg, run.device,
                          channels_last=run.channels_last, dist=run.dist)
    if res is not None:  # rank 0
        run.online_best = update_online_best(run.online_best, res, run.epoch)
        run.log.emit(eval_row(res, step=run.step, epoch=run.epoch))
        run.last_eval = res
    run.dist.barrier()
    run.eval_time += time.perf_counter() - t0


def interrupted(run: RunState, stop: StopSignals) -> None:
    """A stop signal inside the loop: checkpoint this step, summary "interrupted", raise
    :class:`~dynamics.train.run_folder.TrainingInterrupted`."""
    run.check_nan()
    save(run, epoch_file=False)
    name = signal.Signals(stop.requested).name if stop.requested else "signal"
    msg = (f"interrupted by {name} at step {run.step} (epoch {run.epoch + 1}, step "
           f"{run.epoch_step} of it); checkpoint saved, continue with --resume")
    run.write_summary(status=runs.STATUS_INTERRUPTED, message=msg, phase=run.phase)
    raise runs.TrainingInterrupted(msg, run.summary, signum=stop.requested)


__all__ = ["PROGRESS_EVERY", "TrainClock", "train_epochs", "train_step"]

"""The training loop: ``train(cfg) -> summary`` for every method, predictor and data set.

One step (the official DirectPred order)::

    out = method.training_step(view1, view2)        # bf16 autocast on CUDA (precision auto)
    optimizer.zero_grad(); out.loss.backward()
    dist.sync_gradients(method)                     # DDP: mean of grads + BN stats
    optimizer.step()                                # SGD(momentum) over parameter_groups()
    method.after_optimizer_step(i)                  # i = 0-based index of this step
    instrument.observe(out)

Every ``log.log_every`` steps a ``"kind": "train"`` row goes to metrics.jsonl (keys in
:mod:`dynamics.train.instrument`), full spectra to spectra.jsonl. After every epoch: kNN and a
short linear probe on held-out data (``"kind": "eval"`` row, ``eval.every_epoch``) and a
checkpoint. At the end: the paper's offline linear evaluation, final collapse signals and the
runtime in summary.json (layout in :mod:`dynamics.train.runs`).

Exact resume: a checkpoint holds the method (online, target, predictor and its running
estimates), the optimizer, the epoch and the step inside it (the data position: batches and
augmentations are functions of (seed, epoch, step)), the global RNG states and the instrument's
running state. On CPU with ``deterministic=true`` a resumed run logs exactly the numbers of an
uninterrupted one (timing keys aside) and ends with identical weights. SIGINT/SIGTERM stop the
run between two steps with a checkpoint of that point (a second SIGINT aborts at once).

A NaN/Inf loss (or non-finite weights at a checkpoint) stops the run: summary.json gets status
"diverged" with the first bad step, the last good checkpoint is kept, and
:class:`~dynamics.train.runs.TrainingDiverged` is raised with a one-line message.

Multi-process (``torchrun``; conventions in :mod:`dynamics.train.distributed`): every rank runs
this loop on its shard (``optim.batch_size`` per process); gradients and BatchNorm statistics
are all-reduced after ``backward``, DirectPred's F_B inside the forward; NaN and stop-signal
checks agree across ranks. Only rank 0 writes the run folder, logs and the progress bar; the
probes extract features on every rank and gather them. Checkpoints also hold every rank's RNG
and instrument state, so a DDP run resumes exactly with the same number of processes (at an
epoch boundary the number may change). At every checkpoint the replicas are compared (summary
``distributed``). ``train`` destroys the process group it created, also on errors. SimCLR's
negatives are the rank's own batch (no cross-rank gather).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import torch

from dynamics.errors import ConfigError
from dynamics.io import atomic_copy
from dynamics.threads import ThreadGovernor, apply_threads, set_threads
from dynamics.train import runs
from dynamics.train.config import TrainConfig, global_batch_size, lr_scale, to_yaml
from dynamics.train.data.sources import make_source
from dynamics.train.distributed import DistContext, env_rank, init_from_env
from dynamics.train.evaluate import (
    autocast_for,
    effective_precision,
    load_run_data,
    offline_linear_eval,
    online_eval,
)
from dynamics.train.guards import NanGuard, StopRequested, StopSignals
from dynamics.train.instrument import Instrument
from dynamics.train.logging_backends import LoggingBackends, check_backends
from dynamics.train.progress import Progress
from dynamics.train.setup import (  # noqa: F401 - build_optimizer: part of the trainer's API
    build_method_for,
    build_optimizer,
    configure_torch,
    seed_everything,
)

PROGRESS_EVERY = 10  #: steps between progress-bar updates (and NaN checks on CUDA)


def _to_cpu(obj: Any) -> Any:
    """``obj`` with every tensor moved to the CPU (before pickling it to another rank)."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: _to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_cpu(v) for v in obj)
    return obj


# --------------------------------------------------------------------------------------------
# The loop


class _Run:
    """State of one training run (main loop split into small methods)."""

    def __init__(self, cfg: TrainConfig, dist: DistContext, device: torch.device,
                 progress: bool | None):
        self.cfg, self.dist, self.device = cfg, dist, device
        self.ui = Progress(cfg, progress, dist.is_main)
        self.phase = "setup"  #: setup / training / final evaluation (named on interrupts)
        self.governor = ThreadGovernor(apply_threads(cfg.threads))
        self.epoch = self.step = self.epoch_step = 0
        self.train_time = self.eval_time = 0.0
        self.online_best: dict[str, Any] = {}
        self.last_row: dict[str, Any] = {}
        self.summary: dict[str, Any] = {}
        self.summary_notes: dict[str, Any] = {}
        self.writer = self.spectra = self.backends = None
        self.last_good: tuple[str, int] | None = None  # (path, step) of the last checkpoint
        # every rank's RNG and instrument state at the last save (DDP; rank 0 writes them)
        self.rng_per_rank: list[Any] | None = None
        self.instrument_per_rank: list[Any] | None = None
        self.replicas = {"checks": 0, "mismatches": []}  # replica checks at checkpoints

    # -- checkpoints ---------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {
            "format": runs.CHECKPOINT_FORMAT, "epoch": self.epoch, "step": self.step,
            "epoch_step": self.epoch_step,
            "loader": self.source.state(self.epoch, self.epoch_step),
            "method": runs.method_state(self.method), "optimizer": self.optimizer.state_dict(),
            "instrument": self.instrument.state_dict(), "rng": runs.rng_state(self.device),
            "rng_per_rank": self.rng_per_rank, "instrument_per_rank": self.instrument_per_rank,
            "world_size": self.dist.world_size,
            "train_time_s": self.train_time, "eval_time_s": self.eval_time,
            "online_best": self.online_best, "config": to_yaml(self.cfg),
            "torch_version": torch.__version__,
        }

    def load(self, ckpt: dict[str, Any]) -> None:
        saved_world = int(ckpt.get("world_size", 1))
        if saved_world != self.dist.world_size and int(ckpt["epoch_step"]) != 0:
            raise ConfigError("world_size", f"the checkpoint was written by {saved_world} "
                                            f"process(es) in the middle of an epoch; resume "
                                            f"with {saved_world} (torchrun --nproc_per_node), "
                                            f"or from an epoch checkpoint")
        runs.load_method_state(self.method, ckpt["method"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        same_world = saved_world == self.dist.world_size
        per_rank = ckpt.get("instrument_per_rank") if same_world else None
        self.instrument.load_state_dict(per_rank[self.dist.rank] if per_rank
                                        else ckpt["instrument"])
        per_rank = ckpt.get("rng_per_rank") if same_world else None
        runs.set_rng_state(per_rank[self.dist.rank] if per_rank else ckpt["rng"], self.device)
        self.epoch, self.step = int(ckpt["epoch"]), int(ckpt["step"])
        self.epoch_step = int(ckpt["epoch_step"])
        if saved_world != self.dist.world_size:
            self.summary_notes["world_size_changed"] = (f"resumed at epoch {self.epoch} with "
                                                        f"{self.dist.world_size} process(es); "
                                                        f"the checkpoint had {saved_world}")
        self.train_time = float(ckpt.get("train_time_s", 0.0))
        self.eval_time = float(ckpt.get("eval_time_s", 0.0))
        self.online_best = dict(ckpt.get("online_best") or {})

    def read_checkpoint(self, plan: runs.RunPlan) -> dict[str, Any]:
        """The state to resume from: ``last.pt`` or, if that cannot be read, the newest
        readable epoch checkpoint (said on stderr and in summary.json ``resume_note``)."""
        path, ckpt, problems = runs.load_newest_readable(plan.run.checkpoints,
                                                         map_location=self.device)
        self.summary_notes["resumed_from"] = str(path)
        if problems:
            note = (f"skipped unreadable checkpoint(s): {'; '.join(problems)}; resumed from "
                    f"{path.name} (step {ckpt.get('step')})")
            self.summary_notes["resume_note"] = note
            if self.dist.is_main:
                print(f"{self.cfg.name}: warning: {note}", file=sys.stderr, flush=True)
        return ckpt

    def sync_replicas(self) -> None:
        """Under DDP (collective): check that every rank holds bitwise the same method state
        (parameters, target, predictor, F, BatchNorm statistics); a mismatch is recorded
        (summary.json ``distributed.replica_mismatches``), reported on stderr and repaired by
        copying rank 0's state."""
        if not self.dist.is_distributed:
            return
        bad = self.dist.replica_mismatches(self.method)
        self.replicas["checks"] += 1
        if bad:
            self.replicas["mismatches"].append({"step": self.step, "tensors": bad[:20],
                                                "count": len(bad)})
            if self.dist.is_main:
                print(f"{self.cfg.name}: warning: replicas differ at step {self.step} in "
                      f"{len(bad)} tensor(s) ({', '.join(bad[:5])}...); copied rank 0's state "
                      f"to every rank", file=sys.stderr, flush=True)
            self.dist.broadcast_module(self.method)

    def save(self, *, epoch_file: bool) -> None:
        """Checkpoint the current state (main process writes); never a non-finite one.
        Collective under DDP: every rank calls it at the same point."""
        self.sync_replicas()
        tensors = list(self.method.parameters()) + list(self.method.buffers())
        if not runs.all_finite(tensors):
            self.diverged(self.step, "the weights became NaN/Inf")
        if self.dist.is_distributed:  # per-rank state (the sample buffers are the ranks' own)
            self.rng_per_rank = self.dist.gather_object(runs.rng_state(self.device))
            self.instrument_per_rank = self.dist.gather_object(
                _to_cpu(self.instrument.state_dict()))
        if not self.dist.is_main:
            return
        for writer in (self.writer, self.spectra):  # rows up to here are on disk with it
            writer.sync()
        if epoch_file and self.cfg.keep_checkpoints != 0:
            path = runs.atomic_torch_save(self.state(), self.run.epoch_checkpoint(self.epoch))
            atomic_copy(path, self.run.last)  # an independent file, not a hard link
            runs.prune_checkpoints(self.run.checkpoints, self.cfg.keep_checkpoints)
        else:
            runs.atomic_torch_save(self.state(), self.run.last)
        self.last_good = (str(self.run.last), self.step)

    # -- status --------------------------------------------------------------------------------
    def write_summary(self, **updates: Any) -> None:
        self.summary.update(updates)
        self.summary.update(epoch=self.epoch, step=self.step, epoch_step=self.epoch_step,
                            updated=time.strftime("%Y-%m-%dT%H:%M:%S"))
        if self.dist.is_main:
            self.run.write_summary(self.summary)

    def diverged(self, bad_step: int, what: str = "the loss is NaN/Inf") -> None:
        ckpt = (f"{self.last_good[0]} (step {self.last_good[1]}) kept" if self.last_good
                else "no checkpoint was saved")
        spe = max(1, getattr(getattr(self, "source", None), "steps_per_epoch", 1))
        epoch = (max(bad_step, 1) - 1) // spe + 1  # the epoch the bad step belongs to
        msg = (f"training diverged: {what} at step {bad_step} (epoch {epoch}); "
               f"stopped, {ckpt}; try a lower optim.lr")
        self.write_summary(status=runs.STATUS_DIVERGED,
                           diverged={"step": bad_step, "message": msg})
        raise runs.TrainingDiverged(msg, self.summary)

    def check_nan(self) -> None:
        bad = self.guard.check()
        if bad is not None:
            self.diverged(bad)

    # -- logging -------------------------------------------------------------------------------
    def emit(self, row: dict[str, Any], spectra: dict[str, Any] | None = None) -> None:
        if not self.dist.is_main:
            return
        self.writer.write(row)
        if spectra is not None:
            self.spectra.write({"step": row["step"], "epoch": row["epoch"], **spectra})
        self.backends.log(row, row["step"])

    def log_train_row(self, interval: tuple[float, int]) -> None:
        self.check_nan()
        metrics, spectra = self.instrument.row()
        dt, steps = time.perf_counter() - interval[0], self.step - interval[1]
        images = steps * self.cfg.optim.batch_size * self.dist.world_size
        row = {"kind": "train", "step": self.step,
               "epoch": self.step / self.source.steps_per_epoch,
               "lr": self.optimizer.param_groups[0]["lr"], **metrics,
               "images_per_s": images / dt if dt > 0 else None,
               "elapsed_s": self.train_time}
        self.last_row = row
        self.emit(row, spectra)

    def end_of_epoch_eval(self) -> None:
        cfg = self.cfg
        if not (cfg.eval.every_epoch and self.data.eval is not None):
            return
        t0 = time.perf_counter()
        res = online_eval(self.method, self.data.eval, cfg, self.device,
                          channels_last=self.channels_last, dist=self.dist)
        if res is not None:  # rank 0
            row = {"kind": "eval", "step": self.step, "epoch": self.epoch, **res}
            acc = res["eval/probe_final_accuracy"]
            if acc is not None and acc > self.online_best.get("probe_final_accuracy", -1.0):
                self.online_best = {"probe_final_accuracy": acc, "epoch": self.epoch,
                                    "knn_top1": res["eval/knn_top1"]}
            self.online_best["last_knn_top1"] = res["eval/knn_top1"]
            self.online_best["last_probe_final_accuracy"] = acc
            self.emit(row)
            self.last_eval = res
        self.dist.barrier()
        self.eval_time += time.perf_counter() - t0

    # -- main ----------------------------------------------------------------------------------
    def setup(self, plan: runs.RunPlan) -> None:
        cfg, dist, device = self.cfg, self.dist, self.device
        ckpt = self.read_checkpoint(plan) if plan.mode == "resume" else None
        seed_everything(cfg.seed)
        what = cfg.data.dataset + (f" from {cfg.data.root}" if cfg.data.root else "")
        self.ui.note(f"loading {what}; {self.governor.choice.text()}")
        t0 = time.perf_counter()
        self.data = load_run_data(cfg)
        self.source = make_source(cfg, self.data, device, dist)
        self.ui.note(f"data ready in {time.perf_counter() - t0:.1f} s: "
                     f"{self.source.steps_per_epoch} steps per epoch")
        self.method = build_method_for(cfg, self.data.in_shape, device)
        if dist.is_distributed:
            if cfg.sync_bn and device.type == "cuda":  # SyncBatchNorm is GPU-only
                self.method = torch.nn.SyncBatchNorm.convert_sync_batchnorm(self.method)
            elif cfg.sync_bn and dist.is_main:
                print(f"{cfg.name}: note: sync_bn=true is ignored on {device.type} (PyTorch "
                      f"has SyncBatchNorm only on GPUs); BatchNorm uses per-process batches",
                      file=sys.stderr, flush=True)
            dist.broadcast_module(self.method)  # identical replicas (same seed anyway)
            for module in self.method.modules():  # DirectPred: average F_B over the ranks
                if hasattr(module, "all_reduce"):
                    module.all_reduce = dist.all_reduce_mean
            # per-rank global RNG streams (only the DataLoader fallback draws from them)
            from dynamics.train.data.loader import mix_seed

            seed_everything(mix_seed(cfg.seed, dist.rank, dist.world_size, 3))
        self.optimizer = build_optimizer(cfg, self.method, dist.world_size)
        self.instrument = Instrument(self.method, rho=cfg.predictor.rho,
                                     centered=cfg.predictor.centered, dist=dist)
        self.channels_last = device.type == "cuda" and cfg.channels_last
        self.guard = NanGuard(device, dist)
        if ckpt is not None:
            self.load(ckpt)
            self.last_good = (self.summary_notes["resumed_from"], self.step)
            self.ui.note(f"resumed from {self.summary_notes['resumed_from']} at step "
                         f"{self.step} (epoch {self.epoch}, step {self.epoch_step} of it)")
        self.run = plan.run
        if dist.is_main:
            self.summary = runs.start_run(plan, cfg, checkpoint_step=self.step)
            self.summary.update(self.summary_notes)
            self.writer = runs.JsonlWriter(self.run.metrics)
            self.spectra = runs.JsonlWriter(self.run.spectra)
            self.backends = LoggingBackends(cfg.log, self.run.path, run_name=cfg.name,
                                            run_id=self.summary["run_id"],
                                            config=runs.flatten_config(cfg))
        self.write_summary(**self.describe())
        dist.barrier()
        self.step_fn = self.method.training_step
        if cfg.compile:
            self.step_fn = torch.compile(self.method.training_step)

    def describe(self) -> dict[str, Any]:
        cfg = self.cfg
        return {"method": cfg.method.name, "predictor": cfg.predictor.kind,
                "dataset": cfg.data.dataset, "encoder": cfg.model.encoder, "seed": cfg.seed,
                "epochs": cfg.optim.epochs, "max_steps": cfg.optim.max_steps,
                "steps_per_epoch": self.source.steps_per_epoch,
                "batch_size_per_process": cfg.optim.batch_size,
                "global_batch_size": global_batch_size(cfg, self.dist.world_size),
                "lr_effective": cfg.optim.lr * lr_scale(cfg, self.dist.world_size),
                "world_size": self.dist.world_size, "device": str(self.device),
                "backend": self.dist.backend,
                "sync_bn": bool(cfg.sync_bn and self.dist.is_distributed
                                and self.device.type == "cuda"),
                "precision": effective_precision(self.device, cfg.precision),
                "deterministic": cfg.deterministic, "torch_version": torch.__version__,
                "threads": self.governor.choice.to_dict()}

    def total_steps(self) -> int:
        total = self.cfg.optim.epochs * self.source.steps_per_epoch
        if self.cfg.optim.max_steps is not None:
            total = min(total, self.cfg.optim.max_steps)
        return total

    def stop_requested(self, stop: StopSignals, *, check_now: bool = True) -> bool:
        """Whether any rank got SIGINT/SIGTERM (under DDP agreed by a collective, only on
        ``check_now`` steps so that a GPU run does not sync every step)."""
        flag = stop.requested is not None
        if self.dist.is_distributed:
            if not check_now:
                return False
            t = torch.tensor([float(flag)], device=self.device)
            flag = bool(self.dist.all_reduce_sum(t) > 0)
        return flag

    def train_step(self, v1: torch.Tensor, v2: torch.Tensor, *, check_now: bool):
        """One optimizer step. A non-finite loss is caught before it reaches the weights when
        ``check_now`` (every step on CPU); errors caused by NaN/Inf further down (e.g. an
        eigendecomposition of a NaN F) are reported as a divergence, not a crash."""
        if self.channels_last and v1.ndim == 4:
            v1 = v1.contiguous(memory_format=torch.channels_last)
            v2 = v2.contiguous(memory_format=torch.channels_last)
        try:
            with autocast_for(self.device, self.cfg.precision):
                out = self.step_fn(v1, v2)
            self.guard.update(out.loss, self.step + 1)
            if check_now:
                self.check_nan()
            self.optimizer.zero_grad(set_to_none=True)
            out.loss.backward()
            self.dist.sync_gradients(self.method)
            self.optimizer.step()
            self.method.after_optimizer_step(self.step)
        except runs.TrainingDiverged:
            raise
        except Exception:
            self.check_nan()
            if not runs.all_finite(self.method.parameters()):
                self.diverged(self.step + 1, "the weights became NaN/Inf")
            raise
        return out

    def loop(self, stop: StopSignals) -> None:
        cfg, dist = self.cfg, self.dist
        spe = self.source.steps_per_epoch
        check_every = 1 if self.device.type == "cpu" else PROGRESS_EVERY
        images_per_step = cfg.optim.batch_size * dist.world_size
        self.ui.start(self.total_steps(), self.step)
        interval = (time.perf_counter(), self.step)
        seg_start = time.perf_counter()
        while not runs.is_done(cfg, self.epoch, self.step):
            for v1, v2 in self.source.epoch(self.epoch, self.epoch_step):
                out = self.train_step(v1, v2, check_now=(self.step + 1) % check_every == 0)
                self.step += 1
                self.epoch_step += 1
                self.instrument.observe(out)
                if self.step % cfg.log.log_every == 0:
                    now = time.perf_counter()
                    self.train_time += now - seg_start
                    seg_start = now
                    self.log_train_row(interval)
                    interval = (time.perf_counter(), self.step)
                    seg_start = time.perf_counter()
                if self.step % PROGRESS_EVERY == 0 or self.epoch_step == spe:
                    self.governor.tick()
                    if self.ui.enabled:
                        self.ui.update(step=self.step, epoch=self.epoch,
                                       epoch_step=self.epoch_step, steps_per_epoch=spe,
                                       loss=float(out.loss.detach()),
                                       images_per_step=images_per_step)
                if self.stop_requested(stop, check_now=self.step % check_every == 0):
                    self.train_time += time.perf_counter() - seg_start
                    self.interrupted(stop)
                if cfg.optim.max_steps is not None and self.step >= cfg.optim.max_steps:
                    break
            self.train_time += time.perf_counter() - seg_start
            self.check_nan()
            if self.epoch_step >= spe:
                self.epoch += 1
                self.epoch_step = 0
                self.end_of_epoch_eval()
                self.ui.epoch_done(epoch=self.epoch, step=self.step,
                                   loss=self.last_row.get("loss"),
                                   evaluation=getattr(self, "last_eval", {}) or {},
                                   train_s=self.train_time)
                done = runs.is_done(cfg, self.epoch, self.step)
                self.save(epoch_file=done or self.epoch % cfg.checkpoint_every == 0)
                self.write_summary()
            else:  # stopped by max_steps inside an epoch
                self.save(epoch_file=False)
            seg_start = time.perf_counter()
            interval = (seg_start, self.step)
        self.ui.close()

    def interrupted(self, stop: StopSignals) -> None:
        self.check_nan()
        self.save(epoch_file=False)
        name = signal.Signals(stop.requested).name if stop.requested else "signal"
        msg = (f"interrupted by {name} at step {self.step} (epoch {self.epoch + 1}, step "
               f"{self.epoch_step} of it); checkpoint saved, continue with --resume")
        self.write_summary(status=runs.STATUS_INTERRUPTED, message=msg, phase=self.phase)
        raise runs.TrainingInterrupted(msg, self.summary, signum=stop.requested)

    def stopped_outside_loop(self, exc: StopRequested) -> str:
        """A signal outside the deferred training loop (set-up, final evaluation, a second
        SIGINT): record it in summary.json and return the one-line message."""
        if self.phase == "final evaluation":
            msg = (f"interrupted by {exc.name} during the final evaluation; training is "
                   f"complete (step {self.step}, {self.run.last} saved); run again with "
                   f"--resume to redo the evaluation")
        elif self.phase == "training":
            kept = (f"{self.last_good[0]} (step {self.last_good[1]})" if self.last_good
                    else "no checkpoint")
            msg = (f"interrupted by {exc.name} (second signal) at step {self.step}; the last "
                   f"checkpoint {kept} is kept; continue with --resume")
        else:
            msg = (f"interrupted by {exc.name} during set-up, before step {self.step + 1}; "
                   f"continue with --resume")
        if self.summary.get("status") == runs.STATUS_RUNNING:
            self.write_summary(status=runs.STATUS_INTERRUPTED, message=msg, phase=self.phase)
        return msg

    def finish(self, wall0: float) -> dict[str, Any]:
        cfg = self.cfg
        t0 = time.perf_counter()
        final: dict[str, Any] = {}
        self.write_summary(phase=self.phase)  # "final evaluation": readable while it runs
        self.ui.note("final evaluation")
        self.sync_replicas()
        if cfg.eval.final and self.data.eval is not None:
            final = offline_linear_eval(self.method, self.data.eval, cfg, self.device,
                                        channels_last=self.channels_last, dist=self.dist) or {}
        elif self.dist.is_main:
            if self.data.eval is None:
                final = {"linear_eval": None, "knn": None,
                         "note": f"{cfg.data.dataset} data has no labels: no probes"}
            else:
                final = {"linear_eval": None, "knn": None, "note": "eval.final=false"}
        self.dist.barrier()
        self.eval_time += time.perf_counter() - t0
        collapse = self.instrument.buffer_signals()
        collapse["rankme_backbone_test"] = final.pop("rankme_backbone_test", None)
        collapse["note"] = ("*_projector / rankme_backbone / normalized_std over the last "
                            f"{collapse.get('samples', 0)} augmented training samples (both "
                            "views); rankme_backbone_test on the un-augmented test images")
        self.write_summary(
            status=runs.STATUS_FINISHED, **final, collapse=collapse,
            online=self.online_best, final_metrics=self.last_row,
            runtime={"train_s": self.train_time, "eval_s": self.eval_time,
                     "this_process_s": time.perf_counter() - wall0,
                     "thread_changes": [list(c) for c in self.governor.changes]},
            **self.distributed_summary())
        if self.backends is not None:
            self.backends.log_summary(self.summary)
        return dict(self.dist.broadcast_object(self.summary))  # the same dict on every rank

    def distributed_summary(self) -> dict[str, Any]:
        if not self.dist.is_distributed:
            return {}
        return {"distributed": {
            "world_size": self.dist.world_size, "backend": self.dist.backend,
            "sharding": "per-process batch; rank r takes perm[r::world_size] of every epoch's "
                        "permutation; augmentations seeded per (seed, epoch, step, rank)",
            "gradient_sync": "all-reduce mean of the gradients and BatchNorm running "
                             "statistics after backward; DirectPred F_B averaged before use",
            "replica_checks": self.replicas["checks"],
            "replicas_identical": not self.replicas["mismatches"],
            "replica_mismatches": self.replicas["mismatches"]}}

    def close(self) -> None:
        for w in (self.writer, self.spectra):
            if w is not None:
                w.close()
        if self.backends is not None:
            self.backends.close()


def train(cfg: TrainConfig, *, resume: bool = False, overwrite: bool = False,
          progress: bool | None = None, dist: DistContext | None = None) -> dict[str, Any]:
    """Train ``cfg`` in ``cfg.run_dir``; returns the summary dict (also in summary.json).

    ``resume``: continue an existing run from ``checkpoints/last.pt`` (or start it if it does
    not exist yet); ``overwrite``: replace an existing run. ``progress``: force the progress
    bar on/off (default: ``log.progress`` and only on a terminal). ``dist``: the process
    context (default :func:`~dynamics.train.distributed.init_from_env`).

    Raises :class:`ConfigError` (bad config, guards; before any work),
    :class:`~dynamics.train.runs.TrainingDiverged` (NaN/Inf) and
    :class:`~dynamics.train.runs.TrainingInterrupted` (SIGINT/SIGTERM, checkpoint saved).
    """
    wall0 = time.perf_counter()
    check_backends(cfg.log)
    check_data_source(cfg)
    if env_rank() == 0:  # a live run in the folder: refuse before any work
        runs.RunDir(cfg.run_dir).check_unlocked()
    runs.plan_run(cfg, resume=resume, overwrite=overwrite)  # guards first, before any work
    if cfg.deterministic and cfg.device != "cpu":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # before any CUDA work
    dist = dist if dist is not None else init_from_env(device=cfg.device)
    try:
        return _train(cfg, dist, resume, overwrite, progress, wall0)
    finally:
        dist.shutdown()  # destroys the process group only if init_from_env created it here


def check_data_source(cfg: TrainConfig) -> None:
    """Before any work: a ``data.root`` that does not exist is one line (a torchvision set
    with ``data.download=true`` creates its root)."""
    d = cfg.data
    if d.root is None or d.dataset in ("digits", "synthetic"):
        return
    root = Path(d.root).expanduser()
    if not root.exists() and not (d.download and d.dataset != "folder"):
        hint = ("an image folder or a .tar/.tar.gz of class folders" if d.dataset == "folder"
                else "a folder holding the torchvision files, or set data.download=true")
        raise ConfigError("data.root", f"{root} does not exist; give {hint}")


def _lock_run(cfg: TrainConfig, dist: DistContext):
    """Rank 0 locks the run folder for the whole run; every rank learns the outcome, so a
    refused start raises the same one-line error everywhere (no rank waits forever)."""
    lock, refused = None, None
    if dist.is_main:
        try:
            lock = runs.RunDir(cfg.run_dir).lock().acquire()
        except ConfigError as exc:
            refused = (exc.field, str(exc)[len(exc.field) + 2:])
    refused = dist.broadcast_object(refused)
    if refused:
        raise ConfigError(*refused)
    return lock


def _train(cfg: TrainConfig, dist: DistContext, resume: bool, overwrite: bool,
           progress: bool | None, wall0: float) -> dict[str, Any]:
    lock = _lock_run(cfg, dist)
    threads_before = torch.get_num_threads()
    try:
        # planned again under the lock: no other process can change the folder from here on
        plan = runs.plan_run(cfg, resume=resume, overwrite=overwrite)
        dist.barrier()  # every rank has planned before rank 0 touches the folder
        device = dist.device(cfg.device)
        restore = configure_torch(cfg, device)
        state = _Run(cfg, dist, device, progress)
        try:
            with StopSignals() as stop:
                state.setup(plan)
                state.phase = "training"
                with stop.deferred():
                    state.loop(stop)
                state.phase = "final evaluation"
                return state.finish(wall0)
        except (runs.TrainingDiverged, runs.TrainingInterrupted):
            raise
        except StopRequested as exc:
            raise runs.TrainingInterrupted(state.stopped_outside_loop(exc), state.summary,
                                           signum=exc.signum) from None
        except BaseException as exc:
            if state.summary and state.summary.get("status") == runs.STATUS_RUNNING:
                text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
                status = (runs.STATUS_INTERRUPTED if isinstance(exc, KeyboardInterrupt)
                          else "crashed")
                state.write_summary(status=status, message=f"{type(exc).__name__}: {text}")
            raise
        finally:
            state.close()
            restore()
    finally:
        set_threads(threads_before)
        if lock is not None:
            lock.release()


__all__ = ["build_method_for", "build_optimizer", "configure_torch", "seed_everything",
           "train"]

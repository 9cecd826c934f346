"""Training: ``train(cfg) -> summary`` for every method, predictor and data set.

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
runtime in summary.json (layout in :mod:`dynamics.train.run_folder`).

Exact resume: a checkpoint holds the method (online, target, predictor and its running
estimates), the optimizer, the epoch and the step inside it (the data position: batches and
augmentations are functions of (seed, epoch, step)), the global RNG states and the instrument's
running state. On CPU with ``deterministic=true`` a resumed run logs exactly the numbers of an
uninterrupted one (timing keys aside) and ends with identical weights. SIGINT/SIGTERM stop the
run between two steps with a checkpoint of that point (a second SIGINT aborts at once).

A NaN/Inf loss (or non-finite weights at a checkpoint) stops the run: summary.json gets status
"diverged" with the first bad step, the last good checkpoint is kept, and
:class:`~dynamics.train.run_folder.TrainingDiverged` is raised with a one-line message.

Multi-process (``torchrun``; conventions in :mod:`dynamics.train.distributed`): every rank runs
this loop on its shard (``optim.batch_size`` per process); gradients and BatchNorm statistics
are all-reduced after ``backward``, DirectPred's F_B inside the forward; NaN and stop-signal
checks agree across ranks. Only rank 0 writes the run folder, logs and the progress bar; the
probes extract features on every rank and gather them. Checkpoints also hold every rank's RNG
and instrument state, so a DDP run resumes exactly with the same number of processes (at an
epoch boundary the number may change). At every checkpoint the replicas are compared (summary
``distributed``). ``train`` destroys the process group it created, also on errors. SimCLR's
negatives are the rank's own batch (no cross-rank gather).

Where the pieces are: this module -- :func:`train` (guards, run-folder lock, process group,
errors and signals outside the loop), the set-up and the final evaluation;
:mod:`dynamics.train.loop` -- the loop, one short function per step;
:mod:`dynamics.train.resume` -- save and exact resume; :mod:`dynamics.train.run_log` --
rows, spectra and summary.json; :mod:`dynamics.train.ddp_checks` -- replicas under DDP;
:mod:`dynamics.train.run_state` -- the state they share (and the NaN/Inf stop);
:mod:`dynamics.train.data.run_images` -- the run's images.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import torch

from dynamics.errors import ConfigError
from dynamics.threads import ThreadGovernor, apply_threads, restoring_threads
from dynamics.train import run_folder as runs
from dynamics.train.config import TrainConfig, global_batch_size, lr_scale
from dynamics.train.data.run_images import load_run_data
from dynamics.train.data.sources import make_source
from dynamics.train.ddp_checks import replicate_method
from dynamics.train.distributed import DistContext, env_rank, init_from_env
from dynamics.train.evaluate import offline_linear_eval
from dynamics.train.guards import NanGuard, StopRequested, StopSignals
from dynamics.train.instrument import Instrument
from dynamics.train.logging_backends import check_backends
from dynamics.train.loop import PROGRESS_EVERY, train_epochs  # noqa: F401 - PROGRESS_EVERY: API
from dynamics.train.precision import effective_compile, effective_precision, use_channels_last
from dynamics.train.progress import Progress
from dynamics.train.resume import read_checkpoint, restore
from dynamics.train.run_state import RunState
from dynamics.train.setup import (  # noqa: F401 - build_optimizer: part of the trainer's API
    build_method_for,
    build_optimizer,
    configure_torch,
    seed_everything,
)


class _Run(RunState):
    """One training run: its set-up, the loop (:func:`~dynamics.train.loop.train_epochs`) and
    the final evaluation."""

    def __init__(self, cfg: TrainConfig, dist: DistContext, device: torch.device,
                 progress: bool | None):
        ui = Progress(cfg, progress, dist.is_main)
        super().__init__(cfg, dist, device, ui, ThreadGovernor(
            apply_threads(cfg.threads, keep_callers=True)))  # a script's own count stays

    # -- set-up --------------------------------------------------------------------------------
    def setup(self, plan: runs.RunPlan) -> None:
        """Data, method, optimizer, instrument; the checkpoint's state on ``--resume``; the run
        folder opened and summary.json "running". Collective under DDP."""
        cfg, dist, device = self.cfg, self.dist, self.device
        ckpt = read_checkpoint(self, plan) if plan.mode == "resume" else None
        seed_everything(cfg.seed)
        self.load_data()
        self.method = replicate_method(build_method_for(cfg, self.data.in_shape, device), cfg,
                                       dist, device)
        self.optimizer = build_optimizer(cfg, self.method, dist.world_size)
        self.instrument = Instrument(self.method, rho=cfg.predictor.rho,
                                     centered=cfg.predictor.centered, dist=dist)
        self.channels_last = use_channels_last(cfg.channels_last, self.data.in_shape)
        self.precision = effective_precision(device, cfg.precision, self.data.in_shape)
        self.compiled = effective_compile(device, cfg.compile, self.data.in_shape,
                                          self.total_steps())
        self.guard = NanGuard(device, dist)
        if ckpt is not None:
            self.resume_from(ckpt)
        self.run = plan.run
        self.log.open(plan, cfg, checkpoint_step=self.step)
        self.write_summary(**self.describe())
        dist.barrier()
        self.step_fn = self.method.training_step
        if self.compiled:
            self.step_fn = torch.compile(self.method.training_step)

    def load_data(self) -> None:
        """The run's images and its batch source (said on the progress output)."""
        cfg = self.cfg
        what = cfg.data.dataset + (f" from {cfg.data.root}" if cfg.data.root else "")
        self.ui.note(f"loading {what}; {self.governor.choice.text()}")
        t0 = time.perf_counter()
        self.data = load_run_data(cfg)
        self.source = make_source(cfg, self.data, self.device, self.dist)
        self.ui.note(f"data ready in {time.perf_counter() - t0:.1f} s: "
                     f"{self.source.steps_per_epoch} steps per epoch")

    def resume_from(self, ckpt: dict[str, Any]) -> None:
        """Continue from ``ckpt`` (read before the set-up built the parts)."""
        restore(self, ckpt)
        self.last_good = (self.log.notes["resumed_from"], self.step)
        self.ui.note(f"resumed from {self.log.notes['resumed_from']} at step "
                     f"{self.step} (epoch {self.epoch}, step {self.epoch_step} of it)")

    def describe(self) -> dict[str, Any]:
        """What summary.json says about the run's set-up."""
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
                "precision": self.precision, "compiled": self.compiled,
                "deterministic": cfg.deterministic, "torch_version": torch.__version__,
                "threads": self.governor.choice.to_dict()}

    # -- the end -------------------------------------------------------------------------------
    def finish(self, wall0: float) -> dict[str, Any]:
        """The final evaluation and summary.json "finished"; the summary, the same dict on
        every rank."""
        t0 = time.perf_counter()
        self.write_summary(phase=self.phase)  # "final evaluation": readable while it runs
        self.ui.note("final evaluation")
        self.replicas.sync(self.method, self.step)
        with self.profile.phase("final_eval"):
            final = self.final_eval()
        self.dist.barrier()
        self.eval_time += time.perf_counter() - t0
        collapse = self.instrument.buffer_signals()
        collapse["rankme_backbone_test"] = final.pop("rankme_backbone_test", None)
        collapse["note"] = ("*_projector / rankme_backbone / normalized_std over the last "
                            f"{collapse.get('samples', 0)} augmented training samples (both "
                            "views); rankme_backbone_test on the un-augmented test images")
        self.write_summary(
            status=runs.STATUS_FINISHED, **final, collapse=collapse,
            online=self.online_best, final_metrics=self.log.last_row,
            runtime={"train_s": self.train_time, "eval_s": self.eval_time,
                     "this_process_s": time.perf_counter() - wall0,
                     "thread_changes": [list(c) for c in self.governor.changes]},
            profile=self.profile.to_dict(self.cfg.optim.batch_size * self.dist.world_size),
            **self.replicas.summary())
        self.log.log_summary()
        return dict(self.dist.broadcast_object(self.summary))  # the same dict on every rank

    def final_eval(self) -> dict[str, Any]:
        """The offline linear evaluation (``eval.final``; collective, result on rank 0), or a
        note why there is none."""
        cfg = self.cfg
        if cfg.eval.final and self.data.eval is not None:
            return offline_linear_eval(self.method, self.data.eval, cfg, self.device,
                                       channels_last=self.channels_last, dist=self.dist) or {}
        if not self.dist.is_main:
            return {}
        if self.data.eval is None:
            return {"linear_eval": None, "knn": None,
                    "note": f"{cfg.data.dataset} data has no labels: no probes"}
        return {"linear_eval": None, "knn": None, "note": "eval.final=false"}

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

    def close(self) -> None:
        """Close the run's writers and logging backends."""
        self.log.close()


def train(cfg: TrainConfig, *, resume: bool = False, overwrite: bool = False,
          progress: bool | None = None, dist: DistContext | None = None) -> dict[str, Any]:
    """Train ``cfg`` in ``cfg.run_dir``; returns the summary dict (also in summary.json).

    ``resume``: continue an existing run from ``checkpoints/last.pt`` (or start it if it does
    not exist yet); ``overwrite``: replace an existing run. ``progress``: force the progress
    bar on/off (default: ``log.progress`` and only on a terminal). ``dist``: the process
    context (default :func:`~dynamics.train.distributed.init_from_env`).

    Raises :class:`ConfigError` (bad config, guards; before any work),
    :class:`~dynamics.train.run_folder.TrainingDiverged` (NaN/Inf) and
    :class:`~dynamics.train.run_folder.TrainingInterrupted` (SIGINT/SIGTERM, checkpoint saved).
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
    with ``data.download=true`` creates its root). What a data set reads comes from its
    registry tags (``files``, ``needs_root``)."""
    from dynamics.train.data.datasets import DATASETS

    d = cfg.data
    tags = DATASETS.entry(d.dataset).tags
    if d.root is None or not tags.get("files", True):
        return
    root = Path(d.root).expanduser()
    downloads = d.download and not tags.get("needs_root")
    if not root.exists() and not downloads:
        hint = ("an image folder or a .tar/.tar.gz of class folders" if tags.get("needs_root")
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
    try:
        with restoring_threads():  # the caller's pools come back when the run ends
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
                        train_epochs(state, stop)
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
        if lock is not None:
            lock.release()


__all__ = ["build_method_for", "build_optimizer", "configure_torch", "seed_everything",
           "train"]

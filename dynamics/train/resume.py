"""Save and resume a training run exactly.

A checkpoint holds the method (online, target, predictor and its running estimates), the
optimizer, the epoch and the step inside it (the data position: batches and augmentations are
functions of (seed, epoch, step)), the global RNG states, the instrument's running state, the
clocks and the best online evaluation (:func:`checkpoint_state`). Under DDP it also holds every
rank's RNG and instrument state, so a DDP run resumes exactly with the same number of processes
(at an epoch boundary the number may change).

* :func:`read_checkpoint` -- the state to resume from (``last.pt``, or the newest readable
  epoch checkpoint);
* :func:`restore` -- put it into a set-up run;
* :func:`save` -- write ``last.pt`` (and ``epoch_XXXX.pt`` at epoch ends), never a non-finite
  state; the replicas are compared first.

The file format and atomic writes are in :mod:`dynamics.train.checkpoint_files` (via
:mod:`dynamics.train.run_folder`).
"""

from __future__ import annotations

import sys
from typing import Any

import torch

from dynamics.errors import ConfigError
from dynamics.io import atomic_copy
from dynamics.train import run_folder as runs
from dynamics.train.config import to_yaml
from dynamics.train.run_state import RunState


def _to_cpu(obj: Any) -> Any:
    """``obj`` with every tensor moved to the CPU (before pickling it to another rank)."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: _to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_cpu(v) for v in obj)
    return obj


def checkpoint_state(run: RunState) -> dict[str, Any]:
    """Everything needed to continue ``run`` exactly from its current position."""
    return {
        "format": runs.CHECKPOINT_FORMAT, "epoch": run.epoch, "step": run.step,
        "epoch_step": run.epoch_step,
        "loader": run.source.state(run.epoch, run.epoch_step),
        "method": runs.method_state(run.method), "optimizer": run.optimizer.state_dict(),
        "instrument": run.instrument.state_dict(), "rng": runs.rng_state(run.device),
        "rng_per_rank": run.rng_per_rank, "instrument_per_rank": run.instrument_per_rank,
        "world_size": run.dist.world_size,
        "train_time_s": run.train_time, "eval_time_s": run.eval_time,
        "profile": run.profile.state_dict(),
        "online_best": run.online_best, "config": to_yaml(run.cfg),
        "torch_version": torch.__version__,
    }


def read_checkpoint(run: RunState, plan: runs.RunPlan) -> dict[str, Any]:
    """The state to resume from: ``last.pt`` or, if that cannot be read, the newest readable
    epoch checkpoint (said on stderr and in summary.json ``resume_note``)."""
    path, ckpt, problems = runs.load_newest_readable(plan.run.checkpoints,
                                                     map_location=run.device)
    run.log.notes["resumed_from"] = str(path)
    if problems:
        note = (f"skipped unreadable checkpoint(s): {'; '.join(problems)}; resumed from "
                f"{path.name} (step {ckpt.get('step')})")
        run.log.notes["resume_note"] = note
        if run.dist.is_main:
            print(f"{run.cfg.name}: warning: {note}", file=sys.stderr, flush=True)
    return ckpt


def restore(run: RunState, ckpt: dict[str, Any]) -> None:
    """Load ``ckpt`` into ``run`` (built by the set-up): weights, optimizer, instrument, RNGs,
    position and clocks. A different number of processes is allowed only at an epoch end."""
    dist = run.dist
    saved_world = int(ckpt.get("world_size", 1))
    if saved_world != dist.world_size and int(ckpt["epoch_step"]) != 0:
        raise ConfigError("world_size", f"the checkpoint was written by {saved_world} "
                                        f"process(es) in the middle of an epoch; resume "
                                        f"with {saved_world} (torchrun --nproc_per_node), "
                                        f"or from an epoch checkpoint")
    runs.load_method_state(run.method, ckpt["method"])
    run.optimizer.load_state_dict(ckpt["optimizer"])
    same_world = saved_world == dist.world_size
    per_rank = ckpt.get("instrument_per_rank") if same_world else None
    run.instrument.load_state_dict(per_rank[dist.rank] if per_rank else ckpt["instrument"])
    per_rank = ckpt.get("rng_per_rank") if same_world else None
    runs.set_rng_state(per_rank[dist.rank] if per_rank else ckpt["rng"], run.device)
    run.epoch, run.step = int(ckpt["epoch"]), int(ckpt["step"])
    run.epoch_step = int(ckpt["epoch_step"])
    if not same_world:
        run.log.notes["world_size_changed"] = (f"resumed at epoch {run.epoch} with "
                                               f"{dist.world_size} process(es); the "
                                               f"checkpoint had {saved_world}")
    run.train_time = float(ckpt.get("train_time_s", 0.0))
    run.eval_time = float(ckpt.get("eval_time_s", 0.0))
    run.profile.load_state_dict(ckpt.get("profile"))
    run.online_best = dict(ckpt.get("online_best") or {})


def save(run: RunState, *, epoch_file: bool) -> None:
    """Checkpoint the current state (main process writes); never a non-finite one.
    Collective under DDP: every rank calls it at the same point."""
    run.replicas.sync(run.method, run.step)
    tensors = list(run.method.parameters()) + list(run.method.buffers())
    if not runs.all_finite(tensors):
        run.diverged(run.step, "the weights became NaN/Inf")
    if run.dist.is_distributed:  # per-rank state (the sample buffers are the ranks' own)
        run.rng_per_rank = run.dist.gather_object(runs.rng_state(run.device))
        run.instrument_per_rank = run.dist.gather_object(_to_cpu(run.instrument.state_dict()))
    if not run.dist.is_main:
        return
    run.log.sync()  # rows up to here are on disk with the checkpoint
    folder = run.run
    if epoch_file and run.cfg.keep_checkpoints != 0:
        path = runs.atomic_torch_save(checkpoint_state(run), folder.epoch_checkpoint(run.epoch))
        atomic_copy(path, folder.last)  # an independent file, not a hard link
        runs.prune_checkpoints(folder.checkpoints, run.cfg.keep_checkpoints)
    else:
        runs.atomic_torch_save(checkpoint_state(run), folder.last)
    run.last_good = (str(folder.last), run.step)


__all__ = ["checkpoint_state", "read_checkpoint", "restore", "save"]

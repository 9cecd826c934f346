"""Run folders: layout, the lock, the overwrite/resume guards and JSON-lines logs.

A run lives in ``<out_dir>/<name>/``::

    config.yaml           the fully resolved TrainConfig (what --resume and `eval` read back)
    metrics.jsonl         one JSON object per line, appended and flushed as training goes:
                          "kind": "train" rows every log.log_every steps, "kind": "eval" rows
                          after every epoch (see dynamics.train.instrument for the keys)
    spectra.jsonl         full spectra at every train row (F eigenvalues, predictor
                          eigenvalues, per-mode alignment), one JSON object per line
    checkpoints/last.pt   the latest consistent state (every epoch, at the end, on interrupt)
    checkpoints/epoch_XXXX.pt   every `checkpoint_every` epochs and at the end; the newest
                          `keep_checkpoints` are kept (independent files, not links)
    summary.json          status (running / interrupted / diverged / finished / crashed),
                          phase, progress, final linear evaluation, collapse signals,
                          runtime, the thread choice
    .lock                 held (flock) by the process that writes the folder; names it
    eval.json             written by `ssl-dynamics eval RUN_DIR`
    tensorboard/          only with log.tensorboard=true

Guards (:func:`plan_run`, all checked before any work):

* a finished run (summary.json with status "finished") is never touched without
  ``--overwrite``; ``--resume`` continues it only if the config asks for more training
  (a larger ``optim.epochs`` or ``optim.max_steps``);
* an unfinished run needs ``--resume`` (continue) or ``--overwrite`` (start again);
* resuming with a different config is an error naming every differing key, except the keys in
  :data:`RESUMABLE_KEYS` / :data:`RESUMABLE_PREFIXES` (length of training, logging, evaluation,
  checkpoint frequency, where the folder lives);
* ``--overwrite`` only deletes folders that look like run folders;
* a folder held by a live process (:meth:`RunDir.lock`, :mod:`dynamics.locks`) is refused
  with one line naming that process, whatever the flags;
* ``out_dir`` must be a writable folder (or creatable), checked first.

Checkpoint files are handled by :mod:`dynamics.train.checkpoint_files` (re-exported here).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from dynamics.errors import ConfigError, SimulationDiverged
from dynamics.io import atomic_write_text, check_output_dir, to_json
from dynamics.train.checkpoint_files import (  # noqa: F401 - re-exported: run_folder is the public face
    CHECKPOINT_FORMAT,
    atomic_torch_save,
    epoch_checkpoints,
    load_checkpoint,
    load_method_state,
    load_newest_readable,
    method_state,
    prune_checkpoints,
    rng_state,
    set_rng_state,
    stateful_objects,
)
from dynamics.train.config import TrainConfig, from_yaml_text, to_yaml
from dynamics.train.jsonl import (  # noqa: F401 - re-exported: run_folder is the public face
    JsonlWriter,
    json_line,
    plain,
    read_jsonl,
    truncate_jsonl,
)

STATUS_RUNNING, STATUS_INTERRUPTED = "running", "interrupted"
STATUS_DIVERGED, STATUS_FINISHED = "diverged", "finished"

#: Config keys that may differ when resuming (everything else must match exactly).
RESUMABLE_KEYS = ("optim.epochs", "optim.max_steps", "checkpoint_every", "keep_checkpoints",
                  "name", "out_dir", "compile", "threads", "data.num_workers")
RESUMABLE_PREFIXES = ("log.", "eval.")


class TrainingDiverged(SimulationDiverged):
    """The loss (or a parameter) became NaN/Inf. ``summary`` is what summary.json holds; the
    last good checkpoint is untouched."""

    def __init__(self, message: str, summary: dict[str, Any] | None = None):
        super().__init__(message, partial=summary)
        self.summary = summary or {}


class TrainingInterrupted(KeyboardInterrupt):
    """SIGINT/SIGTERM stopped the run between two steps; a checkpoint of that point was saved
    (resume with ``--resume``)."""

    def __init__(self, message: str, summary: dict[str, Any] | None = None,
                 signum: int | None = None):
        super().__init__(message)
        self.message = message
        self.summary = summary or {}
        self.signum = signum  #: the signal that stopped the run (SIGINT or SIGTERM)

    def __str__(self) -> str:
        return self.message


# --------------------------------------------------------------------------------------------
# Run folder


@dataclass(frozen=True)
class RunDir:
    """Paths of one run folder."""

    path: Path

    @property
    def config(self) -> Path:
        """``config.yaml``: the run's resolved config."""
        return self.path / "config.yaml"

    @property
    def metrics(self) -> Path:
        """``metrics.jsonl``: the train and eval rows."""
        return self.path / "metrics.jsonl"

    @property
    def spectra(self) -> Path:
        """``spectra.jsonl``: the full spectra, one line per train row."""
        return self.path / "spectra.jsonl"

    @property
    def summary(self) -> Path:
        """``summary.json``: status and final results."""
        return self.path / "summary.json"

    @property
    def eval(self) -> Path:
        """``eval.json``: the final linear evaluation."""
        return self.path / "eval.json"

    @property
    def checkpoints(self) -> Path:
        """The ``checkpoints`` folder."""
        return self.path / "checkpoints"

    @property
    def last(self) -> Path:
        """``checkpoints/last.pt``: the newest checkpoint."""
        return self.checkpoints / "last.pt"

    @property
    def tensorboard(self) -> Path:
        """The ``tensorboard`` log folder."""
        return self.path / "tensorboard"

    def epoch_checkpoint(self, epoch: int) -> Path:
        """``checkpoints/epoch_XXXX.pt`` of ``epoch``."""
        return self.checkpoints / f"epoch_{epoch:04d}.pt"

    def looks_like_run(self) -> bool:
        """Whether the folder holds any run file (config, metrics, summary, checkpoints)."""
        return any(p.exists() for p in (self.config, self.metrics, self.summary,
                                        self.checkpoints))

    def is_empty(self) -> bool:
        """No files but (possibly) the lock file of :mod:`dynamics.locks` and the write probes
        of :func:`dynamics.io.check_output_dir` (another rank may be probing right now)."""
        from dynamics.io import PROBE_PREFIX
        from dynamics.locks import LOCK_NAME

        return not any(p.name != LOCK_NAME and not p.name.startswith(PROBE_PREFIX)
                       for p in self.path.iterdir())

    def lock(self, hint: str = "wait for it to end, or choose another name") -> Any:
        """The :class:`~dynamics.locks.FolderLock` of this run folder (not yet acquired)."""
        from dynamics.locks import FolderLock

        return FolderLock(self.path, field="name", what="run", hint=hint)

    def check_unlocked(self) -> None:
        """One-line :class:`ConfigError` if a live process holds this run folder."""
        from dynamics.locks import check_unlocked

        check_unlocked(self.path, field="name", what="run",
                       hint="wait for it to end, or choose another name")

    def read_summary(self) -> dict[str, Any] | None:
        """The parsed ``summary.json``, or None if missing or unreadable."""
        if not self.summary.is_file():
            return None
        try:
            data = json.loads(self.summary.read_text())
        except json.JSONDecodeError:
            return None
        return data if isinstance(data, dict) else None

    def write_summary(self, summary: Mapping[str, Any]) -> None:
        """Write ``summary.json`` atomically."""
        atomic_write_text(self.summary, to_json(summary) + "\n")

    def read_config(self) -> TrainConfig:
        """The run's :class:`TrainConfig`; one-line :class:`ConfigError` if missing or invalid."""
        if not self.config.is_file():
            raise ConfigError("run_dir", f"{self.path} has no config.yaml (not a run folder)")
        try:
            return from_yaml_text(self.config.read_text())
        except ConfigError as exc:
            raise ConfigError("run_dir", f"{self.config} is not a valid config: {exc}") from None

    def write_config(self, cfg: TrainConfig) -> None:
        """Write ``config.yaml`` atomically."""
        atomic_write_text(self.config, to_yaml(cfg))


def flatten_config(cfg: TrainConfig) -> dict[str, Any]:
    """``{"optim.lr": 0.03, ...}`` of every leaf of the config."""
    from omegaconf import OmegaConf

    out: dict[str, Any] = {}

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, f"{prefix}{k}.")
        else:
            out[prefix[:-1]] = node

    walk(OmegaConf.to_container(OmegaConf.structured(cfg)), "")
    return out


def resumable(key: str) -> bool:
    return key in RESUMABLE_KEYS or key.startswith(RESUMABLE_PREFIXES)


def config_differences(old: TrainConfig, new: TrainConfig) -> list[tuple[str, Any, Any]]:
    """``(key, old, new)`` for every leaf that differs and may NOT change on resume."""
    a, b = flatten_config(old), flatten_config(new)
    return [(k, a.get(k), b.get(k)) for k in sorted(set(a) | set(b))
            if a.get(k) != b.get(k) and not resumable(k)]


def is_done(cfg: TrainConfig, epoch: int, step: int) -> bool:
    """Whether a run that completed ``epoch`` epochs and ``step`` steps has nothing left."""
    return epoch >= cfg.optim.epochs or (cfg.optim.max_steps is not None
                                         and step >= cfg.optim.max_steps)


@dataclass
class RunPlan:
    """What :func:`start_run` will do: ``mode`` is "new", "overwrite", "resume" (from
    ``checkpoint``) or "restart" (a run folder with no checkpoint yet, started again)."""

    run: RunDir
    mode: str
    checkpoint: Path | None = None
    previous: dict[str, Any] | None = None  #: the old summary.json, if any


def _progress_text(summary: Mapping[str, Any] | None) -> str:
    if not summary:
        return "no summary.json"
    return (f"status {summary.get('status', '?')}, epoch {summary.get('epoch', '?')}, "
            f"step {summary.get('step', '?')}")


def plan_run(cfg: TrainConfig, *, resume: bool = False, overwrite: bool = False) -> RunPlan:
    """Decide, without touching anything, what starting ``cfg`` in its run folder means;
    raises a one-line :class:`ConfigError` for every forbidden case (module docstring)."""
    if resume and overwrite:
        raise ConfigError("resume", "--resume and --overwrite exclude each other")
    run = RunDir(cfg.run_dir)
    where = str(run.path)
    check_output_dir("out_dir", cfg.out_dir)  # a file in the way or no write access: now
    if run.path.exists() and not run.path.is_dir():
        raise ConfigError("name", f"{where} exists and is not a folder")
    if run.path.is_dir():
        check_output_dir("name", run.path, create=False)
    if not run.path.exists() or run.is_empty():
        return RunPlan(run, "new")
    if not run.looks_like_run():
        raise ConfigError("name", f"{where} exists, is not empty and is not a run folder (no "
                                  f"config.yaml); choose another name or out_dir")
    summary = run.read_summary()
    if overwrite:
        return RunPlan(run, "overwrite", previous=summary)
    finished = bool(summary) and summary.get("status") == STATUS_FINISHED
    if not resume:
        if finished:
            raise ConfigError("name", f"run {where} is finished ({_progress_text(summary)}); "
                                      f"pass --overwrite to replace it, or --resume with a "
                                      f"larger optim.epochs to extend it")
        raise ConfigError("name", f"run {where} exists and is unfinished "
                                  f"({_progress_text(summary)}); pass --resume to continue it "
                                  f"or --overwrite to start again")
    return _plan_resume(run, cfg, summary, finished)


def _plan_resume(run: RunDir, cfg: TrainConfig, summary: dict[str, Any] | None,
                 finished: bool) -> RunPlan:
    """The ``--resume`` part of :func:`plan_run`: same config (but the resumable keys), more
    training to do, and a checkpoint to start from (or none yet: start again)."""
    where = str(run.path)
    diffs = config_differences(run.read_config(), cfg)
    if diffs:
        listed = ", ".join(f"{k} ({a!r} -> {b!r})" for k, a, b in diffs)
        raise ConfigError("resume", f"config differs from {run.config}: {listed}; only "
                                    f"{', '.join(RESUMABLE_KEYS)}, log.* and eval.* may "
                                    f"change (or pass --overwrite)")
    if finished and is_done(cfg, int(summary.get("epoch", 0)), int(summary.get("step", 0))):
        raise ConfigError("resume", f"run {where} is already finished "
                                    f"({_progress_text(summary)}) and the config asks for no "
                                    f"more training; raise optim.epochs (or optim.max_steps) "
                                    f"to extend it, or pass --overwrite")
    if not run.last.is_file() and not epoch_checkpoints(run.checkpoints):
        if finished:
            raise ConfigError("resume", f"run {where} is finished but {run.last} is missing, "
                                        f"so it cannot be extended; pass --overwrite")
        return RunPlan(run, "restart", previous=summary)
    return RunPlan(run, "resume", checkpoint=run.last, previous=summary)


def start_run(plan: RunPlan, cfg: TrainConfig, *, checkpoint_step: int | None = None
              ) -> dict[str, Any]:
    """Carry out ``plan`` (main process only): clear the folder for "overwrite"/"restart",
    write config.yaml, drop metric rows logged after the checkpoint (``checkpoint_step``) of a
    resumed run, and write summary.json with status "running". Returns that summary."""
    run = plan.run
    if plan.mode in ("overwrite", "restart"):
        for p in (run.metrics, run.spectra, run.summary, run.eval, run.config):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
        for d in (run.checkpoints, run.tensorboard):
            if d.is_dir():
                shutil.rmtree(d)
    run.path.mkdir(parents=True, exist_ok=True)
    run.checkpoints.mkdir(exist_ok=True)
    run.write_config(cfg)
    previous = plan.previous or {}
    if plan.mode == "resume":
        step = int(checkpoint_step or 0)
        for p in (run.metrics, run.spectra):
            truncate_jsonl(p, lambda r: int(r.get("step", 0)) <= step)
    keep = {k: previous[k] for k in ("run_id", "started") if plan.mode == "resume"
            and k in previous}
    summary = {
        "status": STATUS_RUNNING,
        "run_id": keep.get("run_id", uuid.uuid4().hex[:12]),
        "name": cfg.name,
        "run_dir": str(run.path),
        "started": keep.get("started", time.strftime("%Y-%m-%dT%H:%M:%S")),
        "updated": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "resumed": plan.mode == "resume",
    }
    run.write_summary(summary)
    return summary


def require_run_dir(path: str | os.PathLike) -> RunDir:
    """The :class:`RunDir` at ``path``; one-line :class:`ConfigError` if it is not a run folder."""
    run = RunDir(Path(path))
    if not run.path.is_dir():
        raise ConfigError("run_dir", f"{run.path} is not a folder")
    if not run.config.is_file():
        raise ConfigError("run_dir", f"{run.path} has no config.yaml (not a run folder)")
    return run


def all_finite(tensors: Iterable[torch.Tensor]) -> bool:
    """Whether every floating-point tensor is free of NaN/Inf (one host sync)."""
    flags = [torch.isfinite(t).all() for t in tensors
             if isinstance(t, torch.Tensor) and t.is_floating_point() and t.numel()]
    if not flags:
        return True
    return bool(torch.stack([f.to(flags[0].device) for f in flags]).all())



__all__ = [
    "RESUMABLE_KEYS", "RESUMABLE_PREFIXES", "JsonlWriter", "RunDir", "RunPlan",
    "TrainingDiverged", "TrainingInterrupted", "all_finite",
    "atomic_torch_save", "config_differences", "epoch_checkpoints", "load_newest_readable",
    "prune_checkpoints", "flatten_config", "is_done", "json_line",
    "load_checkpoint", "load_method_state", "method_state", "plain", "plan_run", "read_jsonl",
    "require_run_dir", "rng_state", "set_rng_state", "start_run", "stateful_objects",
    "truncate_jsonl",
]

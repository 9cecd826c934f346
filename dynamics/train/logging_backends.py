"""Optional mirrors of metrics.jsonl: TensorBoard and Weights & Biases.

metrics.jsonl in the run folder is always written and is the source of truth; these backends
only copy the rows. Neither package is a dependency: asking for one that is not installed is a
one-line :class:`~dynamics.errors.ConfigError` at start-up (before any work), and nothing is
imported unless asked for.

* ``log.tensorboard=true``: ``torch.utils.tensorboard.SummaryWriter`` writing to
  ``RUN_DIR/tensorboard`` (needs ``pip install tensorboard``). List-valued metrics are written
  as ``name/0``, ``name/1``, ...
* ``log.wandb=true``: ``wandb.init(project=log.wandb_project, name=<run name>, id=<run_id>,
  resume="allow", dir=RUN_DIR)`` (needs ``pip install wandb``). The run id is stored in
  summary.json, so a resumed run continues the same W&B run. Offline use is W&B's own
  ``WANDB_MODE=offline`` (respected, never overridden).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dynamics.errors import ConfigError


def _available(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def check_backends(log_cfg: Any) -> None:
    """ConfigError (one line) if a requested backend's package is missing."""
    if log_cfg.tensorboard and not _available("tensorboard"):
        raise ConfigError("log.tensorboard", "needs the tensorboard package (pip install "
                                             "tensorboard), or set log.tensorboard=false")
    if log_cfg.wandb and not _available("wandb"):
        raise ConfigError("log.wandb", "needs the wandb package (pip install wandb), or set "
                                       "log.wandb=false (metrics.jsonl is always written)")


def scalars(row: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """Flatten a metrics row to ``{name: float}`` (lists -> name/i; None and strings dropped)."""
    out: dict[str, float] = {}
    for key, value in row.items():
        name = f"{prefix}{key}"
        if isinstance(value, bool):
            out[name] = float(value)
        elif isinstance(value, (int, float)):
            out[name] = float(value)
        elif isinstance(value, (list, tuple)):
            for i, v in enumerate(value):
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    out[f"{name}/{i}"] = float(v)
        elif isinstance(value, Mapping):
            out.update(scalars(value, f"{name}/"))
    return out


class LoggingBackends:
    """Fan-out of metric rows to the requested optional backends (main process only)."""

    def __init__(self, log_cfg: Any, run_dir: Path, *, run_name: str, run_id: str,
                 config: Mapping[str, Any] | None = None):
        check_backends(log_cfg)
        self._tb = None
        self._wandb = None
        if log_cfg.tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(log_dir=str(Path(run_dir) / "tensorboard"))
        if log_cfg.wandb:
            import wandb

            self._wandb = wandb.init(project=log_cfg.wandb_project, name=run_name, id=run_id,
                                     resume="allow", dir=str(run_dir),
                                     config=dict(config or {}))

    @property
    def active(self) -> bool:
        """Whether any backend is open."""
        return self._tb is not None or self._wandb is not None

    def log(self, row: Mapping[str, Any], step: int) -> None:
        """Copy one metrics row (eval rows under ``eval/``) to every backend at ``step``."""
        if not self.active:
            return
        skip = {"step", "kind"}
        values = scalars({k: v for k, v in row.items() if k not in skip},
                         "eval/" if row.get("kind") == "eval" else "")
        if self._tb is not None:
            for name, v in values.items():
                self._tb.add_scalar(name, v, global_step=step)
            self._tb.flush()
        if self._wandb is not None:
            self._wandb.log(values, step=step)

    def log_summary(self, summary: Mapping[str, Any]) -> None:
        """Copy the run summary's scalars to the W&B run summary."""
        if self._wandb is not None:
            for name, v in scalars(summary).items():
                self._wandb.summary[name] = v

    def close(self) -> None:
        """Close the TensorBoard writer and finish the W&B run (idempotent)."""
        if self._tb is not None:
            self._tb.close()
            self._tb = None
        if self._wandb is not None:
            self._wandb.finish()
            self._wandb = None


__all__ = ["LoggingBackends", "check_backends", "scalars"]

"""What one training run holds while it trains, shared by the trainer's pieces.

:class:`RunState` is the run's settings (config, process context, device), the parts the
set-up builds (data, batch source, method, optimizer, instrument, NaN guard), its position
(epoch, step, step inside the epoch) and clocks, and its outputs (:class:`~.run_log.RunLog`,
:class:`~.ddp_checks.ReplicaChecks`, the last good checkpoint). The set-up and the final
evaluation are in :mod:`dynamics.train.trainer`, the loop in :mod:`dynamics.train.loop`,
save and resume in :mod:`dynamics.train.resume`.

It also says how a run ends early on a NaN/Inf (:meth:`RunState.diverged`): summary.json gets
status "diverged" with the first bad step, the last good checkpoint is kept, and
:class:`~dynamics.train.run_folder.TrainingDiverged` is raised with a one-line message.
"""

from __future__ import annotations

from typing import Any, NoReturn

import torch

from dynamics.threads import ThreadGovernor
from dynamics.train import run_folder as runs
from dynamics.train.config import TrainConfig
from dynamics.train.ddp_checks import ReplicaChecks
from dynamics.train.distributed import DistContext
from dynamics.train.progress import Progress
from dynamics.train.run_log import RunLog
from dynamics.train.step_profile import StepProfile


class RunState:
    """Settings, built parts, position and outputs of one training run."""

    def __init__(self, cfg: TrainConfig, dist: DistContext, device: torch.device,
                 ui: Progress, governor: ThreadGovernor):
        self.cfg, self.dist, self.device = cfg, dist, device
        self.ui, self.governor = ui, governor
        self.phase = "setup"  #: setup / training / final evaluation (named on interrupts)
        # position and clocks (saved in every checkpoint)
        self.epoch = self.step = self.epoch_step = 0
        self.train_time = self.eval_time = 0.0
        self.profile = StepProfile(device)  #: where the time goes (summary "profile")
        self.online_best: dict[str, Any] = {}  #: best end-of-epoch evaluation (summary)
        self.last_eval: dict[str, Any] = {}  #: the latest end-of-epoch evaluation
        # outputs
        self.log = RunLog(dist.is_main)
        self.replicas = ReplicaChecks(dist, cfg.name)
        self.last_good: tuple[str, int] | None = None  # (path, step) of the last checkpoint
        # every rank's RNG and instrument state at the last save (DDP; rank 0 writes them)
        self.rng_per_rank: list[Any] | None = None
        self.instrument_per_rank: list[Any] | None = None
        # built by the set-up
        self.run: runs.RunDir | None = None
        self.data = self.source = self.method = self.optimizer = None
        self.instrument = self.guard = self.step_fn = None
        self.channels_last = False
        self.precision = "fp32"  # the precision in effect (train.precision.effective_precision)

    @property
    def summary(self) -> dict[str, Any]:
        """The run's summary (summary.json on the main process)."""
        return self.log.summary

    def where(self) -> dict[str, int]:
        """The run's position: ``epoch`` (completed), ``step`` (total), ``epoch_step``."""
        return {"epoch": self.epoch, "step": self.step, "epoch_step": self.epoch_step}

    def write_summary(self, **updates: Any) -> None:
        """Update summary.json with ``updates`` and the current position."""
        self.log.write_summary(self.where(), **updates)

    def total_steps(self) -> int:
        """Optimizer steps of the whole run (``optim.epochs`` capped by ``optim.max_steps``)."""
        total = self.cfg.optim.epochs * self.source.steps_per_epoch
        if self.cfg.optim.max_steps is not None:
            total = min(total, self.cfg.optim.max_steps)
        return total

    # -- NaN/Inf -------------------------------------------------------------------------------
    def diverged(self, bad_step: int, what: str = "the loss is NaN/Inf",
                 hint: str = "try a lower optim.lr") -> NoReturn:
        """Stop the run: summary status "diverged" at ``bad_step``, the last good checkpoint
        kept; raises :class:`~dynamics.train.run_folder.TrainingDiverged`."""
        ckpt = (f"{self.last_good[0]} (step {self.last_good[1]}) kept" if self.last_good
                else "no checkpoint was saved")
        spe = max(1, getattr(self.source, "steps_per_epoch", 1))
        epoch = (max(bad_step, 1) - 1) // spe + 1  # the epoch the bad step belongs to
        msg = (f"training diverged: {what} at step {bad_step} (epoch {epoch}); "
               f"stopped, {ckpt}; {hint}")
        self.write_summary(status=runs.STATUS_DIVERGED,
                           diverged={"step": bad_step, "message": msg})
        raise runs.TrainingDiverged(msg, self.summary)

    def check_nan(self) -> None:
        """Stop the run (:meth:`diverged`) if any rank saw a non-finite loss (collective)."""
        bad = self.guard.check()
        if bad is not None:
            self.diverged(bad)


__all__ = ["RunState"]

"""Where a training run's time goes: the step profile written to ``summary.json``.

Every optimizer step is split into phases, timed with ``time.perf_counter``:

==============  =============================================================================
phase           what it covers
==============  =============================================================================
data            waiting for the next batch: reading, decoding, augmenting both views, moving
                them to the device
forward         the method's forward pass and loss (the closed-form predictors fold the batch
                into their running F here)
backward        ``loss.backward()``
optimizer       gradient all-reduce (DDP) and ``optimizer.step()``
update          after the step: the predictor rewrite (DirectPred / DirectCopy eigen-
                decomposition every ``freq`` steps), symmetrisation, the EMA target
instrument      the instrument's per-step observation and the train rows of metrics.jsonl
                every ``log.log_every`` steps (spectra, alignment, RankMe, ...)
==============  =============================================================================

and, outside the steps, ``eval`` (the per-epoch kNN + online probe), ``checkpoint`` and
``final_eval`` (the offline linear evaluation). ``share`` divides each phase by the sum of all
of them, so the step phases' shares plus eval, checkpoint and final_eval make 1.

On CUDA the kernels run asynchronously, so a phase boundary only means something after a
``torch.cuda.synchronize()``; the profile synchronises on every ``SAMPLE_EVERY``-th step only
and scales the sampled steps' phase times to all steps (the other steps run unsynchronised).
On the CPU every step is timed and nothing is synchronised.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch

STEP_PHASES = ("data", "forward", "backward", "optimizer", "update", "instrument")
OTHER_PHASES = ("eval", "checkpoint", "final_eval")
SAMPLE_EVERY = 20  #: synchronised (timed) steps on CUDA: one in this many


class StepProfile:
    """Accumulated seconds per phase (:data:`STEP_PHASES`, :data:`OTHER_PHASES`)."""

    def __init__(self, device: torch.device):
        self.cuda = device.type == "cuda"
        self.seconds = dict.fromkeys(STEP_PHASES + OTHER_PHASES, 0.0)
        self.steps = 0  #: steps seen
        self.timed_steps = 0  #: steps whose phases were timed
        self._timing = True
        self._last = time.perf_counter()

    # -- step phases ---------------------------------------------------------------------
    def begin_step(self, step: int) -> None:
        """Called when a batch has arrived: the time since the previous mark is data time."""
        self.steps += 1
        self._timing = not self.cuda or step % SAMPLE_EVERY == 0
        if self._timing:
            self._sync()
            self.timed_steps += 1
            now = time.perf_counter()
            self.seconds["data"] += now - self._last
            self._last = now

    def mark(self, phase: str) -> None:
        """The step's ``phase`` ended now."""
        if self._timing:
            self._sync()
            now = time.perf_counter()
            self.seconds[phase] += now - self._last
            self._last = now

    def resume(self) -> None:
        """Restart the data clock (after evaluation, checkpoints or logging that are timed
        on their own)."""
        self._last = time.perf_counter()

    # -- other phases --------------------------------------------------------------------
    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Time a block outside the steps (``eval``, ``checkpoint``, ``final_eval``)."""
        self._sync()
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self._sync()
            self.seconds[name] += time.perf_counter() - t0
            self._last = time.perf_counter()

    def _sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize()

    # -- report --------------------------------------------------------------------------
    def to_dict(self, images_per_step: int) -> dict[str, Any]:
        """``seconds`` per phase (step phases scaled from the timed steps to all steps),
        ``share`` of the total, ``steps``, ``timed_steps`` and ``images_per_s`` of the step
        phases."""
        scale = self.steps / self.timed_steps if self.timed_steps else 0.0
        secs = {k: (v * scale if k in STEP_PHASES else v) for k, v in self.seconds.items()}
        total = sum(secs.values())
        step_s = sum(secs[k] for k in STEP_PHASES)
        return {
            "seconds": {k: round(v, 4) for k, v in secs.items()},
            "share": {k: round(v / total, 4) if total else 0.0 for k, v in secs.items()},
            "steps": self.steps, "timed_steps": self.timed_steps,
            "images_per_s": (self.steps * images_per_step / step_s) if step_s else None,
        }

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint keeps (a resumed run continues the profile)."""
        return {"seconds": dict(self.seconds), "steps": self.steps,
                "timed_steps": self.timed_steps}

    def load_state_dict(self, state: dict[str, Any] | None) -> None:
        """Continue from a checkpoint's profile (absent in older checkpoints: start at 0)."""
        if not state:
            return
        for k, v in state.get("seconds", {}).items():
            if k in self.seconds:
                self.seconds[k] = float(v)
        self.steps = int(state.get("steps", 0))
        self.timed_steps = int(state.get("timed_steps", 0))
        self.resume()


def summary_line(profile: dict[str, Any]) -> str:
    """One line: each phase's share in percent, largest first."""
    parts = sorted(profile["share"].items(), key=lambda kv: -kv[1])
    return ", ".join(f"{k} {100 * v:.0f}%" for k, v in parts if v >= 0.005)


__all__ = ["OTHER_PHASES", "SAMPLE_EVERY", "STEP_PHASES", "StepProfile", "summary_line"]

"""What a training run tells the person watching it (stderr, main process only).

On a terminal: a tqdm bar with epoch, loss and images/s. Off a terminal (batch jobs, ``nohup``,
CI logs): plain lines, at least every :attr:`Progress.line_every_s` seconds inside an epoch and
one per finished epoch. In both cases the phases before the first step (loading the data,
building the model, resuming) are announced, so a run is never silent for minutes.
``log.progress=false`` or ``--no-progress`` silences all of it.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from dynamics.train.config import TrainConfig


def _f(value: Any, spec: str = ".4f") -> str:
    return "n/a" if value is None else format(value, spec)


class Progress:
    """Progress reporting of one run. ``progress``: force the bar on (True) or everything off
    (False); None: the bar on a terminal, lines elsewhere, as ``log.progress`` allows."""

    line_every_s = 30.0

    def __init__(self, cfg: TrainConfig, progress: bool | None, is_main: bool):
        self.cfg = cfg
        self.enabled = bool(is_main and cfg.log.progress and progress is not False)
        self.use_bar = self.enabled and (progress is True or sys.stderr.isatty())
        self.bar = None
        self._mark: tuple[float, int] | None = None
        self._last_line = time.monotonic()

    def note(self, message: str) -> None:
        """A status line (phase changes, warnings) that does not break the bar."""
        if not self.enabled:
            return
        text = f"{self.cfg.name}: {message}"
        if self.bar is not None:
            self.bar.write(text, file=sys.stderr)
        else:
            print(text, file=sys.stderr, flush=True)

    def start(self, total: int, initial: int) -> None:
        """Start timing (and the bar, if any) at step ``initial`` of ``total``."""
        self._mark = (time.perf_counter(), initial)
        self._last_line = time.monotonic()
        if not self.use_bar:
            return
        try:
            from tqdm.auto import tqdm
        except ImportError:  # pragma: no cover - tqdm is a dependency
            self.use_bar = False
            return
        self.bar = tqdm(total=total, initial=initial, unit="step", dynamic_ncols=True,
                        desc=self.cfg.name, file=sys.stderr)

    def _rate(self, step: int, images_per_step: int) -> float | None:
        now = time.perf_counter()
        last_t, last_step = self._mark or (now, step)
        self._mark = (now, step)
        dt = now - last_t
        return (step - last_step) * images_per_step / dt if dt > 0 else None

    def update(self, *, step: int, epoch: int, epoch_step: int, steps_per_epoch: int,
               loss: float, images_per_step: int, force: bool = False) -> None:
        """Called every few steps: refresh the bar (extras first, so they are never one
        refresh behind) or print a line when ``line_every_s`` has passed."""
        if not self.enabled:
            return
        epochs = self.cfg.optim.epochs
        if self.bar is not None:
            rate = self._rate(step, images_per_step)
            self.bar.set_postfix(epoch=f"{epoch + 1}/{epochs}", loss=f"{loss:.4f}",
                                 img_s="-" if rate is None else f"{rate:.0f}", refresh=False)
            self.bar.update(step - self.bar.n)
            return
        now = time.monotonic()
        if not force and now - self._last_line < self.line_every_s:
            return
        self._last_line = now
        rate = self._rate(step, images_per_step)
        print(f"{self.cfg.name}: epoch {epoch + 1}/{epochs} step {epoch_step}/"
              f"{steps_per_epoch} (total {step}) loss {loss:.4f} "
              f"{'-' if rate is None else f'{rate:.0f}'} img/s", file=sys.stderr, flush=True)

    def epoch_done(self, *, epoch: int, step: int, loss: Any, evaluation: dict[str, Any],
                   train_s: float) -> None:
        """One line per finished epoch when there is no bar."""
        if not self.enabled or self.bar is not None:
            return
        self._last_line = time.monotonic()
        print(f"{self.cfg.name}: epoch {epoch}/{self.cfg.optim.epochs} step {step} loss "
              f"{_f(loss)} kNN {_f(evaluation.get('eval/knn_top1'))} probe "
              f"{_f(evaluation.get('eval/probe_final_accuracy'))} ({train_s:.0f} s training)",
              file=sys.stderr, flush=True)

    def close(self) -> None:
        """Close the bar, if any."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None


__all__ = ["Progress"]

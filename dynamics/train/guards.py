"""Run guards: the NaN/Inf detector and the stop-signal handler of the training loop.

* :class:`NanGuard` remembers the first step whose loss was not finite without a host sync per
  step; its ``check`` agrees across ranks.
* :class:`StopSignals` owns SIGINT/SIGTERM for the whole run. Inside :meth:`StopSignals.deferred`
  (the training loop) a signal only sets a flag that the loop checks between two steps, so the
  checkpoint it then writes is consistent; a second SIGINT aborts at once. Anywhere else (data
  loading, the final linear evaluation) a signal raises :class:`StopRequested` at once, which the
  trainer turns into an "interrupted" summary naming the phase, so no run is left marked
  "running" and no temporary file is left behind.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any

import torch

from dynamics.train.distributed import DistContext


class NanGuard:
    """Remembers the first step whose loss was not finite, without a host sync per step.
    ``check`` agrees across ranks (the earliest bad step of any rank), so all stop together."""

    NONE = 2**62

    def __init__(self, device: torch.device, dist: DistContext):
        self.dist = dist
        self.first_bad = torch.full((), self.NONE, dtype=torch.int64, device=device)

    def update(self, loss: torch.Tensor, step: int) -> None:
        """Record ``step`` if ``loss`` is not finite and no earlier bad step was seen (no sync)."""
        bad = ~torch.isfinite(loss.detach())
        self.first_bad = torch.where(bad & (self.first_bad == self.NONE),
                                     torch.full_like(self.first_bad, step), self.first_bad)

    def check(self) -> int | None:
        """The earliest non-finite step of any rank, or None; a collective, call on all ranks."""
        v = int(self.dist.all_reduce_min(self.first_bad.clone()))
        return None if v == self.NONE else v


class StopRequested(KeyboardInterrupt):
    """SIGINT/SIGTERM arrived outside the training loop (``signum`` says which)."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = int(signum)

    @property
    def name(self) -> str:
        """The signal's name, e.g. ``"SIGTERM"``."""
        return signal.Signals(self.signum).name


class StopSignals:
    """SIGINT/SIGTERM handling for a whole run (see the module docstring)."""

    def __init__(self):
        self.requested: int | None = None
        self._deferred = False
        self._previous: dict[int, Any] = {}

    def _handler(self, signum, frame) -> None:
        if not self._deferred:
            raise StopRequested(signum)
        if self.requested is not None and signum == signal.SIGINT:
            raise StopRequested(signum)
        self.requested = signum

    @contextlib.contextmanager
    def deferred(self) -> Iterator[StopSignals]:
        """Signals only set :attr:`requested` inside this block (checked between steps)."""
        self._deferred = True
        try:
            yield self
        finally:
            self._deferred = False

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handler)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()


__all__ = ["NanGuard", "StopRequested", "StopSignals"]

"""Base class of the constant-memory accumulators of :mod:`dynamics.metrics.streaming`.

:class:`_Accumulator` holds the bookkeeping every accumulator shares: state lives on the device
of the first ``update`` (later batches are moved there, float64 state), results come back as
numpy if that first batch was a numpy array, else as torch tensors in its dtype; ``merge``
refuses another accumulator type and adopts the other's device/output settings when empty;
``state_dict`` carries those settings.
"""

from __future__ import annotations

from typing import Any

import torch

from dynamics.errors import ConfigError
from dynamics.metrics._common import out


class _Accumulator:
    """Device / output-type bookkeeping shared by the accumulators."""

    def __init__(self) -> None:
        self._device: torch.device | None = None
        self._dtype: torch.dtype = torch.float64
        self._numpy = False

    def _adopt(self, t: torch.Tensor, was_numpy: bool) -> torch.Tensor:
        if self._device is None:
            self._device, self._dtype, self._numpy = t.device, t.dtype, was_numpy
        return t.to(self._device)

    def _out(self, t: torch.Tensor) -> Any:
        return out(t.to(self._dtype), self._numpy)

    def _io_state(self) -> dict[str, Any]:
        return {"device": None if self._device is None else str(self._device),
                "dtype": str(self._dtype).replace("torch.", ""), "numpy": self._numpy}

    def _load_io_state(self, state: dict[str, Any]) -> None:
        self._device = None if state["device"] is None else torch.device(state["device"])
        self._dtype = getattr(torch, state["dtype"])
        self._numpy = bool(state["numpy"])

    def _check_other(self, other: Any) -> None:
        if type(other) is not type(self):
            raise ConfigError("other", f"must be a {type(self).__name__}, got "
                                       f"{type(other).__name__}")
        if self._device is None and other._device is not None:
            self._device, self._dtype, self._numpy = other._device, other._dtype, other._numpy

"""The model parameters of the linear theory (Tian, Chen & Ganguli 2021), each stated once: its
meaning, its range and the commands' upper limit.

Every place that takes one of these parameters reads its contract here: the simulations'
input checks (:func:`~dynamics.theories.directpred.modes.validate_mode_inputs`,
:class:`~dynamics.theories.directpred.matrix_flow.MatrixFlowConfig`), the commands' typed
configs (the ``--help`` text of :mod:`~dynamics.theories.directpred.run_configs`) and the
commands' upper limits (``limits=True``: values that would make the flow too stiff, or the run
too long, are refused before any work). The limits themselves are machine facts of
:mod:`dynamics.resources` (:data:`~dynamics.resources.PARAM_LIMIT`,
:data:`~dynamics.resources.T_END_LIMIT`).

>>> PARAMETERS["eta"].help
'weight decay eta in [0, 1e+06]'
>>> check_parameters(eta=0.1, alpha_p=2.0)   # passes silently
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from dynamics.errors import ConfigError, check_range
from dynamics.resources import PARAM_LIMIT, T_END_LIMIT

STIFF = "larger values make the flow too stiff to integrate"


@dataclass(frozen=True)
class Parameter:
    """One model parameter.

    Attributes:
        name: the paper's name (``eta``), also the field and option name everywhere.
        meaning: what it is, in words (the start of its help text).
        low, low_open: the range, ``low <= value`` (``<`` when ``low_open``), values finite.
        limit: the commands' upper limit (checked with ``limits=True``), and ``why``.
        floor: the commands' smallest allowed value of a positive parameter (alpha_p: the
            invariants divide by it), or None.
    """

    name: str
    meaning: str
    low: float = 0.0
    low_open: bool = False
    limit: float = PARAM_LIMIT
    why: str = STIFF
    floor: float | None = None

    @property
    def interval(self) -> str:
        """The values the commands accept, e.g. ``[0, 1e+06]`` (the range with the limits)."""
        low, low_open = self.command_low
        return f"{'(' if low_open else '['}{low:g}, {self.limit:g}]"

    @property
    def command_low(self) -> tuple[float, bool]:
        """The commands' lower bound and whether it is open (``floor`` when there is one)."""
        return (self.floor, False) if self.floor is not None else (self.low, self.low_open)

    @property
    def help(self) -> str:
        """The help text of the option: its meaning and the values the commands accept."""
        return f"{self.meaning} in {self.interval}"

    def check(self, value: Any, *, limits: bool = False) -> None:
        """One-line :class:`ConfigError` naming the parameter if ``value`` (a number or an
        array, checked element-wise) is out of range, or, with ``limits``, beyond the commands'
        limits."""
        check_range(self.name, value, low=self.low, low_open=self.low_open)
        if not limits:
            return
        arr = np.asarray(value, dtype=float)
        if np.any(arr > self.limit):
            raise ConfigError(self.name, f"must be at most {self.limit:g} ({self.why}), got "
                                         f"{float(arr[arr > self.limit].ravel()[0]):g}")
        if self.floor is not None and np.any(arr < self.floor):
            raise ConfigError(self.name, f"must be at least {self.floor:g} (the invariants "
                                         f"divide by it), got {float(arr.min()):g}")


#: Every model parameter by name.
PARAMETERS: dict[str, Parameter] = {p.name: p for p in (
    Parameter("alpha_p", "relative learning rate of the predictor alpha_p", low_open=True,
              floor=1 / PARAM_LIMIT),
    Parameter("eta", "weight decay eta"),
    Parameter("sigma2", "augmentation variance sigma2"),
    Parameter("beta", "EMA rate beta", low_open=True),
    Parameter("tau", "target/online ratio tau of a fixed target"),
    Parameter("tau0", "tau(0) of an EMA target", low=-PARAM_LIMIT),
    Parameter("t_end", "integration horizon t_end", low_open=True, limit=T_END_LIMIT,
              why="longer runs would not finish in reasonable time"),
)}


def check_parameters(*, limits: bool = False, **values: Any) -> None:
    """Check every given parameter (``None`` values are skipped) against :data:`PARAMETERS`;
    ``limits`` adds the commands' upper limits."""
    for name, value in values.items():
        if value is not None:
            PARAMETERS[name].check(value, limits=limits)


__all__ = ["PARAMETERS", "Parameter", "check_parameters"]

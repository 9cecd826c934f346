"""Limits the theory commands check before they start: memory and integration horizon.

A simulation that cannot fit in memory would otherwise die with ``MemoryError`` (or be killed
by the kernel) after minutes of work, and a horizon like ``--t-end 1e300`` would run for ever.
Both are refused up front with the one-line :class:`~dynamics.errors.ConfigError`:

    grid: 50000 x 50000 points need about 745 GiB, more than the 22.1 GiB available; use a
    smaller --grid

:func:`available_memory` reads ``MemAvailable`` (lowered to a cgroup v2 memory limit when one
is set); :func:`check_memory` compares an estimate with it. The estimates count the float64
arrays the computations allocate (from their shapes), with a margin for temporaries; they are
meant to tell 1 GiB from 100 GiB, not to be exact.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from dynamics.errors import ConfigError, check_range

T_END_LIMIT = 1e6
"""Largest ``--t-end`` of ``simulate modes|matrix|phase``. The adaptive integrators advance
about 1e4 time units per second for one mode near its attractor (step sizes are bounded by
stability, not accuracy), so 1e6 is minutes for one trajectory and beyond the 500 000 steps
the batched integrator allows; the longest horizon the package uses is 20 000."""

PARAM_LIMIT = 1e6
"""Largest model parameter (alpha_p, beta, eta, sigma2, tau, initial scale) the theory commands
accept. The flows' rates grow with these, and an explicit integrator needs steps of about
1/rate, so beyond this a run takes hours (or fails at the first step) instead of seconds."""

MEMORY_FRACTION = 0.9
"""Share of the available memory a computation may plan to use."""

FLOAT = 8  # bytes of a float64

# Bytes per trajectory of the batched mode integrator (integrate.integrate_batched): 7 stage
# slopes, state, trial state, error and scale (3 floats each) and ~15 per-element scalars,
# plus the flattened inputs (7) and copies made on output; measured peak ~0.8 KB/trajectory.
_MODE_WORK = 100 * FLOAT
# Bytes per trajectory and saved time point: the (T, N, 3) output, p/s/tau views turned into
# arrays, their numpy copies and what the command derives from them before saving (measured
# ~21 floats).
_MODE_SAVED = 24 * FLOAT


def _meminfo_available() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _cgroup_available() -> int | None:
    """Room left under a cgroup v2 memory limit (containers, SLURM); None without a limit."""
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit == "max":
            return None
        used = int(Path("/sys/fs/cgroup/memory.current").read_text().strip())
        return max(int(limit) - used, 0)
    except (OSError, ValueError):
        return None


def available_memory() -> int | None:
    """Bytes of memory a new allocation can get now: ``MemAvailable`` of /proc/meminfo (or
    free pages from ``os.sysconf``), capped by a cgroup v2 limit; None if unknown."""
    avail = _meminfo_available()
    if avail is None:
        try:
            avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (AttributeError, OSError, ValueError):
            avail = None
    room = _cgroup_available()
    if room is not None:
        avail = room if avail is None else min(avail, room)
    return avail


def format_bytes(n: float) -> str:
    """``560 GiB``, ``22.1 GiB``, ``350 MiB`` (3 significant digits at most)."""
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            v = n / size
            return f"{v:.0f} {unit}" if v >= 100 else f"{v:.3g} {unit}"
    return f"{int(n)} B"


def fits(need: float, available: int | None = None) -> bool:
    """Whether ``need`` bytes fit in :data:`MEMORY_FRACTION` of ``available`` (default
    :func:`available_memory`); True when the available memory is unknown."""
    if available is None:
        available = available_memory()
    return available is None or need <= MEMORY_FRACTION * available


def check_memory(field: str, need: float, what: str, hint: str,
                 available: int | None = None) -> None:
    """Raise a one-line :class:`ConfigError` on ``field`` when ``need`` bytes do not
    :func:`fit <fits>` in the memory available (``available``, default
    :func:`available_memory`; nothing is checked when that is unknown). The message reads
    ``<what> need about <need>, more than the <available> available; <hint>``."""
    if available is None:
        available = available_memory()
    if fits(need, available):
        return
    raise ConfigError(field, f"{what} need about {format_bytes(need)}, more than the "
                             f"{format_bytes(available)} available; {hint}")


def mode_batch_bytes(n_trajectories: float, n_save: int = 2, *,
                     working: float | None = None) -> float:
    """Estimated peak bytes of integrating ``n_trajectories`` decoupled modes (Eqs. 11-13) in
    one batch and keeping ``n_save`` time points of each. ``working``: trajectories in the
    integrator at once (default all; the phase diagrams integrate in chunks). Measured peaks
    are 0.9x of this for ``simulate modes`` (3 modes x 200 000 saved points) and 0.5x-0.7x for
    ``simulate phase`` (641 601 and 652 864 trajectories)."""
    working = n_trajectories if working is None else min(working, n_trajectories)
    return float(working) * _MODE_WORK + float(n_trajectories) * n_save * _MODE_SAVED


def matrix_flow_bytes(n1: int, n2: int, n_save: int, *, implicit: bool = False) -> float:
    """Estimated peak bytes of :func:`dynamics.theories.directpred.matrix_flow.simulate_matrix` and
    the series ``simulate matrix`` derives: X, X' and their temporaries (about 6 n1 x n1 matrices),
    the state of D = 2 n1 n2 + n2^2 numbers in the solver's stages (about 20 D), per saved point
    the state twice (solver output, saved copy) plus about 4 n2 x n2 and one n2 x n1 series
    (F, the commutator, Theorem 1's residual); the implicit methods (Radau, BDF, LSODA) add
    dense D x D matrices: the Jacobian, its real and complex factorisations and temporaries
    (12 D^2). Measured peaks are 0.8x (explicit) and 0.9x (Radau) of this."""
    n1, n2, n_save = float(n1), float(n2), float(n_save)
    D = 2 * n1 * n2 + n2 * n2
    floats = 6 * n1 * n1 + 20 * D + n_save * (2 * D + 4 * n2 * n2 + n1 * n2)
    if implicit:
        floats += 12 * D * D
    return floats * FLOAT


# --------------------------------------------------------------------------------------------
# Validators of the limits (one-line ConfigError naming the field)


def _at_most(field: str, value, limit: float, why: str) -> None:
    arr = np.asarray(value, dtype=float)
    if np.any(arr > limit):
        raise ConfigError(field, f"must be at most {limit:g} ({why}), got "
                                 f"{float(arr[arr > limit].ravel()[0]):g}")


def check_parameter(field: str, value, *, low: float = 0.0, low_open: bool = False,
                    limit: float = PARAM_LIMIT,
                    why: str = "larger values make the flow too stiff to integrate") -> None:
    """A model parameter: finite, ``low <= value`` (``<`` when ``low_open``) and at most
    ``limit`` (:data:`PARAM_LIMIT`); arrays are checked element-wise. The lower bound is
    reported as ``must be in [low, inf)``, the upper one separately."""
    check_range(field, value, low=low, low_open=low_open)
    _at_most(field, value, limit, why)


def check_seed(field: str, value) -> int:
    """A random seed: an integer >= 0 (what ``numpy.random.default_rng`` accepts)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ConfigError(field, f"must be an integer >= 0, got {value!r}")
    return int(value)


__all__ = ["MEMORY_FRACTION", "PARAM_LIMIT", "T_END_LIMIT", "available_memory", "check_memory",
           "check_parameter", "check_seed", "fits", "format_bytes",
           "matrix_flow_bytes",
           "mode_batch_bytes"]

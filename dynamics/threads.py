"""CPU threading policy: how many threads torch and BLAS may use, chosen on purpose.

Why: torch's intra-op pool (OpenMP) and BLAS pools spin-wait at every barrier. When the cores
are shared with other busy processes, a pool as large as the core count waits for threads the
scheduler has parked, and a training epoch on 2 shared cores ran 30x slower with the default
pool than with one thread. The policy therefore never asks for more threads than there are
idle cores.

``threads`` (every command's ``--threads`` flag, the ``threads`` key of training configs):

* a positive integer: exactly that many threads;
* ``"auto"`` (the default): the cores this process may use (CPU affinity, capped by a cgroup
  CPU quota) minus the runnable threads of *other* processes at start, at least 1, and at most
  its share when ``torchrun`` starts several processes on the machine (cores divided by
  ``LOCAL_WORLD_SIZE``). An explicit ``OMP_NUM_THREADS`` in the environment wins over ``auto``
  (the user's choice). Training started from Python (``dynamics.train.trainer.train``) with
  ``auto`` keeps a count its caller chose (as every library call does, :func:`thread_policy`).

:func:`apply_threads` sets torch's intra-op threads and the BLAS/OpenMP pools of numpy/scipy
(through threadpoolctl where installed) and returns a :class:`ThreadChoice`, which every command
records next to its results (``summary.json`` of a run, the ``meta`` of a simulation file).
:class:`ThreadGovernor` re-checks the load every few seconds during long work (training) and
shrinks or grows the pool to the idle cores, so contention that starts later degrades the run
to a fair share instead of stalling it.
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from dynamics.errors import ConfigError

AUTO = "auto"


@dataclass(frozen=True)
class ThreadChoice:
    """What was decided and why (recorded with every result)."""

    requested: str  #: "auto" or the integer given
    threads: int  #: threads in use
    cpus: int  #: cores this process may use
    busy_others: int  #: runnable threads of other processes when decided ("auto" only)
    source: str  #: "auto", "option", "OMP_NUM_THREADS" or "caller" (a library call kept it)

    def to_dict(self) -> dict[str, Any]:
        """The fields as a plain dict (for JSON)."""
        return asdict(self)

    def text(self) -> str:
        """One human-readable phrase: the thread count and why it was chosen."""
        why = {"option": "as requested", "OMP_NUM_THREADS": "from OMP_NUM_THREADS",
               "auto": f"{self.cpus} core(s), {self.busy_others} busy with other work",
               "caller": "the caller's setting"}
        return f"{self.threads} thread(s), {why.get(self.source, self.source)}"


def parse_threads(value: Any, field: str = "threads") -> str | int:
    """``"auto"`` or a positive integer; anything else is a one-line :class:`ConfigError`."""
    if value is None:
        return AUTO
    if isinstance(value, str):
        text = value.strip().lower()
        if text == AUTO:
            return AUTO
        try:
            value = int(text)
        except ValueError:
            raise ConfigError(field, f"must be auto or a positive integer; got {value!r}"
                              ) from None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(field, f"must be auto or a positive integer; got {value!r}")
    return int(value)


def available_cpus() -> int:
    """Cores this process may run on: CPU affinity, capped by a cgroup v2/v1 CPU quota."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    quota = _cgroup_quota()
    if quota is not None:
        n = min(n, max(1, int(quota + 0.5)))
    return max(1, n)


def _cgroup_quota() -> float | None:
    try:
        text = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        if text and text[0] != "max":
            return float(text[0]) / float(text[1])
    except (OSError, ValueError, IndexError):
        pass
    try:
        q = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").read_text())
        p = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us").read_text())
        if q > 0 and p > 0:
            return q / p
    except (OSError, ValueError):
        pass
    return None


def _running_threads(pid_dir: Path) -> int:
    n = 0
    try:
        tasks = list((pid_dir / "task").iterdir())
    except OSError:
        return 0
    for task in tasks:
        try:
            stat = (task / "stat").read_bytes()
        except OSError:
            continue
        # state is the first field after the ")" that closes the command name
        close = stat.rfind(b")")
        if close >= 0 and stat[close + 2: close + 3] == b"R":
            n += 1
    return n


def busy_other_threads(samples: int = 5, interval: float = 0.01) -> int:
    """Runnable threads of other processes visible in ``/proc`` (the median of a few samples
    ``interval`` seconds apart); 0 where ``/proc`` is not available."""
    proc = Path("/proc")
    if not (proc / "self" / "task").is_dir():
        return 0
    me = os.getpid()
    counts = []
    for i in range(max(1, samples)):
        if i:
            time.sleep(interval)
        n = 0
        try:
            entries = [e for e in os.scandir(proc) if e.name.isdigit()]
        except OSError:
            return 0
        for e in entries:
            if int(e.name) != me:
                n += _running_threads(Path(e.path))
        counts.append(n)
    counts.sort()
    return counts[len(counts) // 2]


def choose_threads(spec: Any = AUTO, *, field: str = "threads",
                   keep_callers: bool = False) -> ThreadChoice:
    """Decide the thread count for ``spec`` (see the module docstring) without applying it.
    ``keep_callers`` (library calls such as training): an ``auto`` spec keeps a count the
    caller chose (:func:`caller_chose_threads`), as :func:`thread_policy` does."""
    spec = parse_threads(spec, field)
    cpus = available_cpus()
    if spec != AUTO:
        return ThreadChoice(str(spec), int(spec), cpus, 0, "option")
    if keep_callers and caller_chose_threads() and not os.environ.get(
            "OMP_NUM_THREADS", "").strip().isdigit():
        import torch

        return ThreadChoice(AUTO, torch.get_num_threads(), cpus, 0, "caller")
    env = os.environ.get("OMP_NUM_THREADS", "").strip()
    if env.isdigit() and int(env) >= 1:
        return ThreadChoice(AUTO, int(env), cpus, 0, "OMP_NUM_THREADS")
    busy = busy_other_threads()
    share = max(1, cpus // local_processes())  # torchrun: the node's cores split by rank
    return ThreadChoice(AUTO, max(1, min(share, cpus - busy)), cpus, busy, AUTO)


def local_processes() -> int:
    """Processes of this job on this machine (torchrun's ``LOCAL_WORLD_SIZE``; 1 otherwise)."""
    try:
        return max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    except ValueError:
        return 1


def set_threads(n: int) -> None:
    """Set torch's intra-op pool and the BLAS/OpenMP pools of numpy/scipy to ``n`` threads
    (an explicit choice: :func:`thread_policy` leaves it alone afterwards)."""
    import torch

    _STATE.explicit = int(n)

    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        return
    threadpool_limits(limits=n)  # takes effect at once and stays (no context manager here)


def apply_threads(spec: Any = AUTO, *, field: str = "threads",
                  keep_callers: bool = False) -> ThreadChoice:
    """:func:`choose_threads` and :func:`set_threads`; returns the choice (record it)."""
    choice = choose_threads(spec, field=field, keep_callers=keep_callers)
    set_threads(choice.threads)
    return choice


class ThreadGovernor:
    """Re-decide an ``auto`` thread count at most every ``period`` seconds during long work.

    Call :meth:`tick` between steps (it only reads the clock unless ``period`` has passed).
    The threads of this process are not counted as busy, so a run does not shrink because of
    itself. ``changes`` lists ``(elapsed_s, threads)`` for the record."""

    def __init__(self, choice: ThreadChoice, period: float = 5.0):
        self.choice, self.period = choice, float(period)
        self.threads = choice.threads
        self.enabled = choice.source == AUTO
        self._t0 = self._last = time.monotonic()
        self.changes: list[tuple[float, int]] = []

    def tick(self) -> int:
        """Re-decide the ``auto`` count if ``period`` has passed; the thread count now in use."""
        if not self.enabled:
            return self.threads
        now = time.monotonic()
        if now - self._last < self.period:
            return self.threads
        self._last = now
        busy = busy_other_threads(samples=3, interval=0.005)
        share = max(1, self.choice.cpus // local_processes())
        n = max(1, min(share, self.choice.cpus - busy))
        if n != self.threads:
            set_threads(n)
            self.threads = n
            self.changes.append((round(now - self._t0, 1), n))
        return self.threads


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Temporarily set torch's intra-op thread count (an explicit choice while it lasts)."""
    import torch

    old, old_explicit = torch.get_num_threads(), _STATE.explicit
    torch.set_num_threads(int(n))
    _STATE.explicit = int(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)
        _STATE.explicit = old_explicit


#: Seconds for which :func:`thread_policy` reuses its last ``auto`` decision.
POLICY_TTL = 2.0


class _PolicyState:
    """Process-wide record of the policy: an explicit choice (None until one is made), torch's
    start-up pool size, and the last ``auto`` decision with its time; a per-thread depth of
    nested policy calls."""

    def __init__(self):
        self.explicit: int | None = None
        self.startup: int | None = None
        self.cached: tuple[float, int] | None = None
        self.local = threading.local()


_STATE = _PolicyState()


def caller_chose_threads() -> bool:
    """Whether the caller chose a thread count that :func:`thread_policy` must respect:
    ``OMP_NUM_THREADS`` set, a choice made through this module (:func:`set_threads`,
    :func:`apply_threads`, :func:`cpu_threads`, :func:`torch_threads`), or torch's pool no longer
    at its start-up size (a ``torch.set_num_threads`` of the caller's). Torch's start-up size is
    read at the first call; a pool that differs from the usable cores then counts as chosen."""
    import torch

    env = os.environ.get("OMP_NUM_THREADS", "").strip()
    if env.isdigit() and int(env) >= 1:
        return True
    now = torch.get_num_threads()
    if _STATE.explicit is not None:
        return True
    if _STATE.startup is None:
        _STATE.startup = now
        return now not in (available_cpus(), os.cpu_count())
    return now != _STATE.startup


def _policy_count() -> int:
    now = time.monotonic()
    if _STATE.cached is not None and now - _STATE.cached[0] < POLICY_TTL:
        return _STATE.cached[1]
    n = choose_threads(AUTO).threads
    _STATE.cached = (now, n)
    return n


@contextlib.contextmanager
def thread_policy() -> Iterator[int]:
    """Run the enclosed library work with the policy's ``auto`` thread count, unless the
    caller chose one (:func:`caller_chose_threads`) or an enclosing call already decided;
    torch's and the BLAS pools are restored afterwards. Yields the thread count in use.

    Example:
        >>> import torch
        >>> before = torch.get_num_threads()
        >>> with thread_policy() as n:
        ...     n >= 1
        True
        >>> torch.get_num_threads() == before
        True
    """
    import torch

    depth = getattr(_STATE.local, "depth", 0)
    if depth or caller_chose_threads():
        _STATE.local.depth = depth + 1
        try:
            yield torch.get_num_threads()
        finally:
            _STATE.local.depth = depth
        return
    n = _policy_count()
    old = torch.get_num_threads()
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        threadpool_limits = None
    _STATE.local.depth = 1
    try:
        if n != old:
            torch.set_num_threads(n)
        with (threadpool_limits(limits=n) if threadpool_limits else contextlib.nullcontext()):
            yield n
    finally:
        _STATE.local.depth = 0
        if torch.get_num_threads() != old:
            torch.set_num_threads(old)


@contextlib.contextmanager
def restoring_threads() -> Iterator[None]:
    """Restore torch's pool, the BLAS pools and this module's record of an explicit choice to
    what they were on entry (long work such as training changes them while it runs)."""
    import torch

    old, old_explicit = torch.get_num_threads(), _STATE.explicit
    try:
        from threadpoolctl import threadpool_limits
        blas = threadpool_limits(limits=None)  # records the pools; restores them on exit
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        blas = contextlib.nullcontext()
    try:
        with blas:
            yield
    finally:
        if torch.get_num_threads() != old:
            torch.set_num_threads(old)
        _STATE.explicit = old_explicit


def with_thread_policy(fn: Callable) -> Callable:
    """Decorator: ``fn`` runs inside :func:`thread_policy` (heavy public entry points)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with thread_policy():
            return fn(*args, **kwargs)

    wrapper.__thread_policy__ = True
    return wrapper


@contextlib.contextmanager
def cpu_threads(n: int) -> Iterator[None]:
    """Temporarily limit torch and the BLAS/OpenMP pools (threadpoolctl) to ``n`` threads (an
    explicit choice while it lasts)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        threadpool_limits = None
    with torch_threads(n), (threadpool_limits(limits=int(n)) if threadpool_limits
                            else contextlib.nullcontext()):
        yield


__all__ = ["AUTO", "ThreadChoice", "ThreadGovernor", "apply_threads", "available_cpus",
           "busy_other_threads", "choose_threads", "cpu_threads", "local_processes",
           "caller_chose_threads", "parse_threads", "restoring_threads", "set_threads",
           "thread_policy",
           "torch_threads", "with_thread_policy"]

"""Compiled (numba) integration kernels: whether they can run here, and their thread count.

The batched torch integrator (:mod:`dynamics.numerics.dopri5`) runs every stage as a pass over
the whole batch in memory; the fused (``torch.compile``) iteration keeps an element's stages in
registers but pays 4-7 s of tracing in every new process. A per-trajectory compiled kernel runs
each trajectory's own loop of steps in machine code with its state in registers, spreads the
trajectories over the cores, and numba caches its machine code on disk. Such kernels live with
the system they integrate (the decoupled modes: :mod:`dynamics.theories.directpred.mode_kernel`)
and use this module to decide whether they may run and on how many threads.
"""

from __future__ import annotations

import functools
import os


@functools.cache
def available() -> bool:
    """Whether numba imports here and compiled kernels are not switched off
    (``SSL_DYNAMICS_NUMBA=0``; numba is a dependency, but a platform without its wheels still
    runs the torch path)."""
    if os.environ.get("SSL_DYNAMICS_NUMBA", "1") == "0":
        return False
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


def set_numba_threads(n: int) -> None:
    """Let numba's parallel loops use ``n`` threads (at most the size of its pool)."""
    import numba

    numba.set_num_threads(max(1, min(int(n), numba.config.NUMBA_NUM_THREADS)))


__all__ = ["available", "set_numba_threads"]

"""The arithmetic limit the integrator benchmarks compare against, written once."""

from __future__ import annotations

import time

#: Floating-point operations of one Dormand-Prince step of one trajectory of Eqs. 11-12 in the
#: (p, w, tau) coordinates (3 components), counted from dopri5.iteration and modes.scalar_rhs:
#: 6 right-hand sides of ~15 flops (90); the 6 stage sums, 20 coefficient terms x 3 components
#: x 2 (120) plus y + h * sum (36); the 5th-order result (36) and the error estimate (39); the
#: error scale and norm (~25); accept / step-size logic (~20): about 366. (err^(-1/5) and the
#: square root count as one each though they cost more.)
FLOPS_PER_STEP = 366


def float64_matmul_rate(n: int = 1024, repeats: int = 3) -> float:
    """This process's float64 matrix-product rate (flop/s) on its current thread pool: the
    machine's arithmetic limit for the benchmarks' shares."""
    import numpy as np

    a = np.random.default_rng(1).standard_normal((n, n))
    a @ a
    t0 = time.perf_counter()
    for _ in range(repeats):
        a @ a
    return repeats * 2 * n ** 3 / (time.perf_counter() - t0)

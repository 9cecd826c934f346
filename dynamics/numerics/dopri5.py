"""The Dormand-Prince 5(4) step of :func:`dynamics.numerics.integrate.integrate_batched`: the
tableau, one vectorised iteration (all 7 stages, error norm, accept / reject and the new step
size of every batch element) with the integrator's per-element bookkeeping (:func:`advance`:
step counts, output times reached, blow-up and step underflow, two summary flags), its
continuous extension, and how the iteration is run:

* eager: a few dozen torch operations per iteration, each a pass over the batch in memory;
* fused: the same function through ``torch.compile`` (inductor: one C++/OpenMP loop on the CPU,
  a Triton kernel on CUDA), so the stages of an element stay in registers: about 2x faster
  per iteration on a 2-core CPU (``benchmarks/bench_mode_integrator.py``). Compiling costs
  4-7 s in every new process (torch caches the generated code on disk, not the tracing), more
  than the eager path needs for 10^5 trajectories, so ``"auto"`` fuses only from
  :data:`FUSE_MIN_TOTAL` trajectories of work (:func:`auto_mode`), and any fused call falls
  back to eager when compilation is unavailable (no C++ compiler, an old torch) or fails.

Both run the same Python function, so the arithmetic is the same (up to the order of floating
point operations).
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Callable

import torch

from dynamics.errors import check_choice

# Dormand & Prince (1980) RK5(4)7M tableau.
_C = (0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0, 1.0)
_A = (
    (),
    (1 / 5,),
    (3 / 40, 9 / 40),
    (44 / 45, -56 / 15, 32 / 9),
    (19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729),
    (9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656),
    (35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84),
)
# Difference between the 5th-order solution and the embedded 4th-order one (7 stages, FSAL).
_E = (
    71 / 57600,
    0.0,
    -71 / 16695,
    71 / 1920,
    -17253 / 339200,
    22 / 525,
    -1 / 40,
)
# Dense output: the continuous extension of Dormand & Prince (Shampine 1986; Hairer, Norsett &
# Wanner, Solving ODEs I, Sec. II.6), a 4th-order interpolant over the accepted step [t, t + h]:
#     y(t + theta h) = y(t) + h sum_i k_i b_i(theta),   b_i(theta) = sum_j P[i][j] theta^(j+1),
# with b_i(1) the 5th-order weights (row i of _A[6], 0 for the FSAL stage).
_P = (
    (1.0, -8048581381 / 2820520608, 8663915743 / 2820520608, -12715105075 / 11282082432),
    (0.0, 0.0, 0.0, 0.0),
    (0.0, 131558114200 / 32700410799, -68118460800 / 10900136933, 87487479700 / 32700410799),
    (0.0, -1754552775 / 470086768, 14199869525 / 1410260304, -10690763975 / 1880347072),
    (0.0, 127303824393 / 49829197408, -318862633887 / 49829197408,
     701980252875 / 199316789632),
    (0.0, -282668133 / 205662961, 2019193451 / 616988883, -1453857185 / 822651844),
    (0.0, 40617522 / 29380423, -110615467 / 29380423, 69997945 / 29380423),
)
_SAFETY, _MIN_FACTOR, _MAX_FACTOR = 0.9, 0.2, 10.0

#: Trajectories of work from which ``compile="auto"`` fuses the iteration: on 2 cores the
#: fused kernel integrates about twice as fast as the eager path, but compiling costs a few
#: seconds per process, which a quarter of a 1000 x 1000 basin diagram does not repay
#: (``benchmarks/bench_mode_integrator.py`` and ``bench_basin.py`` measure both).
FUSE_MIN_TOTAL = 500_000


def _rms(x: torch.Tensor) -> torch.Tensor:
    return torch.sqrt(torch.mean(x * x, dim=-1))


def iteration(rhs, y, f, t, h, alive, t_next, aux, rtol: float, atol: float, blowup: float,
              max_step: float | None, want_stages: bool = True):
    """One Dormand-Prince iteration over the batch. ``f`` is the slope at ``y`` (FSAL),
    ``t_next`` the time no step may pass (a scalar tensor or one per element). Every element
    is accepted or rejected on its own error norm

        err_i = sqrt(mean_k ((y5 - y4)_ik / (atol + rtol * max(|y_ik|, |y5_ik|)))^2) <= 1,

    and gets its own next step h_i * clamp(0.9 err_i^(-1/5), 0.2, 10) (no growth after a
    rejection).

    Args:
        rhs: ``rhs(y, aux) -> dy/dt`` of shape (n, d), element-wise across the batch.
        y: states, float tensor of shape (n, d).
        f: slopes ``rhs(y, aux)`` at ``y``, shape (n, d).
        t: current times, shape (n,).
        h: proposed step sizes, shape (n,) (clamped to ``max_step`` first).
        alive: bool mask, shape (n,); elements that are False take a zero step and keep ``h``.
        t_next: time no step may pass, a scalar tensor or one per element (n,).
        aux: per-element parameters handed to ``rhs`` unchanged (mapping of (n,) tensors).
        rtol: relative tolerance of the error norm.
        atol: absolute tolerance of the error norm.
        blowup: a new state with any ``|y_ik| > blowup`` (or non-finite) is unusable.
        max_step: upper bound on the step, or None (unbounded).
        want_stages: return the 7 stage slopes (only dense output needs them).

    Returns:
        tuple: ``(y, f, t, h, h_eff, ks, accept, bad, finite)``: the state, slope, time
        and next step after the iteration (unchanged where rejected), the step tried, the 7 stage
        slopes (None unless ``want_stages``: only dense output needs them, and a fused kernel
        that returns them writes 21 more numbers per element), and per element whether it was
        accepted, unusable (non-finite or beyond ``blowup``) and finite (bool tensors, (n,)).

    Example:
        >>> import torch
        >>> f64 = {"dtype": torch.float64}
        >>> rhs, y = (lambda y, aux: -y), torch.ones(2, 1, **f64)
        >>> t, h = torch.zeros(2, **f64), torch.full((2,), 0.1, **f64)
        >>> alive, t_end = torch.ones(2, dtype=torch.bool), torch.tensor(1.0, **f64)
        >>> out = iteration(rhs, y, rhs(y, {}), t, h, alive, t_end, {}, 1e-6, 1e-9, 1e8, None)
        >>> out[6].tolist(), out[2].tolist(), round(float(out[0][0, 0]), 6)  # y(0.1) = e^-0.1
        ([True, True], [0.1, 0.1], 0.904837)
    """
    if max_step is not None:
        h = h.clamp(max=max_step)
    h_eff = torch.where(alive, torch.minimum(h, t_next - t), torch.zeros_like(h))
    hc = h_eff.unsqueeze(-1)
    ks = [f]
    for stage in range(1, 7):
        incr = sum(coef * k for coef, k in zip(_A[stage], ks, strict=False) if coef != 0.0)
        ks.append(rhs(y + hc * incr, aux))
    y_new = y + hc * sum(c * k for c, k in zip(_A[6], ks, strict=False) if c != 0.0)
    err_vec = hc * sum(e * k for e, k in zip(_E, ks, strict=True) if e != 0.0)
    scale = atol + rtol * torch.maximum(y.abs(), y_new.abs())
    err = _rms(err_vec / scale)

    finite = torch.isfinite(y_new).all(-1) & torch.isfinite(err)
    bad = ~finite | (y_new.abs() > blowup).any(-1)
    accept = (err <= 1.0) & ~bad & alive
    factor = torch.where(
        err > 0,
        _SAFETY * err.clamp(min=1e-30) ** (-1 / 5),
        torch.full_like(err, _MAX_FACTOR),
    ).clamp(_MIN_FACTOR, _MAX_FACTOR)
    factor = torch.where(accept, factor, factor.clamp(max=1.0))
    # A step that only shortened to land on t_next must not shrink h for the future.
    h_new = torch.where(accept & (h_eff < h), torch.maximum(h, h_eff * factor), h_eff * factor)
    h_new = torch.where(bad & finite, h_eff * _MIN_FACTOR, h_new)
    h = torch.where(alive, h_new, h)

    acc = accept.unsqueeze(-1)
    y = torch.where(acc, y_new, y)
    f = torch.where(acc, ks[6], f)
    t = torch.where(accept, t + h_eff, t)
    return y, f, t, h, h_eff, (tuple(ks) if want_stages else None), accept, bad, finite


def advance(rhs, y, f, t, h, alive, t_next, t_out, n_steps, aux, rtol: float, atol: float,
            blowup: float, max_step: float | None, want_stages: bool = True):
    """:func:`iteration` plus the per-element bookkeeping of the integrator, in one function
    (so that a fused kernel computes all of it in the same pass over the batch).

    ``t_out`` is each element's next output time (+inf once it has none), ``n_steps`` its
    accepted steps so far.

    Args:
        rhs, y, f, t, h, alive, t_next, aux, rtol, atol, blowup, max_step, want_stages: as
            for :func:`iteration`.
        t_out: each element's next output time, shape (n,) (+inf once it has none).
        n_steps: accepted steps so far per element, integer tensor of shape (n,).

    Returns:
        tuple: ``(y, f, t, h, h_eff, ks, accept, n_steps, reached, blown, underflow,
        flags)`` (12 items): the first 7 as for :func:`iteration`, ``n_steps`` updated,
        ``reached`` (accepted and at or past ``t_out`` within 8 eps max(|t|, 1)), ``blown``
        (alive, unusable and non-finite or at a step below 1e-12 max(|t|, 1)), ``underflow``
        (alive, rejected at a step below 10 eps max(|t|, 1)) and ``flags`` = [any element
        reached, any element blew up or underflowed] (bool tensor of shape (2,)), so that the
        caller does the rare work only when a flag is set.

    Example:
        >>> import torch
        >>> f64 = {"dtype": torch.float64}
        >>> rhs, y = (lambda y, aux: -y), torch.ones(2, 1, **f64)
        >>> t, h = torch.zeros(2, **f64), torch.full((2,), 0.1, **f64)
        >>> alive, t_end = torch.ones(2, dtype=torch.bool), torch.tensor(1.0, **f64)
        >>> t_out, n = torch.full((2,), 0.05, **f64), torch.zeros(2, dtype=torch.int64)
        >>> out = advance(rhs, y, rhs(y, {}), t, h, alive, t_end, t_out, n, {}, 1e-6, 1e-9, 1e8,
        ...               None)
        >>> out[7].tolist(), out[8].tolist(), out[11].tolist()  # n_steps, reached, flags
        ([1, 1], [True, True], [True, False])
    """
    y, f, t, h, h_eff, ks, accept, bad, finite = iteration(
        rhs, y, f, t, h, alive, t_next, aux, rtol, atol, blowup, max_step, want_stages)
    n_steps = n_steps + accept.to(n_steps.dtype)
    eps = torch.finfo(t.dtype).eps
    t_scale = t.abs().clamp(min=1.0)
    reached = accept & (t + 8 * eps * t_scale >= t_out)
    blown = alive & bad & (~finite | (h_eff <= 1e-12 * t_scale))
    underflow = alive & ~accept & ~bad & (h_eff <= 10 * eps * t_scale)
    flags = torch.stack([reached.any(), (blown | underflow).any()])
    return y, f, t, h, h_eff, ks, accept, n_steps, reached, blown, underflow, flags


def dense_output(y0: torch.Tensor, h: torch.Tensor, ks, theta: torch.Tensor) -> torch.Tensor:
    """The Dormand-Prince continuous extension on a step from ``y0`` of size ``h`` (shape (n,))
    with stage slopes ``ks`` (7 tensors of shape (n, d)) at ``theta`` in [0, 1] (shape (n,)):
    ``y0 + h sum_i b_i(theta) k_i`` with the polynomials of :data:`_P`; 4th-order accurate,
    equal to the step's 5th-order result at theta = 1.

    Args:
        y0: states at the start of the step, shape (n, d).
        h: the step taken (``h_eff`` of :func:`iteration`), shape (n,).
        ks: the 7 stage slopes of that step (``ks`` of :func:`iteration`), each (n, d).
        theta: fraction of the step, in [0, 1], shape (n,).

    Returns:
        torch.Tensor: the interpolated states y(t + theta h), shape (n, d).

    Example:
        >>> import torch
        >>> f64 = {"dtype": torch.float64}
        >>> rhs, y = (lambda y, aux: -y), torch.ones(2, 1, **f64)
        >>> t, h = torch.zeros(2, **f64), torch.full((2,), 0.1, **f64)
        >>> alive, t_end = torch.ones(2, dtype=torch.bool), torch.tensor(1.0, **f64)
        >>> out = iteration(rhs, y, rhs(y, {}), t, h, alive, t_end, {}, 1e-6, 1e-9, 1e8, None)
        >>> half = torch.full((2,), 0.5, **f64)
        >>> round(float(dense_output(y, out[4], out[5], half)[0, 0]), 6)  # e^-0.05
        0.951229
    """
    th = theta.unsqueeze(-1)
    acc = torch.zeros_like(y0)
    for row, k in zip(_P, ks, strict=True):
        if any(row):
            acc = acc + th * (row[0] + th * (row[1] + th * (row[2] + th * row[3]))) * k
    return y0 + h.unsqueeze(-1) * acc


COMPILE_CHOICES = ("auto", "eager", "fused")
_fused: Callable | None = None
_fused_failed: str | None = None


def _fused_iteration() -> Callable | None:
    global _fused
    if _fused is None and _fused_failed is None:
        # inductor's C++ build looks for a CUDA toolkit and logs a warning when a CUDA build
        # of torch runs on a machine without one; the CPU kernel does not need it
        logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
        _fused = torch.compile(advance, dynamic=True)
    return _fused


def choose_iteration(mode: str, n: int, device: torch.device) -> tuple[Callable, str]:
    """The iteration to run for a batch of ``n`` on ``device``: ``(function, "eager" |
    "fused")``. ``mode`` is ``"eager"``, ``"fused"`` or ``"auto"`` (:func:`auto_mode` of
    ``n``); fused never runs after a compilation failed.

    Args:
        mode: ``"eager"``, ``"fused"`` or ``"auto"`` (ConfigError otherwise).
        n: batch size, the trajectories of work that ``"auto"`` decides on.
        device: the batch's device (currently not used in the choice).

    Returns:
        tuple[Callable, str]: :func:`advance` itself and ``"eager"``, or its
        ``torch.compile``-d version and ``"fused"``.

    Example:
        >>> import torch
        >>> fn, path = choose_iteration("eager", 10, torch.device("cpu"))
        >>> fn is advance, path
        (True, 'eager')
    """
    check_choice("compile", mode, COMPILE_CHOICES)
    fuse = (auto_mode(n) if mode == "auto" else mode) == "fused"
    fn = _fused_iteration() if fuse and _fused_failed is None else None
    return (fn, "fused") if fn is not None else (advance, "eager")


def auto_mode(total: int) -> str:
    """What ``compile="auto"`` means for ``total`` trajectories of work: ``"fused"`` from
    :data:`FUSE_MIN_TOTAL` on, else ``"eager"``; always ``"eager"`` when the environment sets
    ``SSL_DYNAMICS_COMPILE=0``.

    Args:
        total: number of trajectories of work (an int).

    Returns:
        str: ``"fused"`` or ``"eager"``.

    Example:
        >>> auto_mode(1000)
        'eager'
    """
    if os.environ.get("SSL_DYNAMICS_COMPILE", "1") == "0":
        return "eager"
    return "fused" if total >= FUSE_MIN_TOTAL else "eager"


def fused_failed(exc: BaseException) -> None:
    """Remember that fusing failed (every later call runs eager) and say so once.

    Args:
        exc: the exception the fused call raised; the first line of ``"Type: message"``
            (at most 200 characters) is kept and shown in a ``RuntimeWarning`` on the first
            failure only.

    Returns:
        None. Process-wide and permanent: no example, as calling it disables fusing.
    """
    global _fused_failed
    if _fused_failed is None:
        _fused_failed = f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
        warnings.warn(f"torch.compile of the integrator failed ({_fused_failed}); running "
                      "the eager path", RuntimeWarning, stacklevel=3)

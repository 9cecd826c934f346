"""Batched adaptive Runge-Kutta integration of many independent small ODE systems at once.

The decoupled eigenmode dynamics (Eqs. 11-13 of Tian, Chen & Ganguli 2021) are a 2- or 3-state
ODE per mode; phase diagrams need tens of thousands of them. :func:`integrate_batched` advances
all of them together with the Dormand-Prince 5(4) pair (the method behind
``scipy.integrate.solve_ivp(method="RK45")``), but with an **independent step size and error
control for every batch element**: each element is accepted or rejected on its own error norm

    err_i = sqrt(mean_k ((y5 - y4)_ik / (atol + rtol * max(|y_ik|, |y5_ik|)))^2) <= 1,

so each one gets the accuracy scipy would give it alone, while the arithmetic runs as a few
dozen vector operations per step over the whole batch. Elements that reached their final time
are dropped from the working set, so the cost follows the hardest elements only.

Everything is written in torch: numpy arrays in give numpy arrays out; torch tensors in (CPU or
CUDA) give torch tensors out on the same device.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import torch

from dynamics.numerics.dopri5 import _rms, choose_iteration, dense_output, fused_failed
from dynamics.threads import with_thread_policy

STATUS_OK, STATUS_BLOWUP, STATUS_MAX_STEPS, STATUS_STEP_UNDERFLOW = 0, 1, 2, 3
STATUS_NAMES = {
    STATUS_OK: "completed",
    STATUS_BLOWUP: "blow-up or NaN",
    STATUS_MAX_STEPS: "maximum number of steps reached",
    STATUS_STEP_UNDERFLOW: "step size underflow",
}

Rhs = Callable[[torch.Tensor, Mapping[str, torch.Tensor]], torch.Tensor]


@dataclass
class BatchedSolution:
    """Result of :func:`integrate_batched`.

    ``y`` has shape ``(len(t), N, d)``; entries after an element stopped early are NaN.
    ``status`` has shape ``(N,)`` with codes in :data:`STATUS_NAMES`; ``n_steps`` counts the
    accepted steps of each element, ``n_iterations`` the vectorised sweeps over the batch.

    Attributes:
        t: the output times ``t_eval``, shape ``(T,)``, in the dtype and on the device of ``y0``.
        y: states at the output times, shape ``(T, N, d)``; NaN after an element stopped early.
        status: int64 codes, shape ``(N,)``: ``STATUS_OK`` (0), ``STATUS_BLOWUP`` (1),
            ``STATUS_MAX_STEPS`` (2) or ``STATUS_STEP_UNDERFLOW`` (3); names in
            :data:`STATUS_NAMES`.
        n_steps: accepted steps of each element, int64, shape ``(N,)``.
        n_iterations: vectorised iterations over the batch (int).
        path: how the iterations ran: ``"eager"`` or ``"fused"`` (``torch.compile``).
    """

    t: torch.Tensor
    y: torch.Tensor
    status: torch.Tensor
    n_steps: torch.Tensor
    n_iterations: int
    path: str = "eager"  #: how the iterations ran: "eager" or "fused" (torch.compile)


@with_thread_policy
def integrate_batched(
    rhs: Rhs,
    y0: torch.Tensor,
    t_eval: torch.Tensor,
    aux: Mapping[str, torch.Tensor] | None = None,
    *,
    rtol: float = 1e-6,
    atol: float = 1e-9,
    max_iterations: int = 200_000,
    blowup: float = 1e8,
    first_step: float | None = None,
    dense: bool = True,
    max_step: float | None = None,
    compile: str = "auto",
) -> BatchedSolution:
    """Integrate ``dy/dt = rhs(y, aux)`` from ``t = 0`` for a batch of ``N`` systems.

    Args:
        rhs: ``rhs(y, aux) -> dy`` for ``y`` of shape ``(n, d)`` and per-element parameters
            ``aux`` (each of shape ``(n,)``); it must be element-wise across the batch.
        y0: Initial states, shape ``(N, d)``: a torch tensor (numpy arrays are not accepted
            here; convert with :func:`as_tensor`). Its dtype and device are used throughout.
        t_eval: Increasing output times, ``t_eval[-1] > 0``; ``t_eval[0]`` may be 0 (the
            initial state). A tensor (converted to ``y0``'s dtype and device).
        aux: Per-element parameters (shape ``(N,)``), kept aligned with their element.
        rtol: relative tolerance of each element's error norm (default 1e-6).
        atol: absolute tolerance of each element's error norm (default 1e-9).
        max_iterations: cap on the vectorised iterations over the batch (not per element);
            elements still running then get ``STATUS_MAX_STEPS``.
        blowup: An element whose state leaves ``|y| <= blowup`` or becomes non-finite stops
            with status ``STATUS_BLOWUP``; the outputs it reached are kept.
        first_step: initial step of every element; None: chosen per element by the usual
            Hairer-Wanner starting-step heuristic (as scipy does).
        dense: True (default): outputs inside an accepted step come from the Dormand-Prince
            continuous extension (:func:`dense_output`, 4th order, the interpolant of scipy's
            ``RK45``), so output times never force steps; only ``t_eval[-1]`` is hit exactly.
            False: every output time is landed on by shortening the step (the step count grows
            with ``len(t_eval)``).
        max_step: Upper bound on every step (as scipy's ``max_step``); None: unbounded.
            Quantities the error control does not see directly, such as the ratio of two
            components that both decay to 0, can need it.
        compile: "eager", "fused" (the iteration through ``torch.compile``) or "auto" (fused
            for large batches); see :mod:`dynamics.numerics.dopri5`. A fused path that cannot
            compile falls back to eager (once, with a warning).

    Returns:
        BatchedSolution: ``y`` of shape ``(len(t_eval), N, d)`` (NaN at the output times an
        element did not reach), per-element ``status`` and ``n_steps``, the iteration count
        and the path taken.

    Example:
        >>> import torch
        >>> k = torch.tensor([1.0, 2.0], dtype=torch.float64)  # dy/dt = -k y per element
        >>> sol = integrate_batched(lambda y, aux: -aux["k"].unsqueeze(-1) * y,
        ...                         torch.ones(2, 1, dtype=torch.float64),
        ...                         torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64), {"k": k})
        >>> tuple(sol.y.shape), sol.status.tolist(), sol.path
        ((3, 2, 1), [0, 0], 'eager')
        >>> [round(v, 5) for v in sol.y[-1, :, 0].tolist()]  # e^-1, e^-2
        [0.36788, 0.13534]
    """
    # fresh contiguous per-element parameters: a broadcast (stride 0) or a view of a larger
    # tensor would change layout at the first compaction, and a fused iteration would then
    # compile a second time
    aux = {k: v.clone(memory_format=torch.contiguous_format) for k, v in (aux or {}).items()}
    n_total, dim = y0.shape
    dtype, device = y0.dtype, y0.device
    t_eval = t_eval.to(dtype=dtype, device=device)
    n_out = t_eval.shape[0]
    out = torch.full((n_out, n_total, dim), float("nan"), dtype=dtype, device=device)
    status = torch.zeros(n_total, dtype=torch.int64, device=device)
    n_steps = torch.zeros(n_total, dtype=torch.int64, device=device)

    # Working set: indices into the full batch, with their current time, state, step, slope.
    idx = torch.arange(n_total, device=device)
    y = y0.clone()
    t = torch.zeros(n_total, dtype=dtype, device=device)
    k_out = torch.zeros(n_total, dtype=torch.int64, device=device)
    # Outputs requested at t = 0 are the initial state.
    at_zero = int((t_eval <= 0).sum())
    if at_zero:
        out[:at_zero] = y0.unsqueeze(0)
        k_out += at_zero
    f = rhs(y, aux)
    n_steps_w = torch.zeros(n_total, dtype=torch.int64, device=device)

    scale = atol + rtol * y.abs()
    if first_step is None:
        d0, d1 = _rms(y / scale), _rms(f / scale)
        h = torch.where((d0 < 1e-5) | (d1 < 1e-5), torch.full_like(d0, 1e-6), 0.01 * d0 / d1)
        y1 = y + h.unsqueeze(-1) * f
        d2 = _rms((rhs(y1, aux) - f) / scale) / h
        h1 = torch.where(
            torch.maximum(d1, d2) <= 1e-15,
            torch.maximum(torch.full_like(h, 1e-6), h * 1e-3),
            (0.01 / torch.maximum(d1, d2)) ** (1 / 5),
        )
        h = torch.minimum(100 * h, h1)
    else:
        h = torch.full((n_total,), float(first_step), dtype=dtype, device=device)

    step, path = choose_iteration(compile, n_total, device)
    iterations = 0
    eps = torch.finfo(dtype).eps
    t_end = t_eval[-1]
    inf = torch.tensor(float("inf"), dtype=dtype, device=device)
    # each element's next output time (+inf once it has none)
    t_out = torch.where(k_out < n_out, t_eval[k_out.clamp(max=n_out - 1)], inf)
    # outputs strictly between steps' ends need the stage slopes (dense output)
    interior = dense and n_out - at_zero > 1
    # Finished elements are frozen (step 0) and only dropped from the working set once they
    # are a sizeable share of it: compaction copies every array, so doing it on every
    # iteration costs more than carrying a few idle elements.
    alive = torch.ones(n_total, dtype=torch.bool, device=device)
    n_alive = n_total
    while n_alive and iterations < max_iterations:
        iterations += 1
        t_next = t_end if dense else t_out
        y_old, t_old = y, t
        args = (rhs, y, f, t, h, alive, t_next, t_out, n_steps_w, aux, rtol, atol, blowup,
                max_step, interior)
        try:
            y, f, t, h, h_eff, ks, accept, n_steps_w, reached, blown, underflow, flags = (
                step(*args))
        except Exception as exc:  # compilation problems surface at the first call
            if path != "fused" or iterations > 1:
                raise
            fused_failed(exc)
            step, path = choose_iteration("eager", n_total, device)
            y, f, t, h, h_eff, ks, accept, n_steps_w, reached, blown, underflow, flags = (
                step(*args))
        reached_any, stopped_any = flags.tolist()
        finished_any = False
        if reached_any:
            # Record every output time the reached elements passed, all at once: the pairs
            # (element, output index) with t_old < t_eval[k] <= t (dense: from the
            # interpolant; an output at the step's end is y itself).
            sel = reached.nonzero().squeeze(1)
            t_sel, k_sel = t[sel], k_out[sel]
            tol = 8 * eps * t_sel.abs().clamp(min=1.0)
            counts = (torch.searchsorted(t_eval, (t_sel + tol).contiguous(), right=True)
                      - k_sel).clamp(min=0)
            n_pairs = int(counts.sum())
            local = torch.repeat_interleave(torch.arange(sel.numel(), device=device), counts)
            elem = sel[local]
            first = torch.cumsum(counts, 0) - counts
            kk = k_sel[local] + torch.arange(n_pairs, device=device) - first[local]
            t_at = t_eval[kk]
            inside = t_at < t_sel[local] - tol[local]
            y_at = y[elem]
            if bool(inside.any()):
                e_in = elem[inside]
                theta = ((t_at[inside] - t_old[e_in]) / h_eff[e_in]).clamp(0.0, 1.0)
                y_at[inside] = dense_output(y_old[e_in], h_eff[e_in], [k[e_in] for k in ks],
                                            theta)
            out[kk, idx[elem]] = y_at
            k_sel = k_sel + counts
            k_out[sel] = k_sel
            # an element that reached an output time within rounding sits on it exactly
            t[sel] = torch.maximum(t_sel, t_eval[(k_sel - 1).clamp(min=0)])
            t_out[sel] = torch.where(k_sel < n_out, t_eval[k_sel.clamp(max=n_out - 1)], inf)
            finished_any = bool((k_sel >= n_out).any())
        if stopped_any or finished_any:
            done = alive & ((k_out >= n_out) | blown | underflow)
            if not bool(done.any()):
                continue
            status[idx[blown]] = STATUS_BLOWUP
            status[idx[underflow & ~blown]] = STATUS_STEP_UNDERFLOW
            n_steps[idx[done]] = n_steps_w[done]
            alive = alive & ~done
            n_alive = int(alive.sum())
            # (never down to one element: a fused iteration would recompile for size 1)
            if 1 < n_alive < 0.7 * alive.numel():
                keep = alive
                idx, y, t, f, h, k_out, t_out, n_steps_w, alive = (
                    v[keep] for v in (idx, y, t, f, h, k_out, t_out, n_steps_w, alive)
                )
                aux = {key: v[keep] for key, v in aux.items()}
    if n_alive:
        status[idx[alive]] = STATUS_MAX_STEPS
        n_steps[idx[alive]] = n_steps_w[alive]
    return BatchedSolution(t_eval, out, status, n_steps, iterations, path)


def as_tensor(x, *, dtype=torch.float64, device=None) -> torch.Tensor:
    """Convert numpy arrays / scalars / tensors to a tensor, keeping a tensor's device.

    Args:
        x: torch tensor, numpy array, nested list or scalar (non-tensors go through
            ``np.asarray(x, dtype=np.float64)``).
        dtype: torch dtype of the result (default ``torch.float64``).
        device: device for non-tensor input (None: the CPU); ignored for a tensor, which
            keeps its own device.

    Returns:
        torch.Tensor: ``x`` in ``dtype`` (same shape).

    Example:
        >>> import numpy as np
        >>> as_tensor(np.array([1, 2]))
        tensor([1., 2.], dtype=torch.float64)
    """
    if isinstance(x, torch.Tensor):
        return x.to(dtype=dtype)
    return torch.as_tensor(np.asarray(x, dtype=np.float64), dtype=dtype, device=device)


def solve_ivp_guarded(rhs, y0: np.ndarray, t_end: float, n_save: int, *, method: str,
                      rtol: float, atol: float, blowup: float):
    """``scipy.integrate.solve_ivp`` on ``n_save`` evenly spaced output times in [0, t_end] that
    stops, keeping what it computed, when any entry exceeds ``blowup`` in magnitude or turns
    non-finite.

    Args:
        rhs: ``rhs(t, y) -> dy/dt`` in scipy's convention (1-D ``y``).
        y0: initial state, 1-D array.
        t_end: final time (> 0).
        n_save: number of evenly spaced output times, ``np.linspace(0, t_end, n_save)``.
        method: scipy method name (``"RK45"``, ``"LSODA"``, ...).
        rtol: relative tolerance passed to scipy.
        atol: absolute tolerance passed to scipy.
        blowup: stop (terminal event) once ``max |y|`` reaches this or turns non-finite.

    Returns:
        ``(times, states, status, nfev)`` with ``states`` of shape (T, len(y0)) and
        ``status`` "completed" or a one-line reason for stopping early. ``times`` (T,) are
        the output times reached (T <= ``n_save``; rows with NaN/Inf are dropped) and
        ``nfev`` (int) counts the right-hand side evaluations.

    Example:
        >>> import numpy as np
        >>> t, y, status, _ = solve_ivp_guarded(lambda t, y: y**2, np.array([1.0]), 2.0, 5,
        ...                                     method="RK45", rtol=1e-8, atol=1e-10,
        ...                                     blowup=1e3)
        >>> t, status  # y = 1/(1 - t) escapes before t = 1
        (array([0. , 0.5]), 'stopped at t=0.999: |entry| exceeded 1000 (blow-up)')
    """
    from scipy.integrate import solve_ivp

    def escape(_t, y):
        m = np.max(np.abs(y))
        return blowup - m if np.isfinite(m) else -1.0

    escape.terminal = True
    t_eval = np.linspace(0.0, float(t_end), n_save)
    sol = solve_ivp(rhs, (0.0, float(t_end)), y0, method=method, t_eval=t_eval, rtol=rtol,
                    atol=atol, events=escape)
    ys, times = sol.y.T, sol.t
    status = "completed"
    if sol.status == 1:
        status = f"stopped at t={sol.t_events[0][0]:.6g}: |entry| exceeded {blowup:g} (blow-up)"
    elif sol.status == -1:
        status = f"integration failed at t={times[-1] if times.size else 0:.6g}: {sol.message}"
    if ys.shape[0] and not np.all(np.isfinite(ys[-1])):
        good = np.all(np.isfinite(ys), axis=1)
        ys, times = ys[good], times[good]
        status = "stopped: NaN/Inf in the state"
    return times, ys, status, int(sol.nfev)

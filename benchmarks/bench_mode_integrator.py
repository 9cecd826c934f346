"""Benchmark: batched mode integrator vs a per-point loop over scipy's solve_ivp.

A 256 x 256 grid of initial conditions (p0, s0) of the decoupled mode dynamics (Eqs. 11-12,
tau = 1) is integrated to t = 100, once through ``simulate_modes`` (all 65,536 systems in one
vectorised Dormand-Prince run) and once point by point with ``scipy.integrate.solve_ivp``
(method RK45, the same Dormand-Prince 5(4) pair) at the same rtol/atol. Both paths use the same
right-hand side (``dynamics.theories.directpred.modes.mode_rhs``).

The batched path is timed twice: eager (torch operations over the batch) and fused (the
Dormand-Prince iteration through ``torch.compile``, :mod:`dynamics.numerics.dopri5`); the fused
path is warmed up first and its compile time printed apart. Threads follow the package's
policy (``--threads auto``: the idle cores); ``--busy N`` starts N processes that each keep a
core busy for the whole measurement (a shared machine). A last line times the dense output:
2,001 output times on the same grid's first 4,096 points, from the interpolant against
steps forced onto every output time.

The per-point loop is timed on a seeded random subset of the grid (``--loop-points``, default
4096) and its total is extrapolated linearly (each point is an independent solve); pass
``--loop-points 65536`` to time the whole grid. The agreement of the two paths on the timed
subset is printed too, and on ``--ref-points`` of them both paths are compared with a DOP853
reference at rtol = 1e-12 (accuracy, not just agreement: trajectories that pass near the saddle
amplify the global error of any solver at rtol = 1e-6).

    python benchmarks/bench_mode_integrator.py [--grid 256] [--loop-points 4096] [--busy 2]
                                               [--threads auto] [--device cuda]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from _busy import busy  # benchmarks/ is on sys.path when run as a script
from _limits import FLOPS_PER_STEP, float64_matmul_rate
from scipy.integrate import solve_ivp

from dynamics.theories.directpred.modes import mode_rhs, simulate_modes
from dynamics.threads import apply_threads


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--grid", type=int, default=256)
    ap.add_argument("--t-end", type=float, default=100.0)
    ap.add_argument("--eta", type=float, default=0.01)
    ap.add_argument("--rtol", type=float, default=1e-6)
    ap.add_argument("--atol", type=float, default=1e-9)
    ap.add_argument("--loop-points", type=int, default=4096)
    ap.add_argument("--ref-points", type=int, default=256)
    ap.add_argument("--device", default="cpu", help="cpu or cuda for the batched path")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--busy", type=int, default=0, help="competing busy processes")
    ap.add_argument("--threads", default="auto", help="auto (the policy) or an integer")
    ap.add_argument("--json", help="also write the results to this JSON file")
    args = ap.parse_args()
    with busy(args.busy, settle=0.5):
        run(args)


def run(args) -> None:
    choice = apply_threads(args.threads)

    n = args.grid
    p0 = np.linspace(-1.0, 2.0, n)[None, :]
    s0 = np.linspace(0.0, 2.0, n)[:, None]
    P0, S0 = np.broadcast_arrays(p0, s0)
    kw = dict(alpha_p=1.0, eta=args.eta, sigma2=0.0)

    import torch

    dev = torch.device(args.device)
    p0_in = torch.as_tensor(p0, device=dev) if dev.type != "cpu" else p0
    from dynamics.numerics.integrate import integrate_batched
    from dynamics.theories.directpred.modes import _rhs_fixed_tau

    def timed(fn, *a, **k):
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        out = fn(*a, **k)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        return out, time.perf_counter() - t0

    def batched(mode: str, p, s, **extra):
        return timed(simulate_modes, p, s, rtol=args.rtol, atol=args.atol, compile=mode,
                     **kw, **extra)

    one = dict(t_end=args.t_end, t_eval=[args.t_end])
    _, t_compile = batched("fused", p0_in, s0, **one)  # compiles (or loads torch's cache)
    times, steps = {}, {}
    for mode in ("eager", "fused"):
        tr, times[mode] = batched(mode, p0_in, s0, **one)
        steps[mode] = float(np.asarray(tr.to_numpy().n_steps).sum())
        if tr.meta["path"] != mode:
            print(f"note: the {mode} path ran as {tr.meta['path']} (torch.compile unavailable)")
    t_batched = min(times.values())
    best = min(times, key=times.get)
    matmul_rate = float64_matmul_rate()
    rate = {m: steps[m] / times[m] for m in times}
    tr = tr.to_numpy()
    assert tr.ok, tr.status_text()

    def f(_t, y):
        dp, ds, _ = mode_rhs(y[0], y[1], 1.0, **kw)
        return [dp, ds]

    rng = np.random.default_rng(args.seed)
    m = min(args.loop_points, n * n)
    pick = rng.choice(n * n, size=m, replace=False)
    ends = np.empty((m, 2))
    t0 = time.perf_counter()
    for k, i in enumerate(pick):
        sol = solve_ivp(f, (0.0, args.t_end), [P0.flat[i], S0.flat[i]], method="RK45",
                        rtol=args.rtol, atol=args.atol)
        ends[k] = sol.y[:, -1]
    t_loop_subset = time.perf_counter() - t0
    t_loop = t_loop_subset * (n * n) / m

    batched_ends = np.stack([tr.p[-1].ravel()[pick], tr.s[-1].ravel()[pick]], axis=1)
    diff = np.abs(batched_ends - ends).max(axis=1)
    n_ref = min(args.ref_points, m)
    ref = np.array([
        solve_ivp(f, (0.0, args.t_end), [P0.flat[i], S0.flat[i]], method="DOP853", rtol=1e-12,
                  atol=1e-14).y[:, -1] for i in pick[:n_ref]])
    err_batched = np.abs(batched_ends[:n_ref] - ref).max(axis=1)
    err_loop = np.abs(ends[:n_ref] - ref).max(axis=1)
    result = {
        "grid": f"{n}x{n}", "points": n * n, "t_end": args.t_end, "rtol": args.rtol,
        "atol": args.atol, "device": str(dev),
        "threads": choice.text(), "busy_processes": args.busy,
        "batched_seconds": t_batched, "batched_path": best,
        "eager_seconds": times["eager"], "fused_seconds": times["fused"],
        "fused_compile_seconds_first_call": t_compile,
        "trajectory_steps_per_s": rate, "flops_per_step": FLOPS_PER_STEP,
        "matmul_gflops": matmul_rate / 1e9,
        "share_of_matmul_rate": {m: r * FLOPS_PER_STEP / matmul_rate for m, r in rate.items()},
        "loop_seconds_measured": t_loop_subset, "loop_points_measured": m,
        "loop_seconds_total" + ("" if m == n * n else "_extrapolated"): t_loop,
        "speedup": t_loop / t_batched,
        "median_abs_difference_on_subset": float(np.median(diff)),
        "max_abs_difference_on_subset": float(diff.max()),
        "reference_points": n_ref,
        "batched_error_median_max": [float(np.median(err_batched)), float(err_batched.max())],
        "loop_error_median_max": [float(np.median(err_loop)), float(err_loop.max())],
        "batched_iterations": tr.meta["n_iterations"],
    }
    print(f"threads  : {choice.text()}; {args.busy} competing busy process(es)")
    print(f"batched  : {n * n} points in {t_batched:.2f} s on {dev} ({best}; eager "
          f"{times['eager']:.2f} s, fused {times['fused']:.2f} s, first fused call with "
          f"compilation {t_compile:.2f} s; {tr.meta['n_iterations']} iterations)")
    print(f"rate     : {rate['fused']:.3g} trajectory-steps/s fused, {rate['eager']:.3g} eager; "
          f"at ~{FLOPS_PER_STEP} flops each {rate['fused'] * FLOPS_PER_STEP / 1e9:.2f} and "
          f"{rate['eager'] * FLOPS_PER_STEP / 1e9:.2f} GFLOP/s = "
          f"{100 * rate['fused'] * FLOPS_PER_STEP / matmul_rate:.1f}% and "
          f"{100 * rate['eager'] * FLOPS_PER_STEP / matmul_rate:.1f}% of this process's float64 "
          f"matmul rate ({matmul_rate / 1e9:.0f} GFLOP/s, the machine's arithmetic limit)")
    print(f"loop     : {m} points in {t_loop_subset:.2f} s -> "
          f"{t_loop:.1f} s for {n * n} points" + ("" if m == n * n else " (extrapolated)"))
    print(f"speed-up : {t_loop / t_batched:.1f}x")
    print(f"agreement: |batched - loop| median {np.median(diff):.1e}, max {diff.max():.1e} "
          f"over {m} points")
    print(f"accuracy : vs DOP853 rtol=1e-12 on {n_ref} points, error median/max: batched "
          f"{np.median(err_batched):.1e}/{err_batched.max():.1e}, loop "
          f"{np.median(err_loop):.1e}/{err_loop.max():.1e}")
    m_dense = min(4096, n * n)
    pd, sd = P0.ravel()[:m_dense], S0.ravel()[:m_dense]
    t_out = np.linspace(0.0, args.t_end, 2001)
    y0 = torch.as_tensor(np.stack((pd, np.sqrt(sd), np.ones_like(pd)), axis=-1))
    aux = {k: torch.full((m_dense,), float(v), dtype=torch.float64) for k, v in kw.items()}
    runs = {dense: timed(integrate_batched, _rhs_fixed_tau, y0, torch.as_tensor(t_out), aux,
                         rtol=args.rtol, atol=args.atol, dense=dense, compile="eager")
            for dense in (True, False)}
    (dense_sol, t_dense), (forced_sol, t_forced) = runs[True], runs[False]
    dense_err = float((dense_sol.y - forced_sol.y).abs().max())
    result.update({"dense_outputs": 2001, "dense_points": m_dense, "dense_seconds": t_dense,
                   "forced_steps_seconds": t_forced, "dense_vs_forced_max_abs_state": dense_err})
    print(f"dense    : {m_dense} points x 2001 output times in {t_dense:.2f} s from the "
          f"interpolant, {t_forced:.2f} s with steps forced onto them "
          f"({t_forced / t_dense:.1f}x); max |state difference| {dense_err:.1e}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=1)


if __name__ == "__main__":
    main()

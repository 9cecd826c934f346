"""Benchmark: batched mode integrator vs a per-point loop over scipy's solve_ivp.

A 256 x 256 grid of initial conditions (p0, s0) of the decoupled mode dynamics (Eqs. 11-12,
tau = 1) is integrated to t = 100, once through ``simulate_modes`` (all 65,536 systems in one
vectorised Dormand-Prince run) and once point by point with ``scipy.integrate.solve_ivp``
(method RK45, the same Dormand-Prince 5(4) pair) at the same rtol/atol. Both paths use the same
right-hand side (``dynamics.theory.modes.mode_rhs``).

The per-point loop is timed on a seeded random subset of the grid (``--loop-points``, default
4096) and its total is extrapolated linearly (each point is an independent solve); pass
``--loop-points 65536`` to time the whole grid. The agreement of the two paths on the timed
subset is printed too, and on ``--ref-points`` of them both paths are compared with a DOP853
reference at rtol = 1e-12 (accuracy, not just agreement: trajectories that pass near the saddle
amplify the global error of any solver at rtol = 1e-6).

    python benchmarks/bench_mode_integrator.py [--grid 256] [--loop-points 4096] [--device cuda]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from scipy.integrate import solve_ivp

from dynamics.theory.modes import mode_rhs, simulate_modes


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
    ap.add_argument("--json", help="also write the results to this JSON file")
    args = ap.parse_args()

    n = args.grid
    p0 = np.linspace(-1.0, 2.0, n)[None, :]
    s0 = np.linspace(0.0, 2.0, n)[:, None]
    P0, S0 = np.broadcast_arrays(p0, s0)
    kw = dict(alpha_p=1.0, eta=args.eta, sigma2=0.0)

    import torch

    dev = torch.device(args.device)
    p0_in = torch.as_tensor(p0, device=dev) if dev.type != "cpu" else p0
    simulate_modes(p0_in[:, :8] if dev.type != "cpu" else p0[:, :8], s0[:8], t_end=1.0,
                   n_save=2, **kw)  # warm-up
    if dev.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    tr = simulate_modes(p0_in, s0, t_end=args.t_end, t_eval=[args.t_end], rtol=args.rtol,
                        atol=args.atol, **kw)
    if dev.type == "cuda":
        torch.cuda.synchronize()
    t_batched = time.perf_counter() - t0
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
        "batched_seconds": t_batched,
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
    print(f"batched  : {n * n} points in {t_batched:.2f} s on {dev} "
          f"({tr.meta['n_iterations']} vectorised iterations)")
    print(f"loop     : {m} points in {t_loop_subset:.2f} s -> "
          f"{t_loop:.1f} s for {n * n} points" + ("" if m == n * n else " (extrapolated)"))
    print(f"speed-up : {t_loop / t_batched:.1f}x")
    print(f"agreement: |batched - loop| median {np.median(diff):.1e}, max {diff.max():.1e} "
          f"over {m} points")
    print(f"accuracy : vs DOP853 rtol=1e-12 on {n_ref} points, error median/max: batched "
          f"{np.median(err_batched):.1e}/{err_batched.max():.1e}, loop "
          f"{np.median(err_loop):.1e}/{err_loop.max():.1e}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=1)


if __name__ == "__main__":
    main()

"""Benchmark: library calls from plain Python under the thread policy against torch's default
pool, idle and beside busy processes, in the same process.

A script or notebook calls the library without a command around it. Two calls, each timed
as a plain call of the public entry point (which applies the policy: the idle cores, the
caller's pools restored afterwards) and inside ``cpu_threads(<torch's default pool>)``, which
pins torch's default pool of one thread per core, what such a call got before the policy:
``simulate_modes`` on a ``--grid`` x ``--grid`` grid of (p0, s0) to t = 100 (Eqs. 11-12), and
``make_figure("directpred_phase_eta_alpha_p", quick=True)``. Each cell is the median of
``--repeats`` calls, idle and beside ``--busy`` processes spinning one core each; the verdict
checks the target: beside the busy processes the policy keeps at least a third of its idle
speed.

    python benchmarks/bench_library_threads.py [--grid 160] [--repeats 3] [--busy 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _busy import busy as competing  # benchmarks/ is on sys.path when run as a script

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def calls(grid: int, out: str) -> dict:
    """name -> (policy call, default-pool call)."""
    import numpy as np

    from dynamics.plots import make_figure
    from dynamics.theories.directpred.modes import simulate_modes

    p0 = np.linspace(-1.0, 2.0, grid)[None, :]
    s0 = np.linspace(0.0, 2.0, grid)[:, None]

    import torch

    from dynamics.threads import cpu_threads

    pool = torch.get_num_threads()

    def pinned(fn):
        def call():
            with cpu_threads(pool):
                return fn()
        return call

    def modes():
        return simulate_modes(p0, s0, eta=0.01, t_end=100.0, n_save=2, compile="eager")

    def figure():
        return make_figure("directpred_phase_eta_alpha_p", out, quick=True)

    return {f"simulate_modes {grid}x{grid}": (modes, pinned(modes)),
            "make_figure phase_eta_alpha_p (quick)": (figure, pinned(figure))}


def timed(fn, repeats: int) -> float:
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return statistics.median(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--grid", type=int, default=160)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--busy", type=int, default=2)
    ap.add_argument("--json")
    args = ap.parse_args()
    import torch

    default_pool = torch.get_num_threads()
    res: dict = {"default_pool": default_pool, "busy": args.busy, "rows": {}}
    with tempfile.TemporaryDirectory() as tmp:
        work = calls(args.grid, tmp)
        for name, (policy, plain) in work.items():
            policy(), plain()  # warm-up: imports, first allocations
            row = {}
            for cond, n in (("idle", 0), ("busy", args.busy)):
                with competing(n):
                    row[f"policy_{cond}"] = timed(policy, args.repeats)
                    row[f"default_{cond}"] = timed(plain, args.repeats)
            row["kept"] = row["policy_idle"] / row["policy_busy"]
            res["rows"][name] = row
    print(f"torch's default pool here: {default_pool} thread(s); busy = {args.busy} processes "
          "spinning one core each")
    print("| call | policy idle (s) | default idle (s) | policy busy (s) | default busy (s) | "
          "busy: default / policy | policy keeps of its idle speed |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, r in res["rows"].items():
        print(f"| {name} | {r['policy_idle']:.2f} | {r['default_idle']:.2f} | "
              f"{r['policy_busy']:.2f} | {r['default_busy']:.2f} | "
              f"{r['default_busy'] / r['policy_busy']:.1f}x | {100 * r['kept']:.0f}% |")
    ok = all(r["kept"] >= 1 / 3 for r in res["rows"].values())
    print(f"target (at least a third of the idle speed beside {args.busy} busy processes): "
          f"{'met' if ok else 'not met'}")
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()

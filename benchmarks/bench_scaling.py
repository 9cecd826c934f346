"""Benchmark: how time and peak memory grow with the size of the problem.

Three families, every cell in a fresh process (its peak memory is that process's maximum
resident set size, shown beside the same process's size after the imports, before the work):

* ``modes``: a basin diagram (:func:`dynamics.theories.directpred.phase.basin.basin_grid`, eta =
  0.01, t_end = 100, rtol 1e-8) of 10^3 .. 10^6 trajectories: linear in the number of trajectories,
  memory bounded by the integrator's chunks
  (:data:`dynamics.theories.directpred.phase.mode_collapse.CHUNK`);
* ``matrix``: one evaluation of the matrix flow's right-hand side (Lemma 1, Eqs. 2-4,
  n1 = n2 = n, five n x n matrix products = 10 n^3 flops) for n = 8 .. 512, against the
  machine's measured float64 matmul rate at n = 512 (the share says how close to the limit the
  flow runs: small n is dominated by per-call overhead);
* ``uniformity`` and ``rankme`` of N x 128 float32 embeddings, N = 10^3 .. 2.6 x 10^5:
  uniformity is quadratic in time and constant in extra memory (blocked), RankMe linear. At
  N = 10^6 uniformity would take about 15 times the 2.6 x 10^5 cell (not run; the table says
  so), RankMe is measured.

    python benchmarks/bench_scaling.py [--quick] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

SIZES = {
    "modes": (1_024, 10_000, 99_856, 1_000_000),  # square grids 32^2 .. 1000^2
    "matrix": (8, 32, 128, 512),
    "uniformity": (1_000, 10_000, 65_536, 262_144),
    "rankme": (1_000, 10_000, 100_000, 1_000_000),
}
QUICK = {"modes": (1_024, 10_000), "matrix": (8, 32), "uniformity": (1_000, 10_000),
         "rankme": (1_000, 10_000)}


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def cell(kind: str, size: int) -> dict:
    """Run one cell in this process: seconds, peak RSS and the RSS before the work."""
    import numpy as np
    import torch

    from dynamics.threads import apply_threads

    threads = apply_threads("auto").threads
    extra: dict = {}
    if kind == "modes":
        from dynamics.theories.directpred.phase.basin import basin_grid

        g = int(round(size ** 0.5))
        p0, s0 = np.linspace(-1.0, 2.0, g), np.linspace(0.0, 2.0, g)
        before = _rss_mb()
        t0 = time.perf_counter()
        d = basin_grid(p0, s0, eta=0.01, t_end=100.0)
        seconds = time.perf_counter() - t0
        extra = {"trajectories": g * g, "collapsed": d.fraction_collapsed}
    elif kind == "matrix":
        from dynamics.theories.directpred.matrix_flow import MatrixFlowConfig, flow_rhs

        rng = np.random.default_rng(0)
        W, Wp, Wa = (rng.standard_normal((size, size)) / size ** 0.5 for _ in range(3))
        A = rng.standard_normal((size, size))
        X, Xp = A @ A.T / size, np.eye(size) * 0.5
        cfg = MatrixFlowConfig(eta=0.01)
        eye = np.eye(size)
        before = _rss_mb()
        reps = max(3, int(2e8 / (10 * size ** 3)))
        flow_rhs(W, Wp, Wa, X, Xp, cfg, eye)
        t0 = time.perf_counter()
        for _ in range(reps):
            flow_rhs(W, Wp, Wa, X, Xp, cfg, eye)
        seconds = (time.perf_counter() - t0) / reps
        B = rng.standard_normal((512, 512))
        B @ B
        t1 = time.perf_counter()
        for _ in range(5):
            B @ B
        matmul_rate = 2 * 512 ** 3 / ((time.perf_counter() - t1) / 5)
        extra = {"gflops": 10 * size ** 3 / seconds / 1e9,
                 "share_of_matmul_rate": 10 * size ** 3 / seconds / matmul_rate,
                 "matmul_gflops_n512": matmul_rate / 1e9, "repeats": reps}
    else:
        from dynamics.metrics.alignment_uniformity import uniformity
        from dynamics.metrics.rank import rankme

        g = torch.Generator().manual_seed(0)
        x = torch.nn.functional.normalize(torch.randn(size, 128, generator=g), dim=1)
        before = _rss_mb()
        fn = uniformity if kind == "uniformity" else rankme
        t0 = time.perf_counter()
        value = fn(x)
        seconds = time.perf_counter() - t0
        extra = {"value": float(value)}
    return {"kind": kind, "size": size, "seconds": seconds, "threads": threads,
            "rss_before_mb": before, "peak_rss_mb": _rss_mb(), **extra}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="the two smallest sizes only")
    ap.add_argument("--json", help="also write the results to this JSON file")
    ap.add_argument("--cell", nargs=2, metavar=("KIND", "SIZE"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.cell:
        print(json.dumps(cell(args.cell[0], int(args.cell[1]))))
        return
    rows = []
    for kind, sizes in (QUICK if args.quick else SIZES).items():
        for size in sizes:
            out = subprocess.run([sys.executable, __file__, "--cell", kind, str(size)],
                                 capture_output=True, text=True, check=True)
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(f"{kind} {size}: {rows[-1]['seconds']:.4g} s", file=sys.stderr, flush=True)
    print("| family | size | time | growth vs previous size | peak RSS | RSS before the work "
          "| notes |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    prev: dict = {}
    for r in rows:
        p = prev.get(r["kind"])
        growth = (f"x{r['seconds'] / p['seconds']:.1f} for x{r['size'] / p['size']:.0f}"
                  if p else "")
        note = {"modes": lambda r: f"{r['trajectories']:,} trajectories",
                "matrix": lambda r: (f"{r['gflops']:.2f} GFLOP/s = "
                                     f"{100 * r['share_of_matmul_rate']:.0f}% of the n=512 "
                                     f"matmul rate ({r['matmul_gflops_n512']:.1f} GFLOP/s)"),
                "uniformity": lambda r: f"value {r['value']:.4f}",
                "rankme": lambda r: f"value {r['value']:.2f}"}[r["kind"]](r)
        unit = "s per RHS" if r["kind"] == "matrix" else "s"
        print(f"| {r['kind']} | {r['size']:,} | {r['seconds']:.4g} {unit} | {growth} | "
              f"{r['peak_rss_mb']:.0f} MiB | {r['rss_before_mb']:.0f} MiB | {note} |")
        prev[r["kind"]] = r
    if not args.quick:
        u = [r for r in rows if r["kind"] == "uniformity"][-1]
        print(f"uniformity at N = 1,000,000: not run (quadratic: about "
              f"{u['seconds'] * (1e6 / u['size']) ** 2:.0f} s from the N = {u['size']:,} cell)")
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows}, indent=1))


if __name__ == "__main__":
    main()

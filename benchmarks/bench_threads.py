"""Benchmark: training and simulation throughput, idle and on a busy machine, under the
package's threading policy (``threads=auto``) and under torch's default pool (one thread per
core, what a program gets without a policy).

Two workloads, each timed in a fresh process (so that no thread pool carries over):

* ``train``: BYOL with a learned linear predictor on the embedded digits (the smoke config at
  full size: 1,437 training images, batch 64, 22 steps per epoch), ``--epochs`` epochs, no
  evaluation; throughput = training images per second of pure training time;
* ``modes``: the batched mode integrator (Eqs. 11-12) on a ``--grid`` x ``--grid`` grid of
  initial conditions to t = 100; throughput = modes per second.

Conditions: ``idle`` and ``contended`` (``--busy`` competing processes, each spinning one core
for the whole measurement, started before the workload). Each cell is the median of
``--repeats`` runs. The verdict line checks the target: under contention the policy keeps
at least a third of its idle throughput.

    python benchmarks/bench_threads.py [--epochs 8] [--grid 256] [--busy 2] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _busy import busy as competing  # benchmarks/ is on sys.path when run as a script

ROOT = Path(__file__).resolve().parents[1]


def work_train(threads: str, epochs: int) -> dict:
    from dynamics.train.config import load_config
    from dynamics.train.trainer import train

    with tempfile.TemporaryDirectory() as tmp:
        cfg = load_config(ROOT / "experiments" / "train" / "smoke_byol_digits.yaml",
                          [f"out_dir={tmp}", "optim.batch_size=64", "optim.max_steps=null",
                           f"optim.epochs={epochs}", "eval.every_epoch=false",
                           "eval.final=false", "log.log_every=1000", "log.progress=false",
                           f"threads={threads}", "keep_checkpoints=0"])
        s = train(cfg)
    images = s["step"] * cfg.optim.batch_size
    return {"seconds": s["runtime"]["train_s"], "throughput": images / s["runtime"]["train_s"],
            "unit": "img/s", "threads": s["threads"]["threads"]}


def work_modes(threads: str, grid: int) -> dict:
    import numpy as np

    from dynamics.theories.directpred.modes import simulate_modes
    from dynamics.threads import apply_threads

    choice = apply_threads(threads)
    p0 = np.linspace(-1.0, 2.0, grid)[None, :]
    s0 = np.linspace(0.0, 2.0, grid)[:, None]
    simulate_modes(p0[:, :8], s0[:8], eta=0.01, t_end=1.0, n_save=2)  # warm-up
    t0 = time.perf_counter()
    simulate_modes(p0, s0, eta=0.01, t_end=100.0, t_eval=[100.0], rtol=1e-6, atol=1e-9)
    dt = time.perf_counter() - t0
    return {"seconds": dt, "throughput": grid * grid / dt, "unit": "modes/s",
            "threads": choice.threads}


def run_worker(kind: str, threads: str, args) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    cmd = [sys.executable, __file__, "--worker", kind, "--worker-threads", threads,
           "--epochs", str(args.epochs), "--grid", str(args.grid)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--grid", type=int, default=256)
    ap.add_argument("--busy", type=int, default=2, help="competing busy processes")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", help="also write the results to this JSON file")
    ap.add_argument("--worker", choices=("train", "modes"), help=argparse.SUPPRESS)
    ap.add_argument("--worker-threads", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        fn = work_train if args.worker == "train" else work_modes
        print(json.dumps(fn(args.worker_threads, args.epochs if args.worker == "train"
                            else args.grid)))
        return

    from dynamics.threads import available_cpus

    cpus = available_cpus()
    policies = {"auto": "auto", "torch default": str(cpus)}
    results: dict = {"cpus": cpus, "busy_processes": args.busy, "repeats": args.repeats,
                     "cells": []}
    for condition in ("idle", "contended"):
        with competing(args.busy if condition == "contended" else 0):
            for kind in ("train", "modes"):
                for label, threads in policies.items():
                    runs = [run_worker(kind, threads, args) for _ in range(args.repeats)]
                    cell = {"workload": kind, "condition": condition, "policy": label,
                            "threads_used": runs[0]["threads"], "unit": runs[0]["unit"],
                            "throughput": statistics.median(r["throughput"] for r in runs),
                            "seconds": statistics.median(r["seconds"] for r in runs)}
                    results["cells"].append(cell)
                    print(f"{kind:5s} {condition:9s} {label:13s} threads {cell['threads_used']}"
                          f": {cell['throughput']:10.1f} {cell['unit']} "
                          f"({cell['seconds']:.2f} s)", flush=True)

    def get(kind, cond, pol):
        return next(c["throughput"] for c in results["cells"]
                    if (c["workload"], c["condition"], c["policy"]) == (kind, cond, pol))

    print(f"\n{cpus} core(s), {args.busy} competing busy processes; median of "
          f"{args.repeats} runs each")
    print("| workload | policy | idle | contended | contended / idle |")
    print("| --- | --- | --- | --- | --- |")
    verdict = {}
    for kind in ("train", "modes"):
        for pol in policies:
            idle, busy = get(kind, "idle", pol), get(kind, "contended", pol)
            unit = "img/s" if kind == "train" else "modes/s"
            print(f"| {kind} | {pol} | {idle:.0f} {unit} | {busy:.0f} {unit} | "
                  f"{busy / idle:.2f} |")
            verdict[f"{kind}/{pol}"] = busy / idle
        ratio = get(kind, "contended", "auto") / get(kind, "contended", "torch default")
        print(f"| {kind} | auto vs torch default, contended | | | {ratio:.1f}x |")
        verdict[f"{kind}/auto_over_default_contended"] = ratio
    results["ratios"] = verdict
    ok = all(verdict[f"{k}/auto"] >= 1 / 3 for k in ("train", "modes"))
    print(f"\ncriterion (auto keeps >= 1/3 of its idle throughput under contention): "
          f"{'met' if ok else 'NOT met'}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()

"""Benchmark: the main job, ``ssl-dynamics reproduce``, on a fresh output folder, idle and
beside busy processes, against the previous sequential flow.

``ssl-dynamics reproduce --out <new folder>`` (every prediction at the smoke tier with its
training runs, every figure at full size) runs as a fresh process, once on an idle machine and
once beside ``--busy`` processes spinning one core each, against the targets (at most 3 minutes
idle, 6 minutes busy). The previous flow, measured in the same run on the idle machine: verify
first (training runs, then every prediction), then every figure, one after the other in one
process (``--sequential``), which is what ``reproduce`` did before it made the simulation
figures and judged the run-free predictions while the training runs go.

    python benchmarks/bench_reproduce.py [--busy 2] [--skip-sequential]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _busy import busy as competing  # benchmarks/ is on sys.path when run as a script

ROOT = Path(__file__).resolve().parents[1]
IDLE_TARGET_S, BUSY_TARGET_S = 180.0, 360.0


def fresh(argv: list[str]) -> float:
    """Wall seconds of ``argv`` as a fresh process (it must succeed)."""
    t0 = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    if proc.returncode:
        raise SystemExit(f"{' '.join(argv)} failed:\n{proc.stderr[-3000:]}")
    return time.perf_counter() - t0


def sequential(out: str) -> None:
    """The previous flow: verify, then every figure, in one process."""
    from dynamics.plots import make_figures
    from dynamics.verify.runner import VerifyRun, verify

    out_dir = Path(out)
    verify(VerifyRun(tier="smoke", runs=str(out_dir / "verify_runs"),
                     out=str(out_dir / "verify"), jobs=2), log=lambda m: None)
    make_figures(None, out_dir / "figures", quick=False, tier="smoke",
                 runs_dir=out_dir / "verify_runs", jobs=2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--busy", type=int, default=2)
    ap.add_argument("--skip-sequential", action="store_true")
    ap.add_argument("--sequential", help=argparse.SUPPRESS)
    ap.add_argument("--json")
    args = ap.parse_args()
    if args.sequential:
        sequential(args.sequential)
        return
    cmd = [sys.executable, "-m", "dynamics", "reproduce", "--out"]
    with tempfile.TemporaryDirectory() as tmp:
        idle = fresh([*cmd, f"{tmp}/idle"])
        with competing(args.busy):
            busy = fresh([*cmd, f"{tmp}/busy"])
        before = None if args.skip_sequential else fresh(
            [sys.executable, __file__, "--sequential", f"{tmp}/sequential"])
        summary = json.loads(Path(f"{tmp}/idle/summary.json").read_text())
    print(f"command : ssl-dynamics reproduce --out <new folder> ({len(summary['checks'])} "
          f"predictions judged, {len(summary['figures'])} figures; all checks passed: "
          f"{summary['all_checks_passed']})")
    print(f"idle    : {idle:.0f} s (target <= {IDLE_TARGET_S:.0f} s: "
          f"{'met' if idle <= IDLE_TARGET_S else 'not met'})")
    print(f"busy    : {busy:.0f} s beside {args.busy} busy processes (target <= "
          f"{BUSY_TARGET_S:.0f} s: {'met' if busy <= BUSY_TARGET_S else 'not met'})")
    if before is not None:
        print(f"previous: {before:.0f} s idle for verify then figures in sequence; reproduce "
              f"now takes {idle / before:.2f} of that ({before / idle:.2f}x faster)")
    if args.json:
        Path(args.json).write_text(json.dumps({"idle_s": idle, "busy_s": busy,
                                               "sequential_s": before}, indent=1))


if __name__ == "__main__":
    main()

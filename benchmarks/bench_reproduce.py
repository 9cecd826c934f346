"""Benchmark: the main job, ``ssl-dynamics reproduce``, on a fresh output folder, idle and
beside busy processes, against the previous code.

``ssl-dynamics reproduce --out <new folder>`` (every prediction at the smoke tier with its
training runs, every figure at full size) runs as a fresh process, once on an idle machine and
once beside ``--busy`` processes spinning one core each, against the targets (at most 3 minutes
idle, 6 minutes busy). The previous path, measured in the same run on the idle machine: the same
command from a git worktree of ``--baseline-ref`` (default: the commit before verify and
reproduce ran their work in the long-lived worker pool of ``dynamics.verify.pool``, when every
training run was a fresh ``ssl-dynamics train`` process and the figures were made in the main
process while the runs trained).

    python benchmarks/bench_reproduce.py [--busy 2] [--baseline-ref REF | --skip-baseline]
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


#: The last commit before the worker pool (``git log -- dynamics/verify/pool.py``).
BASELINE_REF = "224abba~1"


def fresh(argv: list[str], root: Path = ROOT) -> float:
    """Wall seconds of ``argv`` as a fresh process in ``root`` (it must succeed)."""
    t0 = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=root,
                          env={**os.environ, "PYTHONPATH": str(root)})
    if proc.returncode:
        raise SystemExit(f"{' '.join(argv)} failed:\n{proc.stderr[-3000:]}")
    return time.perf_counter() - t0


def baseline(ref: str, out: str) -> float:
    """``reproduce`` of the code at git ``ref`` (a temporary worktree), as a fresh process."""
    with tempfile.TemporaryDirectory() as tree:
        subprocess.run(["git", "worktree", "add", "--detach", "-f", tree, ref], cwd=ROOT,
                       check=True, capture_output=True)
        try:
            return fresh([sys.executable, "-m", "dynamics", "reproduce", "--out", out],
                         Path(tree))
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", tree], cwd=ROOT,
                           capture_output=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--busy", type=int, default=2)
    ap.add_argument("--baseline-ref", default=BASELINE_REF)
    ap.add_argument("--skip-baseline", action="store_true")
    ap.add_argument("--json")
    args = ap.parse_args()
    cmd = [sys.executable, "-m", "dynamics", "reproduce", "--out"]
    with tempfile.TemporaryDirectory() as tmp:
        idle = fresh([*cmd, f"{tmp}/idle"])
        with competing(args.busy):
            busy = fresh([*cmd, f"{tmp}/busy"])
        before = None if args.skip_baseline else baseline(args.baseline_ref, f"{tmp}/before")
        summary = json.loads(Path(f"{tmp}/idle/summary.json").read_text())
    print(f"command : ssl-dynamics reproduce --out <new folder> ({len(summary['checks'])} "
          f"predictions judged, {len(summary['figures'])} figures; all checks passed: "
          f"{summary['all_checks_passed']})")
    print(f"idle    : {idle:.0f} s (target <= {IDLE_TARGET_S:.0f} s: "
          f"{'met' if idle <= IDLE_TARGET_S else 'not met'})")
    print(f"busy    : {busy:.0f} s beside {args.busy} busy processes (target <= "
          f"{BUSY_TARGET_S:.0f} s: {'met' if busy <= BUSY_TARGET_S else 'not met'})")
    if before is not None:
        print(f"previous: {before:.0f} s idle with the code of {args.baseline_ref} (a fresh "
              f"process per training run); reproduce now takes {idle / before:.2f} of that "
              f"({before / idle:.2f}x faster)")
    if args.json:
        Path(args.json).write_text(json.dumps({"idle_s": idle, "busy_s": busy,
                                               "previous_s": before,
                                               "previous_ref": args.baseline_ref}, indent=1))


if __name__ == "__main__":
    main()

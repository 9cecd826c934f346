"""Benchmark: every paper notebook through a Jupyter kernel, as a reader runs it, idle and
beside busy processes.

Each notebook of ``paper_notebooks/`` runs top to bottom in a fresh ``python3`` kernel
(nbclient) at its default size, with no thread setting in the environment (the library applies
its thread policy itself), once on an idle machine and once beside ``--busy`` processes spinning
one core each. Reported: the wall time of each notebook and of its slowest cell, against the
targets (at most 2 minutes idle, at most twice the idle time beside two busy processes).

    python benchmarks/bench_notebooks.py [--busy 2] [--only directpred_theory]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from _busy import busy as competing  # benchmarks/ is on sys.path when run as a script

ROOT = Path(__file__).resolve().parents[1]
NB_DIR = ROOT / "paper_notebooks"
IDLE_TARGET_S, BUSY_FACTOR = 120.0, 2.0


def run_notebook(path: Path) -> dict:
    """Wall time of the whole notebook and of its slowest cell (seconds)."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory() as tmp:
        env_before = dict(os.environ)
        os.environ.update({"MPLBACKEND": "Agg", "TMPDIR": tmp})
        os.environ.pop("OMP_NUM_THREADS", None)
        os.environ.pop("SSL_NOTEBOOK_SIZE", None)
        try:
            client = NotebookClient(nb, kernel_name="python3", timeout=1800, startup_timeout=120,
                                    resources={"metadata": {"path": tmp}})
            cells: list[float] = []
            t0 = time.perf_counter()
            with client.setup_kernel():
                for i, cell in enumerate(nb.cells):
                    c0 = time.perf_counter()
                    client.execute_cell(cell, i)
                    cells.append(time.perf_counter() - c0)
            total = time.perf_counter() - t0
        finally:
            os.environ.clear()
            os.environ.update(env_before)
    slow = max(range(len(cells)), key=cells.__getitem__)
    return {"seconds": total, "slowest_cell": slow, "slowest_cell_s": cells[slow]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--busy", type=int, default=2)
    ap.add_argument("--only", nargs="*", help="notebook stems (default: all)")
    ap.add_argument("--json")
    args = ap.parse_args()
    books = [p for p in sorted(NB_DIR.glob("*.ipynb")) if not args.only or p.stem in args.only]
    res: dict = {}
    for path in books:
        idle = run_notebook(path)
        with competing(args.busy):
            busy = run_notebook(path)
        res[path.stem] = {"idle": idle, "busy": busy}
    print(f"| notebook | idle (s) | slowest cell idle (s) | beside {args.busy} busy processes (s) "
          "| busy / idle | targets |")
    print("| --- | --- | --- | --- | --- | --- |")
    for stem, r in res.items():
        ratio = r["busy"]["seconds"] / r["idle"]["seconds"]
        ok = r["idle"]["seconds"] <= IDLE_TARGET_S and ratio <= BUSY_FACTOR
        print(f"| {stem} | {r['idle']['seconds']:.1f} | {r['idle']['slowest_cell_s']:.1f} "
              f"(cell {r['idle']['slowest_cell']}) | {r['busy']['seconds']:.1f} | {ratio:.2f} | "
              f"{'met' if ok else 'not met'} |")
    print(f"targets: at most {IDLE_TARGET_S:.0f} s idle and at most {BUSY_FACTOR:g}x that beside "
          f"{args.busy} busy processes")
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()

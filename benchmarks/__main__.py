"""Run the benchmarks and regenerate ``benchmarks/README.md`` from their output.

    python -m benchmarks                      # every benchmark (about 47 minutes on 2 cores)
    python -m benchmarks --only threads       # some of them; the others' sections are kept
    python -m benchmarks --data cifar10.tar.gz  # real images for the training benchmarks

Each benchmark runs as its own process (fresh thread pools, no warm caches shared between
them) with ``--json``; its printed report and its JSON are stored in ``benchmarks/results.json``
and the README is rendered from that file, so no number in it is typed by hand. The README
names the machine, the command of every benchmark, its wall time and its output.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results.json"
README = HERE / "README.md"


@dataclass(frozen=True)
class Bench:
    """One benchmark: a script in this folder and its arguments."""

    name: str
    script: str
    title: str
    args: tuple[str, ...] = ()
    data_arg: str | None = None  #: how the script takes --data (None: it does not)
    timeout_s: int = 1800
    notes: tuple[str, ...] = field(default_factory=tuple)


BENCHMARKS = (
    Bench("mode_integrator", "bench_mode_integrator.py",
          "Batched mode integrator against a per-point solve_ivp loop (idle)"),
    Bench("mode_integrator_busy", "bench_mode_integrator.py",
          "The same with two competing busy processes", ("--busy", "2")),
    Bench("basin", "bench_basin.py",
          "A 1000 x 1000 basin diagram from the command line, idle and contended"),
    Bench("threads", "bench_threads.py",
          "Threading policy: training and simulation, idle and contended"),
    Bench("library_threads", "bench_library_threads.py",
          "Library calls from plain Python: the thread policy against torch's default pool"),
    Bench("reproduce", "bench_reproduce.py",
          "The main job, ssl-dynamics reproduce, idle and beside two busy processes",
          timeout_s=3600),
    Bench("notebooks", "bench_notebooks.py",
          "The paper notebooks through a Jupyter kernel, idle and beside two busy processes",
          timeout_s=3600),
    Bench("metrics", "bench_metrics.py", "Uniformity and RankMe at 65,536 samples"),
    Bench("augment", "bench_augment.py",
          "Batched on-device augmentation against a per-sample DataLoader", data_arg="--data"),
    Bench("resnet_step", "bench_resnet_step.py",
          "BYOL + DirectPred ResNet-18 step: ours against a per-sample DataLoader",
          data_arg="--data"),
    Bench("cpu_step", "bench_cpu_step.py",
          "The cpu tier's training step: fp32 against bf16 + channels-last (+ compile), idle"),
    Bench("cpu_step_busy", "bench_cpu_step.py",
          "The same beside two busy processes", ("--busy", "2")),
    Bench("train_profile", "bench_train_profile.py",
          "Where a training step's time goes (step profile)", data_arg="--data"),
    Bench("scaling", "bench_scaling.py", "How time and peak memory grow with the problem size"),
)
BY_NAME = {b.name: b for b in BENCHMARKS}


def machine() -> dict[str, str]:
    """The machine the numbers come from."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": str(len(os.sched_getaffinity(0))
                                     if hasattr(os, "sched_getaffinity") else os.cpu_count()),
            "python": platform.python_version(), "torch": torch.__version__,
            "os": platform.platform()}


def run_one(bench: Bench, data: str | None) -> dict:
    """Run ``bench`` in a fresh process; its output, JSON, command and wall time."""
    with tempfile.TemporaryDirectory() as tmp:
        out_json = Path(tmp) / "out.json"
        args = list(bench.args)
        shown = list(bench.args)
        if data and bench.data_arg:
            args += [bench.data_arg, data]
            shown += [bench.data_arg, "<CIFAR-10 tarball>"]
        cmd = [sys.executable, str(HERE / bench.script), *args, "--json", str(out_json)]
        env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep
               + os.environ.get("PYTHONPATH", "")}
        env.pop("OMP_NUM_THREADS", None)  # each benchmark applies its own thread policy
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env,
                              timeout=bench.timeout_s)
        wall = time.perf_counter() - t0
        result = (json.loads(out_json.read_text().replace(str(out_json), "<temporary file>"))
                  if out_json.exists() else None)
    lines = [ln.replace(data, "<CIFAR-10 tarball>") if data else ln
             for ln in proc.stdout.splitlines() if ln.strip() and "CUDA_HOME" not in ln]
    return {"command": " ".join(["python", f"benchmarks/{bench.script}", *shown]),
            "returncode": proc.returncode, "wall_s": round(wall, 1), "output": lines,
            "stderr_tail": proc.stderr.strip().splitlines()[-3:] if proc.returncode else [],
            "json": result, "when": dt.datetime.now().isoformat(timespec="seconds")}


def render(results: dict) -> str:
    """benchmarks/README.md from the stored results."""
    m = results.get("machine", {})
    out = ["# Benchmarks", "",
           "Generated by `python -m benchmarks` from `benchmarks/results.json` (do not edit by "
           "hand). Every number below is printed by the benchmark named above it; ratios "
           "compare two paths measured in the same process.", "",
           f"Machine: {m.get('cpu', '?')}, {m.get('cores', '?')} cores, Python "
           f"{m.get('python', '?')}, torch {m.get('torch', '?')}, {m.get('os', '?')}.", ""]
    for bench in BENCHMARKS:
        r = results.get("runs", {}).get(bench.name)
        out += [f"## {bench.title}", ""]
        if r is None:
            out += [f"Not run yet: `python -m benchmarks --only {bench.name}`.", ""]
            continue
        doc = _description(HERE / bench.script)
        out += [doc, "", f"`{r['command']}` ({r['wall_s']} s, {r['when']}"
                + ("" if r["returncode"] == 0 else f", exit code {r['returncode']}") + ")", ""]
        text, table = [], []
        for line in r["output"]:
            (table if line.startswith("|") else text).append(line)
        if text:
            out += ["```text", *text, "```", ""]
        if table:
            out += [*table, ""]
        if r["returncode"]:
            out += ["```text", *r["stderr_tail"], "```", ""]
    return "\n".join(out).rstrip() + "\n"


def _description(script: Path) -> str:
    import ast

    paras = (ast.get_docstring(ast.parse(script.read_text())) or "").split("\n\n")
    return " ".join(paras[1 if len(paras) > 1 else 0].split())  # what it measures


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="+", metavar="NAME",
                    help=f"benchmarks to run: {', '.join(BY_NAME)} (default: all)")
    ap.add_argument("--data", help="CIFAR-10 folder or tarball for the training benchmarks")
    ap.add_argument("--render-only", action="store_true",
                    help="rewrite the README from results.json without running anything")
    args = ap.parse_args(argv)
    unknown = [n for n in args.only or [] if n not in BY_NAME]
    if unknown:
        ap.error(f"--only: unknown benchmark(s) {', '.join(unknown)}; choose from "
                 f"{', '.join(BY_NAME)}")
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    if not args.render_only:
        results["machine"] = machine()
        for name in args.only or list(BY_NAME):
            print(f"benchmark {name} ...", flush=True)
            r = run_one(BY_NAME[name], args.data)
            results.setdefault("runs", {})[name] = r
            print("\n".join(f"  {ln}" for ln in r["output"]), flush=True)
            _atomic_write(RESULTS, json.dumps(results, indent=1))
    _atomic_write(README, render(results))
    print(f"wrote {README.relative_to(ROOT)}")
    failed = [n for n, r in results.get("runs", {}).items() if r["returncode"]]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: the cpu tier's training step on the CPU, fp32 against bf16 autocast and
channels-last, with and without torch.compile, in the same process.

The cpu tier's BYOL + DirectPred config (``experiments/train/cpu_cifar10_byol_directpred.yaml``:
the small ConvNet of width 32, projector 512-128, DirectPred predictor, batch 64 of 32 x 32
images) is built by the training engine (``build_method_for`` / ``build_optimizer``) and one
step is the engine's: ``training_step`` under the run's autocast -> backward -> SGD ->
``after_optimizer_step`` (EMA target, predictor from F). Four paths, alternating over
``--repeats`` rounds of ``--steps`` timed steps each (after warm-up; the compiled path's
compilation is timed separately): ``fp32`` (contiguous, the previous CPU default), ``fp32 +
channels-last``, ``bf16 + channels-last`` (the default where the CPU has native bf16) and the
last through ``torch.compile``. Reported: milliseconds per step (median), the speed-up over
fp32, and the step's share of a 40-epoch cpu-tier run re-estimated from the step times.
``--busy N`` repeats the measurement beside N processes spinning one core each.

    python benchmarks/bench_cpu_step.py [--steps 20] [--repeats 3] [--busy 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch
from _busy import busy as competing  # benchmarks/ is on sys.path when run as a script

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CONFIG = ROOT / "experiments" / "train" / "cpu_cifar10_byol_directpred.yaml"
STEPS_PER_EPOCH, EPOCHS = 78, 40  # 5,000 images at batch 64, the tier's 40 epochs
PATHS = (("fp32", "fp32", False, False), ("fp32 + channels-last", "fp32", True, False),
         ("bf16 + channels-last", "bf16", True, False),
         ("bf16 + channels-last + compile", "bf16", True, True))


def build(precision: str, channels_last: bool, compiled: bool):
    """Method, optimizer and step function of the engine for one path."""
    from dynamics.train.config import load_config
    from dynamics.train.setup import build_method_for, build_optimizer

    cfg = load_config(CONFIG, ["data.root=unused", f"precision={precision}",
                               f"channels_last={str(channels_last).lower()}", "device=cpu"])
    torch.manual_seed(0)
    method = build_method_for(cfg, (3, 32, 32), torch.device("cpu"))
    opt = build_optimizer(cfg, method)
    fn = torch.compile(method.training_step) if compiled else method.training_step
    return cfg, method, opt, fn


def time_path(path, views, steps: int, warmup: int) -> tuple[float, float]:
    """(seconds per step, seconds of the warm-up steps) of one path."""
    from dynamics.train.precision import autocast_for

    _, precision, cl, compiled = path
    cfg, method, opt, fn = build(precision, cl, compiled)
    dev = torch.device("cpu")
    t_warm = time.perf_counter()
    for i in range(warmup + steps):
        if i == warmup:
            t0 = time.perf_counter()
            t_warm = t0 - t_warm
        v1, v2 = views[i % len(views)], views[(i + 1) % len(views)]
        if cl:
            v1 = v1.contiguous(memory_format=torch.channels_last)
            v2 = v2.contiguous(memory_format=torch.channels_last)
        with autocast_for(dev, precision, (3, 32, 32)):
            out = fn(v1, v2)
        opt.zero_grad(set_to_none=True)
        out.loss.backward()
        opt.step()
        method.after_optimizer_step(i)
    return (time.perf_counter() - t0) / steps, t_warm


def measure(args) -> dict:
    from dynamics.threads import apply_threads

    choice = apply_threads("auto")
    g = torch.Generator().manual_seed(0)
    views = [torch.randn(64, 3, 32, 32, generator=g) for _ in range(4)]
    times: dict[str, list[float]] = {p[0]: [] for p in PATHS}
    warm: dict[str, float] = {}
    for _ in range(args.repeats):
        for path in PATHS:
            sec, w = time_path(path, views, args.steps, 3)
            times[path[0]].append(sec)
            warm.setdefault(path[0], w)  # the first round: the compilation of this process
    med = {k: statistics.median(v) for k, v in times.items()}
    return {"threads": choice.text(), "ms_per_step": {k: 1000 * v for k, v in med.items()},
            "speedup": {k: med["fp32"] / v for k, v in med.items()},
            "compile_s": warm[PATHS[-1][0]],
            "run_train_min": {k: v * STEPS_PER_EPOCH * EPOCHS / 60 for k, v in med.items()}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--busy", type=int, default=0, help="competing busy processes")
    ap.add_argument("--json")
    args = ap.parse_args()
    from dynamics.train.precision import cpu_has_native_bf16

    with competing(args.busy):
        res = measure(args)
    res.update(busy=args.busy, native_bf16=cpu_has_native_bf16())
    print(f"threads  : {res['threads']}; {args.busy} competing busy process(es); native bf16: "
          f"{'yes' if res['native_bf16'] else 'no (bf16 is emulated: auto keeps fp32)'}")
    print("| path | ms per step | speed-up over fp32 | 40-epoch training (min) |")
    print("| --- | --- | --- | --- |")
    for name, *_ in PATHS:
        print(f"| {name} | {res['ms_per_step'][name]:.1f} | {res['speedup'][name]:.2f}x | "
              f"{res['run_train_min'][name]:.1f} |")
    print(f"compile : the compiled path's first {3} steps took {res['compile_s']:.1f} s "
          "(compilation, once per process)")
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()

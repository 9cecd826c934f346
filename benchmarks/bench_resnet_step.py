"""The full BYOL + DirectPred step on a ResNet-18 (CIFAR stem, 32x32): ours against the
conventional per-sample DataLoader pipeline, same model, batch and optimizer, in the same run.

The method is built from ``experiments/train/paper_table8_cifar10.yaml`` (BYOL, ResNet-18 with
the 3x3 stride-1 stem, projector 512-128, DirectPred predictor, EMA 0.996, SGD) by the training
engine itself (``build_method_for`` / ``build_optimizer``), and one step is the engine's:
``training_step`` -> backward -> SGD -> ``after_optimizer_step`` (EMA target + DirectPred
predictor from F). Two feeds, alternating ``--repeats`` times:

  (a) ours: the uint8 images on the device, ``DeviceBatchLoader`` + ``TwoViewAugment`` (whole
      batches augmented with batched tensor ops), channels_last and bf16 autocast on CUDA,
      ``--compile`` optionally;
  (b) conventional: ``DataLoader(num_workers=--workers)`` over per-sample torchvision
      ``transforms.v2`` (the same "cifar" recipe), contiguous layout, the same precision.

Reported: training images/s of each (median over repeats) and their ratio; the augmentation
share of ours (the data pipeline alone against the whole step); the forward + backward FLOPs
of a step (``torch.utils.flop_counter``) and the achieved TFLOP/s, as a share of the card's
dense bf16 peak on CUDA; the time 100 epochs of CIFAR-10 (50,000 images) would take at that
throughput (training only, no evaluation).

    python benchmarks/bench_resnet_step.py                       # CPU: batch 32, fp32
    python benchmarks/bench_resnet_step.py --device cuda --batch 512 --compile   # a GPU
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dynamics.train.config import load_config  # noqa: E402
from dynamics.train.data import (  # noqa: E402
    DeviceBatchLoader,
    ImageDataset,
    TwoViewAugment,
    load_folder,
    torchvision_loader,
)
from dynamics.train.evaluate import autocast_for  # noqa: E402
from dynamics.train.setup import build_method_for, build_optimizer  # noqa: E402

CONFIG = ROOT / "experiments" / "train" / "paper_table8_cifar10.yaml"
CIFAR_TRAIN = 50_000
EPOCHS = 100
TARGET_MIN = 15.0  # minutes for the paper's 100-epoch CIFAR-10 run on one H100/H200
TARGET_PEAK = 0.30

#: Dense bf16 tensor-core peak (TFLOP/s) by device-name fragment, most specific first
#: (vendor data sheets; "--peak-tflops" overrides).
BF16_PEAK = (("H200", 989.0), ("H100 PCIe", 756.0), ("H100", 989.0), ("GH200", 989.0),
             ("A100", 312.0), ("L40S", 362.0), ("L4", 121.0), ("A10", 125.0),
             ("RTX 4090", 165.0), ("V100", 125.0))


def peak_tflops(device: torch.device, override: float | None) -> float | None:
    """The dense bf16 peak of ``device`` (None when unknown or on the CPU)."""
    if override:
        return override
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in BF16_PEAK if k in name), None)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def build(args, device: torch.device, in_shape):
    """Method, optimizer and step function of the engine for these settings."""
    cfg = load_config(CONFIG, [f"optim.batch_size={args.batch}", f"seed={args.seed}",
                               f"precision={args.precision}"])
    torch.manual_seed(args.seed)
    method = build_method_for(cfg, in_shape, device)
    opt = build_optimizer(cfg, method)
    step_fn = torch.compile(method.training_step) if args.compile else method.training_step
    return cfg, method, opt, step_fn


def step(cfg, method, opt, step_fn, v1, v2, device, channels_last: bool, i: int) -> None:
    if channels_last:
        v1 = v1.contiguous(memory_format=torch.channels_last)
        v2 = v2.contiguous(memory_format=torch.channels_last)
    with autocast_for(device, cfg.precision):
        out = step_fn(v1, v2)
    opt.zero_grad(set_to_none=True)
    out.loss.backward()
    opt.step()
    method.after_optimizer_step(i)


def forever(loader):
    while True:
        yield from loader


def images_per_s(make_loader, args, device, ours: bool, train: bool = True) -> float:
    """Throughput over ``args.steps`` steps after ``args.warmup`` warm-up steps."""
    loader = make_loader()
    it = forever(loader)
    model = build(args, device, (3, 32, 32)) if train else None
    channels_last = ours and device.type == "cuda"
    t0 = 0.0
    for i in range(args.warmup + args.steps):
        if i == args.warmup:
            sync(device)
            t0 = time.perf_counter()
        (v1, v2), _ = next(it)
        v1, v2 = v1.to(device, non_blocking=True), v2.to(device, non_blocking=True)
        if model is not None:
            step(*model, v1, v2, device, channels_last, i)
    sync(device)
    dt = time.perf_counter() - t0
    if hasattr(loader, "_iterator"):
        loader._iterator = None  # shut down persistent workers now
    return args.steps * args.batch / dt


def step_flops(args, device: torch.device) -> float:
    """Forward + backward FLOPs of one step at ``args.batch`` (counted at a batch of 8 on the
    device and scaled: every layer's cost is linear in the batch)."""
    from torch.utils.flop_counter import FlopCounterMode

    small = argparse.Namespace(**{**vars(args), "batch": 8, "compile": False})
    cfg, method, opt, step_fn = build(small, device, (3, 32, 32))
    v = torch.randn(8, 3, 32, 32, device=device)
    with FlopCounterMode(display=False) as counter:
        with autocast_for(device, cfg.precision):
            out = step_fn(v, v.flip(-1))
        out.loss.backward()
    return counter.get_total_flops() * args.batch / 8


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch", type=int, default=None, help="default: 512 on CUDA, 32 on CPU")
    ap.add_argument("--precision", default="auto", help="auto: bf16 autocast on CUDA, fp32 else")
    ap.add_argument("--steps", type=int, default=None, help="timed steps (default 20 CUDA, 3 CPU)")
    ap.add_argument("--warmup", type=int, default=None, help="default 5 CUDA (with compile), 1 CPU")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--workers", type=int, default=None,
                    help="DataLoader workers for (b) (default: the CPU count, at most 8)")
    ap.add_argument("--compile", action="store_true", help="(a): torch.compile the step")
    ap.add_argument("--data", default=None, help="CIFAR-10 folder or .tar.gz (default: random)")
    ap.add_argument("--subset", type=int, default=5000)
    ap.add_argument("--peak-tflops", type=float, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    device = torch.device(args.device)
    gpu = device.type == "cuda"
    args.batch = args.batch or (512 if gpu else 32)
    args.steps = args.steps or (20 if gpu else 3)
    args.warmup = args.warmup if args.warmup is not None else (5 if gpu else 1)
    args.workers = args.workers if args.workers is not None else min(os.cpu_count() or 1, 8)

    if args.data:
        ds = load_folder(args.data, split="train", subset=args.subset, seed=args.seed, resize=32)
    else:
        g = torch.Generator().manual_seed(args.seed)
        n = max(args.subset, 2 * args.batch)
        ds = ImageDataset(torch.randint(0, 256, (n, 3, 32, 32), generator=g, dtype=torch.uint8),
                          torch.zeros(n, dtype=torch.int64), ["none"], "random")
    aug = TwoViewAugment("cifar")

    def ours():
        return DeviceBatchLoader(ds, args.batch, args.seed, device, drop_last=True,
                                 transform=aug)

    def conventional():
        return torchvision_loader(ds, "cifar", args.batch, num_workers=args.workers,
                                  seed=args.seed, drop_last=True, pin_memory=gpu)

    res: dict[str, list[float]] = {"ours": [], "conventional": []}
    for _ in range(args.repeats):
        res["ours"].append(images_per_s(ours, args, device, True))
        res["conventional"].append(images_per_s(conventional, args, device, False))
    data_only = images_per_s(ours, args, device, True, train=False)
    med = {k: statistics.median(v) for k, v in res.items()}
    flops = step_flops(args, device)
    tflops = flops * med["ours"] / args.batch / 1e12
    peak = peak_tflops(device, args.peak_tflops)
    aug_share = med["ours"] / data_only
    minutes = EPOCHS * CIFAR_TRAIN / med["ours"] / 60

    name = torch.cuda.get_device_name(device) if gpu else f"cpu ({torch.get_num_threads()} threads)"
    print(f"BYOL + DirectPred, ResNet-18 (CIFAR stem), 32x32, batch {args.batch}, "
          f"{'bf16' if gpu and args.precision in ('auto', 'bf16') else 'fp32'}, {name}"
          f"{', compiled' if args.compile else ''}; data: {args.data or 'random uint8 images'}")
    print(f"(a) ours (on-device batched augmentation{', channels_last' if gpu else ''}): "
          f"{med['ours']:.1f} images/s  {[round(x, 1) for x in res['ours']]}")
    print(f"(b) per-sample torchvision + DataLoader({args.workers} workers): "
          f"{med['conventional']:.1f} images/s  {[round(x, 1) for x in res['conventional']]}")
    print(f"ratio (a)/(b): {med['ours'] / med['conventional']:.2f}x")
    print(f"augmentation share of ours: {100 * aug_share:.1f}% (data pipeline alone "
          f"{data_only:.0f} images/s)")
    share = f" = {100 * tflops / peak:.1f}% of the {peak:.0f} TFLOP/s bf16 peak " \
            f"(target >= {100 * TARGET_PEAK:.0f}%: " \
            f"{'met' if tflops / peak >= TARGET_PEAK else 'not met'})" if peak else ""
    print(f"forward+backward: {flops / args.batch / 1e9:.2f} GFLOP per image, achieved "
          f"{tflops:.3f} TFLOP/s{share}")
    verdict = (f" (target < {TARGET_MIN:.0f} min: {'met' if minutes < TARGET_MIN else 'not met'})"
               if gpu else "")
    print(f"100 epochs of CIFAR-10 at this throughput: {minutes:.1f} min{verdict}")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "args": vars(args), "images_per_s": res, "median": med, "data_only": data_only,
            "flops_per_step": flops, "tflops": tflops, "peak_tflops": peak,
            "augmentation_share": aug_share, "minutes_100_epochs": minutes}, indent=1))


if __name__ == "__main__":
    main()

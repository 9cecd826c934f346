"""Benchmark: batched on-device augmentation vs per-sample torchvision + DataLoader workers.

The same tiny ConvNet (3 conv layers with BatchNorm, projector and predictor MLPs) is trained
with a BYOL/SimSiam-like symmetric two-view cosine loss (stop-gradient on the target branch)
and SGD, once fed by

  (a) ``DeviceBatchLoader`` + ``TwoViewAugment(recipe)``: the uint8 images stay on the device,
      whole batches are augmented with batched tensor ops in the training process;
  (b) ``torchvision_loader``: ``DataLoader(num_workers=W)`` over a data set that applies
      ``torchvision_pipeline(recipe)`` (``transforms.v2``, per sample) twice per image.

Both paths run the same recipe (default "cifar": RandomResizedCrop(32), flip, ColorJitter
p=0.8, grayscale p=0.2, normalise), batch size, model, optimiser and number of steps, in the same
run, alternating (a), (b), (a), (b), ... ``--repeats`` times; the median (and the best)
throughput of each path is reported as training images per second (one image = one sample, i.e.
two augmented views), together with the data pipeline alone (batches drawn without the model).

On a CPU both paths share the cores with the model: (a) runs augmentation in the training process
(with ``--prefetch``, in a background thread that overlaps with the step); (b) runs it in
``--workers`` processes that compete with the model's ``--threads`` intra-op threads.

Data: ``--n`` random 32x32 uint8 images (default), or with ``--data PATH`` a seeded random
subset (``--subset``) of an image folder / .tar.gz (``--split``), resized to ``--size``.

    python benchmarks/bench_augment.py [--batch 256] [--steps 12] [--workers 2] [--repeats 3]
                                       [--data cifar10.tar.gz --split train --subset 5000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from dynamics.train.data.augment import TwoViewAugment
from dynamics.train.data.datasets import ImageDataset, load_folder
from dynamics.train.data.loader import DeviceBatchLoader, torchvision_loader


class TinyNet(nn.Module):
    """Encoder (3 conv + BN + ReLU, global pool) -> projector MLP -> predictor MLP."""

    def __init__(self, in_ch: int = 3, width: int = 16, proj: int = 64):
        super().__init__()

        def block(i, o, s):
            return [nn.Conv2d(i, o, 3, s, 1, bias=False), nn.BatchNorm2d(o), nn.ReLU(True)]

        self.encoder = nn.Sequential(*block(in_ch, width, 1), *block(width, 2 * width, 2),
                                     *block(2 * width, 4 * width, 2),
                                     nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.projector = nn.Sequential(nn.Linear(4 * width, 128), nn.BatchNorm1d(128),
                                       nn.ReLU(True), nn.Linear(128, proj))
        self.predictor = nn.Sequential(nn.Linear(proj, 128), nn.BatchNorm1d(128),
                                       nn.ReLU(True), nn.Linear(128, proj))

    def forward(self, x):
        z = self.projector(self.encoder(x))
        return z, self.predictor(z)


def byol_like_loss(model: TinyNet, v1: torch.Tensor, v2: torch.Tensor) -> torch.Tensor:
    z, p = model(torch.cat([v1, v2]))
    z1, z2 = z.detach().chunk(2)
    p1, p2 = p.chunk(2)
    return (4 - 2 * F.cosine_similarity(p1, z2).mean() - 2 * F.cosine_similarity(p2, z1).mean())


def _forever(loader):
    while True:
        yield from loader


def run_path(make_loader, model_state, args, device, train: bool, in_ch: int) -> float:
    """Images/s over ``args.steps`` steps after ``args.warmup`` warm-up steps."""
    loader = make_loader()
    model = TinyNet(in_ch, args.width).to(device)
    model.load_state_dict(model_state)
    opt = torch.optim.SGD(model.parameters(), lr=0.03, momentum=0.9, weight_decay=4e-4)
    it = _forever(loader)
    t0 = None
    for step in range(args.warmup + args.steps):
        if step == args.warmup:
            if device.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
        (v1, v2), _ = next(it)
        v1, v2 = v1.to(device, non_blocking=True), v2.to(device, non_blocking=True)
        if train:
            loss = byol_like_loss(model, v1, v2)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    del it
    if hasattr(loader, "_iterator"):
        loader._iterator = None  # shut down persistent workers now
    return args.steps * args.batch / dt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipe", default="cifar")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--steps", type=int, default=12, help="timed steps per measurement")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3, help="alternating (a)/(b) measurements")
    ap.add_argument("--workers", type=int, default=2, help="DataLoader workers for path (b)")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch intra-op threads of the main process (default: cpu count)")
    ap.add_argument("--n", type=int, default=4096, help="random images (without --data)")
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--width", type=int, default=16, help="ConvNet width (channels of conv1)")
    ap.add_argument("--data", default=None, help="image folder or .tar/.tar.gz (optional)")
    ap.add_argument("--split", default="train")
    ap.add_argument("--subset", type=int, default=5000)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--prefetch", action="store_true",
                    help="(a): augment the next batch in a background thread")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None, help="also write the results to this .json file")
    args = ap.parse_args()
    torch.set_num_threads(args.threads or os.cpu_count() or 1)
    load0 = os.getloadavg()
    device = torch.device(args.device)

    g = torch.Generator().manual_seed(args.seed)
    if args.data:
        t0 = time.perf_counter()
        ds = load_folder(args.data, split=args.split, subset=args.subset, seed=args.seed,
                         resize=args.size)
        print(f"loaded {len(ds)} images from {args.data} in {time.perf_counter() - t0:.2f} s")
    else:
        ds = ImageDataset(torch.randint(0, 256, (args.n, 3, args.size, args.size),
                                        generator=g, dtype=torch.uint8),
                          torch.zeros(args.n, dtype=torch.int64), ["none"], "random")
    torch.manual_seed(args.seed)
    state = TinyNet(ds.image_shape[0], args.width).state_dict()
    aug = TwoViewAugment(args.recipe)

    def device_loader():
        return DeviceBatchLoader(ds, args.batch, args.seed, device, drop_last=True,
                                 transform=aug, prefetch=args.prefetch)

    def tv_loader():
        return torchvision_loader(ds, args.recipe, args.batch, num_workers=args.workers,
                                  seed=args.seed, drop_last=True,
                                  pin_memory=device.type == "cuda")

    def measure(make_loader, train: bool) -> float:
        return run_path(make_loader, state, args, device, train, ds.image_shape[0])

    results: dict[str, list[float]] = {k: [] for k in ("a_train", "b_train", "a_data", "b_data")}
    for _ in range(args.repeats):
        results["a_train"].append(measure(device_loader, True))
        results["b_train"].append(measure(tv_loader, True))
    for _ in range(args.repeats):
        results["a_data"].append(measure(device_loader, False))
        results["b_data"].append(measure(tv_loader, False))
    med = {k: statistics.median(v) for k, v in results.items()}
    best = {k: max(v) for k, v in results.items()}

    print(f"recipe={args.recipe} batch={args.batch} images={len(ds)}x{tuple(ds.image_shape)} "
          f"steps={args.steps} repeats={args.repeats} device={device} "
          f"threads={torch.get_num_threads()} cpus={os.cpu_count()} workers(b)={args.workers} "
          f"prefetch(a)={args.prefetch} torch={torch.__version__} "
          f"python={platform.python_version()}")
    print(f"load average before/after: {load0[0]:.2f} / {os.getloadavg()[0]:.2f} (other "
          f"processes on a shared CPU skew the numbers; compare best-of with median)")
    print(f"{'images/s (median | best)':44s}{'train':>16s}{'data only':>18s}")
    for key, label in (("a", "(a) batched on-device + DeviceBatchLoader"),
                       ("b", "(b) per-sample torchvision + DataLoader")):
        print(f"{label:44s}{med[key + '_train']:8.0f} | {best[key + '_train']:5.0f}"
              f"{med[key + '_data']:10.0f} | {best[key + '_data']:5.0f}")
    print(f"ratio (a)/(b), median: training {med['a_train'] / med['b_train']:.2f}x, data "
          f"pipeline {med['a_data'] / med['b_data']:.2f}x; best-of: training "
          f"{best['a_train'] / best['b_train']:.2f}x, data pipeline "
          f"{best['a_data'] / best['b_data']:.2f}x")
    print("all measurements (img/s):", {k: [round(x) for x in v] for k, v in results.items()})
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"args": vars(args), "results": results, "median": med, "best": best},
                      fh, indent=1)


if __name__ == "__main__":
    main()

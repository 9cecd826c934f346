"""Benchmark: where a training step's time goes (the step profile of ``summary.json``).

Trains one run and prints its profile (:mod:`dynamics.train.step_profile`): the share of the
step time spent waiting for data (reading, decoding, augmenting), in forward, backward and the
optimizer, in the predictor update (DirectPred's eigendecomposition, EMA) and in the
instrumentation at the config's ``log.log_every``; then the evaluations' share of the run.

Default: the cpu tier's BYOL + DirectPred config (small ConvNet, batch 64) on a CIFAR-10 folder
or tarball given with ``--data`` (5,000 training images), ``--epochs`` epochs; without
``--data`` the same model on scikit-learn's digits (the only data that is always there, much
smaller images, so the data share is not representative). Targets checked: data < 20% and
update + instrument < 5% of the step time.

    python benchmarks/bench_train_profile.py [--data cifar10.tar.gz] [--epochs 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STEP = ("data", "forward", "backward", "optimizer", "update", "instrument")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", help="CIFAR-10 folder or .tar/.tar.gz (train/<class>/*.jpg)")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--threads", default="1", help="auto or an integer (default 1)")
    ap.add_argument("--json", help="also write the results to this JSON file")
    args = ap.parse_args()

    from dynamics.train.config import load_config
    from dynamics.train.trainer import train

    if args.data:
        config = ROOT / "experiments" / "train" / "cpu_cifar10_byol_directpred.yaml"
        extra = [f"data.root={args.data}"]
    else:
        config = ROOT / "experiments" / "train" / "cpu_digits_byol_directpred.yaml"
        extra = []
    with tempfile.TemporaryDirectory() as tmp:
        cfg = load_config(config, [f"out_dir={tmp}", f"optim.epochs={args.epochs}",
                                   "log.progress=false", f"threads={args.threads}", *extra])
        s = train(cfg)
    prof = s["profile"]
    sec = prof["seconds"]
    step_total = sum(sec[k] for k in STEP)
    step_share = {k: sec[k] / step_total for k in STEP}
    result = {
        "config": config.name, "data": "CIFAR-10 (--data)" if args.data else "digits",
        "epochs": args.epochs, "steps": prof["steps"], "batch": cfg.optim.batch_size,
        "log_every": cfg.log.log_every, "threads": s["threads"]["threads"],
        "images_per_s": prof["images_per_s"], "step_share": step_share,
        "run_share": prof["share"], "seconds": sec,
        "data_share_below_20pct": step_share["data"] < 0.20,
        "update_instrument_below_5pct": step_share["update"] + step_share["instrument"] < 0.05,
    }
    print(f"{config.name} on {result['data']}, {args.epochs} epochs, {prof['steps']} steps of "
          f"batch {cfg.optim.batch_size}, {result['threads']} thread(s): "
          f"{prof['images_per_s']:.0f} images/s")
    print("share of the step time: " + ", ".join(f"{k} {100 * v:.1f}%"
                                                 for k, v in step_share.items()))
    print("share of the run:       " + ", ".join(f"{k} {100 * v:.1f}%"
                                                 for k, v in prof["share"].items()))
    print(f"targets: data < 20%: {'met' if result['data_share_below_20pct'] else 'missed'}; "
          f"update + instrument < 5%: "
          f"{'met' if result['update_instrument_below_5pct'] else 'missed'}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()

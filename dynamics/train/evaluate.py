"""Evaluation of a (frozen) SSL encoder: data of a run, features, kNN, linear probes.

* :func:`load_run_data` -- the images of a run (:mod:`dynamics.train.data.run_images`, re-exported
  here): the pre-training set and the labelled probe sets (train/test), with the augmentation
  recipe and the matching deterministic eval transform.
* :func:`extract_features` -- backbone features of un-augmented images (eval mode, no grad,
  batched; bf16 autocast on CUDA when asked).
* :func:`online_eval` -- after every epoch: weighted kNN (k = ``eval.knn_k``) and a short linear
  probe (``eval.online_probe_epochs`` epochs) on the probe sets.
* :func:`offline_linear_eval` -- the paper's protocol at the end of training (official
  ``linear_feature_eval.py``): frozen backbone (eval-mode BN, no projector), StandardScaler
  fitted on the train features, ``Linear(d, C)`` trained with Adam (``eval.linear_lr`` = 3e-4,
  ``eval.linear_weight_decay`` = 1e-3, batch ``eval.linear_batch_size`` = 128) for
  ``eval.linear_epochs`` = 50 epochs. Both the final-epoch test accuracy (``final_accuracy``,
  the honest number) and the maximum test accuracy over epochs (``best_accuracy``, the official
  code's ``best_acc``: optimistic, selected on the test set) are reported, labelled.
* Under DDP (``dist`` given) every rank extracts the features of its own contiguous slice of
  the images and the slices are all-gathered (in the original order), so every rank holds all
  features; the kNN and the probes then run on rank 0 only (the others get ``None``) -- the
  replicas are identical, so this is the single-process result.
* :func:`evaluate_run` -- ``ssl-dynamics eval RUN_DIR``: load config.yaml and the last
  checkpoint, run kNN and the offline linear evaluation, write ``RUN_DIR/eval.json``.

Probe sets per data set: see :mod:`dynamics.train.data.run_images`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from dynamics.errors import ConfigError
from dynamics.train.config import TrainConfig
from dynamics.train.data.run_images import (  # noqa: F401 - re-exported: the evaluation's data
    HOLDOUT_FRACTION,
    EvalData,
    RunData,
    load_run_data,
    recipe_name,
)
from dynamics.train.precision import (  # noqa: F401 - autocast_for: kept importable here
    autocast_for,
    effective_precision,
    use_channels_last,
)

FEATURE_BATCH = 512

_FEATURES = ("frozen backbone features (eval-mode BN, no projector) of un-augmented images; "
             "StandardScaler fitted on train features; ")
PROTOCOLS = {  # by eval.linear_solver (dynamics.metrics.linear_exact.LINEAR_SOLVERS)
    "adam": _FEATURES + ("Linear(d, C) trained with Adam, cross-entropy, shuffled minibatches; "
                         "test accuracy after every epoch"),
    "lbfgs": _FEATURES + ("Linear(d, C) at the exact minimum of cross-entropy + (wd/2)||theta||^2"
                          " (full-batch L-BFGS from zero, max |grad| <= 1e-6); test accuracy "
                          "at the optimum"),
}
BEST_NOTE = ("best_accuracy = max TEST accuracy over the probe epochs (the official code's "
             "best_acc; optimistic, selected on the test set); final_accuracy = after the last "
             "epoch (the honest number)")


# --------------------------------------------------------------------------------------------
# Features and probes


@torch.no_grad()
def extract_features(method: Any, images: torch.Tensor, transform: Any, device: torch.device,
                     *, batch_size: int = FEATURE_BATCH, precision: str = "fp32",
                     channels_last: bool = False, dist: Any = None) -> torch.Tensor:
    """``method.backbone_features`` of ``transform(images)`` in eval mode, float32 (N, d) on
    ``device``. The method's train/eval mode is restored afterwards.

    ``dist`` (a :class:`~dynamics.train.distributed.DistContext`): under DDP rank r computes
    rows ``[r*m, (r+1)*m)`` (m = ceil(N / world_size); the last slice is padded by repeating the
    last image) and the slices are all-gathered, so every rank returns all N rows in order.
    Collective: every rank must call it."""
    if dist is not None and dist.is_distributed:
        n = images.shape[0]
        m = -(-n // dist.world_size)
        idx = torch.arange(dist.rank * m, (dist.rank + 1) * m).clamp_(max=max(n - 1, 0))
        local = extract_features(method, images[idx], transform, device,
                                 batch_size=batch_size, precision=precision,
                                 channels_last=channels_last)
        return dist.gather(local)[:n]
    was_training = method.training
    method.eval()
    try:
        parts = []
        for start in range(0, images.shape[0], batch_size):
            x = images[start: start + batch_size].to(device, non_blocking=True)
            x = transform(x) if transform is not None else x.float()
            if channels_last and x.ndim == 4:
                x = x.contiguous(memory_format=torch.channels_last)
            with autocast_for(device, precision):
                f = method.backbone_features(x)
            parts.append(f.float().flatten(1))
        return torch.cat(parts)
    finally:
        method.train(was_training)


@torch.no_grad()
def recalibrate_batchnorm(method: Any, images: torch.Tensor, transform: Any,
                          device: torch.device, batch_size: int = FEATURE_BATCH) -> int:
    """Re-estimate every BatchNorm's running mean and variance as the average of the batch
    statistics over ``images`` in batches of ``batch_size`` (``momentum=None``: a cumulative
    average; train-mode forwards of the backbone, no weight changes).
    An untrained network's default statistics (mean 0, variance 1) do not match its
    activations, which handicaps a random-initialisation baseline; this makes it fair.
    Returns the number of BatchNorm layers re-estimated."""
    bns = [m for m in method.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return 0
    saved = [(m, m.momentum) for m in bns]
    was_training = method.training
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the batches below
    method.train()
    try:
        for start in range(0, images.shape[0], batch_size):
            x = transform(images[start:start + batch_size].to(device))
            method.backbone_features(x)
    finally:
        for m, mom in saved:
            m.momentum = mom
        method.train(was_training)
    return len(bns)


def probe_features(method: Any, data: EvalData, device: torch.device, cfg: TrainConfig,
                   channels_last: bool = False, dist: Any = None
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """Features of the probe train and test images (:func:`extract_features`; collective
    under DDP)."""
    precision = effective_precision(device, cfg.precision, tuple(data.train_images.shape[1:]))
    kw = {"precision": precision, "channels_last": channels_last, "dist": dist}
    ftr = extract_features(method, data.train_images, data.transform, device, **kw)
    fte = extract_features(method, data.test_images, data.transform, device, **kw)
    return ftr, fte


def knn_eval(ftr, ytr, fte, yte, cfg: TrainConfig, num_classes: int) -> float | None:
    """Weighted kNN top-1 accuracy with the eval.* settings (None for non-finite features)."""
    from dynamics.metrics.probes import knn_accuracy

    if not (bool(torch.isfinite(ftr).all()) and bool(torch.isfinite(fte).all())):
        return None
    k = min(cfg.eval.knn_k, ftr.shape[0])
    return knn_accuracy(ftr, ytr.to(ftr.device), fte, yte.to(ftr.device), k=k,
                        temperature=cfg.eval.knn_temperature, num_classes=num_classes)


def linear_eval(ftr, ytr, fte, yte, cfg: TrainConfig, num_classes: int, epochs: int
                ) -> dict[str, Any]:
    """One linear probe with the eval.* settings; result as a labelled dict."""
    from dynamics.metrics.linear_exact import logistic_regression_probe
    from dynamics.metrics.probes import linear_probe

    e = cfg.eval
    exact = e.linear_solver == "lbfgs"
    settings = ({"solver": "lbfgs", "weight_decay": e.linear_weight_decay, "standardized": True}
                if exact else
                {"solver": "adam", "epochs": epochs, "lr": e.linear_lr,
                 "weight_decay": e.linear_weight_decay, "batch_size": e.linear_batch_size,
                 "standardized": True, "seed": cfg.seed})
    if not (bool(torch.isfinite(ftr).all()) and bool(torch.isfinite(fte).all())):
        return {"final_accuracy": None, "best_accuracy": None, "best_epoch": None,
                "train_accuracy": None, "note": "non-finite features", **settings}
    t0 = time.perf_counter()
    ytr, yte = ytr.to(ftr.device), yte.to(ftr.device)
    if exact:
        res = logistic_regression_probe(ftr, ytr, fte, yte, weight_decay=e.linear_weight_decay,
                                        num_classes=num_classes)
        extra = {"iterations": res.history["iterations"][0],
                 "grad_max": res.history["grad_max"][0]}
    else:
        res = linear_probe(ftr, ytr, fte, yte, epochs=epochs, lr=e.linear_lr,
                           weight_decay=e.linear_weight_decay, batch_size=e.linear_batch_size,
                           seed=cfg.seed, num_classes=num_classes)
        extra = {"test_accuracy_per_epoch": list(res.history["test_accuracy"])}
    return {"final_accuracy": res.final_accuracy, "best_accuracy": res.best_accuracy,
            "best_epoch": res.best_epoch, "train_accuracy": res.train_accuracy, **settings,
            "probe_time_s": time.perf_counter() - t0, **extra}


def online_subset(data: EvalData, samples: int | None, seed: int) -> EvalData:
    """``data`` with at most ``samples`` probe-train and ``samples`` test images, the same
    seeded choice at every epoch (``eval.online_samples``; None: ``data`` itself)."""
    import dataclasses

    if samples is None:
        return data
    g = torch.Generator().manual_seed(seed + 7919)  # its own stream: the run's RNG is untouched
    tr = torch.randperm(data.train_images.shape[0], generator=g)[:samples].sort().values
    te = torch.randperm(data.test_images.shape[0], generator=g)[:samples].sort().values
    return dataclasses.replace(data, train_images=data.train_images[tr],
                               train_labels=data.train_labels[tr],
                               test_images=data.test_images[te], test_labels=data.test_labels[te])


def online_eval(method: Any, data: EvalData, cfg: TrainConfig, device: torch.device, *,
                channels_last: bool = False, dist: Any = None) -> dict[str, Any] | None:
    """kNN + short linear probe (``eval.online_probe_epochs``) for an epoch row. Under DDP
    (``dist``): collective feature extraction, result on rank 0, None elsewhere."""
    t0 = time.perf_counter()
    data = online_subset(data, cfg.eval.online_samples, cfg.seed)
    ftr, fte = probe_features(method, data, device, cfg, channels_last, dist)
    if dist is not None and not dist.is_main:
        return None
    knn = knn_eval(ftr, data.train_labels, fte, data.test_labels, cfg, data.num_classes)
    probe = linear_eval(ftr, data.train_labels, fte, data.test_labels, cfg, data.num_classes,
                        cfg.eval.online_probe_epochs)
    return {"eval/knn_top1": knn, "eval/probe_final_accuracy": probe["final_accuracy"],
            "eval/probe_best_accuracy": probe["best_accuracy"],
            "eval/probe_epochs": cfg.eval.online_probe_epochs,
            "eval/time_s": time.perf_counter() - t0}


def offline_linear_eval(method: Any, data: EvalData, cfg: TrainConfig, device: torch.device,
                        *, channels_last: bool = False, dist: Any = None
                        ) -> dict[str, Any] | None:
    """The paper's linear evaluation + kNN + RankMe of the eval features (for summary.json /
    eval.json), every number labelled. Under DDP (``dist``): collective feature extraction,
    result on rank 0, None elsewhere."""
    from dynamics.metrics.rank import rankme

    t0 = time.perf_counter()
    ftr, fte = probe_features(method, data, device, cfg, channels_last, dist)
    extract_s = time.perf_counter() - t0
    if dist is not None and not dist.is_main:
        return None
    lin = linear_eval(ftr, data.train_labels, fte, data.test_labels, cfg, data.num_classes,
                      cfg.eval.linear_epochs)
    lin["protocol"] = PROTOCOLS[cfg.eval.linear_solver]
    if cfg.eval.linear_solver == "adam":
        lin["note"] = BEST_NOTE
    knn = knn_eval(ftr, data.train_labels, fte, data.test_labels, cfg, data.num_classes)
    finite = bool(torch.isfinite(fte).all())
    return {
        "linear_eval": lin,
        "knn": {"top1": knn, "k": min(cfg.eval.knn_k, ftr.shape[0]),
                "temperature": cfg.eval.knn_temperature,
                "rule": "weighted cosine kNN (InstDisc/DINO), train features as memory"},
        "data": {"probes": data.description, "train_samples": int(ftr.shape[0]),
                 "test_samples": int(fte.shape[0]), "num_classes": data.num_classes,
                 "feature_dim": int(ftr.shape[1])},
        "rankme_backbone_test": rankme(fte) if finite else None,
        "eval_time_s": time.perf_counter() - t0,
        "feature_extraction_s": extract_s,
    }


# --------------------------------------------------------------------------------------------
# ssl-dynamics eval RUN_DIR


def _read_eval_checkpoint(run, path: Path, default: bool) -> dict[str, Any]:
    """Load the checkpoint to evaluate; when the default ``last.pt`` cannot be read, the error
    names the newest readable epoch checkpoint to pass with ``--checkpoint``."""
    from dynamics.train.run_folder import load_checkpoint, load_newest_readable

    try:
        return load_checkpoint(path, map_location="cpu")
    except ConfigError as exc:
        if not default:
            raise
        alt, _, _ = load_newest_readable(run.checkpoints)  # one-line error when none is
        raise ConfigError("checkpoint", f"{str(exc).removeprefix('checkpoint: ')}; the newest "
                                        f"readable one is {alt}: pass --checkpoint {alt}"
                          ) from None


def evaluate_run(run_dir: str | Path, *, device: str | None = None,
                 checkpoint: str | Path | None = None, write: bool = True,
                 random_init: bool = False) -> dict[str, Any]:
    """Load a run's config and checkpoint (default ``checkpoints/last.pt``), run kNN and the
    offline linear evaluation, write ``eval.json`` (unless ``write=False``) and return it.

    ``random_init=True`` evaluates an untrained network of the run's architecture (its
    BatchNorm statistics re-estimated on the probe-train images, see
    :func:`recalibrate_batchnorm`) instead
    (initialised with the run's seed, no checkpoint): the random-encoder baseline every SSL
    result should beat. It is written to ``eval_random_init.json``."""
    from dynamics.train.run_folder import require_run_dir

    run = require_run_dir(run_dir)
    cfg = run.read_config()
    ckpt_path = Path(checkpoint) if checkpoint is not None else run.last
    if random_init and checkpoint is not None:
        raise ConfigError("checkpoint", "cannot be combined with --random-init")
    lock = None
    if write:  # the run folder is ours while we evaluate (never while a process trains it)
        lock = run.lock(hint="wait for it to end, or evaluate a copy of the folder").acquire()
    try:
        if not random_init and not ckpt_path.is_file():
            raise ConfigError("checkpoint", f"{ckpt_path} not found (the run has not saved a "
                                            f"checkpoint yet)")
        return _evaluate(run, cfg, ckpt_path, device, write, random_init)
    finally:
        if lock is not None:
            lock.release()


def _evaluate(run, cfg, ckpt_path: Path, device: str | None, write: bool,
              random_init: bool) -> dict[str, Any]:
    from dynamics.io import atomic_write_text, to_json
    from dynamics.train.distributed import DistContext
    from dynamics.train.run_folder import load_method_state
    from dynamics.train.setup import build_method_for, configure_torch

    ckpt = None if random_init else _read_eval_checkpoint(run, ckpt_path,
                                                          ckpt_path == run.last)
    dev = DistContext().device(device or cfg.device)
    data = load_run_data(cfg, pretrain=False)
    if data.eval is None:
        raise ConfigError("data.dataset", f"{cfg.data.dataset} has no labels: nothing to "
                                          f"evaluate")
    restore = configure_torch(cfg, dev)
    try:
        if random_init:
            from dynamics.train.setup import seed_everything

            seed_everything(cfg.seed)
            ckpt = {"epoch": 0, "step": 0}
            method = build_method_for(cfg, data.in_shape, dev)
            n_bn = recalibrate_batchnorm(method, data.eval.train_images, data.eval.transform,
                                         dev)
            ckpt["batchnorm"] = (f"running statistics of {n_bn} BatchNorm layer(s) "
                                 f"re-estimated on the {data.eval.train_images.shape[0]} "
                                 f"probe-train images (the fair random baseline)")
        else:
            method = build_method_for(cfg, data.in_shape, dev)
            load_method_state(method, ckpt["method"])
        result = offline_linear_eval(method, data.eval, cfg, dev,
                                     channels_last=use_channels_last(cfg.channels_last,
                                                                     data.in_shape))
    finally:
        restore()
    out = {"run_dir": str(run.path),
           "checkpoint": "random initialisation" if random_init else str(ckpt_path),
           "epoch": ckpt.get("epoch"), "step": ckpt.get("step"), "device": str(dev), **result,
           **({"batchnorm": ckpt["batchnorm"]} if "batchnorm" in ckpt else {})}
    if write:
        target = run.path / "eval_random_init.json" if random_init else run.eval
        atomic_write_text(target, to_json(out) + "\n")
    return out


__all__ = ["EvalData", "RunData", "evaluate_run", "extract_features", "linear_eval",
           "load_run_data", "offline_linear_eval", "online_eval"]

"""The replicas of a multi-process (DDP) run: made identical, checked, reported.

* :func:`replicate_method` -- at set-up: SyncBatchNorm where asked (GPU only), rank 0's weights
  on every rank, DirectPred's F_B averaged over the ranks, per-rank global RNG streams.
* :class:`ReplicaChecks` -- at every checkpoint every rank must hold bitwise the same method
  state; a mismatch is recorded, reported and repaired from rank 0 (:meth:`ReplicaChecks.sync`),
  and summary.json ``distributed`` says how the run was split and how the checks went.
* :func:`any_rank_stopped` -- SIGINT/SIGTERM agreed across the ranks.

Every function here is a no-op in a single-process run and a collective under DDP.
"""

from __future__ import annotations

import sys
from typing import Any

import torch

from dynamics.train.config import TrainConfig
from dynamics.train.data.loader import mix_seed
from dynamics.train.distributed import DistContext
from dynamics.train.setup import seed_everything


def replicate_method(method: torch.nn.Module, cfg: TrainConfig, dist: DistContext,
                     device: torch.device) -> torch.nn.Module:
    """``method`` made a replica of rank 0's (returned: SyncBatchNorm converts it) and the
    global RNGs re-seeded per rank (only the DataLoader fallback draws from them)."""
    if not dist.is_distributed:
        return method
    if cfg.sync_bn and device.type == "cuda":  # SyncBatchNorm is GPU-only
        method = torch.nn.SyncBatchNorm.convert_sync_batchnorm(method)
    elif cfg.sync_bn and dist.is_main:
        print(f"{cfg.name}: note: sync_bn=true is ignored on {device.type} (PyTorch "
              f"has SyncBatchNorm only on GPUs); BatchNorm uses per-process batches",
              file=sys.stderr, flush=True)
    dist.broadcast_module(method)  # identical replicas (same seed anyway)
    for module in method.modules():  # DirectPred: average F_B over the ranks
        if hasattr(module, "all_reduce"):
            module.all_reduce = dist.all_reduce_mean
    seed_everything(mix_seed(cfg.seed, dist.rank, dist.world_size, 3))
    return method


class ReplicaChecks:
    """The replica comparisons of a run (summary.json ``distributed``)."""

    def __init__(self, dist: DistContext, name: str):
        self.dist, self.name = dist, name
        self.checks = 0
        self.mismatches: list[dict[str, Any]] = []

    def sync(self, method: torch.nn.Module, step: int) -> None:
        """Under DDP (collective): check that every rank holds bitwise the same method state
        (parameters, target, predictor, F, BatchNorm statistics); a mismatch is recorded
        (summary.json ``distributed.replica_mismatches``), reported on stderr and repaired by
        copying rank 0's state."""
        if not self.dist.is_distributed:
            return
        bad = self.dist.replica_mismatches(method)
        self.checks += 1
        if bad:
            self.mismatches.append({"step": step, "tensors": bad[:20], "count": len(bad)})
            if self.dist.is_main:
                print(f"{self.name}: warning: replicas differ at step {step} in "
                      f"{len(bad)} tensor(s) ({', '.join(bad[:5])}...); copied rank 0's state "
                      f"to every rank", file=sys.stderr, flush=True)
            self.dist.broadcast_module(method)

    def summary(self) -> dict[str, Any]:
        """``{"distributed": ...}`` for summary.json under DDP; ``{}`` in a single process."""
        dist = self.dist
        if not dist.is_distributed:
            return {}
        return {"distributed": {
            "world_size": dist.world_size, "backend": dist.backend,
            "sharding": "per-process batch; rank r takes perm[r::world_size] of every epoch's "
                        "permutation; augmentations seeded per (seed, epoch, step, rank)",
            "gradient_sync": "all-reduce mean of the gradients and BatchNorm running "
                             "statistics after backward; DirectPred F_B averaged before use",
            "replica_checks": self.checks,
            "replicas_identical": not self.mismatches,
            "replica_mismatches": self.mismatches}}


def any_rank_stopped(dist: DistContext, device: torch.device, requested: bool, *,
                     check_now: bool = True) -> bool:
    """Whether any rank got SIGINT/SIGTERM (``requested`` on this rank); under DDP agreed by
    a collective, only on ``check_now`` steps so that a GPU run does not sync every step."""
    flag = requested
    if dist.is_distributed:
        if not check_now:
            return False
        t = torch.tensor([float(flag)], device=device)
        flag = bool(dist.all_reduce_sum(t) > 0)
    return flag


__all__ = ["ReplicaChecks", "any_rank_stopped", "replicate_method"]

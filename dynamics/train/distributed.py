"""Process-group context of a training run: one object the trainer asks about ranks.

Every distributed concern of the training engine goes through a :class:`DistContext`:

* ``rank`` / ``world_size`` / ``local_rank`` / ``is_main`` (rank 0 is the only one that writes
  files: run folder, checkpoints, metrics, logging services);
* ``all_reduce_mean(t)`` / ``all_reduce_sum(t)`` / ``all_reduce_min(t)`` (in place, return
  ``t``), ``gather(t)`` (concatenate every rank's ``t`` along dim 0, same result on every
  rank), ``barrier()``, ``broadcast_module(m)``
  (rank 0's parameters and buffers to everyone) and ``sync_gradients(module)`` (average the
  gradients after ``backward``: data-parallel training without wrapping the method in
  ``DistributedDataParallel``, whose hooks only fire through ``forward``);
* ``device(requested)`` picks ``cuda:<local_rank>`` under torchrun.

:func:`init_from_env` reads the torchrun variables (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
``MASTER_ADDR``/``MASTER_PORT``) and initialises ``torch.distributed`` with NCCL on CUDA, Gloo
otherwise; without them (or with ``WORLD_SIZE=1``) it returns the single-process context whose
collectives are no-ops. Batch sizes in the config are **per process** (solo-learn's
convention); the data loader shards every epoch's permutation by rank.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from dynamics.errors import ConfigError


@dataclass
class DistContext:
    """Single-process defaults; :func:`init_from_env` returns a multi-process one under
    torchrun."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None  #: None: no process group (single process)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1 and self.backend is not None

    # -- collectives (no-ops in a single process) ---------------------------------------------
    def all_reduce_mean(self, tensor: torch.Tensor) -> torch.Tensor:
        """Average ``tensor`` over the ranks, in place; returns it."""
        if self.is_distributed:
            import torch.distributed as tdist

            tdist.all_reduce(tensor, op=tdist.ReduceOp.SUM)
            tensor.div_(self.world_size)
        return tensor

    def all_reduce_sum(self, tensor: torch.Tensor) -> torch.Tensor:
        if self.is_distributed:
            import torch.distributed as tdist

            tdist.all_reduce(tensor, op=tdist.ReduceOp.SUM)
        return tensor

    def all_reduce_min(self, tensor: torch.Tensor) -> torch.Tensor:
        """Element-wise minimum over the ranks, in place; returns it."""
        if self.is_distributed:
            import torch.distributed as tdist

            tdist.all_reduce(tensor, op=tdist.ReduceOp.MIN)
        return tensor

    def gather(self, tensor: torch.Tensor) -> torch.Tensor:
        """Every rank's ``tensor`` concatenated along dim 0 in rank order (on every rank).
        All ranks must pass tensors of the same shape."""
        if not self.is_distributed:
            return tensor
        import torch.distributed as tdist

        parts = [torch.empty_like(tensor) for _ in range(self.world_size)]
        tdist.all_gather(parts, tensor.contiguous())
        return torch.cat(parts, dim=0)

    def barrier(self) -> None:
        if self.is_distributed:
            import torch.distributed as tdist

            tdist.barrier()

    def broadcast_module(self, module: torch.nn.Module) -> None:
        """Copy rank 0's parameters and buffers to every rank."""
        if not self.is_distributed:
            return
        import torch.distributed as tdist

        with torch.no_grad():
            for t in list(module.parameters()) + list(module.buffers()):
                tdist.broadcast(t.data, src=0)

    def sync_gradients(self, module: torch.nn.Module) -> None:
        """Average ``.grad`` of every parameter over the ranks (one flat all-reduce per dtype
        and device). Call between ``backward()`` and ``optimizer.step()``."""
        if not self.is_distributed:
            return
        groups: dict[tuple, list[torch.Tensor]] = {}
        for p in module.parameters():
            if p.grad is not None:
                groups.setdefault((p.grad.dtype, p.grad.device), []).append(p.grad)
        for grads in groups.values():
            flat = torch.cat([g.reshape(-1) for g in grads])
            self.all_reduce_mean(flat)
            offset = 0
            for g in grads:
                g.copy_(flat[offset: offset + g.numel()].view_as(g))
                offset += g.numel()

    def device(self, requested: str = "auto") -> torch.device:
        """The device of this process: ``auto`` = CUDA if available (``cuda:<local_rank>``
        under torchrun), else CPU. ConfigError for ``cuda`` without a CUDA device."""
        if requested == "cpu":
            return torch.device("cpu")
        if requested == "auto" and not torch.cuda.is_available():
            return torch.device("cpu")
        if not torch.cuda.is_available():
            raise ConfigError("device", f"{requested} requested but no CUDA device is "
                                        f"available; use device=cpu or device=auto")
        if requested.startswith("cuda:"):
            index = int(requested.split(":", 1)[1])
        else:
            index = self.local_rank if self.world_size > 1 else torch.cuda.current_device()
        if index >= torch.cuda.device_count():
            raise ConfigError("device", f"{requested}: only {torch.cuda.device_count()} CUDA "
                                        f"device(s) present")
        return torch.device("cuda", index)

    def shutdown(self) -> None:
        if self.is_distributed:
            import torch.distributed as tdist

            if tdist.is_initialized():
                tdist.destroy_process_group()


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ConfigError(name, f"environment variable must be an integer, got {value!r}"
                          ) from None


def init_from_env(backend: str | None = None) -> DistContext:
    """The process context from torchrun's environment.

    ``WORLD_SIZE`` unset or 1: single process (no process group). Otherwise initialise
    ``torch.distributed`` (``backend``: default NCCL when CUDA is available, Gloo otherwise)
    with ``init_method="env://"`` unless a process group already exists, and bind this process
    to ``cuda:LOCAL_RANK``.
    """
    world_size = _env_int("WORLD_SIZE", 1)
    rank = _env_int("RANK", 0)
    local_rank = _env_int("LOCAL_RANK", 0)
    if world_size <= 1:
        return DistContext()
    if not 0 <= rank < world_size:
        raise ConfigError("RANK", f"must be in [0, {world_size}), got {rank}")
    import torch.distributed as tdist

    if backend is None:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(local_rank)
    if not tdist.is_initialized():
        for var in ("MASTER_ADDR", "MASTER_PORT"):
            if var not in os.environ:
                raise ConfigError(var, "must be set for multi-process training (launch with "
                                       "torchrun --nproc_per_node=N ...)")
        tdist.init_process_group(backend=backend, init_method="env://", rank=rank,
                                 world_size=world_size)
    else:
        backend = tdist.get_backend()
    return DistContext(rank=rank, world_size=world_size, local_rank=local_rank, backend=backend)


__all__ = ["DistContext", "init_from_env"]

"""Process-group context of a training run: one object the trainer asks about ranks.

Launch (see the README's "Multi-GPU and multi-node training")::

    torchrun --nproc_per_node=N -m dynamics train CONFIG.yaml [key=value ...]

Every distributed concern of the training engine goes through a :class:`DistContext`:

* ``rank`` / ``world_size`` / ``local_rank`` / ``is_main`` (rank 0 is the only one that writes
  files: run folder, checkpoints, metrics, progress bar, logging services);
* ``all_reduce_mean(t)`` / ``all_reduce_sum(t)`` / ``all_reduce_min(t)`` (in place, return
  ``t``), ``gather(t)`` (concatenate every rank's ``t`` along dim 0, same result on every
  rank), ``gather_object(obj)`` / ``broadcast_object(obj)``, ``barrier()``,
  ``broadcast_module(m)`` (rank 0's parameters and buffers to everyone),
  ``sync_gradients(module)`` and ``replica_mismatches(module)``;
* ``device(requested)`` picks ``cuda:<local_rank>`` under torchrun.

Conventions (the ones solo-learn, DINO and the official SimSiam use):

* **Batch size is per process.** ``optim.batch_size`` = b images per process and step; the
  global batch is b x world_size. The per-epoch permutation (a function of (seed, epoch)) is
  shared by all ranks and rank r takes ``perm[r::world_size]`` (``DistributedSampler``'s
  interleaving), so the union of the ranks' step-s batches is exactly
  ``perm[s*b*W : (s+1)*b*W]``, the step-s batch of one process with batch b*W. Augmentations are
  drawn per (seed, epoch, step, rank).
* **Gradients are averaged by an explicit all-reduce** (``sync_gradients``, one flat buffer per
  dtype/device) between ``backward()`` and ``optimizer.step()``, instead of wrapping the method
  in ``DistributedDataParallel``: the methods run several forwards per step (two views, the
  target branch) and the DirectPred predictor runs its own collective inside the forward, which
  DDP's reducer hooks do not expect. The loss is a per-process mean, so the averaged gradient is
  the gradient of the mean loss over the global batch (exactly, up to BatchNorm: without
  ``sync_bn`` each process normalises with the statistics of its own b images, as DDP does).
* **DirectPred's F** is averaged before it is folded in (the predictor's ``all_reduce`` hook =
  ``all_reduce_mean``), so every process eigendecomposes the same matrix and writes the same
  predictor weight.
* **BatchNorm running statistics** (used only in eval mode) are averaged over the ranks in the
  same all-reduce as the gradients, so the replicas are bitwise identical after every step (and
  a resumed run is exact). ``sync_bn=true`` converts BatchNorm to ``SyncBatchNorm`` on CUDA
  (batch statistics over the global batch, as one process with the global batch would compute
  them); it is ignored on CPU, where PyTorch has no SyncBatchNorm.
* **Replica check.** At every checkpoint the trainer compares a digest of every parameter and
  buffer across ranks (``replica_mismatches``); differences are reported in summary.json and on
  stderr and repaired by broadcasting rank 0's state.

:func:`init_from_env` reads the torchrun variables (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
``MASTER_ADDR``/``MASTER_PORT``) and initialises ``torch.distributed`` with NCCL when the run's
device is CUDA and Gloo otherwise; without them (or with ``WORLD_SIZE=1``) it returns the
single-process context whose collectives are no-ops. A context that created the process group
(``owns_group``) destroys it in :meth:`DistContext.shutdown`; :func:`dynamics.train.trainer.train`
does that in a ``finally`` (also on errors).
"""

from __future__ import annotations

import hashlib
import inspect
import os
from dataclasses import dataclass
from typing import Any

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
    owns_group: bool = False  #: this context initialised the process group (and destroys it)

    @property
    def is_main(self) -> bool:
        """Whether this is rank 0 (the one that logs and writes files)."""
        return self.rank == 0

    @property
    def is_distributed(self) -> bool:
        """Whether a process group with more than one rank is in use."""
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
        """Sum ``tensor`` over the ranks, in place; returns it."""
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

    def gather_object(self, obj: Any) -> list[Any]:
        """Every rank's picklable ``obj``, in rank order (on every rank)."""
        if not self.is_distributed:
            return [obj]
        import torch.distributed as tdist

        out: list[Any] = [None] * self.world_size
        tdist.all_gather_object(out, obj)
        return out

    def broadcast_object(self, obj: Any) -> Any:
        """Rank 0's picklable ``obj`` (returned on every rank)."""
        if not self.is_distributed:
            return obj
        import torch.distributed as tdist

        box = [obj]
        tdist.broadcast_object_list(box, src=0)
        return box[0]

    def barrier(self) -> None:
        """Wait until every rank gets here (no-op in a single process)."""
        if self.is_distributed:
            import torch.distributed as tdist

            if self.backend == "nccl":
                tdist.barrier(device_ids=[torch.cuda.current_device()])
            else:
                tdist.barrier()

    def broadcast_module(self, module: torch.nn.Module) -> None:
        """Copy rank 0's parameters and buffers to every rank."""
        if not self.is_distributed:
            return
        import torch.distributed as tdist

        with torch.no_grad():
            for t in list(module.parameters()) + list(module.buffers()):
                tdist.broadcast(t.data, src=0)

    def sync_gradients(self, module: torch.nn.Module, *, bn_stats: bool = True) -> None:
        """Average ``.grad`` of every parameter over the ranks (one flat all-reduce per dtype
        and device). Call between ``backward()`` and ``optimizer.step()``.

        ``bn_stats``: average the BatchNorm running statistics (``running_mean`` /
        ``running_var``, updated by this step's forward) in the same all-reduce, so every rank
        holds bitwise the same state after every step (the statistics only matter in eval
        mode; their update is linear, so this equals averaging per-rank estimates at the end).
        ``SyncBatchNorm`` statistics are already identical and are skipped.

        Every rank must have gradients for the same parameters, in the same order (true for
        the methods here: every trainable parameter is used in every step).
        """
        if not self.is_distributed:
            return
        tensors = [p.grad for p in module.parameters() if p.grad is not None]
        if bn_stats:
            tensors += _bn_stats(module)
        groups: dict[tuple, list[torch.Tensor]] = {}
        for t in tensors:
            groups.setdefault((t.dtype, t.device), []).append(t)
        with torch.no_grad():
            for ts in groups.values():
                flat = torch.cat([t.reshape(-1) for t in ts])
                self.all_reduce_mean(flat)
                offset = 0
                for t in ts:
                    t.copy_(flat[offset: offset + t.numel()].view_as(t))
                    offset += t.numel()

    def replica_mismatches(self, module: torch.nn.Module) -> list[str]:
        """Names of the parameters, buffers and extra-state tensors (the running F of a
        closed-form predictor) of ``module`` that are not bitwise identical on every rank (empty in
        a single process). Collective; costs one host copy of the state."""
        if not self.is_distributed:
            return []
        from dynamics.train.checkpoint_files import state_tensors

        mine = {name: _digest(t)
                for name, t in state_tensors(module.state_dict(keep_vars=False)).items()}
        every = self.gather_object(mine)
        return sorted(k for k in mine if any(other.get(k) != mine[k] for other in every))

    def device(self, requested: str = "auto") -> torch.device:
        """The device of this process: ``auto`` = CUDA if available (``cuda:<local_rank>``
        under torchrun), else CPU. ConfigError for ``cuda`` without a CUDA device, and for an
        explicit ``cuda:N`` under a multi-process launch (every process would use GPU N)."""
        if requested == "cpu":
            return torch.device("cpu")
        if requested == "auto" and not torch.cuda.is_available():
            return torch.device("cpu")
        if not torch.cuda.is_available():
            raise ConfigError("device", f"{requested} requested but no CUDA device is "
                                        f"available; use device=cpu or device=auto")
        count = torch.cuda.device_count()
        if requested.startswith("cuda:"):
            index = int(requested.split(":", 1)[1])
            if self.world_size > 1 and count > 1:
                raise ConfigError("device", f"{requested} under a {self.world_size}-process "
                                            f"launch would put every process on one GPU; use "
                                            f"device=cuda (process i takes cuda:LOCAL_RANK)")
        elif self.world_size > 1:
            # torchrun: one GPU per process; a launcher that restricts every process to its own
            # GPU (CUDA_VISIBLE_DEVICES per task, e.g. srun --gpus-per-task=1) leaves one.
            local_world = _env_int("LOCAL_WORLD_SIZE", 1)
            if local_world > count:
                raise ConfigError("device", f"{local_world} processes on this node but "
                                            f"{count} CUDA device(s) visible; start one "
                                            f"process per GPU (--nproc_per_node={count})")
            index = self.local_rank if count > 1 else 0
        else:
            index = torch.cuda.current_device()
        if index >= count:
            raise ConfigError("device", f"{requested} (local rank {self.local_rank}): only "
                                        f"{count} CUDA device(s) present")
        return torch.device("cuda", index)

    def shutdown(self) -> None:
        """Destroy the process group if this context created it (idempotent)."""
        if self.is_distributed and self.owns_group:
            import torch.distributed as tdist

            if tdist.is_initialized():
                tdist.destroy_process_group()
            self.owns_group = False


def _bn_stats(module: torch.nn.Module) -> list[torch.Tensor]:
    """Running statistics of the (non-synchronised) BatchNorm layers of ``module``."""
    out = []
    for m in module.modules():
        if (isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.track_running_stats
                and not isinstance(m, torch.nn.SyncBatchNorm)):
            out += [t for t in (m.running_mean, m.running_var) if t is not None]
    return out


_GROUPS_CREATED = 0  #: process groups init_from_env created in this process (store prefixes)


def _digest(t: torch.Tensor) -> str:
    data = t.detach().reshape(-1).contiguous().cpu()
    h = hashlib.blake2b(digest_size=12)
    h.update(str((data.dtype, tuple(t.shape))).encode())
    h.update(data.view(torch.uint8).numpy().tobytes() if data.numel() else b"")
    return h.hexdigest()


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ConfigError(name, f"environment variable must be an integer, got {value!r}"
                          ) from None


def env_rank() -> int:
    """This process's rank from the launcher's environment (0 outside torchrun)."""
    return _env_int("RANK", 0)


def init_from_env(backend: str | None = None, device: str = "auto") -> DistContext:
    """The process context from torchrun's environment.

    ``WORLD_SIZE`` unset or 1: single process (no process group). Otherwise bind this process to
    its device (``device`` as in ``TrainConfig.device``: CUDA ``cuda:LOCAL_RANK`` unless
    ``cpu``) and initialise ``torch.distributed`` with ``init_method="env://"``; ``backend``
    defaults to NCCL for a CUDA device and Gloo for the CPU. An existing process group is reused
    (and then not destroyed by :meth:`DistContext.shutdown`).
    """
    world_size = _env_int("WORLD_SIZE", 1)
    rank = _env_int("RANK", 0)
    local_rank = _env_int("LOCAL_RANK", 0)
    if world_size <= 1:
        return DistContext()
    if not 0 <= rank < world_size:
        raise ConfigError("RANK", f"must be in [0, {world_size}), got {rank}")
    import torch.distributed as tdist

    ctx = DistContext(rank=rank, world_size=world_size, local_rank=local_rank)
    dev = ctx.device(device)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if tdist.is_initialized():
        if tdist.get_world_size() != world_size or tdist.get_rank() != rank:
            raise ConfigError("WORLD_SIZE", f"an existing process group has rank "
                                            f"{tdist.get_rank()} of {tdist.get_world_size()}, "
                                            f"the environment says {rank} of {world_size}")
        ctx.backend = str(tdist.get_backend())
        return ctx
    if backend is None:
        backend = "nccl" if dev.type == "cuda" else "gloo"
    if backend == "nccl" and dev.type != "cuda":
        raise ConfigError("device", "the NCCL backend needs CUDA devices; use device=cuda or "
                                    "the gloo backend")
    for var in ("MASTER_ADDR", "MASTER_PORT"):
        if var not in os.environ:
            raise ConfigError(var, "must be set for multi-process training (launch with "
                                   "torchrun --nproc_per_node=N ...)")
    kwargs: dict[str, Any] = {}
    if dev.type == "cuda" and "device_id" in inspect.signature(
            tdist.init_process_group).parameters:
        kwargs["device_id"] = dev  # binds NCCL to this GPU (no device guessing in barrier)
    # env:// rendezvous, with the store keys of this process's n-th group under their own
    # prefix: a second train() in the same torchrun launch (after the first one destroyed its
    # group) must not read the first group's stale addresses from torchrun's store.
    global _GROUPS_CREATED
    _GROUPS_CREATED += 1
    store, _, _ = next(tdist.rendezvous("env://", rank=rank, world_size=world_size))
    store = tdist.PrefixStore(f"dynamics.train/{_GROUPS_CREATED}", store)
    tdist.init_process_group(backend=backend, store=store, rank=rank, world_size=world_size,
                             **kwargs)
    ctx.backend, ctx.owns_group = backend, True
    return ctx


__all__ = ["DistContext", "env_rank", "init_from_env"]

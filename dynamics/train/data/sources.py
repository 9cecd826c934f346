"""Batch sources of the training loop: ``(view1, view2)`` per step, a pure function of
``(seed, epoch, step)`` (and the rank under DDP), so a resumed run sees exactly the batches of
an uninterrupted one.

* :class:`DeviceSource` -- on-device batched augmentation (:class:`DeviceBatchLoader`), the
  default for image data;
* :class:`SyntheticSource` -- views of the linear theory's data model;
* :class:`LoaderSource` -- the fallback (``data.on_device=false``): per-sample torchvision
  augmentation in DataLoader workers.

:func:`make_source` picks one for a config.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from dynamics.errors import ConfigError
from dynamics.train.config import TrainConfig
from dynamics.train.distributed import DistContext


class DeviceSource:
    """On-device batched augmentation (:class:`~dynamics.train.data.DeviceBatchLoader`)."""

    def __init__(self, dataset, recipe, cfg: TrainConfig, device, dist: DistContext):
        from dynamics.train.data.augment import TwoViewAugment
        from dynamics.train.data.loader import DeviceBatchLoader

        per_rank = len(dataset) // dist.world_size
        if cfg.optim.batch_size > per_rank:
            raise ConfigError("optim.batch_size", f"{cfg.optim.batch_size} is larger than the "
                                                  f"{per_rank} images per process; lower it "
                                                  f"(or raise data.subset)")
        self.loader = DeviceBatchLoader(dataset, cfg.optim.batch_size, generator=cfg.seed,
                                        device=device, drop_last=True,
                                        transform=TwoViewAugment(recipe), rank=dist.rank,
                                        world_size=dist.world_size)
        self.steps_per_epoch = len(self.loader)

    def epoch(self, epoch: int, start: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The ``(view1, view2)`` batches of ``epoch`` from step ``start`` on."""
        self.loader.set_epoch(epoch, start)
        for (v1, v2), _ in self.loader:
            yield v1, v2

    def state(self, epoch: int, step: int) -> dict[str, int]:
        """The resumable position ``{seed, epoch, step}``."""
        return {"seed": self.loader.seed, "epoch": epoch, "step": step}


class SyntheticSource:
    """Views of the linear theory's data model, seeded per (seed, epoch, step, rank)."""

    def __init__(self, views, cfg: TrainConfig, device, dist: DistContext):
        self.views, self.device, self.rank = views, device, dist.rank
        self.seed, self.batch = cfg.seed, cfg.optim.batch_size
        self.steps_per_epoch = max(1, cfg.data.synthetic_size // (cfg.optim.batch_size
                                                                  * dist.world_size))

    def epoch(self, epoch: int, start: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The ``(view1, view2)`` batches of ``epoch`` from step ``start`` on."""
        from dynamics.train.data.loader import mix_seed

        for step in range(start, self.steps_per_epoch):
            g = torch.Generator().manual_seed(mix_seed(self.seed, epoch, step, self.rank))
            yield self.views.sample_views(self.batch, g, device=self.device)

    def state(self, epoch: int, step: int) -> dict[str, int]:
        """The resumable position ``{seed, epoch, step}``."""
        return {"seed": self.seed, "epoch": epoch, "step": step}


class _EpochBatchSampler(torch.utils.data.Sampler):
    """Index batches of one epoch from a given step: a seeded permutation per epoch, sharded by
    rank, last incomplete batch dropped (same rule as DeviceBatchLoader)."""

    def __init__(self, n: int, batch: int, seed: int, rank: int, world_size: int):
        self.n, self.batch, self.seed = n, batch, seed
        self.rank, self.world_size = rank, world_size
        self.per_rank = n // world_size
        self.epoch, self.start = 0, 0

    def __len__(self) -> int:
        return self.per_rank // self.batch - self.start

    def __iter__(self):
        from dynamics.train.data.loader import mix_seed

        g = torch.Generator().manual_seed(mix_seed(self.seed, self.epoch, 0))
        perm = torch.randperm(self.n, generator=g)[: self.per_rank * self.world_size]
        perm = perm[self.rank:: self.world_size]
        for step in range(self.start, self.per_rank // self.batch):
            yield perm[step * self.batch: (step + 1) * self.batch].tolist()


class LoaderSource:
    """Fallback (``data.on_device=false``): per-sample torchvision augmentation in DataLoader
    workers. Batches are resumable exactly; the augmentations are reproducible for a fixed
    ``data.num_workers`` and resume exactly at epoch boundaries (and mid-epoch with
    ``num_workers=0``, where they use the checkpointed global RNG)."""

    def __init__(self, dataset, recipe, cfg: TrainConfig, device, dist: DistContext):
        from dynamics.train.data.loader import TwoViewDataset, torchvision_pipeline

        self.device, self.seed = device, cfg.seed
        # per-rank worker seeds under DDP (the single-process stream is unchanged)
        self.rank_words = (dist.rank,) if dist.world_size > 1 else ()
        self.sampler = _EpochBatchSampler(len(dataset), cfg.optim.batch_size, cfg.seed,
                                          dist.rank, dist.world_size)
        self.generator = torch.Generator()
        self.loader = torch.utils.data.DataLoader(
            TwoViewDataset(dataset, torchvision_pipeline(recipe)), batch_sampler=self.sampler,
            num_workers=cfg.data.num_workers, pin_memory=device.type == "cuda",
            generator=self.generator)
        self.steps_per_epoch = self.sampler.per_rank // cfg.optim.batch_size
        if self.steps_per_epoch < 1:
            raise ConfigError("optim.batch_size", f"{cfg.optim.batch_size} is larger than the "
                                                  f"{self.sampler.per_rank} images per process")

    def epoch(self, epoch: int, start: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The ``(view1, view2)`` batches of ``epoch`` from step ``start`` on, moved to device."""
        from dynamics.train.data.loader import mix_seed

        self.sampler.epoch, self.sampler.start = epoch, start
        self.generator.manual_seed(mix_seed(self.seed, epoch, start, 2, *self.rank_words))
        for (v1, v2), _ in self.loader:
            yield (v1.to(self.device, non_blocking=True), v2.to(self.device, non_blocking=True))

    def state(self, epoch: int, step: int) -> dict[str, int]:
        """The resumable position ``{seed, epoch, step}``."""
        return {"seed": self.seed, "epoch": epoch, "step": step}


def make_source(cfg: TrainConfig, data, device, dist: DistContext):
    """The batch source for ``cfg``: sampled views (a data set with a ``views`` tag, e.g.
    synthetic), on-device augmentation or the DataLoader fallback."""
    from dynamics.train.data.datasets import DATASETS

    if "views" in DATASETS.entry(cfg.data.dataset).tags:
        return SyntheticSource(data.pretrain, cfg, device, dist)
    if cfg.data.on_device:
        return DeviceSource(data.pretrain, data.recipe, cfg, device, dist)
    return LoaderSource(data.pretrain, data.recipe, cfg, device, dist)


__all__ = ["DeviceSource", "LoaderSource", "SyntheticSource", "make_source"]

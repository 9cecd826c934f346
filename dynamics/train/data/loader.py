"""Batch loaders: the on-device path (:class:`DeviceBatchLoader`) and the standard fallback.

:class:`DeviceBatchLoader` moves the uint8 images to the device once, draws a shuffled
permutation per epoch and yields ``(x, labels)`` batches, where ``x`` is the batch transformed on
the device (two views for a :class:`TwoViewAugment`, the uint8 batch without a transform). Both
the permutation and the augmentation parameters are functions of ``(seed, epoch, step)`` only,
so a run is reproducible and resumes exactly from ``state_dict()`` = ``{seed, epoch, step}``.

:func:`torchvision_loader` is the documented fallback: a ``torch.utils.data.DataLoader`` with
worker processes over :class:`TwoViewDataset`, which applies ``torchvision_pipeline(recipe)``
(``torchvision.transforms.v2``, per sample, on the CPU) twice per image.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from dynamics.errors import ConfigError
from dynamics.train.data.augment import Augmentation, Recipe, get_recipe

_PERM_STREAM, _AUG_STREAM = 0, 1


def mix_seed(*words: int) -> int:
    """A 63-bit seed that is a well-mixed function of the integers ``words``."""
    state = np.random.SeedSequence([int(w) % 2**63 for w in words]).generate_state(2, np.uint32)
    return (int(state[0]) << 31) ^ int(state[1])


class DeviceBatchLoader:
    """Shuffled batches of an in-memory data set, kept and augmented on ``device``.

    Args:
        dataset: anything with ``images`` (N, C, H, W) and ``labels`` (N,) tensors, e.g.
            :class:`~dynamics.train.data.datasets.ImageDataset`.
        batch_size: samples per batch (per rank).
        generator: an int seed or a ``torch.Generator`` (its ``initial_seed()`` is used).
        device: where the images are stored, indexed and augmented.
        drop_last: drop the last incomplete batch of an epoch.
        transform: ``transform(batch, generator)``, e.g. ``TwoViewAugment("cifar")`` or a
            :class:`Recipe`; None yields the raw uint8 batch.
        rank, world_size: shard every epoch's permutation (``perm[rank::world_size]``) for
            data-parallel training; all ranks must use the same seed.
        prefetch: prepare the next batch in a background thread while the current one trains
            (torch ops release the GIL, so on a CPU augmentation overlaps with the model; on a
            GPU kernels are asynchronous anyway). Batches are unchanged: each one is a pure
            function of ``(seed, epoch, step)``.

    Iterating runs the current epoch from the current step and then advances to the next epoch;
    ``set_epoch`` / ``load_state_dict`` choose where to start.
    """

    def __init__(self, dataset, batch_size: int, generator: int | torch.Generator = 0,
                 device: str | torch.device = "cpu", drop_last: bool = True,
                 transform: Callable | None = None, rank: int = 0, world_size: int = 1,
                 prefetch: bool = False):
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigError("batch_size", f"must be a positive integer, got {batch_size!r}")
        if not (isinstance(world_size, int) and world_size >= 1 and 0 <= rank < world_size):
            raise ConfigError("rank", f"must satisfy 0 <= rank < world_size, got {rank} of "
                                      f"{world_size}")
        if not isinstance(getattr(dataset, "images", None), torch.Tensor):
            raise ConfigError("dataset", f"needs an images tensor (N, C, H, W) and labels, got "
                                         f"{type(dataset).__name__} (synthetic data: use "
                                         f"sample_views)")
        self.device = torch.device(device)
        self.images = dataset.images.to(self.device)
        self.labels = torch.as_tensor(dataset.labels).to(self.device)
        n = self.images.shape[0]
        self.per_rank = n // world_size if drop_last else math.ceil(n / world_size)
        if self.per_rank < (batch_size if drop_last else 1):
            raise ConfigError("batch_size", f"{batch_size} is larger than the {self.per_rank} "
                                            f"samples per rank with drop_last=True")
        self.seed = (generator.initial_seed() if isinstance(generator, torch.Generator)
                     else int(generator))
        self.batch_size, self.drop_last = batch_size, drop_last
        self.transform, self.rank, self.world_size = transform, rank, world_size
        self.prefetch = bool(prefetch)
        self.epoch, self.step = 0, 0

    def __len__(self) -> int:
        if self.drop_last:
            return self.per_rank // self.batch_size
        return math.ceil(self.per_rank / self.batch_size)

    # -- state ---------------------------------------------------------------------------------
    def set_epoch(self, epoch: int, step: int = 0) -> None:
        """Start the next iteration at ``(epoch, step)``."""
        if epoch < 0 or not 0 <= step <= len(self):
            raise ConfigError("step", f"must be in [0, {len(self)}] with epoch >= 0, got "
                                      f"epoch={epoch}, step={step}")
        self.epoch, self.step = int(epoch), int(step)

    def state_dict(self) -> dict[str, int]:
        """Where the next batch comes from (the step after the last one handed out)."""
        if self.step >= len(self):
            return {"seed": self.seed, "epoch": self.epoch + 1, "step": 0}
        return {"seed": self.seed, "epoch": self.epoch, "step": self.step}

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Resume from :meth:`state_dict` (the seed must match this loader's)."""
        if int(state["seed"]) != self.seed:
            raise ConfigError("seed", f"checkpoint was written with seed {state['seed']}, this "
                                      f"loader has {self.seed}")
        self.set_epoch(int(state["epoch"]), int(state["step"]))

    # -- sampling ------------------------------------------------------------------------------
    def permutation(self, epoch: int) -> torch.Tensor:
        """This rank's sample order for ``epoch`` (on the CPU)."""
        g = torch.Generator().manual_seed(mix_seed(self.seed, epoch, _PERM_STREAM))
        n = self.images.shape[0]
        perm = torch.randperm(n, generator=g)
        total = self.per_rank * self.world_size
        if total > n:  # drop_last=False and uneven shards: wrap around like DistributedSampler
            perm = torch.cat([perm, perm[: total - n]])
        return perm[:total][self.rank:: self.world_size]

    def augment_generator(self, epoch: int, step: int) -> torch.Generator:
        """The augmentation generator of ``(epoch, step)`` on this rank, seeded on ``device``."""
        g = torch.Generator(device=self.device)
        return g.manual_seed(mix_seed(self.seed, epoch, step, self.rank, _AUG_STREAM))

    def batch(self, epoch: int, step: int, perm: torch.Tensor | None = None):
        """The batch ``(x, labels)`` at ``(epoch, step)``; a pure function of its arguments."""
        perm = self.permutation(epoch) if perm is None else perm
        idx = perm[step * self.batch_size: (step + 1) * self.batch_size].to(self.device)
        x, y = self.images[idx], self.labels[idx]
        if self.transform is not None:
            x = self.transform(x, self.augment_generator(epoch, step))
        return x, y

    def __iter__(self) -> Iterator:
        epoch = self.epoch
        perm = self.permutation(epoch).to(self.device)
        if not self.prefetch:
            while self.step < len(self):
                step = self.step
                self.step = step + 1  # a checkpoint taken while this batch trains resumes after it
                yield self.batch(epoch, step, perm)
        else:
            with ThreadPoolExecutor(1) as pool:
                ahead = pool.submit(self.batch, epoch, self.step, perm) if self.step < len(self) \
                    else None
                while ahead is not None:
                    step = self.step
                    self.step = step + 1
                    current = ahead.result()
                    ahead = (pool.submit(self.batch, epoch, self.step, perm)
                             if self.step < len(self) else None)
                    yield current
        self.epoch, self.step = epoch + 1, 0


# --------------------------------------------------------------------------- fallback path
def torchvision_pipeline(recipe: str | Recipe):
    """The same recipe as a per-sample ``torchvision.transforms.v2`` pipeline.

    ``ToImage`` + ``ToDtype(float32, scale=True)`` first, so that every operation works on float
    images like the batched path; then each operation's torchvision counterpart in the same order.
    Accepts PIL images, (C, H, W) uint8 tensors or (H, W, C) arrays.
    """
    from torchvision.transforms import v2

    r = get_recipe(recipe)
    ops: list = [v2.ToImage(), v2.ToDtype(torch.float32, scale=True)]
    for op in r.ops:
        if not isinstance(op, Augmentation):
            raise ConfigError("augment.recipe", f"{op!r} has no torchvision counterpart")
        ops.append(op.to_torchvision())
    return v2.Compose(ops)


class TwoViewDataset(torch.utils.data.Dataset):
    """Map-style data set yielding ``((view1, view2), label)`` via a per-sample transform."""

    def __init__(self, dataset, transform: Callable):
        self.images, self.labels = dataset.images, torch.as_tensor(dataset.labels)
        self.transform = transform

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, i):
        img = self.images[i]
        return (self.transform(img), self.transform(img)), self.labels[i]


def torchvision_loader(dataset, recipe: str | Recipe, batch_size: int, num_workers: int = 2,
                       seed: int = 0, drop_last: bool = True, pin_memory: bool = False,
                       persistent_workers: bool | None = None) -> torch.utils.data.DataLoader:
    """Fallback: ``DataLoader(TwoViewDataset(dataset, torchvision_pipeline(recipe)))``.

    Shuffling uses a generator seeded with ``seed``; DataLoader seeds every worker's torch RNG
    from it, so the torchvision augmentations are reproducible for a fixed ``num_workers``.
    """
    pipe = torchvision_pipeline(recipe)
    g = torch.Generator().manual_seed(int(seed))
    if persistent_workers is None:
        persistent_workers = num_workers > 0
    return torch.utils.data.DataLoader(
        TwoViewDataset(dataset, pipe), batch_size=batch_size, shuffle=True, generator=g,
        num_workers=num_workers, drop_last=drop_last, pin_memory=pin_memory,
        persistent_workers=persistent_workers)


__all__ = ["DeviceBatchLoader", "TwoViewDataset", "mix_seed", "torchvision_loader",
           "torchvision_pipeline"]

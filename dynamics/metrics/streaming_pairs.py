"""Constant-memory accumulators over pairs of rows: positive-pair alignment and within-batch
uniformity (Wang & Isola 2020). Conventions (``update`` / ``compute`` / ``merge`` /
``state_dict``, devices, output types) as in :mod:`dynamics.metrics.streaming`, which
re-exports both classes.

- :class:`StreamingAlignment` E||x - y||^alpha over positive pairs: a running float64 sum and
  a pair count, so it streams **exactly** (equal to ``alignment(cat(xs), cat(ys))``).
- :class:`StreamingBatchUniformity` uniformity over **within-batch pairs** (the training-time
  semantics of Wang & Isola's code): the all-pairs uniformity does not stream, since its mean
  runs over all N(N-1)/2 pairs; for it keep the samples and call
  :func:`~dynamics.metrics.uniformity` once.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from dynamics.errors import ConfigError
from dynamics.metrics._accumulator import _Accumulator
from dynamics.metrics._common import as_matrix, check_positive, row_norms_checked
from dynamics.metrics.alignment_uniformity import _auto_block, alignment_terms, pair_logsumexp


class StreamingAlignment(_Accumulator):
    """:func:`~dynamics.metrics.alignment` over many batches of positive pairs: the running sum
    of ||x_i - y_i||^alpha (float64) and the pair count; ``compute()`` -> their ratio, equal to
    ``alignment(cat(xs), cat(ys))``.

    Args:
        alpha: exponent of the distance, > 0 (default 2).
        normalize: L2-normalise the rows first (default False: rows must already be unit norm).
    Example:
        >>> acc = StreamingAlignment().update(torch.eye(2), torch.eye(2))  # distances 0, 0
        >>> round(acc.update(torch.eye(2), torch.eye(2).flip(0)).compute(), 6)  # (0+0+2+2)/4
        1.0
    """

    def __init__(self, alpha: float = 2.0, *, normalize: bool = False):
        super().__init__()
        self.alpha = check_positive("alpha", alpha)
        self.normalize = bool(normalize)
        self.count = 0
        self._sum: torch.Tensor | None = None

    def update(self, x: Any, y: Any) -> StreamingAlignment:
        """Fold in a batch of positive pairs (x_i, y_i): adds ||x_i - y_i||^alpha to the sum.

        Args:
            x: (B, d) first-view embeddings; torch tensor or numpy array / list.
            y: (B, d) second-view embeddings (row i pairs with row i of x), on x's device.
        Returns:
            This accumulator (calls chain).
        """
        terms = alignment_terms(x, y, self.alpha, self.normalize)
        terms = self._adopt(terms, not isinstance(x, torch.Tensor))
        s = terms.sum()
        self._sum = s if self._sum is None else self._sum + s
        self.count += terms.shape[0]
        return self

    def merge(self, other: StreamingAlignment) -> StreamingAlignment:
        """Fold in another accumulator's pairs (same alpha and normalize).

        Args:
            other: another :class:`StreamingAlignment` with the same alpha and normalize.
        Returns:
            This accumulator, now holding the pairs of both.
        """
        self._check_other(other)
        if (other.alpha, other.normalize) != (self.alpha, self.normalize):
            raise ConfigError("other", "must use the same alpha and normalize")
        if other._sum is not None:
            s = other._sum.to(self._device)
            self._sum = s if self._sum is None else self._sum + s
            self.count += other.count
        return self

    def compute(self) -> float:
        """Alignment E||x - y||^alpha over all pairs so far (Wang & Isola 2020).

        Returns:
            Python float in [0, 2^alpha]; raises ``ConfigError`` before the first pair.
        """
        if self._sum is None or self.count == 0:
            raise ConfigError("count", "needs at least one pair (call update first)")
        return float(self._sum / self.count)

    def state_dict(self) -> dict[str, Any]:
        """Settings, pair count, running sum and output settings, for checkpoints.

        Returns:
            dict: alpha, normalize, count, sum (a Python float or None), device, dtype, numpy.
        """
        return {"alpha": self.alpha, "normalize": self.normalize, "count": self.count,
                "sum": None if self._sum is None else float(self._sum), **self._io_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict`.

        Args:
            state: a dict from :meth:`state_dict`.
        """
        self._load_io_state(state)
        self.alpha, self.normalize = float(state["alpha"]), bool(state["normalize"])
        self.count = int(state["count"])
        self._sum = None if state["sum"] is None else torch.tensor(
            state["sum"], dtype=torch.float64, device=self._device)


class StreamingBatchUniformity(_Accumulator):
    """Uniformity over **within-batch pairs**, the semantics of Wang & Isola's training code
    (each batch contributes its B(B-1)/2 distinct pairs; pairs across batches are never
    formed, so this is *not* the all-pairs uniformity of the concatenated data — for that
    keep the samples and call :func:`~dynamics.metrics.uniformity`).

    - ``compute()`` (pooled): log of the mean of exp(-t ||x_i - x_j||^2) over all within-batch
      pairs of all batches, log( sum_b sum_{i<j in b} e^{-t d_ij^2} / sum_b B_b(B_b-1)/2 ).
      One batch: equal to ``uniformity(x, t)``. Memory O(1) (a float64 log-sum-exp and a pair
      count). With equal batch sizes this is the consistent estimator of L_unif(t) and is
      closer to it than the batch mean (Jensen).
    - :meth:`batch_mean`: the mean over batches of the per-batch ``uniformity`` values (what
      averaging the per-step training loss over an epoch reports).

    Batches need B >= 2; rows L2-normalised unless ``normalize=True``.

    Args:
        t: kernel scale, > 0 (default 2).
        normalize: L2-normalise the rows first (default False: rows must already be unit norm).
        block_size: rows per block of :func:`~dynamics.metrics.uniformity` (an integer >= 1),
            or None (default) for its default; memory and speed only.
    Example:
        >>> apart, same = torch.tensor([[1., 0.], [-1., 0.]]), torch.tensor([[1., 0.], [1., 0.]])
        >>> acc = StreamingBatchUniformity().update(apart).update(same)  # batches: -8 and 0
        >>> round(acc.compute(), 4), round(acc.batch_mean(), 4)  # log((e^-8 + 1) / 2), -8 / 2
        (-0.6928, -4.0)
    """

    def __init__(self, t: float = 2.0, *, normalize: bool = False,
                 block_size: int | None = None):
        super().__init__()
        self.t = check_positive("t", t)
        self.normalize = bool(normalize)
        self.block_size = None if block_size is None else _auto_block(1, block_size)
        self.n_pairs = 0
        self.n_batches = 0
        self._lse: torch.Tensor | None = None
        self._batch_sum: torch.Tensor | None = None

    def update(self, x: Any) -> StreamingBatchUniformity:
        """Fold in one batch x (B >= 2): its within-batch pairs only.

        Args:
            x: (B, d) batch, B >= 2; torch tensor or numpy array / list.
        Returns:
            This accumulator (calls chain).
        """
        xt, was_numpy = as_matrix("x", x, min_rows=2)
        xt = self._adopt(row_norms_checked("x", xt, self.normalize), was_numpy)
        b = xt.shape[0]
        pairs = b * (b - 1) // 2
        lse = pair_logsumexp(xt, self.t, self.block_size)
        value = lse - math.log(pairs)
        self._lse = lse if self._lse is None else torch.logaddexp(self._lse, lse)
        self._batch_sum = value if self._batch_sum is None else self._batch_sum + value
        self.n_pairs += pairs
        self.n_batches += 1
        return self

    def merge(self, other: StreamingBatchUniformity) -> StreamingBatchUniformity:
        """Fold in another accumulator's batches (same t and normalize).

        Args:
            other: another :class:`StreamingBatchUniformity` with the same t and normalize.
        Returns:
            This accumulator, now holding the batches of both.
        """
        self._check_other(other)
        if (other.t, other.normalize) != (self.t, self.normalize):
            raise ConfigError("other", "must use the same t and normalize")
        if other._lse is not None and other._batch_sum is not None:
            lse, bs = other._lse.to(self._device), other._batch_sum.to(self._device)
            self._lse = lse if self._lse is None else torch.logaddexp(self._lse, lse)
            self._batch_sum = bs if self._batch_sum is None else self._batch_sum + bs
            self.n_pairs += other.n_pairs
            self.n_batches += other.n_batches
        return self

    def _need(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self._lse is None or self._batch_sum is None:
            raise ConfigError("count", "needs at least one batch (call update first)")
        return self._lse, self._batch_sum

    def compute(self) -> float:
        """Pooled uniformity: log mean exp(-t d^2) over all within-batch pairs so far.

        Returns:
            Python float <= 0 up to rounding; raises ``ConfigError`` before the first batch.
        """
        lse, _ = self._need()
        return float(lse) - math.log(self.n_pairs)

    def batch_mean(self) -> float:
        """Mean over batches of the per-batch uniformity values.

        Returns:
            Python float <= 0 up to rounding; <= :meth:`compute` for equal batch sizes (Jensen).
        """
        _, total = self._need()
        return float(total) / self.n_batches

    def state_dict(self) -> dict[str, Any]:
        """Settings, pair/batch counts, running sums and output settings, for checkpoints.

        Returns:
            dict: t, normalize, n_pairs, n_batches, lse, batch_sum (Python floats or None),
            device, dtype, numpy.
        """
        return {"t": self.t, "normalize": self.normalize, "n_pairs": self.n_pairs,
                "n_batches": self.n_batches,
                "lse": None if self._lse is None else float(self._lse),
                "batch_sum": None if self._batch_sum is None else float(self._batch_sum),
                **self._io_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict`.

        Args:
            state: a dict from :meth:`state_dict`.
        """
        self._load_io_state(state)
        self.t, self.normalize = float(state["t"]), bool(state["normalize"])
        self.n_pairs, self.n_batches = int(state["n_pairs"]), int(state["n_batches"])

        def _t(v):
            return None if v is None else torch.tensor(v, dtype=torch.float64,
                                                       device=self._device)

        self._lse, self._batch_sum = _t(state["lse"]), _t(state["batch_sum"])

"""Constant-memory accumulators: the metrics of this package over many batches.

Each accumulator has ``update(batch)`` (returns self), ``compute()``, ``merge(other)`` (combine
shards, e.g. after gathering from DDP ranks) and ``state_dict()`` / ``load_state_dict()``.
State lives on the device of the first ``update`` (later batches are moved there), in float64.
Array results come back as numpy if the first update was a numpy array, else as torch tensors
in the first batch's dtype; scalars are Python floats.

Which metrics stream exactly (equal, up to float rounding, to the one-shot function on the
concatenated batches):

- :class:`StreamingMoments` count, mean, centred scatter M2 (Chan et al.'s pairwise merge, so
  centring is stable), hence the covariance (centred, 1/(N-1)) and the second moment
  (1/N) Z^T Z = (M2 + N mean mean^T)/N. Everything spectral follows from these d x d sums:
- :class:`StreamingRankMe` RankMe needs the singular values of Z, and sigma_k(Z)^2 are the
  eigenvalues of Z^T Z = M2 + N mean mean^T, so it streams **exactly**.
- :class:`StreamingSpectrum` covariance eigenvalues, participation ratio, top-k fraction.
- :class:`StreamingNormalizedStd` per-dimension moments of the L2-normalised rows.
- :class:`StreamingAlignment` the mean over positive pairs.

Uniformity does **not** stream: its mean runs over all N(N-1)/2 pairs, which needs every
sample. For the exact all-pairs value keep the embeddings and call
:func:`~dynamics.metrics.uniformity` once (65,536 x 128 float32 is 32 MiB and runs blockwise).
:class:`StreamingBatchUniformity` instead implements the training-time semantics of Wang &
Isola's code, where uniformity is a per-batch quantity over **within-batch pairs** only; it
reports the pooled value (log of the mean of exp(-t d^2) over all within-batch pairs of all
batches) and the mean of the per-batch values.

Module layout: the moment-based accumulators are defined here; the pair-based
:class:`StreamingAlignment` and :class:`StreamingBatchUniformity` live in
:mod:`dynamics.metrics.streaming_pairs` (re-exported here), the shared base class in
:mod:`dynamics.metrics._accumulator`.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from dynamics.errors import ConfigError
from dynamics.metrics._accumulator import _Accumulator
from dynamics.metrics._common import (
    as_matrix,
    check_int,
    check_positive,
    merge_moments,
    moments64,
    out,
    sym_eigvalsh,
)
from dynamics.metrics.collapse_signals import variance_fraction_from_eigenvalues
from dynamics.metrics.rank import (
    rankme_from_singular_values,
    singular_values_from_gram,
)
from dynamics.metrics.streaming_pairs import StreamingAlignment, StreamingBatchUniformity

__all__ = [
    "StreamingAlignment",
    "StreamingBatchUniformity",
    "StreamingMoments",
    "StreamingNormalizedStd",
    "StreamingRankMe",
    "StreamingSpectrum",
]


# --------------------------------------------------------------------------------------------
# Moments and everything spectral


class StreamingMoments(_Accumulator):
    """Running count, mean and centred scatter M2 = sum_i (z_i - mean)(z_i - mean)^T of the rows
    of the batches (float64, d x d; memory O(d^2) whatever the number of samples).

    ``centered`` (default True) is the default for :meth:`covariance`, :meth:`spectrum`,
    :meth:`participation_ratio` and :meth:`top_k_variance_fraction`; conventions as in
    :mod:`dynamics.metrics.collapse_signals`: centred = M2/(N-1), uncentred = (1/N) Z^T Z.

    Args:
        centered: default of the results' ``centered`` argument (True or False; default True).
    Example:
        >>> acc = StreamingMoments().update(torch.tensor([[1., 0.], [-1., 0.]]))
        >>> acc.update(torch.tensor([[0., 2.], [0., -2.]])).spectrum()  # as for all 4 rows
        tensor([2.6667, 0.6667])
    """

    def __init__(self, *, centered: bool = True):
        super().__init__()
        if not isinstance(centered, bool):
            raise ConfigError("centered", f"must be true or false, got {centered!r}")
        self.centered = centered
        self.count = 0
        self._mean: torch.Tensor | None = None
        self._m2: torch.Tensor | None = None

    # -- accumulation ------------------------------------------------------------------------
    def update(self, z: Any) -> StreamingMoments:
        """Fold in a batch z (B, d), B >= 1.

        Args:
            z: (B, d) batch, torch tensor or numpy array / list; d as in the earlier batches.
        Returns:
            This accumulator (calls chain).
        """
        zt, was_numpy = as_matrix("z", z)
        if self._mean is not None and zt.shape[1] != self._mean.shape[0]:
            raise ConfigError("z", f"must have {self._mean.shape[0]} columns like the earlier "
                                   f"batches, got shape {tuple(zt.shape)}")
        zt = self._adopt(zt, was_numpy)
        self._fold(moments64(zt))
        return self

    def _fold(self, batch: tuple[int, torch.Tensor, torch.Tensor]) -> None:
        if self._mean is None or self._m2 is None:
            self.count, self._mean, self._m2 = batch
        else:
            self.count, self._mean, self._m2 = merge_moments(
                (self.count, self._mean, self._m2), batch)

    def merge(self, other: StreamingMoments) -> StreamingMoments:
        """Fold in another accumulator's samples (exact: Chan et al.'s merge).

        Args:
            other: an accumulator of the same class with the same d (e.g. from another rank).
        Returns:
            This accumulator, now holding the samples of both.
        """
        self._check_other(other)
        if other._mean is None or other._m2 is None:
            return self
        if self._mean is not None and other._mean.shape != self._mean.shape:
            raise ConfigError("other", f"has dimension {other._mean.shape[0]}, this one "
                                       f"{self._mean.shape[0]}")
        assert self._device is not None
        self._fold((other.count, other._mean.to(self._device), other._m2.to(self._device)))
        return self

    def _need(self, min_count: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
        if self._mean is None or self._m2 is None or self.count < min_count:
            raise ConfigError("count", f"needs at least {min_count} sample(s) (call update "
                                       f"first), has {self.count}")
        return self._mean, self._m2

    def _c(self, centered: bool | None) -> bool:
        return self.centered if centered is None else centered

    # -- results -----------------------------------------------------------------------------
    @property
    def mean(self) -> Any:
        """Mean row of all samples so far."""
        return self._out(self._need()[0])

    def gram64(self) -> torch.Tensor:
        """Z^T Z of all samples so far = M2 + N mean mean^T (float64 tensor).

        Returns:
            (d, d) float64 torch tensor on the state's device (also after numpy batches).
        """
        mean, m2 = self._need()
        return m2 + self.count * torch.outer(mean, mean)

    def _cov64(self, centered: bool) -> torch.Tensor:
        if centered:
            return self._need(2)[1] / (self.count - 1)
        return self.gram64() / self.count

    def covariance(self, centered: bool | None = None) -> Any:
        """Centred covariance M2/(N-1) (N >= 2) or second moment Z^T Z / N (float64).

        Args:
            centered: override of the accumulator's ``centered`` (default None: use it).
        Returns:
            (d, d) float64 matrix: torch tensor, or numpy if the first batch was numpy.
        """
        return out(self._cov64(self._c(centered)), self._numpy)

    def second_moment(self) -> Any:
        """(1/N) sum_i z_i z_i^T (float64).

        Returns:
            (d, d) float64 matrix: torch tensor, or numpy if the first batch was numpy.
        """
        return self.covariance(centered=False)

    def _eig(self, centered: bool | None) -> torch.Tensor:
        return sym_eigvalsh(self._cov64(self._c(centered))).clamp_min(0)

    def spectrum(self, centered: bool | None = None) -> Any:
        """Covariance eigenvalues, descending, clamped at 0 (as
        :func:`~dynamics.metrics.embedding_spectrum`).

        Args:
            centered: override of the accumulator's ``centered`` (default None: use it).
        Returns:
            (d,) eigenvalues >= 0, descending, in the first batch's dtype (numpy if it was).
        """
        return self._out(self._eig(centered))

    def participation_ratio(self, centered: bool | None = None) -> float:
        """(sum lambda)^2 / sum lambda^2 (as :func:`~dynamics.metrics.participation_ratio`).

        Args:
            centered: override of the accumulator's ``centered`` (default None: use it).
        Returns:
            Python float in [1, d]; NaN if the covariance is zero.
        """
        c = self._cov64(self._c(centered))
        denom = (c * c).sum()
        if not bool(denom > 0):
            return math.nan
        return float(torch.diagonal(c).sum() ** 2 / denom)

    def top_k_variance_fraction(self, k: int, centered: bool | None = None) -> float:
        """Share of variance in the k leading directions (as
        :func:`~dynamics.metrics.top_k_variance_fraction`).

        Args:
            k: number of leading directions, an integer in [1, d].
            centered: override of the accumulator's ``centered`` (default None: use it).
        Returns:
            Python float in [0, 1]; NaN if the covariance is zero.
        """
        mean, _ = self._need()
        k = check_int("k", k, low=1, high=mean.shape[0])
        return variance_fraction_from_eigenvalues(self._eig(centered), k)

    def rankme(self, eps: float = 1e-7) -> float:
        """RankMe of the concatenated samples (exact: singular values of Z from Z^T Z).

        Args:
            eps: >= 0, as in :func:`~dynamics.metrics.rankme` (default 1e-7).
        Returns:
            Python float; NaN if every sample is zero.
        """
        eps = check_positive("eps", eps, allow_zero=True)
        return rankme_from_singular_values(singular_values_from_gram(self.gram64(), self.count),
                                           eps)

    # -- state -------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Count, mean, M2 and output settings, for checkpoints.

        Returns:
            dict: centered, count, mean, m2 (tensor copies or None), device, dtype, numpy.
        """
        return {"centered": self.centered, "count": self.count,
                "mean": None if self._mean is None else self._mean.clone(),
                "m2": None if self._m2 is None else self._m2.clone(), **self._io_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict`.

        Args:
            state: a dict from :meth:`state_dict` (tensors or arrays; loaded as float64).
        """
        self._load_io_state(state)
        self.centered, self.count = bool(state["centered"]), int(state["count"])
        self._mean = None if state["mean"] is None else torch.as_tensor(state["mean"]).to(
            self._device, torch.float64)
        self._m2 = None if state["m2"] is None else torch.as_tensor(state["m2"]).to(
            self._device, torch.float64)


class StreamingRankMe(StreamingMoments):
    """RankMe over many batches, exactly equal to ``rankme(torch.cat(batches))``: the singular
    values of Z are the square roots of the eigenvalues of Z^T Z = M2 + N mean mean^T, which
    the moments hold (memory O(K^2)). ``compute()`` -> Python float.

    Args:
        eps: >= 0, as in :func:`~dynamics.metrics.rankme` (default 1e-7).
    Example:
        >>> acc = StreamingRankMe().update(torch.eye(8)[:4]).update(torch.eye(8)[4:])
        >>> round(acc.compute(), 3)  # rankme(torch.eye(8))
        8.0
    """

    def __init__(self, eps: float = 1e-7):
        super().__init__(centered=False)
        self.eps = check_positive("eps", eps, allow_zero=True)

    def compute(self) -> float:
        """RankMe of all samples so far (Garrido et al. 2023).

        Returns:
            Python float; NaN if every sample is zero.
        """
        return self.rankme(self.eps)


class StreamingSpectrum(StreamingMoments):
    """Covariance eigenvalues over many batches (``centered`` as in
    :func:`~dynamics.metrics.embedding_spectrum`); ``compute()`` -> eigenvalues, descending.
    :meth:`participation_ratio` and :meth:`top_k_variance_fraction` use the same moments.

    Args:
        centered: True (default) for the covariance, False for the second moment.
    Example:
        >>> acc = StreamingSpectrum().update([[1., 0.], [-1., 0.]]).update([[0., 2.], [0., -2.]])
        >>> acc.compute()  # list / numpy in, numpy out
        array([2.66666667, 0.66666667])
    """

    def compute(self) -> Any:
        """Covariance eigenvalues of all samples so far, descending.

        Returns:
            (d,) eigenvalues >= 0, in the first batch's dtype (numpy if it was).
        """
        return self.spectrum()


# --------------------------------------------------------------------------------------------
# normalized std


class StreamingNormalizedStd(_Accumulator):
    """:func:`~dynamics.metrics.normalized_std` over many batches: per-dimension count, mean
    and M2 of the L2-normalised rows (memory O(d)); ``compute()`` -> mean_k sqrt(M2_k/(N-1)).

    Example:
        >>> StreamingNormalizedStd().update(torch.ones(3, 4)).update(torch.ones(2, 4)).compute()
        0.0
    """

    def __init__(self) -> None:
        super().__init__()
        self._acc: tuple[int, torch.Tensor, torch.Tensor] | None = None

    @property
    def count(self) -> int:
        """Number of rows folded in so far."""
        return 0 if self._acc is None else self._acc[0]

    def update(self, z: Any) -> StreamingNormalizedStd:
        """Fold in a batch z (B, d): per-dimension moments of its L2-normalised rows.

        Args:
            z: (B, d) batch, B >= 1, torch tensor or numpy array / list; d as before.
        Returns:
            This accumulator (calls chain).
        """
        zt, was_numpy = as_matrix("z", z)
        if self._acc is not None and zt.shape[1] != self._acc[1].shape[0]:
            raise ConfigError("z", f"must have {self._acc[1].shape[0]} columns like the earlier "
                                   f"batches, got shape {tuple(zt.shape)}")
        zt = self._adopt(zt, was_numpy)
        batch = moments64(torch.nn.functional.normalize(zt, dim=1), diagonal=True)
        self._acc = batch if self._acc is None else merge_moments(self._acc, batch)
        return self

    def merge(self, other: StreamingNormalizedStd) -> StreamingNormalizedStd:
        """Fold in another accumulator's samples (exact: Chan et al.'s merge).

        Args:
            other: another :class:`StreamingNormalizedStd` with the same d.
        Returns:
            This accumulator, now holding the samples of both.
        """
        self._check_other(other)
        if other._acc is not None:
            n, m, m2 = other._acc
            moved = (n, m.to(self._device), m2.to(self._device))
            self._acc = moved if self._acc is None else merge_moments(self._acc, moved)
        return self

    def compute(self) -> float:
        """mean_k sqrt(M2_k / (N-1)) of the normalised rows; needs N >= 2.

        Returns:
            Python float >= 0, equal to ``normalized_std`` of all samples so far.
        """
        if self._acc is None or self._acc[0] < 2:
            raise ConfigError("count", f"needs at least 2 samples, has {self.count}")
        n, _, m2 = self._acc
        return float((m2 / (n - 1)).clamp_min(0).sqrt().mean())

    def state_dict(self) -> dict[str, Any]:
        """Per-dimension moments and output settings, for checkpoints.

        Returns:
            dict: acc ((count, mean, M2) with tensor copies, or None), device, dtype, numpy.
        """
        acc = None if self._acc is None else (self._acc[0], self._acc[1].clone(),
                                              self._acc[2].clone())
        return {"acc": acc, **self._io_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict`.

        Args:
            state: a dict from :meth:`state_dict` (tensors or arrays; loaded as float64).
        """
        self._load_io_state(state)
        acc = state["acc"]
        self._acc = None if acc is None else (
            int(acc[0]), torch.as_tensor(acc[1]).to(self._device, torch.float64),
            torch.as_tensor(acc[2]).to(self._device, torch.float64))

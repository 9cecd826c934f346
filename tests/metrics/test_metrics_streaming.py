"""Streaming accumulators == one-shot metrics on the concatenated batches."""

import math

import numpy as np
import pytest
import torch

from dynamics.errors import ConfigError
from dynamics.metrics.alignment_uniformity import alignment, uniformity
from dynamics.metrics.collapse_signals import (
    embedding_spectrum,
    normalized_std,
    top_k_variance_fraction,
)
from dynamics.metrics.rank import participation_ratio, rankme
from dynamics.metrics.streaming import (
    StreamingAlignment,
    StreamingBatchUniformity,
    StreamingMoments,
    StreamingNormalizedStd,
    StreamingRankMe,
    StreamingSpectrum,
)

SIZES = (1, 7, 64, 3, 200, 2)  # uneven, including a single-row batch


def batches(seed=0, d=12, sizes=SIZES, dtype=torch.float64, shift=0.5):
    g = torch.Generator().manual_seed(seed)
    mix = torch.randn(d, d, generator=g, dtype=torch.float64) * torch.linspace(0.05, 2, d)
    return [(torch.randn(n, d, generator=g, dtype=torch.float64) @ mix + shift).to(dtype)
            for n in sizes]


def feed(acc, bs):
    for b in bs:
        acc.update(b)
    return acc


def unit(x):
    return torch.nn.functional.normalize(x, dim=1)


def test_moments_equal_one_shot():
    bs = batches()
    z = torch.cat(bs)
    m = feed(StreamingMoments(), bs)
    assert m.count == z.shape[0]
    torch.testing.assert_close(m.mean, z.mean(0), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(m.covariance(), torch.cov(z.T), rtol=1e-11, atol=1e-12)
    torch.testing.assert_close(m.second_moment(), z.T @ z / len(z), rtol=1e-11, atol=1e-12)
    torch.testing.assert_close(m.spectrum(), embedding_spectrum(z), rtol=1e-9, atol=1e-12)
    assert m.participation_ratio() == pytest.approx(participation_ratio(z), rel=1e-11)
    assert m.participation_ratio(centered=False) == pytest.approx(
        participation_ratio(z, centered=False), rel=1e-11)
    assert m.top_k_variance_fraction(3) == pytest.approx(top_k_variance_fraction(z, 3),
                                                         rel=1e-11)
    assert m.rankme() == pytest.approx(rankme(z), rel=1e-11)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_rankme_and_spectrum_stream_exactly(dtype):
    bs = batches(1, dtype=dtype)
    z = torch.cat(bs)
    assert feed(StreamingRankMe(), bs).compute() == pytest.approx(rankme(z), rel=1e-10)
    spec = feed(StreamingSpectrum(centered=False), bs)
    lam = spec.compute()
    assert lam.dtype == dtype
    torch.testing.assert_close(lam, embedding_spectrum(z, centered=False),
                               rtol=1e-9 if dtype == torch.float64 else 1e-5, atol=1e-7)
    assert spec.participation_ratio() == pytest.approx(participation_ratio(z, centered=False),
                                                       rel=1e-9)
    # fewer samples than dimensions: only min(N, K) singular values enter RankMe
    few = batches(2, d=40, sizes=(3, 1, 5), dtype=dtype)
    assert feed(StreamingRankMe(), few).compute() == pytest.approx(rankme(torch.cat(few)),
                                                                   rel=1e-8)


def test_centring_is_stable_with_a_large_mean():
    bs = batches(3, d=4, sizes=(500, 500, 500), shift=1e7)
    z = torch.cat(bs)
    ref = torch.cov((z - z.mean(0)).T)  # centred first: the accurate reference
    cov = feed(StreamingMoments(), bs).covariance()
    assert float(torch.linalg.matrix_norm(cov - ref) / torch.linalg.matrix_norm(ref)) < 1e-8


def test_merge_and_state_dict():
    bs = batches(4)
    whole = feed(StreamingMoments(), bs)
    a, b = feed(StreamingMoments(), bs[:3]), feed(StreamingMoments(), bs[3:])
    a.merge(b)
    assert a.count == whole.count
    torch.testing.assert_close(a.covariance(), whole.covariance(), rtol=1e-12, atol=1e-12)
    restored = StreamingMoments()
    restored.load_state_dict(feed(StreamingMoments(), bs[:3]).state_dict())
    feed(restored, bs[3:])
    torch.testing.assert_close(restored.covariance(), whole.covariance(), rtol=1e-12,
                               atol=1e-12)
    empty = StreamingMoments().merge(whole)
    assert empty.count == whole.count


def test_normalized_std_streams():
    bs = batches(5)
    z = torch.cat(bs)
    acc = feed(StreamingNormalizedStd(), bs)
    assert acc.compute() == pytest.approx(normalized_std(z), rel=1e-12)
    half = feed(StreamingNormalizedStd(), bs[:2]).merge(feed(StreamingNormalizedStd(), bs[2:]))
    assert half.compute() == pytest.approx(normalized_std(z), rel=1e-12)
    restored = StreamingNormalizedStd()
    restored.load_state_dict(acc.state_dict())
    assert restored.compute() == acc.compute()


def test_alignment_streams():
    xs, ys = batches(6), batches(7)
    acc = StreamingAlignment(alpha=1.5, normalize=True)
    for x, y in zip(xs, ys, strict=True):
        acc.update(x, y)
    ref = alignment(torch.cat(xs), torch.cat(ys), alpha=1.5, normalize=True)
    assert acc.compute() == pytest.approx(ref, rel=1e-12)
    other = StreamingAlignment(alpha=1.5, normalize=True).update(xs[0], ys[0])
    merged = StreamingAlignment(alpha=1.5, normalize=True)
    merged.load_state_dict(acc.state_dict())
    merged.merge(other)
    assert merged.count == acc.count + xs[0].shape[0]


def test_batch_uniformity_semantics():
    bs = [unit(b) for b in batches(8, sizes=(50, 2, 130, 77))]
    acc = feed(StreamingBatchUniformity(t=2.0), bs)
    # pooled: log of the mean over all within-batch pairs (pairs across batches never formed)
    terms = torch.cat([torch.exp(-2.0 * torch.pdist(b) ** 2) for b in bs])
    assert acc.n_pairs == terms.numel()
    assert acc.compute() == pytest.approx(math.log(float(terms.mean())), rel=1e-12)
    # batch mean: the epoch average of the per-batch (training-loss) values
    per_batch = [uniformity(b, 2.0) for b in bs]
    assert acc.batch_mean() == pytest.approx(float(np.mean(per_batch)), rel=1e-12)
    # one batch: both equal uniformity()
    one = StreamingBatchUniformity(t=2.0).update(bs[0])
    assert one.compute() == pytest.approx(per_batch[0], rel=1e-12)
    assert one.batch_mean() == pytest.approx(per_batch[0], rel=1e-12)
    # merge and state round-trip
    a = feed(StreamingBatchUniformity(t=2.0), bs[:2])
    b = feed(StreamingBatchUniformity(t=2.0), bs[2:])
    restored = StreamingBatchUniformity(t=2.0)
    restored.load_state_dict(a.state_dict())
    restored.merge(b)
    assert restored.compute() == pytest.approx(acc.compute(), rel=1e-12)
    assert restored.batch_mean() == pytest.approx(acc.batch_mean(), rel=1e-12)


def test_numpy_in_numpy_out():
    bs = [b.numpy() for b in batches(9)]
    m = feed(StreamingSpectrum(), bs)
    assert isinstance(m.compute(), np.ndarray) and isinstance(m.mean, np.ndarray)
    assert isinstance(m.covariance(), np.ndarray)
    np.testing.assert_allclose(m.compute(), embedding_spectrum(np.concatenate(bs)), rtol=1e-9,
                               atol=1e-12)
    assert isinstance(feed(StreamingRankMe(), bs).compute(), float)


def test_streaming_errors():
    with pytest.raises(ConfigError, match="^count: needs at least 1"):
        StreamingRankMe().compute()
    with pytest.raises(ConfigError, match="^count: needs at least 2"):
        StreamingMoments().update(torch.ones(1, 3)).covariance()
    with pytest.raises(ConfigError, match="^z: must have 3 columns"):
        StreamingMoments().update(torch.ones(2, 3)).update(torch.ones(2, 4))
    with pytest.raises(ConfigError, match="^x: needs at least 2"):
        StreamingBatchUniformity().update(unit(torch.ones(1, 3)))
    with pytest.raises(ConfigError, match="^x: rows must be L2-normalised"):
        StreamingBatchUniformity().update(torch.ones(4, 3))
    with pytest.raises(ConfigError, match="^count: "):
        StreamingAlignment().compute()
    with pytest.raises(ConfigError, match="^other: must be a StreamingMoments"):
        StreamingMoments().merge(StreamingNormalizedStd())
    with pytest.raises(ConfigError, match="^other: must use the same t"):
        StreamingBatchUniformity(t=2).merge(StreamingBatchUniformity(t=3))
    with pytest.raises(ConfigError, match="^k: "):
        feed(StreamingSpectrum(), batches()).top_k_variance_fraction(13)

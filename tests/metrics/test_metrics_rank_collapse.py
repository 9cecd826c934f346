"""RankMe, participation ratio and the collapse signals against known values."""

import math

import numpy as np
import pytest
import torch

from dynamics.errors import ConfigError
from dynamics.metrics.collapse_signals import (
    covariance,
    embedding_spectrum,
    normalized_std,
    top_k_variance_fraction,
)
from dynamics.metrics.rank import participation_ratio, rankme, singular_values


def gen(seed):
    return torch.Generator().manual_seed(seed)


def rankme_reference(z, eps=1e-7):
    s = torch.linalg.svdvals(torch.as_tensor(z, dtype=torch.float64))
    p = s / s.sum() + eps
    return float(torch.exp(-(p * p.log()).sum()))


def signed_axes(r, d, scales=None):
    """Rows +-sqrt(lam_k) e_k, k < r: mean 0, covariance exactly diag(lam) (up to 1/(N-1))."""
    lam = torch.as_tensor([1.0] * r if scales is None else scales, dtype=torch.float64)
    e = torch.zeros(r, d, dtype=torch.float64)
    e[torch.arange(r), torch.arange(r)] = lam.sqrt()
    return torch.cat([e, -e])


# --------------------------------------------------------------------------------------------
# RankMe


def test_rankme_gaussian_reference():
    z = torch.randn(25_600, 64, generator=gen(0))
    assert rankme(z) == pytest.approx(63.98, abs=0.02)


def test_rankme_rank8_reference():
    g = gen(0)
    a = torch.randn(25_600, 8, generator=g, dtype=torch.float64)
    # Z = A B with Gaussian B (8 x 64): the doc's "~7.84" is one draw; over draws of B the value
    # has mean 7.865, sd 0.03 (Marchenko-Pastur limit 7.870), so allow 3 sd.
    b = torch.randn(8, 64, generator=g, dtype=torch.float64)
    assert rankme(a @ b) == pytest.approx(7.865, abs=0.1)
    # orthonormal B: a flat rank-8 spectrum, RankMe = 8 up to the eps terms of the 56 zeros
    q = torch.linalg.qr(torch.randn(64, 64, generator=g, dtype=torch.float64))[0][:8]
    assert rankme(a @ q) == pytest.approx(8.0, abs=2e-3)
    assert rankme(a @ q, eps=0) == pytest.approx(8.0, abs=2e-3)


@pytest.mark.parametrize("shape", [(500, 20), (20, 500), (64, 64), (3, 1), (1, 7)])
def test_rankme_matches_svd_reference_and_range(shape):
    z = torch.randn(*shape, generator=gen(1), dtype=torch.float64)
    z[:, 0] *= 5  # an uneven spectrum
    r = rankme(z)
    assert r == pytest.approx(rankme_reference(z), rel=1e-9)
    assert 1 - 1e-6 <= r <= min(shape) * (1 + 1e-4)


def test_rankme_invariances_and_eps_convention():
    z = torch.randn(2000, 16, generator=gen(2), dtype=torch.float64) * torch.linspace(0.1, 3, 16)
    r = rankme(z)
    assert rankme(1e3 * z) == pytest.approx(r, rel=1e-10)
    assert rankme(1e-3 * z) == pytest.approx(r, rel=1e-10)
    q = torch.linalg.qr(torch.randn(16, 16, generator=gen(3), dtype=torch.float64))[0]
    assert rankme(z @ q) == pytest.approx(r, rel=1e-10)
    assert rankme(z.float()) == pytest.approx(r, rel=1e-5)
    # eps is added after normalising and not renormalised: K equal singular values give
    # p = 1/K + eps, RankMe = exp(-K (1/K + eps) log(1/K + eps))
    k, eps = 16, 1e-3
    expect = math.exp(-k * (1 / k + eps) * math.log(1 / k + eps))
    assert rankme(torch.eye(k, dtype=torch.float64), eps=eps) == pytest.approx(expect, rel=1e-12)
    # rank one: 1 up to the eps terms
    assert rankme(torch.ones(100, 64)) == pytest.approx(1.0, abs=1e-3)
    assert math.isnan(rankme(torch.zeros(5, 3)))


def test_singular_values_agree_with_svd():
    for shape in [(4000, 32), (10, 40)]:
        z = torch.randn(*shape, generator=gen(4))
        ours = singular_values(z)
        ref = torch.linalg.svdvals(z.double())
        assert ours.dtype == torch.float64 and ours.shape == ref.shape
        torch.testing.assert_close(ours, ref, rtol=1e-6, atol=1e-6 * float(ref[0]))
    out = singular_values(np.eye(3) * [3.0, 1.0, 2.0])
    assert isinstance(out, np.ndarray)
    np.testing.assert_allclose(out, [3, 2, 1], rtol=1e-12)


def test_rankme_errors():
    with pytest.raises(ConfigError, match="^Z: must be a 2-D"):
        rankme(torch.ones(5))
    for bad in (float("nan"), float("inf"), -float("inf")):
        for shape in ((50, 4), (4, 50)):  # both Gram orientations
            z = torch.randn(*shape, generator=gen(12))
            z[1, 2] = bad
            with pytest.raises(ConfigError, match="^Z: must be finite"):
                rankme(z)
            with pytest.raises(ConfigError, match="^Z: must be finite"):
                singular_values(z)
    with pytest.raises(ConfigError, match="^eps: "):
        rankme(torch.ones(5, 2), eps=-1)


# --------------------------------------------------------------------------------------------
# participation ratio


def test_participation_ratio_reference_values():
    assert participation_ratio(np.ones(7)) == pytest.approx(7.0, rel=1e-12)
    assert participation_ratio(torch.tensor([2.0, 2.0, 2.0, 0.0, 0.0])) == pytest.approx(3.0)
    assert participation_ratio([1.0, 0.0]) == pytest.approx(1.0)
    # samples with r equal covariance eigenvalues (exactly) -> r
    for r in (1, 3, 6):
        assert participation_ratio(signed_axes(r, 10)) == pytest.approx(r, rel=1e-12)
    # isotropic Gaussian in d dims -> d (finite-sample: d / (1 + d/N) roughly)
    z = torch.randn(20_000, 10, generator=gen(5))
    assert participation_ratio(z) == pytest.approx(10.0, rel=0.01)
    # eigenvalues (1, 1/2, 1/4): (7/4)^2 / (21/16) = 7/3
    assert participation_ratio(signed_axes(3, 4, [1, 0.5, 0.25])) == pytest.approx(7 / 3)


def test_participation_ratio_centring():
    z = signed_axes(4, 4) + 100.0  # a large common mean
    assert participation_ratio(z) == pytest.approx(4.0, rel=1e-9)
    assert participation_ratio(z, centered=False) == pytest.approx(1.0, abs=1e-3)
    assert math.isnan(participation_ratio(torch.ones(10, 3)))


def test_participation_ratio_errors():
    with pytest.raises(ConfigError, match="^x: eigenvalues must be >= 0"):
        participation_ratio([1.0, -0.5])
    with pytest.raises(ConfigError, match="^x: needs at least 2"):
        participation_ratio(torch.ones(1, 3))


# --------------------------------------------------------------------------------------------
# collapse signals


def test_normalized_std_reference_values():
    d = 64
    z = torch.randn(20_000, d, generator=gen(6))
    assert normalized_std(z) == pytest.approx(1 / math.sqrt(d), rel=0.01)
    assert normalized_std(z.double().numpy()) == pytest.approx(1 / math.sqrt(d), rel=0.01)
    const = torch.randn(1, d, generator=gen(7)).repeat(500, 1)
    assert normalized_std(const) == pytest.approx(0.0, abs=1e-7)
    assert normalized_std(torch.zeros(10, d)) == 0.0
    # scale of the rows is irrelevant (rows are normalised)
    scaled = z[:1000] * torch.rand(1000, 1, generator=gen(8)) * 50
    assert normalized_std(scaled) == pytest.approx(normalized_std(z[:1000]), rel=1e-5)
    # lightly / solo-learn formula
    ref = torch.nn.functional.normalize(z, dim=1).std(dim=0).mean()
    assert normalized_std(z) == pytest.approx(float(ref), rel=1e-5)


def test_embedding_spectrum_matches_numpy():
    z = np.random.default_rng(0).standard_normal((300, 6)) @ np.diag([3, 2, 1, 1, 0.5, 0.1]) + 2
    lam = embedding_spectrum(z)
    assert isinstance(lam, np.ndarray)
    np.testing.assert_allclose(lam, np.linalg.eigvalsh(np.cov(z.T))[::-1], rtol=1e-10)
    lam_u = embedding_spectrum(z, centered=False)
    np.testing.assert_allclose(lam_u, np.linalg.eigvalsh(z.T @ z / len(z))[::-1], rtol=1e-10)
    np.testing.assert_allclose(covariance(z), np.cov(z.T), rtol=1e-12)
    # torch in, torch out, dtype kept, descending, non-negative
    zt = torch.randn(200, 8, generator=gen(9)) @ torch.randn(8, 8, generator=gen(10))
    lam_t = embedding_spectrum(zt)
    assert lam_t.dtype == torch.float32
    assert bool((lam_t[:-1] >= lam_t[1:]).all()) and bool((lam_t >= 0).all())


def test_embedding_spectrum_rank_deficient():
    lam = embedding_spectrum(signed_axes(3, 8, [4.0, 2.0, 1.0]))
    n = 6
    np.testing.assert_allclose(lam.numpy(), np.array([4, 2, 1, 0, 0, 0, 0, 0]) * 2 / (n - 1),
                               atol=1e-14)


def test_top_k_variance_fraction():
    z = signed_axes(4, 6, [4.0, 2.0, 1.0, 1.0])
    assert top_k_variance_fraction(z, 1) == pytest.approx(0.5)
    assert top_k_variance_fraction(z, 2) == pytest.approx(0.75)
    assert top_k_variance_fraction(z, 4) == pytest.approx(1.0)
    assert top_k_variance_fraction(z, 6) == pytest.approx(1.0)
    iso = torch.randn(20_000, 10, generator=gen(11))
    assert top_k_variance_fraction(iso, 5) == pytest.approx(0.5, abs=0.02)
    assert math.isnan(top_k_variance_fraction(torch.ones(5, 3), 1))
    with pytest.raises(ConfigError, match=r"^k: must be an integer in \[1, 6\]"):
        top_k_variance_fraction(z, 7)
    with pytest.raises(ConfigError, match="^k: "):
        top_k_variance_fraction(z, 0)


def test_collapse_errors():
    with pytest.raises(ConfigError, match="^z: needs at least 2"):
        normalized_std(torch.ones(1, 4))
    with pytest.raises(ConfigError, match="^z: must be finite"):
        embedding_spectrum(torch.tensor([[1.0, float("inf")], [0.0, 1.0]]))
    embedding_spectrum(torch.ones(1, 4), centered=False)  # one sample is enough uncentred

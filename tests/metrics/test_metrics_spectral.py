"""Known values of the spectral metrics: alpha-ReQ, stable and effective rank, the rank gap,
LiDAR, predictor orthogonality and per-mode growth rates."""

import math

import numpy as np
import pytest
import torch

from dynamics.errors import ConfigError
from dynamics.metrics.rank import rankme
from dynamics.metrics.spectral import (
    alpha_req,
    effective_rank,
    effective_rank_gap,
    growth_rate_spread,
    lidar,
    mode_growth_rates,
    predictor_orthogonality,
    stable_rank,
)


def _with_spectrum(lam, n=200_000, seed=0):
    g = np.random.default_rng(seed)
    d = len(lam)
    U = np.linalg.qr(g.normal(size=(d, d)))[0]
    return (g.normal(size=(n, d)) * np.sqrt(lam)) @ U.T + 3.0  # an offset: alpha-ReQ centres


def test_alpha_req_exact_power_law_and_sampled_data():
    k = np.arange(1, 65)
    a, r2 = alpha_req(2.0 * k**-1.3)
    assert a == pytest.approx(1.3, abs=1e-12) and r2 == pytest.approx(1.0, abs=1e-12)
    a, r2 = alpha_req(_with_spectrum(k[:32] ** -1.5), k_max=16)
    assert a == pytest.approx(1.5, abs=0.03) and r2 > 0.999


def test_alpha_req_is_not_a_fit_against_a_linear_index():
    """The trap noted in the literature: the slope of log lambda against a linear index of the
    ranks is not alpha (it depends on d), while the log-log fit is."""
    for d in (32, 128):
        lam = np.arange(1, d + 1, dtype=float) ** -1.0
        linear = -np.polyfit(np.linspace(1, 0, d), np.log(lam), 1)[0]
        assert alpha_req(lam)[0] == pytest.approx(1.0, abs=1e-12)
        assert abs(-linear - 1.0) > 0.5  # the linear-index "alpha" is far from 1, d-dependent


def test_stable_and_effective_rank_known_values():
    assert stable_rank(np.eye(7)) == pytest.approx(7.0)
    U = np.linalg.qr(np.random.default_rng(1).normal(size=(10, 10)))[0]
    V = np.linalg.qr(np.random.default_rng(2).normal(size=(3, 3)))[0]
    z = U[:, :3] @ np.diag([3.0, 2.0, 1.0]) @ V
    assert stable_rank(z) == pytest.approx(14 / 9)
    assert effective_rank(np.eye(5)) == pytest.approx(5.0)
    p = np.array([3.0, 2.0, 1.0]) / 6
    assert effective_rank(z) == pytest.approx(math.exp(-(p * np.log(p)).sum()))
    # RankMe adds eps = 1e-7 after normalising: close to, not equal to, the effective rank
    assert abs(rankme(z) - effective_rank(z)) < 1e-5
    assert math.isnan(stable_rank(np.zeros((4, 3))))


def test_effective_rank_gap_sign():
    g = np.random.default_rng(3)
    full = g.normal(size=(512, 16))
    low = full[:, :4] @ g.normal(size=(4, 16))
    assert effective_rank_gap(full, low) > 10
    assert effective_rank_gap(full, full) == 0.0


def test_lidar_known_values():
    g = torch.Generator().manual_seed(4)
    n, q, d = 400, 8, 6
    means = torch.randn(n, 1, d, generator=g, dtype=torch.float64)
    views = means + 0.3 * torch.randn(n, q, d, generator=g, dtype=torch.float64)
    assert lidar(views) == pytest.approx(d, rel=0.05)
    basis = torch.linalg.qr(torch.randn(d, 2, generator=g, dtype=torch.float64))[0].T
    low = means[..., :2] @ basis  # class means isotropic in a 2-dim subspace
    views_low = low + 0.3 * torch.randn(n, q, d, generator=g, dtype=torch.float64)
    assert 1.8 < lidar(views_low) < 2.6
    with pytest.raises(ConfigError, match="z"):
        lidar(torch.zeros(5, 1, 3))


def test_predictor_orthogonality():
    U = np.linalg.qr(np.random.default_rng(5).normal(size=(6, 6)))[0]
    P = U[:, :2] @ U[:, :2].T
    assert predictor_orthogonality(P) == pytest.approx(0.0, abs=1e-12)
    assert predictor_orthogonality(np.eye(4)) == 0.0
    assert predictor_orthogonality(0.5 * np.eye(4)) == pytest.approx(0.5)  # |0.25 - 0.5|/0.5
    with pytest.raises(ConfigError, match="Wp"):
        predictor_orthogonality(np.ones((2, 3)))


def test_mode_growth_rates_exact_and_spread():
    t = np.linspace(0, 5, 11)
    r = np.array([0.5, 1.0, 2.0])
    lam = np.array([1.0, 0.1, 1e-3]) * np.exp(np.outer(t, r))
    np.testing.assert_allclose(mode_growth_rates(t, lam), r, rtol=1e-12)
    assert growth_rate_spread(r) == pytest.approx(4.0)
    lam[:, 0] = 0.0
    assert math.isnan(mode_growth_rates(t, lam)[0])
    with pytest.raises(ConfigError, match="eigenvalues"):
        mode_growth_rates(t, lam[:5])

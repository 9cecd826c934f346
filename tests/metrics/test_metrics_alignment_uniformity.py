"""Alignment and uniformity (Wang & Isola 2020): closed form, Monte Carlo, blocked == pdist."""

import functools
import math

import numpy as np
import pytest
import torch

from dynamics.errors import ConfigError
from dynamics.metrics.alignment_uniformity import (
    UNIFORMITY_BLOCK_ELEMENTS,
    _auto_block,
    _log_iv,
    _log_iv_series,
    alignment,
    uniformity,
    uniformity_on_sphere,
)

# L_uniform of the uniform measure on S^{d-1} (closed form, cross-checked by Monte Carlo)
TABLE = {
    2: (-1.176, -1.575, -1.792),
    3: (-1.405, -2.080, -2.485),
    16: (-1.876, -3.513, -4.937),
    128: (-1.984, -3.938, -5.860),
}
CELLS = [(d, t, v) for d, row in TABLE.items() for t, v in zip((1, 2, 3), row, strict=True)]


@functools.lru_cache(maxsize=8)
def sphere(n, d, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    return torch.nn.functional.normalize(x, dim=1).to(dtype)


def pdist_uniformity(x, t):
    d = torch.pdist(x.to(torch.float64))
    return float(torch.logsumexp(-t * d**2, 0)) - math.log(d.numel())


# --------------------------------------------------------------------------------------------
# closed form


@pytest.mark.parametrize("d,t,value", CELLS)
def test_closed_form_matches_table(d, t, value):
    assert uniformity_on_sphere(d, t) == pytest.approx(value, abs=1e-3)


def test_closed_form_limits():
    t = 2.0
    # d = 1: two antipodal points, log[(1 + e^{-4t})/2]
    assert uniformity_on_sphere(1, t) == pytest.approx(math.log((1 + math.exp(-4 * t)) / 2),
                                                       abs=1e-12)
    # d -> infinity: -2t + 2t^2/d (next term O(1/d^2))
    d = 100_000
    assert uniformity_on_sphere(d, t) == pytest.approx(-2 * t + 2 * t * t / d, abs=1e-8)
    # the ive-underflow regime (nu >> 2t) uses the series and stays finite and on the limit
    assert uniformity_on_sphere(20_000, 0.01) == pytest.approx(-0.02 + 2e-4 / 20_000, abs=1e-10)


@pytest.mark.parametrize("nu,x", [(0, 0.5), (0.5, 2.0), (63, 4.0), (-0.5, 3.0), (200, 1.0)])
def test_bessel_series_matches_ive(nu, x):
    assert _log_iv_series(nu, x) == pytest.approx(_log_iv(nu, x), abs=1e-12)


def test_closed_form_errors():
    with pytest.raises(ConfigError, match="^d: "):
        uniformity_on_sphere(0, 2)
    with pytest.raises(ConfigError, match="^t: "):
        uniformity_on_sphere(3, 0)


# --------------------------------------------------------------------------------------------
# uniformity: Monte Carlo on the sphere, blocked == pdist


@pytest.mark.parametrize("d,t,value", CELLS)
def test_uniform_points_reproduce_table(d, t, value):
    u = uniformity(sphere(4000, d, seed=d), t)
    assert u == pytest.approx(uniformity_on_sphere(d, t), abs=1e-2)
    assert u == pytest.approx(value, abs=1e-2)


def test_monte_carlo_reference_value():
    # the doc's check: 4000 Gaussian-normalised points, d = 128, t = 2 -> about -3.9376
    x = sphere(4000, 128, seed=1, dtype=torch.float32)
    assert uniformity(x, 2) == pytest.approx(-3.9376, abs=2e-3)


def clustered(n, dtype, seed=3):
    """Clustered, non-uniform unit vectors: distances spread over [0, 2]."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(5, 6, generator=g, dtype=torch.float64)
    x = centres[torch.arange(n) % 5] + 0.3 * torch.randn(n, 6, generator=g, dtype=torch.float64)
    return torch.nn.functional.normalize(x, dim=1).to(dtype)


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-12), (torch.float32, 2e-6)])
@pytest.mark.parametrize("t", [0.5, 2.0, 40.0])  # t = 40 takes the max-shifted path
@pytest.mark.parametrize("block_size", [None, 13, 64, 400, 5000])
def test_blocked_equals_pdist(dtype, tol, t, block_size):
    x = clustered(400, dtype)
    ref = pdist_uniformity(x, t)
    assert uniformity(x, t, block_size=block_size) == pytest.approx(ref, abs=tol * max(1, t))


@pytest.mark.parametrize("t", [2.0, 40.0])
def test_single_row_blocks(t):
    x = clustered(40, torch.float64)
    assert uniformity(x, t, block_size=1) == pytest.approx(pdist_uniformity(x, t), abs=1e-12)


def test_uniformity_small_and_degenerate_cases():
    x = sphere(2, 4)
    d2 = float(((x[0] - x[1]) ** 2).sum())
    assert uniformity(x, 3.0) == pytest.approx(-3.0 * d2, abs=1e-12)
    # complete collapse: every pair at distance 0 -> log 1 = 0 (the maximum)
    same = sphere(1, 8).repeat(50, 1)
    assert uniformity(same, 2.0) == pytest.approx(0.0, abs=1e-12)
    # antipodal pair: -4t
    x = torch.tensor([[1.0, 0.0], [-1.0, 0.0]])
    assert uniformity(x, 2.0) == pytest.approx(-8.0, abs=1e-6)


def test_uniformity_normalize_and_numpy():
    g = torch.Generator().manual_seed(0)
    raw = 3.0 * torch.randn(300, 7, generator=g, dtype=torch.float64)
    unit = torch.nn.functional.normalize(raw, dim=1)
    assert uniformity(raw, normalize=True) == pytest.approx(uniformity(unit), abs=1e-12)
    out = uniformity(unit.numpy(), 2.0)
    assert isinstance(out, float)
    assert out == pytest.approx(pdist_uniformity(unit, 2.0), abs=1e-12)


def test_uniformity_block_budget_is_bounded():
    # the default block keeps one (block x N) matrix at <= 2**24 entries, at any N
    for n in (2, 1000, 65_536, 1_000_000):
        assert _auto_block(n, None) * n <= max(UNIFORMITY_BLOCK_ELEMENTS, n)
        assert _auto_block(n, None) >= 1


def test_uniformity_errors():
    with pytest.raises(ConfigError, match=r"^x: rows must be L2-normalised.*normalize=True"):
        uniformity(2.0 * sphere(10, 3))
    with pytest.raises(ConfigError, match="^x: needs at least 2"):
        uniformity(sphere(1, 3))
    with pytest.raises(ConfigError, match="^x: must be a 2-D"):
        uniformity(torch.ones(3))
    with pytest.raises(ConfigError, match="^x: must be finite"):
        uniformity(torch.tensor([[1.0, 0.0], [float("nan"), 0.0]]))
    with pytest.raises(ConfigError, match="^t: "):
        uniformity(sphere(10, 3), t=-1)
    with pytest.raises(ConfigError, match="^block_size: "):
        uniformity(sphere(10, 3), block_size=0)
    with pytest.raises(ConfigError, match="^x: has an all-zero row"):
        uniformity(torch.tensor([[1.0, 0.0], [0.0, 0.0]]), normalize=True)
    # within the 1e-3 tolerance is accepted
    uniformity(sphere(10, 3) * (1 + 5e-4))


# --------------------------------------------------------------------------------------------
# alignment


def test_alignment_reference_values():
    x = sphere(20_000, 32, seed=5)
    y = sphere(20_000, 32, seed=6)
    assert alignment(x, x) == 0.0
    # independent uniform pairs: E||x - y||^2 = 2 - 2 E[x.y] = 2
    assert alignment(x, y) == pytest.approx(2.0, abs=0.03)
    # alpha = 2 on the sphere equals the MoCo-code form 2 - 2 mean(x.y)
    assert alignment(x, y) == pytest.approx(2 - 2 * float((x * y).sum(1).mean()), abs=1e-12)
    a1 = float(torch.linalg.vector_norm(x - y, dim=1).mean())
    assert alignment(x, y, alpha=1) == pytest.approx(a1, rel=1e-12)
    # antipodal views: 2^alpha
    assert alignment(x, -x, alpha=3) == pytest.approx(8.0, rel=1e-12)


def test_alignment_normalize_numpy_float32():
    g = torch.Generator().manual_seed(2)
    x, y = torch.randn(100, 5, generator=g), torch.randn(100, 5, generator=g)
    nx, ny = (torch.nn.functional.normalize(v, dim=1) for v in (x, y))
    assert alignment(x, y, normalize=True) == pytest.approx(alignment(nx, ny), rel=1e-6)
    assert alignment(nx.numpy(), ny.numpy()) == pytest.approx(alignment(nx, ny), rel=1e-12)


def test_alignment_errors():
    x = sphere(10, 3)
    with pytest.raises(ConfigError, match="^y: must have the same shape"):
        alignment(x, sphere(9, 3))
    with pytest.raises(ConfigError, match="^y: rows must be L2-normalised"):
        alignment(x, 2 * x)
    with pytest.raises(ConfigError, match="^alpha: "):
        alignment(x, x, alpha=0)
    with pytest.raises(ConfigError, match="^x: must be a real numeric array"):
        alignment(np.array(["a", "b"]), x)

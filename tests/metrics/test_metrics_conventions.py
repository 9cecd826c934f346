"""The I/O conventions shared by every metric: types, devices, dtypes, no side effects."""

import numpy as np
import pytest
import torch

import dynamics.metrics as M
from dynamics.errors import ConfigError

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def data(device, dtype, n=300, d=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, d, generator=g, dtype=torch.float64)
    return z.to(device=device, dtype=dtype)


SCALAR = {
    "alignment": lambda z: M.alignment(z, z.roll(1, 0), normalize=True),
    "uniformity": lambda z: M.uniformity(z, normalize=True, block_size=64),
    "rankme": M.rankme,
    "participation_ratio": M.participation_ratio,
    "normalized_std": M.normalized_std,
    "top_k_variance_fraction": lambda z: M.top_k_variance_fraction(z, 2),
    "mean_alignment": lambda z: M.mean_alignment(z[:8], z.T @ z),
    "eigenvalue_slope": lambda z: M.eigenvalue_slope(z[:8] @ z[:8].T, z.T @ z),
    "predictor_asymmetry": lambda z: M.predictor_asymmetry(z[:8]),
    "predictor_min_sym_eigenvalue": lambda z: M.predictor_min_sym_eigenvalue(z[:8]),
    "relative_commutator": lambda z: M.relative_commutator(z[:8], z.T @ z),
}
ARRAY = {
    "embedding_spectrum": M.embedding_spectrum,
    "singular_values": M.singular_values,
    "covariance": M.covariance,
    "predictor_eigenspace_alignment": lambda z: M.predictor_eigenspace_alignment(z[:8], z.T @ z),
}


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", sorted(SCALAR))
def test_scalar_results_are_python_floats(name, dtype, device):
    z = data(device, dtype)
    before = z.clone()
    value = SCALAR[name](z)
    assert type(value) is float
    torch.testing.assert_close(z, before, rtol=0, atol=0)  # inputs untouched
    ref = SCALAR[name](data("cpu", torch.float64))
    assert value == pytest.approx(ref, rel=1e-4, abs=1e-5)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", sorted(ARRAY))
def test_array_results_follow_the_input(name, device):
    z = data(device, torch.float32)
    res = ARRAY[name](z)
    assert isinstance(res, torch.Tensor) and res.device.type == device
    res_np = ARRAY[name](z.cpu().double().numpy())
    assert isinstance(res_np, np.ndarray)
    np.testing.assert_allclose(res.cpu().double().numpy(), res_np, rtol=1e-4, atol=1e-5)


def test_numpy_and_lists_are_accepted():
    z = data("cpu", torch.float64)
    assert M.rankme(z.numpy()) == pytest.approx(M.rankme(z))
    assert M.rankme(z.numpy().tolist()) == pytest.approx(M.rankme(z))
    assert M.rankme(z.numpy().astype(np.float32)) == pytest.approx(M.rankme(z), rel=1e-5)
    assert M.participation_ratio(np.arange(1, 4)) == pytest.approx(36 / 14)  # ints promoted


def test_grad_inputs_are_detached():
    z = data("cpu", torch.float32).requires_grad_()
    assert isinstance(M.normalized_std(z), float)
    assert M.embedding_spectrum(z).requires_grad is False


def test_errors_name_the_field():
    with pytest.raises(ConfigError, match="^z: must be real"):
        M.normalized_std(torch.ones(3, 3, dtype=torch.complex64))
    with pytest.raises(ConfigError, match="^Z: must be a 2-D"):
        M.rankme(np.ones((2, 2, 2)))
    # ConfigError is a ValueError with a single line
    try:
        M.uniformity(np.ones((4, 3)))
    except ValueError as err:
        assert "\n" not in str(err)

"""The training-row metric group of the predictor on F's data subspace (prediction 14)."""

import torch

from dynamics.train.metric_groups import TRAIN_METRICS
from dynamics.train.metric_groups.data_subspace import data_subspace_stats


def test_data_subspace_sees_through_the_null_directions():
    """Wp symmetric PSD on F's two data directions, random (asymmetric, indefinite) in the
    null ones: the data-subspace statistics say symmetric and PSD, the full matrix does not."""
    g = torch.Generator().manual_seed(0)
    Q = torch.linalg.qr(torch.randn(6, 6, generator=g, dtype=torch.float64))[0]
    F = Q @ torch.diag(torch.tensor([5.0, 2.0, 1e-5, 1e-6, 0, 0], dtype=torch.float64)) @ Q.T
    inner = torch.diag(torch.tensor([1.5, 0.5], dtype=torch.float64))
    noise = torch.randn(6, 6, generator=g, dtype=torch.float64)
    P_null = Q[:, 2:] @ Q[:, 2:].T
    Wp = Q[:, :2] @ inner @ Q[:, :2].T + P_null @ noise @ P_null
    st = data_subspace_stats(Wp, F)
    assert st["predictor/data_dim"] == 2
    assert st["predictor/data_asymmetry"] < 1e-12
    assert abs(st["predictor/data_min_eig"] - 0.5 / 1.5) < 1e-12
    full = (Wp - Wp.T).norm() / (Wp + Wp.T).norm()
    assert full > 0.1  # the whole matrix is not symmetric
    assert "predictor_data" in TRAIN_METRICS

import numpy as np
import pytest


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def random_psd(rng, n, scale=1.0, rank=None):
    """A random symmetric PSD matrix (full rank unless ``rank`` is given)."""
    k = n if rank is None else rank
    A = rng.standard_normal((n, k))
    return scale * A @ A.T / k

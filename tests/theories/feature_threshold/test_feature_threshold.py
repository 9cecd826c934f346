"""Weight decay as a feature threshold (Wang, Chen, Du & Tian 2021): the survival bound in sympy,
and the number of surviving modes from the formula, the mode ODE and linear-network SGD."""

import numpy as np
import pytest

from dynamics.errors import ConfigError
from dynamics.theories.directpred.closed_form import fixed_points
from dynamics.theories.feature_threshold import model as ft

SIGMA2 = np.array([0.0, 0.25, 0.5, 1.0, 2.0, 4.0])
ETAS = np.array([0.02, 0.06, 0.1, 0.15, 0.22, 0.3])


def test_symbolic_derivation():
    assert all(v == 0 for v in ft.threshold_identities().values())


def test_bound_is_where_the_fixed_points_disappear():
    for eta in (0.05, 0.1, 0.2):
        b = float(ft.survival_bound(eta))
        assert np.isfinite(fixed_points(1.0, b - 1e-9, eta)[1])
        assert np.isnan(fixed_points(1.0, b + 1e-9, eta)[1])
    assert ft.survival_bound(0.0) == np.inf


def test_survivors_formula_equals_mode_ode():
    """Known values of the formula, and the mode ODE agrees; SGD against both is the
    prediction ``feature_threshold.survivor_count``, judged at the smoke tier in
    ``tests/verify/test_predictions_at_smoke.py`` (not computed twice)."""
    pred = ft.predicted_survivors(SIGMA2, ETAS)
    np.testing.assert_array_equal(pred, [6, 5, 4, 3, 1, 0])
    np.testing.assert_array_equal(ft.survivors_by_modes(SIGMA2, ETAS), pred)


def test_survivors_are_the_low_variance_features():
    thr = ft.threshold_etas(SIGMA2)
    assert np.all(np.diff(thr) < 0)  # noisier features are dropped at smaller weight decay
    for eta in (0.1, 0.2):
        assert ft.predicted_survivors(SIGMA2, eta)[0] == int((thr > eta).sum())


def test_bad_input():
    with pytest.raises(ConfigError, match="sigma2"):
        ft.predicted_survivors([-1.0], 0.1)
    with pytest.raises(ConfigError, match="eta"):
        ft.predicted_survivors([1.0], -0.1)

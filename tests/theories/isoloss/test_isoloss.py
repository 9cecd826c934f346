"""Eigenmode dynamics of the Euclidean, IsoLoss and cosine losses with a closed-form predictor
(Halvagal et al. 2023): closed form == ODE == SGD, rates, fixed points, sympy."""

import numpy as np
import pytest

from dynamics.errors import ConfigError
from dynamics.theories.isoloss import model as il
from dynamics.theories.isoloss.symbolic import isoloss_identities

LAM0 = np.array([0.5, 0.1, 0.02, 0.004])
KW = {"alpha": 0.5, "sigma2": 0.25}


def _w0():
    return il.aligned_start(LAM0, sigma2=KW["sigma2"])


def test_aligned_start_has_the_requested_spectrum():
    W = il.aligned_start(LAM0, sigma2=0.25, seed=3)
    np.testing.assert_allclose(1.25 * W @ W.T, np.diag(LAM0), atol=1e-14)


def test_symbolic_derivations():
    assert all(v == 0 for v in isoloss_identities().values())


def test_isoloss_closed_form_equals_the_ode():
    tr = il.simulate_modes_iso(LAM0, **KW, loss="isoloss", t_end=10.0, n_save=21)
    closed = il.isoloss_closed_form(tr.t[:, None], LAM0, **KW)
    np.testing.assert_allclose(tr.lam[:, 0], closed, rtol=1e-7)


@pytest.mark.parametrize("loss", ["euclidean", "isoloss", "cosine"])
def test_fixed_points(loss):
    tr = il.simulate_modes_iso(np.vstack([LAM0, LAM0[::-1] * 3]), **KW, loss=loss,
                               t_end=400.0, n_save=2)
    np.testing.assert_allclose(tr.lam[-1], il.fixed_point(tr.lam[0], **KW, loss=loss),
                               rtol=1e-5)
    if loss == "cosine":  # tr C conserved along the way
        np.testing.assert_allclose(tr.lam[-1].sum(-1), tr.lam[0].sum(-1), rtol=1e-8)
    else:
        assert tr.lam[-1, 0, 0] == pytest.approx(1.25**-2)


def test_initial_rates_equal_under_isoloss_and_scale_with_lambda_alpha_otherwise():
    small = np.array([1e-4, 1e-5, 1e-6])
    iso = il.initial_rates(small, **KW, loss="isoloss")
    euc = il.initial_rates(small, **KW, loss="euclidean")
    np.testing.assert_allclose(iso, 2.0, rtol=0.03)
    np.testing.assert_allclose(euc, 2.0 * small**0.5, rtol=0.03)


@pytest.mark.parametrize("loss", ["euclidean", "isoloss"])
def test_sgd_converges_to_the_ode(loss):
    ode = il.simulate_modes_iso(LAM0, **KW, loss=loss, t_end=4.0, n_save=2).lam[-1, 0]
    errs = []
    for lr in (0.04, 0.01):
        sgd = il.sgd_train(_w0(), **KW, loss=loss, lr=lr, steps=round(4.0 / lr),
                           batch_size=4096, record_every=round(4.0 / lr), seed=1)
        errs.append(np.abs(sgd.lam[-1, 0] - np.sort(ode)[::-1]).max())
    assert errs[1] < 0.01 and errs[1] < errs[0]


def test_cosine_sgd_conserves_the_trace_and_equalises_the_spectrum():
    sgd = il.sgd_train(_w0(), **KW, loss="cosine", lr=0.02, steps=2000, batch_size=512,
                       record_every=500, seed=2)
    lam = sgd.lam[:, 0]
    assert lam[-1].sum() == pytest.approx(LAM0.sum(), rel=0.02)
    assert lam[-1].max() / lam[-1].min() < 1.05 and lam[0].max() / lam[0].min() > 100
    euc = il.sgd_train(_w0(), **KW, loss="euclidean", lr=0.02, steps=2000, batch_size=512,
                       record_every=500, seed=2).lam[-1, 0]
    np.testing.assert_allclose(euc, 1.25**-2, rtol=0.05)  # not the cosine's tr C(0)/4 = 0.156


def test_bad_input():
    with pytest.raises(ConfigError, match="loss"):
        il.simulate_modes_iso(LAM0, loss="l1")
    with pytest.raises(ConfigError, match="alpha"):
        il.simulate_modes_iso(LAM0, alpha=0.0)
    with pytest.raises(ConfigError, match="lam0"):
        il.simulate_modes_iso(-LAM0)
    with pytest.raises(ConfigError, match="W0"):
        il.sgd_train(np.zeros(3))

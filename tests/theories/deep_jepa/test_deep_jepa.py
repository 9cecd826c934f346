"""Deep linear JEPA against MAE (Littwin et al. 2024): the per-layer ODEs in sympy, the critical
time's closed form against quadrature, the ODE and SGD, and the order inversion with depth."""

import numpy as np
import pytest

from dynamics.errors import ConfigError
from dynamics.theories.deep_jepa import model as dj
from dynamics.theories.deep_jepa.symbolic import jepa_identities


def test_symbolic_derivations():
    res = jepa_identities()
    assert {"jepa_layers_3", "mae_layers_3", "balance_2", "antiderivative_4"} <= set(res)
    assert all(v == 0 for v in res.values()), {k: v for k, v in res.items() if v != 0}


@pytest.mark.parametrize("objective", dj.OBJECTIVES)
@pytest.mark.parametrize("depth", [1, 2, 4])
def test_critical_time_closed_form_quadrature_and_ode_agree(objective, depth):
    lam, rho = dj.TOY_LAM, dj.TOY_RHO
    tc = np.array([dj.critical_time(lm, r, depth, dj.TOY_EPS, objective)
                   for lm, r in zip(lam, rho, strict=True)])
    tq = np.array([dj.critical_time_quad(lm, r, depth, dj.TOY_EPS, objective)
                   for lm, r in zip(lam, rho, strict=True)])
    np.testing.assert_allclose(tc, tq, rtol=1e-8)
    tr = dj.simulate(lam, rho, depth, dj.TOY_EPS, objective, t_end=1.2 * tc.max(), n_save=4001)
    fp = dj.fixed_point(rho, depth, objective)
    np.testing.assert_allclose(dj.crossing_times(tr.t, tr.w, 0.5 * fp), tc, rtol=1e-4)
    np.testing.assert_allclose(tr.w[0], dj.TOY_EPS)  # the product starts at eps at any depth


@pytest.mark.parametrize(("objective", "depth", "lr"), [("jepa", 3, 0.2), ("mae", 6, 0.02)])
def test_decoupled_sgd_matches_the_critical_times(objective, depth, lr):
    tc = np.array([dj.critical_time(lm, r, depth, dj.TOY_EPS, objective)
                   for lm, r in zip(dj.TOY_LAM, dj.TOY_RHO, strict=True)])
    run = dj.sgd_train(dj.TOY_LAM, dj.TOY_RHO, depth, dj.TOY_EPS, objective, lr=lr,
                       steps=round(1.15 * tc.max() / lr), batch_size=256, record_every=5,
                       diagonal=True)
    ts = dj.crossing_times(run.t, run.w, 0.5 * dj.fixed_point(dj.TOY_RHO, depth, objective))
    np.testing.assert_allclose(ts, tc, rtol=0.03)


def test_sgd_reaches_the_fixed_points():
    run = dj.sgd_train(dj.TOY_LAM, dj.TOY_RHO, 2, 0.05, "mae", lr=0.02, steps=3000,
                       batch_size=512, record_every=3000)
    np.testing.assert_allclose(run.w[-1], dj.fixed_point(dj.TOY_RHO, 2, "mae"), rtol=0.05)


def test_order_inversion_with_depth_for_jepa_only():
    table = dj.order_table()
    jr, mr = table["jepa_ratio"], table["mae_ratio"]
    assert np.all(np.diff(jr) > 0) and jr[0] < 1 < jr[-1]
    np.testing.assert_allclose(mr, dj.TOY_LAM[1] / dj.TOY_LAM[0], rtol=0.1)
    # swapping rho removes the conflict: both objectives then learn feature 0 first
    same = dj.order_table(lam=dj.TOY_LAM, rho=dj.TOY_RHO[::-1])
    assert np.all(same["jepa_ratio"] < 1) and np.all(same["mae_ratio"] < 1)


def test_leading_order_of_the_jepa_time_is_the_covariance():
    # small start: t ~ 1 / ((2L - 1) lambda a0^(2L-1)), independent of rho at leading order
    for depth in (1, 3):
        a0 = 1e-4 ** (1 / depth)
        t = dj.critical_time(0.8, 0.9, depth, 1e-4)
        lead = 1 / ((2 * depth - 1) * 0.8 * a0 ** (2 * depth - 1))
        assert t == pytest.approx(lead, rel=0.2)


def test_bad_input_names_the_field():
    with pytest.raises(ConfigError, match="objective"):
        dj.critical_time(1.0, 0.5, 2, 0.01, "byol")
    with pytest.raises(ConfigError, match="depth"):
        dj.fixed_point(0.5, 0, "jepa")
    with pytest.raises(ConfigError, match="eps"):
        dj.critical_time(1.0, 0.3, 6, 0.01, "jepa")  # start above half the fixed point
    with pytest.raises(ConfigError, match="lr"):
        dj.sgd_train([1.0], [0.5], 1, 0.01, "mae", lr=-1.0, steps=1)


def _image_folder(tmp_path, n: int = 40):
    """A tiny train/<class>/*.png folder of random 16x16 images with a strong mean-intensity
    component (so brightness/contrast jitter acts on the top component)."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for i in range(n):
        folder = tmp_path / "train" / f"c{i % 2}"
        folder.mkdir(parents=True, exist_ok=True)
        level = rng.uniform(40, 215)
        img = np.clip(level + rng.normal(0, 20, (16, 16, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(img).save(folder / f"{i}.png")
    return tmp_path


def test_image_features_and_sampler_on_a_folder(tmp_path):
    import torch

    from dynamics.theories.deep_jepa import images as ji

    px = ji.load_pixels(str(_image_folder(tmp_path)), subset=40)
    assert px.shape == (40, ji.POOL**2) and abs(float(px.mean())) < 1e-12
    f = ji.image_features(px, k=3)
    assert f.U.shape == (64, 3) and np.allclose(f.U.T @ f.U, np.eye(3), atol=1e-10)
    assert np.all(np.diff(f.lam) <= 0) and np.all(f.rho > 0) and np.all(f.rho < 1.0 + 1e-9)
    # the mean-intensity component carries the jitter: the lowest rho of the three
    assert f.rho[0] == f.rho.min()
    x, y = f.sampler()(16, torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (16, 3) and not torch.allclose(x, y)


def test_real_images_prediction_needs_data(tmp_path):
    from dynamics.verify.prediction import NOT_RUN, Context
    from dynamics.verify.registry import PREDICTIONS

    out = PREDICTIONS["deep_jepa.real_images"].evaluate(Context("cpu", tmp_path))
    assert out.status == NOT_RUN and "data-root" in out.details
    assert PREDICTIONS["deep_jepa.real_images"].tiers == ("cpu",)

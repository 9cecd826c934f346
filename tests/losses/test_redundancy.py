"""Barlow Twins and VICReg: known values of the losses and training runs of both methods."""

import json

import pytest
import torch

from dynamics.errors import ConfigError
from dynamics.losses.redundancy import barlow_twins_loss, vicreg_loss, vicreg_terms


def _decorrelated(b=512, d=8, seed=0):
    """b x d with exactly zero mean, unit biased variance and zero cross-correlation."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, d, generator=g, dtype=torch.float64)
    x = x - x.mean(0)
    q, _ = torch.linalg.qr(x)  # orthonormal columns, still zero-mean
    return q * b**0.5


def test_barlow_twins_identical_decorrelated_views_give_zero():
    z = _decorrelated()
    assert float(barlow_twins_loss(z, z)) == pytest.approx(0.0, abs=1e-8)
    # an affine change of scale per dimension is removed by the standardisation
    assert float(barlow_twins_loss(z, 3.0 * z + 1.0)) == pytest.approx(0.0, abs=1e-8)


def test_barlow_twins_independent_views_expected_value():
    """E[L] = d (1 + 1/B) + lambda d (d - 1)/B for independent standardised views (the C_ij
    are then near N(0, 1/B)): averaged over many batches."""
    b, d, lam = 256, 16, 0.0051
    g = torch.Generator().manual_seed(1)
    vals = [float(barlow_twins_loss(torch.randn(b, d, generator=g, dtype=torch.float64),
                                    torch.randn(b, d, generator=g, dtype=torch.float64), lam))
            for _ in range(400)]
    mean = sum(vals) / len(vals)
    assert mean == pytest.approx(d * (1 + 1 / b) + lam * d * (d - 1) / b, rel=0.01)


def test_vicreg_terms_known_values():
    const = torch.ones(64, 8, dtype=torch.float64)
    v, c = vicreg_terms(const)
    assert float(v) == pytest.approx(1 - 1e-2, abs=1e-12) and float(c) == 0.0
    z = _decorrelated(b=256) * (256 / 255) ** 0.5  # unit unbiased variance
    v, c = vicreg_terms(2.0 * z)
    assert float(v) == 0.0 and float(c) == pytest.approx(0.0, abs=1e-20)
    # covariance term: two perfectly correlated unit-variance dims out of d = 2
    x = torch.randn(1000, 1, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    zz = torch.cat([x, x], 1)
    cov = zz.var(0, unbiased=True)[0]
    assert float(vicreg_terms(zz)[1]) == pytest.approx(float(2 * cov**2 / 2), rel=1e-12)
    # the full loss: identical views -> only the variance and covariance terms
    assert float(vicreg_loss(zz, zz)) == pytest.approx(
        float(25 * vicreg_terms(zz)[0] + 2 * vicreg_terms(zz)[1]), rel=1e-12)


@pytest.mark.parametrize("method", ["barlow_twins", "vicreg"])
def test_methods_train_and_report(tmp_path, method, smoke_cfg):
    from dynamics.train import trainer

    trainer.train(smoke_cfg(tmp_path, f"method.name={method}", "predictor.kind=none",
                          "method.ema=0", "optim.epochs=1", "name=r"))
    run = tmp_path / "r"
    cfg = (run / "config.yaml").read_text()
    assert f"loss: {method}" in cfg
    s = json.loads((run / "summary.json").read_text())
    assert s["status"] == "finished", s.get("status")
    assert 0.0 <= s["linear_eval"]["final_accuracy"] <= 1.0


@pytest.mark.parametrize("override, field", [("method.lambd=-1", "method.lambd"),
                                             ("method.tau=0.5", "method.tau"),
                                             ("method.sim_coeff=1", "method.sim_coeff"),
                                             ("method.loss=infonce", "method.loss"),
                                             ("predictor.kind=linear", "predictor.kind")])
def test_bad_settings_fail_before_work(tmp_path, override, field, smoke_cfg):
    from dynamics.train import trainer

    with pytest.raises(ConfigError, match=field):
        trainer.train(smoke_cfg(tmp_path, "method.name=barlow_twins", "predictor.kind=none",
                              "method.ema=0", override, "name=bad"))
    assert not (tmp_path / "bad").exists()


def test_directclr_uses_the_first_d0_dimensions_without_a_projector(tmp_path, smoke_cfg):
    from dynamics.losses.contrastive import nt_xent
    from dynamics.train.methods import build_method

    base = ("method.name=simclr", "method.loss=infonce", "predictor.kind=none", "method.ema=0",
            "model.projector=false")
    m = build_method(smoke_cfg(tmp_path, *base, "method.directclr_dim=4"), (1, 8, 8))
    assert isinstance(m.projector, torch.nn.Identity)
    v1, v2 = torch.randn(16, 1, 8, 8), torch.randn(16, 1, 8, 8)
    m.train()
    out = m.training_step(v1, v2)
    h1, h2 = m.encoder(v1), m.encoder(v2)
    torch.testing.assert_close(out.loss, nt_xent(h1[:, :4], h2[:, :4],
                                                 m.loss_kwargs["tau"]))
    for bad, field in (("method.directclr_dim=4", "method.directclr_dim"),):
        with pytest.raises(ConfigError, match=field):  # with the default projector
            build_method(smoke_cfg(tmp_path, *base[:4], bad), (1, 8, 8))
    with pytest.raises(ConfigError, match="method.directclr_dim"):
        build_method(smoke_cfg(tmp_path, *base, "method.directclr_dim=100000"), (1, 8, 8))

"""Encoders, projector and predictor modules of the training engine (dynamics.train.models)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from dynamics.errors import ConfigError
from dynamics.predictors import predictor_from_correlation, ridge_predictor
from dynamics.train.config import PREDICTOR_KINDS, ModelConfig
from dynamics.train.models import (
    ENCODERS,
    ClosedFormPredictor,
    build_encoder,
    build_predictor,
    build_projector,
    projector_out_dim,
)
from dynamics.train.models.predictor_registry import get_kind, predictor_config

D = 6  # predictor width in the predictor tests


def _model(**kw) -> ModelConfig:
    base = dict(width=8, out_dim=5, projector_hidden=32, projector_dim=16)
    base.update(kw)
    return ModelConfig(**base)


def _pred(kind: str, **kw):
    """The kind's config section (hidden 16 where the kind has a hidden layer); ``threshold``
    is the threshold rule's ``c`` and ``eps`` the ridge rule's ``ridge``."""
    if "threshold" in kw:
        kw["c"] = kw.pop("threshold")
    if kind == "ridge" and "eps" in kw:
        kw["ridge"] = kw.pop("eps")
    if "hidden" in get_kind(kind).params:
        kw.setdefault("hidden", 16)
    return predictor_config({"kind": kind, **kw})


def _batch(n=12, d=D, seed=0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=torch.float64)


# --------------------------------------------------------------------------------- encoders
def test_registries_match_config_names():
    assert tuple(ENCODERS) == ("resnet18", "convnet", "mlp", "linear")
    assert {k.name for k in PREDICTOR_KINDS.values()} == set(PREDICTOR_KINDS)


@pytest.mark.parametrize("shape", [(3, 32, 32), (1, 8, 8)])
@pytest.mark.parametrize("name,expect", [("resnet18", 512), ("convnet", 32), ("mlp", 8),
                                         ("linear", 5)])
def test_encoder_output_shapes(name, expect, shape):
    torch.manual_seed(0)
    net, feat_dim = build_encoder(_model(encoder=name), shape)
    assert feat_dim == expect
    x = torch.randn(2, *shape)
    y = net(x)
    assert y.shape == (2, feat_dim) and torch.isfinite(y).all()


def test_vector_inputs_and_image_only_encoders():
    for name in ("mlp", "linear"):
        net, d = build_encoder(_model(encoder=name), (16,))
        assert net(torch.randn(4, 16)).shape == (4, d)
    for name in ("resnet18", "convnet"):
        with pytest.raises(ConfigError, match="model.encoder"):
            build_encoder(_model(encoder=name), (16,))


def test_resnet_stems():
    net, _ = build_encoder(_model(encoder="resnet18", cifar_stem=True), (3, 32, 32))
    assert net.conv1.kernel_size == (3, 3) and net.conv1.stride == (1, 1)
    assert isinstance(net.maxpool, nn.Identity)
    assert not any(isinstance(m, nn.MaxPool2d) for m in net.modules())
    assert isinstance(net.fc, nn.Identity)
    net, _ = build_encoder(_model(encoder="resnet18", cifar_stem=False), (1, 8, 8))
    assert net.conv1.kernel_size == (7, 7) and net.conv1.stride == (2, 2)
    assert net.conv1.in_channels == 1 and isinstance(net.maxpool, nn.MaxPool2d)


def test_linear_encoder_is_bias_free_W():
    net, n2 = build_encoder(_model(encoder="linear", out_dim=3), (7,))
    params = dict(net.named_parameters())
    assert list(params) == ["1.weight"] and params["1.weight"].shape == (3, 7)
    x = torch.randn(5, 7)
    torch.testing.assert_close(net(x), x @ params["1.weight"].T)


# -------------------------------------------------------------------------------- projector
def test_projector_structure_and_identity():
    proj = build_projector(_model(), 40)
    lin1, bn, relu, lin2 = proj
    assert (lin1.in_features, lin1.out_features, lin1.bias is not None) == (40, 32, True)
    assert isinstance(bn, nn.BatchNorm1d) and not bn.affine and isinstance(relu, nn.ReLU)
    assert (lin2.in_features, lin2.out_features, lin2.bias is not None) == (32, 16, True)
    assert proj(torch.randn(4, 40)).shape == (4, 16)
    assert projector_out_dim(_model(), 40) == 16
    assert isinstance(build_projector(_model(projector=False), 40), nn.Identity)
    assert projector_out_dim(_model(projector=False), 40) == 40


def test_linear_projector_and_small_init(tmp_path, smoke_cfg):
    from dynamics.train.methods import build_method

    lin = build_projector(_model(projector_kind="linear"), 40)
    assert isinstance(lin, nn.Linear) and lin.bias is None and lin.out_features == 16
    assert projector_out_dim(_model(projector_kind="linear"), 40) == 16
    torch.manual_seed(0)
    ref = build_method(smoke_cfg(tmp_path, "model.projector_kind=linear"), (1, 8, 8))
    torch.manual_seed(0)
    small = build_method(smoke_cfg(tmp_path, "model.projector_kind=linear",
                                 "model.init_scale=0.01"), (1, 8, 8))
    w_ref, w_small = ref.projector.weight, small.projector.weight
    torch.testing.assert_close(w_small, 0.01 * w_ref)
    conv = next(m for m in small.encoder.modules() if isinstance(m, nn.Conv2d))
    conv_ref = next(m for m in ref.encoder.modules() if isinstance(m, nn.Conv2d))
    torch.testing.assert_close(conv.weight, 0.01 * conv_ref.weight)
    for bad, field in (("model.projector_kind=deep", "model.projector_kind"),
                       ("model.init_scale=0", "model.init_scale")):
        with pytest.raises(ConfigError, match=field):
            build_method(smoke_cfg(tmp_path, bad), (1, 8, 8))


# ------------------------------------------------------------------------------- predictors
@pytest.mark.parametrize("kind", PREDICTOR_KINDS)
def test_every_predictor_kind_builds_and_runs(kind):
    torch.manual_seed(0)
    pred = build_predictor(_pred(kind), D).double()
    f = _batch()
    pred.observe(f, _batch(seed=1))
    y = pred(f)
    assert y.shape == f.shape and torch.isfinite(y).all()
    pred.after_optimizer_step(0)
    assert pred.all_reduce is None
    m = pred.matrix()
    assert (m is None) == (kind in ("none", "mlp", "symmetric_mlp"))
    assert (pred.correlation() is None) == (not isinstance(pred, ClosedFormPredictor))


def test_symmetric_predictor_stays_symmetric():
    torch.manual_seed(0)
    pred = build_predictor(_pred("symmetric"), D)
    W = pred.linear.weight
    torch.testing.assert_close(W, W.T, rtol=0, atol=0)
    opt = torch.optim.SGD(pred.parameters(), lr=0.5, momentum=0.9)
    for step in range(3):
        x, t = torch.randn(8, D), torch.randn(8, D)
        opt.zero_grad()
        ((pred(x) - t) ** 2).sum().backward()
        opt.step()
        assert not torch.allclose(W, W.T)  # the SGD step alone breaks symmetry
        pred.after_optimizer_step(step)
        torch.testing.assert_close(W, W.T, rtol=0, atol=0)


def _directpred_weight(F: np.ndarray, eps: float) -> np.ndarray:
    """Official code form, written out: p_j = max(sqrt(max(s_j,0)/s_max) + eps, 1e-4)."""
    s, U = np.linalg.eigh((F + F.T) / 2)
    p = np.maximum(np.sqrt(np.clip(s, 0, None) / s.max()) + eps, 1e-4)
    return (U * p) @ U.T


def test_directpred_sets_weight_after_step_and_first_forward_uses_init():
    torch.manual_seed(0)
    rho, eps = 0.3, 0.1
    pred = build_predictor(_pred("directpred", rho=rho, eps=eps), D).double()
    W0 = pred.linear.weight.detach().clone()
    F_ref = None
    for step in range(3):
        f = _batch(seed=step)
        pred.observe(f)
        FB = (f.T @ f / f.shape[0]).numpy()
        F_ref = FB if F_ref is None else rho * F_ref + (1 - rho) * FB
        np.testing.assert_allclose(pred.correlation().numpy(), F_ref, rtol=1e-13, atol=1e-14)
        if step == 0:  # the first forward uses the default-initialised weight
            torch.testing.assert_close(pred(f), f @ W0.T, rtol=0, atol=0)
        assert pred.after_optimizer_step(step)
        np.testing.assert_allclose(pred.matrix().numpy(), _directpred_weight(F_ref, eps),
                                   rtol=1e-10, atol=1e-12)
    assert pred.last is not None and pred.last.p.shape == (D,)


@pytest.mark.parametrize("kind,rule,kwargs", [
    ("directpred", "directpred_paper", {"form": "paper", "eps": 0.2}),
    ("directcopy", "directcopy", {"eps": 0.25}),
    ("directset", "directset", {"alpha": 0.8, "eps": 0.05}),
    ("threshold", "threshold", {"threshold": 0.1, "form": "paper"}),
    ("threshold", "threshold", {"threshold": -0.1, "form": "code"}),
])
def test_closed_form_rules_follow_the_config(kind, rule, kwargs):
    pred = build_predictor(_pred(kind, **kwargs), D).double()
    pred.observe(_batch())
    pred.after_optimizer_step(0)
    rule_kw = {"directpred_paper": {"eps": kwargs.get("eps")},
               "directcopy": {"eps": kwargs.get("eps")},
               "directset": {"alpha": kwargs.get("alpha"), "eps": kwargs.get("eps")},
               "threshold": {"c": kwargs.get("threshold"), "form": kwargs.get("form")}}[rule]
    expect = predictor_from_correlation(pred.correlation(), rule, **rule_kw)
    torch.testing.assert_close(pred.matrix(), expect, rtol=1e-12, atol=1e-12)


def test_ridge_uses_target_cross_correlation():
    pred = build_predictor(_pred("ridge", eps=0.05, rho=0.5), D).double()
    assert pred.needs_target
    f, fa = _batch(seed=0), _batch(seed=1)
    with pytest.raises(ConfigError, match="f_target"):
        pred.observe(f)
    pred.observe(f, fa)
    pred.after_optimizer_step(0)
    C = fa.T @ f / f.shape[0]
    expect = ridge_predictor(f.T @ f / f.shape[0], C, 0.05)
    torch.testing.assert_close(pred.matrix(), expect, rtol=1e-10, atol=1e-12)


def test_freq_is_respected():
    torch.manual_seed(0)
    pred = build_predictor(_pred("directpred", freq=3), D).double()
    opt = torch.optim.SGD(pred.parameters(), lr=0.1)
    rewritten = []
    for step in range(7):
        f = _batch(seed=step)
        pred.observe(f)
        opt.zero_grad()
        (pred(f) ** 2).sum().backward()
        opt.step()
        before = pred.linear.weight.detach().clone()
        rewritten.append(pred.after_optimizer_step(step))
        changed = not torch.equal(before, pred.linear.weight)
        assert changed == rewritten[-1]
    assert rewritten == [True, False, False, True, False, False, True]
    assert int(pred.step_count) == 7 and int(pred.n_updates) == 7


@pytest.mark.parametrize("kind", ["directpred", "ridge"])
def test_state_dict_round_trip_resumes_exactly(kind):
    torch.manual_seed(0)
    a = build_predictor(_pred(kind, freq=2, eps=0.1), D).double()
    for step in range(3):
        a.observe(_batch(seed=step), _batch(seed=10 + step))
        a.after_optimizer_step(step)
    state = a.state_dict()
    spectral = state["_extra_state"]["spectral_state"]  # the rule's state, saved once
    assert spectral["step_count"] == 3 and spectral["corr"]["n_updates"] == 3
    b = build_predictor(_pred(kind, freq=2, eps=0.1), D).double()
    assert b.correlation() is None
    b.load_state_dict(state)
    assert torch.equal(b.correlation(), a.correlation())
    assert torch.equal(b.linear.weight, a.linear.weight)
    for step in range(3, 6):  # both continue identically (rewrites at steps 4, ...)
        for p in (a, b):
            p.observe(_batch(seed=step), _batch(seed=10 + step))
            p.after_optimizer_step(step)
        assert torch.equal(b.linear.weight, a.linear.weight)
        assert torch.equal(b.correlation(), a.correlation())


@pytest.mark.parametrize("kind", ["directpred", "ridge"])
def test_all_reduce_hook_is_called_on_batch_statistics(kind):
    pred = build_predictor(_pred(kind, eps=0.1), D).double()
    calls = []

    def halve(t):  # a stand-in "average" that halves the statistic
        calls.append(tuple(t.shape))
        return t / 2

    pred.all_reduce = halve
    f, fa = _batch(seed=0), _batch(seed=1)
    pred.observe(f, fa)
    expected = [(D, D)] + ([(2 * D, 2 * D)] if kind == "ridge" else [])
    assert calls == expected
    torch.testing.assert_close(pred.correlation(), f.T @ f / f.shape[0] / 2)
    pred.after_optimizer_step(0)
    pred.all_reduce = None
    pred.observe(f, fa)
    assert len(calls) == len(expected)


def test_sqrt_matrix_of_closed_form_weight():
    pred = build_predictor(_pred("directpred"), D).double()
    pred.observe(_batch())
    pred.after_optimizer_step(0)
    r = pred.sqrt_matrix()
    torch.testing.assert_close(r @ r, pred.matrix(), rtol=1e-10, atol=1e-12)
    assert build_predictor(_pred("none"), D).sqrt_matrix() is None


def test_mlp_predictor_structure():
    pred = build_predictor(_pred("mlp", bias=True), D)
    lin1, bn, _, lin2 = pred.net
    assert (lin1.out_features, lin2.out_features) == (16, D)
    assert lin1.bias is not None and not bn.affine


def test_symmetric_mlp_predictor_stays_tied_after_a_step():
    """Two-layer symmetric predictor (Table 3): W1 = W0^T initially and after each step, with
    W0 <- (W0 + W1^T)/2."""
    from dynamics.train.config import TrainConfig
    from dynamics.train.models import build_predictor

    cfg = TrainConfig()
    cfg.predictor.kind = "symmetric_mlp"
    cfg.predictor.hidden = 12
    pred = build_predictor(cfg, 6)
    torch.testing.assert_close(pred.last.weight, pred.first.weight.T)
    opt = torch.optim.SGD(pred.parameters(), lr=0.5)
    x = torch.randn(32, 6)
    pred(x).pow(3).sum().backward()
    opt.step()
    w0, w1 = pred.first.weight.detach().clone(), pred.last.weight.detach().clone()
    assert not torch.allclose(w1, w0.T)  # the step broke the tie ...
    assert pred.after_optimizer_step(0)
    torch.testing.assert_close(pred.first.weight, (w0 + w1.T) / 2)  # ... the hook restores it
    torch.testing.assert_close(pred.last.weight, pred.first.weight.T)

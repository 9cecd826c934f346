"""SSL methods of the training engine (dynamics.train.methods): smoke runs of every allowed
combination, EMA / stop-gradient / parameter-group semantics, and the theory link (BYOL/SimSiam
on the linear model reproduce dynamics.theories.directpred.sgd.simulate_sgd step for step)."""

from __future__ import annotations

import copy
import itertools

import numpy as np
import pytest
import torch

from dynamics.errors import ConfigError
from dynamics.losses import LOSSES
from dynamics.losses.contrastive import align_uniform_loss
from dynamics.metrics.alignment_uniformity import alignment, uniformity
from dynamics.numerics.data_models import AdditiveGaussian
from dynamics.theories.directpred.matrix_flow import MatrixFlowConfig
from dynamics.theories.directpred.sgd import simulate_sgd
from dynamics.train.checkpoint_files import state_tensors
from dynamics.train.config import PREDICTOR_KINDS, TrainConfig, validate
from dynamics.train.methods import build_method
from dynamics.train.methods.base import METHODS
from dynamics.train.models.predictor_registry import get_kind, predictor_config

IMG = (3, 8, 8)
B = 16


def tiny_cfg(name="byol", kind="linear", loss="cosine", **method) -> TrainConfig:
    cfg = TrainConfig()
    cfg.data.dataset = "digits"
    cfg.model.encoder = "convnet"
    cfg.model.width = 8
    cfg.model.projector_hidden = 32
    cfg.model.projector_dim = 16
    section = {"kind": kind, "hidden": 32} if "hidden" in get_kind(kind).params else {"kind": kind}
    cfg.predictor = predictor_config(section)
    cfg.method.name = name
    cfg.method.loss = loss
    for k, v in method.items():
        setattr(cfg.method, k, v)
    return cfg


def linear_cfg(name="byol", kind="linear", **method) -> TrainConfig:
    """The theory's model: linear bias-free encoder, no projector, Euclidean loss, one
    direction."""
    cfg = tiny_cfg(name, kind, "euclidean", symmetric_loss=False, **method)
    cfg.data.dataset = "synthetic"
    cfg.data.synthetic_dim = 6
    cfg.model.encoder = "linear"
    cfg.model.out_dim = 4
    cfg.model.projector = False
    return cfg


def views(seed=0, n=B, shape=IMG, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, *shape, generator=g, dtype=dtype)
    return (x + 0.3 * torch.randn(x.shape, generator=g, dtype=dtype),
            x + 0.3 * torch.randn(x.shape, generator=g, dtype=dtype))


def train(method, steps=3, lr_scale=1.0, data=None):
    opt = torch.optim.SGD(method.parameter_groups(), momentum=0.9)
    for g in opt.param_groups:
        g["lr"] *= lr_scale
    outs = []
    for step in range(steps):
        v1, v2 = data[step] if data else views(step)
        out = method.training_step(v1, v2)
        opt.zero_grad()
        out.loss.backward()
        opt.step()
        method.after_optimizer_step(step)
        outs.append(out)
    return outs


# ------------------------------------------------------------------------------------ smoke
BATCH_LOSS_METHODS = ("simclr", "barlow_twins", "vicreg")  # no predictor, no target network


def _combinations():
    """Every (method, predictor kind, loss, stop_grad) the config validates."""
    for name, kind, loss, sg in itertools.product(
            METHODS, PREDICTOR_KINDS,
            LOSSES.names(family="regression") + LOSSES.names(family="contrastive")
            + LOSSES.names(family="redundancy"), (True, False)):
        ema = 0.0 if not sg and name == "byol" else None  # stop_grad=False needs ema 0
        cfg = tiny_cfg(name, kind, loss, stop_grad=sg, ema=ema)
        if name in BATCH_LOSS_METHODS and not sg:
            continue  # stop_grad means nothing for SimCLR, Barlow Twins, VICReg
        try:
            validate(cfg)
        except ConfigError:
            continue
        if cfg.method.loss != loss:
            continue  # the default loss resolved to the method's own (listed under that name)
        yield pytest.param(cfg, id=f"{name}-{kind}-{loss}-{'sg' if sg else 'nosg'}")


def _rejected(cfg) -> str | None:
    """Combinations the config allows but the methods refuse (with the field they name)."""
    m = cfg.method
    if m.loss == "isoloss":
        if cfg.predictor.kind in ("linear", "mlp", "symmetric", "symmetric_mlp"):
            return "method.loss"
        if cfg.predictor.kind == "ridge":
            return "predictor.kind"
        if not m.stop_grad:
            return "method.stop_grad"
    return None


COMBINATIONS = list(_combinations())  # built once, at collection


@pytest.mark.parametrize("cfg", COMBINATIONS)
def test_every_allowed_combination_trains(cfg):
    torch.manual_seed(0)
    field = _rejected(cfg)
    if field is not None:
        with pytest.raises(ConfigError, match=field):
            build_method(cfg, IMG)
        return
    method = build_method(cfg, IMG)
    outs = train(method, steps=3)
    d_h, d_z = 32, 16
    for out in outs:
        assert out.loss.ndim == 0 and torch.isfinite(out.loss)
        assert out.features.shape == (2 * B, d_h) and not out.features.requires_grad
        assert out.online.shape == (2 * B, d_z) and not out.online.requires_grad
        if cfg.method.name in BATCH_LOSS_METHODS or cfg.predictor.kind == "none":
            assert out.predicted is None
        else:
            assert out.predicted.shape == (2 * B, d_z)
        if cfg.method.name in BATCH_LOSS_METHODS:
            assert out.target is None
        else:
            assert out.target.shape == (2 * B, d_z) and not out.target.requires_grad
    assert method.backbone_features(views()[0]).shape == (B, d_h)


def test_combination_count():
    # 2 non-contrastive methods x 10 kinds x 3 losses (+ stop_grad=False variants) + 6 SimCLR
    # (infonce, its alias nt_xent, dcl, dclw, exact_cov, align_uniform) + Barlow Twins and
    # VICReg, each with its own loss
    assert len(COMBINATIONS) == 2 * 10 * 3 * 2 + 6 + 2


@pytest.mark.parametrize("name,kind,loss", [("byol", "linear", "cosine"),
                                            ("simsiam", "directpred", "cosine"),
                                            ("simclr", "none", "infonce"),
                                            ("simclr", "none", "align_uniform")])
def test_loss_decreases_on_a_fixed_batch(name, kind, loss):
    torch.manual_seed(0)
    method = build_method(tiny_cfg(name, kind, loss), IMG)
    v = views(0)
    outs = train(method, steps=8, data=[v] * 8)
    first, last = outs[0].loss.item(), outs[-1].loss.item()
    assert last < first


def test_forward_is_training_step():
    torch.manual_seed(0)
    method = build_method(tiny_cfg("simclr", "none", "dcl"), IMG)
    v1, v2 = views()
    torch.manual_seed(1)
    a = method(v1, v2).loss
    torch.manual_seed(1)
    assert torch.equal(a, method.training_step(v1, v2).loss)


# ------------------------------------------------------------------------------------- BYOL
def _params(module):
    return [p.detach().clone() for p in module.parameters()]


def test_byol_target_is_a_frozen_copy_and_gets_no_gradient():
    torch.manual_seed(0)
    m = build_method(tiny_cfg("byol"), IMG)
    for t, o in zip(m.target_parameters(), m.online_parameters(), strict=True):
        assert torch.equal(t, o) and not t.requires_grad
    out = m.training_step(*views())
    out.loss.backward()
    assert all(p.grad is None for p in m.target_parameters())
    assert all(p.grad is not None for p in m.online_parameters())


@pytest.mark.parametrize("ema", [0.0, 0.9])
def test_byol_ema_update(ema):
    torch.manual_seed(0)
    m = build_method(tiny_cfg("byol", ema=ema), IMG)
    train(m, steps=1)  # move online away from target
    old = [p.clone() for p in m.target_parameters()]
    train(m, steps=1)
    new_online = m.online_parameters()
    for t, o, n in zip(m.target_parameters(), old, new_online, strict=True):
        if ema == 0:
            assert torch.equal(t, n)
        else:
            torch.testing.assert_close(t, ema * o + (1 - ema) * n, rtol=1e-6, atol=1e-7)
            assert not torch.allclose(t, n)


def test_byol_stop_grad_false_needs_ema_zero():
    with pytest.raises(ConfigError, match="method.stop_grad"):
        build_method(tiny_cfg("byol", stop_grad=False, ema=0.5), IMG)
    with pytest.raises(ConfigError, match="method.stop_grad"):
        build_method(tiny_cfg("byol", stop_grad=False), IMG)  # default EMA 0.996


def test_simclr_rejects_meaningless_knobs():
    with pytest.raises(ConfigError, match="method.ema"):
        build_method(tiny_cfg("simclr", "none", "infonce", ema=0.5), IMG)
    with pytest.raises(ConfigError, match="method.symmetric_loss"):
        build_method(tiny_cfg("simclr", "none", "infonce", symmetric_loss=False), IMG)


def test_isoloss_sends_no_gradient_to_the_predictor():
    torch.manual_seed(0)
    m = build_method(tiny_cfg("byol", "directpred", "isoloss"), IMG)
    m.training_step(*views()).loss.backward()
    assert m.predictor.linear.weight.grad is None
    assert m.encoder.features[0].weight.grad is not None


# ---------------------------------------------------------------------------- param groups
def test_parameter_groups_lr_and_weight_decay():
    cfg = tiny_cfg("byol", "linear")
    cfg.optim.lr, cfg.optim.predictor_lr_mult = 0.03, 10.0
    cfg.optim.weight_decay, cfg.optim.predictor_weight_decay = 0.0, 4e-4  # Table 5
    m = build_method(cfg, IMG)
    online, pred = m.parameter_groups()
    assert (online["name"], online["lr"], online["weight_decay"]) == ("online", 0.03, 0.0)
    assert pred["name"] == "predictor" and pred["weight_decay"] == 4e-4
    assert pred["lr"] == pytest.approx(0.3)
    ids = {id(p) for g in (online, pred) for p in g["params"]}
    assert ids == {id(p) for p in m.parameters() if p.requires_grad}
    assert not ids & {id(p) for p in m.target_parameters()}
    assert {id(p) for p in pred["params"]} == {id(p) for p in m.predictor.parameters()}

    cfg.optim.predictor_weight_decay = None  # falls back to weight_decay
    cfg.optim.weight_decay = 4e-4
    assert build_method(cfg, IMG).parameter_groups()[1]["weight_decay"] == 4e-4
    assert len(build_method(tiny_cfg("simsiam", "none"), IMG).parameter_groups()) == 1
    (g,) = build_method(tiny_cfg("simclr", "none", "infonce"), IMG).parameter_groups()
    assert g["lr"] == cfg.optim.lr


# ---------------------------------------------------------------------- linear-model maths
def _linear_method(name="byol", kind="linear", **method):
    m = build_method(linear_cfg(name, kind, **method), (6,)).double()
    return m, m.encoder[1].weight


def test_euclidean_gradient_matches_the_theory_formula():
    torch.manual_seed(0)
    m, W = _linear_method("byol", ema=0.5)
    Wp = m.predictor.linear.weight
    with torch.no_grad():
        m.target_encoder[1].weight.normal_()
    Wa = m.target_encoder[1].weight
    x1, x2 = views(0, n=B, shape=(6,), dtype=torch.float64)
    m.training_step(x1, x2).loss.backward()
    R = Wp @ W @ x1.T - Wa @ x2.T  # columns are samples
    with torch.no_grad():
        torch.testing.assert_close(W.grad, Wp.T @ R @ x1 / B, rtol=1e-12, atol=1e-14)
        torch.testing.assert_close(Wp.grad, R @ (W @ x1.T).T / B, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("stop_grad", [True, False])
def test_simsiam_stop_gradient(stop_grad):
    torch.manual_seed(0)
    m, W = _linear_method("simsiam", stop_grad=stop_grad)
    Wp = m.predictor.linear.weight
    x1, x2 = views(1, n=B, shape=(6,), dtype=torch.float64)
    m.training_step(x1, x2).loss.backward()
    with torch.no_grad():
        R = Wp @ W @ x1.T - W @ x2.T
        expect = Wp.T @ R @ x1 / B
        if not stop_grad:  # Theorem 2: the target branch contributes -R x2^T / B
            expect = expect - R @ x2 / B
        torch.testing.assert_close(W.grad, expect, rtol=1e-12, atol=1e-14)


def test_directpred_in_a_method_accumulates_both_views():
    torch.manual_seed(0)
    m = build_method(tiny_cfg("byol", "directpred"), IMG)
    out = train(m, steps=1)[0]
    f = out.online.double()
    torch.testing.assert_close(m.correlation_matrix(), f.T @ f / f.shape[0])
    assert m.predictor_matrix().shape == (16, 16)


def test_align_uniform_loss_matches_the_metrics_and_backpropagates():
    g = torch.Generator().manual_seed(0)
    z1 = torch.randn(20, 5, generator=g, dtype=torch.float64, requires_grad=True)
    z2 = torch.randn(20, 5, generator=g, dtype=torch.float64)
    loss = align_uniform_loss(z1, z2, t=2.0, weight=0.5)
    u1 = torch.nn.functional.normalize(z1.detach(), dim=1)
    u2 = torch.nn.functional.normalize(z2, dim=1)
    expect = alignment(u1, u2) + 0.5 * (uniformity(u1, t=2.0) + uniformity(u2, t=2.0)) / 2
    assert loss.item() == pytest.approx(expect, rel=1e-10)
    loss.backward()
    assert torch.isfinite(z1.grad).all() and z1.grad.abs().sum() > 0


# ----------------------------------------------------------------------------- theory link
THEORY_CASES = {
    # name: (method, predictor kind, stop_grad, MatrixFlowConfig kwargs)
    "byol-ema-learned": ("byol", "linear", True,
                         dict(predictor="learned", target="ema", alpha_p=2.0)),
    "simsiam-symmetric-no-stopgrad": ("simsiam", "symmetric", False,
                                      dict(predictor="symmetric", target="simsiam",
                                           stop_grad=False, alpha_p=0.5)),
    "simsiam-no-predictor": ("simsiam", "none", True,
                             dict(predictor="identity", target="simsiam")),
}


@pytest.mark.parametrize("case", list(THEORY_CASES))
def test_training_engine_reproduces_the_theory_sgd(case):
    """The engine's BYOL/SimSiam on the linear model, trained by a plain SGD loop on the same
    sampled views, follows dynamics.theories.directpred.sgd.simulate_sgd to round-off (float64)."""
    name, kind, stop_grad, flow = THEORY_CASES[case]
    n1, n2, lr, beta, eta, batch, steps, seed = 6, 4, 0.05, 0.4, 0.05, 32, 150, 7
    flow = MatrixFlowConfig(beta=beta, eta=eta, **flow)
    alpha_p = flow.alpha_p
    data = AdditiveGaussian.isotropic(n1, 0.5)
    r = np.random.default_rng(3)
    W0 = 0.5 * r.standard_normal((n2, n1))
    Wp0 = 0.5 * r.standard_normal((n2, n2))
    Wa0 = 0.5 * r.standard_normal((n2, n1))
    traj = simulate_sgd(W0, data, flow, Wp0=Wp0, Wa0=Wa0, lr=lr, batch_size=batch,
                        t_end=steps * lr, n_save=steps + 1, seed=seed)
    assert traj.ok and traj.W.shape[0] == steps + 1

    cfg = linear_cfg(name, kind, stop_grad=stop_grad)
    cfg.data.synthetic_dim, cfg.model.out_dim = n1, n2
    cfg.method.ema = 1 - lr * beta if name == "byol" else None  # gamma_a = 1 - lr beta
    cfg.optim.lr, cfg.optim.momentum = lr, 0.0
    cfg.optim.weight_decay = eta  # per-step shrink lr * eta = the theory's eta_bar
    cfg.optim.predictor_lr_mult = alpha_p  # predictor lr = lr * alpha_p
    cfg.optim.predictor_weight_decay = eta / alpha_p  # shrink lr alpha_p (eta/alpha_p) = lr eta
    m = build_method(cfg, (n1,)).double()
    W = m.encoder[1].weight
    with torch.no_grad():
        W.copy_(torch.from_numpy(W0))
        if kind != "none":
            m.predictor.linear.weight.copy_(torch.from_numpy(Wp0))
            if kind == "symmetric":
                m.predictor.symmetrize()  # the simulation symmetrises Wp0 too
        if name == "byol":
            m.target_encoder[1].weight.copy_(torch.from_numpy(Wa0))
    opt = torch.optim.SGD(m.parameter_groups(), momentum=0.0)

    def state():
        wp = m.predictor.matrix() if kind != "none" else torch.eye(n2, dtype=torch.float64)
        wa = m.target_encoder[1].weight if name == "byol" else W
        return W.detach().numpy().copy(), wp.numpy().copy(), wa.detach().numpy().copy()

    rng = np.random.default_rng(seed)  # the simulation's stream of minibatches
    for step in range(steps + 1):
        Wt, Wpt, Wat = state()
        np.testing.assert_allclose(Wt, traj.W[step], rtol=0, atol=1e-10)
        np.testing.assert_allclose(Wpt, traj.Wp[step], rtol=0, atol=1e-10)
        np.testing.assert_allclose(Wat, traj.Wa[step], rtol=0, atol=1e-10)
        if step == steps:
            break
        x1, x2 = data.sample(batch, rng)
        out = m.training_step(torch.from_numpy(x1.T), torch.from_numpy(x2.T))
        opt.zero_grad()
        out.loss.backward()
        opt.step()
        m.after_optimizer_step(step)
    assert np.abs(traj.W[-1] - traj.W[0]).max() > 1e-2  # it actually moved


@pytest.mark.parametrize("kind", ["directpred", "ridge"])
def test_method_checkpoint_resumes_exactly(kind):
    """state_dict of the whole method (online, target, predictor F / counters) + optimizer:
    a resumed copy continues bit for bit (freq = 2, so the rewrite phase must be restored)."""
    cfg = tiny_cfg("byol", kind)
    cfg.predictor.freq = 2
    torch.manual_seed(0)
    a = build_method(cfg, IMG)
    opt_a = torch.optim.SGD(a.parameter_groups(), momentum=0.9)

    def step(m, opt, i):
        out = m.training_step(*views(i))
        opt.zero_grad()
        out.loss.backward()
        opt.step()
        m.after_optimizer_step(i)
        return out.loss.detach()

    for i in range(3):
        step(a, opt_a, i)
    torch.manual_seed(1)
    b = build_method(cfg, IMG)
    b.load_state_dict(copy.deepcopy(a.state_dict()))  # deep copies, as torch.save/load
    opt_b = torch.optim.SGD(b.parameter_groups(), momentum=0.9)
    opt_b.load_state_dict(copy.deepcopy(opt_a.state_dict()))
    for i in range(3, 6):
        assert torch.equal(step(a, opt_a, i), step(b, opt_b, i))
    for pa, pb in zip(state_tensors(a.state_dict()).values(),
                      state_tensors(b.state_dict()).values(), strict=True):
        assert torch.equal(pa, pb)


@pytest.mark.parametrize("loss,combine", [("cosine", "sum"), ("euclidean", "mean")])
def test_symmetric_loss_combines_directions(loss, combine):
    """Cosine: the official code sums both directions; Euclidean: averaged (Lemma 1's flow)."""
    torch.manual_seed(0)
    one = linear_cfg("simsiam", "linear")
    one.method.loss = loss
    both = copy.deepcopy(one)
    both.method.symmetric_loss = True
    m_one = build_method(one, (6,)).double()
    m_both = build_method(both, (6,)).double()
    m_both.load_state_dict(m_one.state_dict())
    g = torch.Generator().manual_seed(1)
    x1 = torch.randn(B, 6, generator=g, dtype=torch.float64)
    x2 = torch.randn(B, 6, generator=g, dtype=torch.float64)
    d12 = m_one.training_step(x1, x2).loss
    d21 = m_one.training_step(x2, x1).loss
    sym = m_both.training_step(x1, x2).loss
    expect = d12 + d21 if combine == "sum" else (d12 + d21) / 2
    torch.testing.assert_close(sym, expect)


# ------------------------------------------------------------------------ mixed precision
@pytest.mark.parametrize("name,kind,loss", [("byol", "directpred", "cosine"),
                                            ("byol", "linear", "cosine"),
                                            ("simsiam", "mlp", "cosine"),
                                            ("simclr", "none", "infonce")])
def test_bf16_autocast_step_matches_fp32(name, kind, loss):
    """The bf16 autocast path (the CUDA default; honoured on CPU for precision=bf16): same
    weights and views give the fp32 loss and gradients to bf16 accuracy, and DirectPred's F
    stays float64."""
    from dynamics.train.evaluate import autocast_for

    torch.manual_seed(0)
    m32 = build_method(tiny_cfg(name, kind, loss), IMG)
    torch.manual_seed(0)
    m16 = build_method(tiny_cfg(name, kind, loss), IMG)
    assert all(torch.equal(a, b) for a, b in zip(state_tensors(m32.state_dict()).values(),
                                                  state_tensors(m16.state_dict()).values(),
                                                  strict=True))
    v1, v2 = views(0, n=64)
    out32 = m32.training_step(v1, v2)
    with autocast_for(torch.device("cpu"), "bf16"):
        out16 = m16.training_step(v1, v2)
    assert out16.features.dtype == torch.bfloat16  # the encoder really ran in bf16
    assert out16.online.dtype == torch.float32  # the head and the loss did not
    out32.loss.backward()
    out16.loss.backward()
    assert out16.loss.dtype == torch.float32 and torch.isfinite(out16.loss)
    assert abs(out16.loss.item() - out32.loss.item()) <= 0.03 * abs(out32.loss.item()) + 1e-3
    g32 = torch.cat([p.grad.flatten() for p in m32.parameters() if p.grad is not None])
    g16 = torch.cat([p.grad.flatten() for p in m16.parameters() if p.grad is not None])
    assert g16.dtype == torch.float32 and torch.isfinite(g16).all()
    assert torch.nn.functional.cosine_similarity(g16, g32, dim=0) > 0.97
    if kind == "directpred":
        m16.after_optimizer_step(0)
        assert m16.correlation_matrix().dtype == torch.float64
        assert torch.isfinite(m16.predictor_matrix()).all()

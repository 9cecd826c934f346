"""The predictor update-rule interface is one set of objects for the ODE, the SGD simulation of
the linear model and training (no string switches, one SGD loop)."""

import numpy as np
import pytest
import torch

from dynamics.errors import ConfigError
from dynamics.numerics.data_models import AdditiveGaussian
from dynamics.predictors import update_rules as UR
from dynamics.theories.directpred.directpred_linear import simulate_directpred_linear
from dynamics.theories.directpred.matrix_flow import (
    MatrixFlowConfig,
    flow_rhs,
    simulate_matrix,
)
from dynamics.theories.directpred.sgd import simulate_sgd
from dynamics.train.models import build_predictor
from dynamics.train.models.predictor_registry import PREDICTOR_KINDS, predictor_config

RUN = dict(lr=0.02, batch_size=32, t_end=1.0, n_save=6, seed=4)


@pytest.fixture(scope="module")
def setup():
    rng = np.random.default_rng(1)
    return rng.normal(size=(3, 5)) * 0.4, AdditiveGaussian.isotropic(5, 0.3)


def test_flow_choices_come_from_the_rules():
    flows = UR.flow_rules()
    assert flows == tuple(k for k, r in UR.UPDATE_RULES.items() if r.has_flow)
    assert "spectral" in UR.UPDATE_RULES and "spectral" not in flows


@pytest.mark.parametrize("kind", list(PREDICTOR_KINDS))
def test_training_predictor_names_its_rule(kind):
    spec = PREDICTOR_KINDS[kind]
    module = build_predictor({"kind": kind}, 4)
    assert module.update_rule == spec.update_rule
    rule = spec.linear_rule(predictor_config({"kind": kind}), 4)
    assert rule.name == spec.update_rule
    if spec.update_rule == "spectral":  # the same rule and options as the training predictor
        state = module.rule.state
        assert rule.state.rule.name == state.rule.name
        assert rule.state.rule_kwargs == state.rule_kwargs
        assert (rule.state.rho, rule.state.freq) == (state.rho, state.freq)


def test_training_symmetric_step_is_the_rule(setup):
    module = build_predictor({"kind": "symmetric"}, 3)
    with torch.no_grad():
        module.linear.weight.add_(torch.arange(9.0).reshape(3, 3))
    w = module.linear.weight.detach().clone()
    module.after_optimizer_step(0)
    assert torch.equal(module.linear.weight, UR.SYMMETRIC_RULE.after_step(w))


def test_kind_rule_drives_the_linear_simulation(setup):
    """A training config's predictor simulated on the linear model gives the same trajectory
    as the theory's own variant (symmetric) and as simulate_directpred_linear (directpred)."""
    W0, data = setup
    cfg = MatrixFlowConfig(alpha_p=1.5, beta=0.5, eta=0.01, predictor="symmetric")
    spec = PREDICTOR_KINDS["symmetric"]
    a = simulate_sgd(W0, data, cfg, rule=spec.linear_rule(predictor_config({"kind":
                                                                             "symmetric"}), 3),
                     **RUN)
    b = simulate_sgd(W0, data, cfg, **RUN)
    assert np.array_equal(a.Wp, b.Wp) and np.array_equal(a.W, b.W)

    dp = predictor_config({"kind": "directpred", "form": "paper", "freq": 2})
    spec = PREDICTOR_KINDS["directpred"]
    c = simulate_sgd(W0, data, MatrixFlowConfig(predictor="spectral", eta=0.01),
                     rule=spec.linear_rule(dp, 3), Wa0=W0, **RUN)
    d = simulate_directpred_linear(W0, data, MatrixFlowConfig(eta=0.01), rule="directpred_paper",
                                   rule_kwargs={"eps": dp.eps}, freq=2, Wa0=W0, **RUN)
    assert np.array_equal(c.Wp, d.Wp)
    assert np.array_equal(c.meta["F_hat"], d.meta["F_hat"], equal_nan=True)
    assert d.config.predictor == "spectral" and np.isnan(d.invariant_residual()).all()


def test_spectral_rule_refused_where_it_has_no_meaning(setup):
    W0, data = setup
    cfg = MatrixFlowConfig(predictor="spectral")
    with pytest.raises(ConfigError, match="^predictor: .*continuous-time flow"):
        simulate_matrix(W0, data.X, data.Xprime, cfg)
    with pytest.raises(ConfigError, match="^predictor: .*keeps state"):
        simulate_sgd(W0, data, cfg, **RUN)
    with pytest.raises(ConfigError, match="^predictor: must be one of"):
        MatrixFlowConfig(predictor="nope")


class FrozenRule(UR.UpdateRule):
    """Toy rule: Wp never moves (but is used as given)."""

    name = "frozen"
    doc = "Wp fixed at its initial value"
    learned = False
    theorem1 = False

    def flow(self, dWp):
        return 0 * dWp


@pytest.fixture
def frozen_rule():
    UR.UPDATE_RULES.register("frozen", FrozenRule(), flow=True)
    yield
    UR.UPDATE_RULES.unregister("frozen")


def test_toy_rule_reaches_ode_and_sgd(setup, frozen_rule):
    W0, data = setup
    Wp0 = np.diag([0.5, 1.0, 1.5])
    cfg = MatrixFlowConfig(predictor="frozen", eta=0.01)
    ode = simulate_matrix(W0, data.X, data.Xprime, cfg, Wp0=Wp0, t_end=1.0, n_save=5)
    sgd = simulate_sgd(W0, data, cfg, Wp0=Wp0, **RUN)
    assert np.array_equal(ode.Wp[-1], Wp0) and np.array_equal(sgd.Wp[-1], Wp0)
    assert not np.allclose(ode.W[-1], W0)
    dW, dWp, _ = flow_rhs(W0, Wp0, W0, data.X, data.Xprime, cfg)
    assert np.array_equal(dWp, np.zeros((3, 3)))


def test_toy_rule_reaches_the_cli(tmp_path, frozen_rule, capsys):
    from dynamics.cli import main

    out = tmp_path / "m.npz"
    assert main(["simulate", "matrix", "--n1", "4", "--t-end", "1", "predictor=frozen",
                 "--predictor-init", "identity", "--out", str(out)]) == 0
    assert "predictor=frozen" in capsys.readouterr().out
    assert "predictor: frozen" in (tmp_path / "m.config.yaml").read_text()


@pytest.mark.parametrize("kind", list(PREDICTOR_KINDS))
def test_training_predictor_holds_the_rule_object(kind):
    """The training module steps an object of the registry, the one the theory steps."""
    spec = PREDICTOR_KINDS[kind]
    module = build_predictor({"kind": kind}, 4)
    entry = UR.UPDATE_RULES[spec.update_rule]
    assert isinstance(module.rule, entry if isinstance(entry, type) else type(entry))


def test_closed_form_predictor_keeps_one_state_and_no_copies():
    """The running F lives in the rule for the whole run (no buffers mirrored per step), the
    weight is the rule's predictor of that F, and the state round-trips through state_dict."""
    module = build_predictor({"kind": "directpred", "freq": 1}, 4)
    state = module.rule.state
    g = torch.Generator().manual_seed(0)
    for _ in range(3):
        module.observe(torch.randn(16, 4, generator=g))
        assert module.after_optimizer_step(0)
    assert module.rule.state is state and state.step_count == 3 and state.corr.n_updates == 3
    assert not list(module.named_buffers())
    torch.testing.assert_close(module.linear.weight.detach(),
                               state.compute_predictor().to(torch.float32))
    copy = build_predictor({"kind": "directpred", "freq": 1}, 4)
    copy.load_state_dict(module.state_dict())
    assert copy.step_count == 3
    torch.testing.assert_close(copy.correlation(), module.correlation(), rtol=0, atol=0)


@pytest.mark.parametrize("kind", ["directpred", "ridge"])
def test_checkpoints_with_the_old_buffers_still_load(kind):
    """A run folder written when F and the counters were buffers resumes as the rule's state."""
    module = build_predictor({"kind": kind, "freq": 2}, 4)
    g = torch.Generator().manual_seed(1)
    for step in range(3):
        module.observe(torch.randn(16, 4, generator=g), torch.randn(16, 4, generator=g))
        module.after_optimizer_step(step)
    spectral = module.state_dict()["_extra_state"]["spectral_state"]
    legacy = {"linear.weight": module.linear.weight.detach().clone(),
              "F": spectral["corr"]["F"], "n_updates": torch.tensor(3),
              "step_count": torch.tensor(3)}
    if spectral["cross"] is not None:
        legacy["cross"] = spectral["cross"]["joint"]["F"]
        legacy["cross_n_updates"] = torch.tensor(3)
    copy = build_predictor({"kind": kind, "freq": 2}, 4)
    copy.load_state_dict(legacy)
    assert copy.step_count == 3 and copy.n_updates == 3
    torch.testing.assert_close(copy.correlation(), module.correlation(), rtol=0, atol=0)
    for p in (module, copy):  # both continue identically
        p.observe(torch.ones(16, 4), torch.ones(16, 4))
        p.after_optimizer_step(3)
    torch.testing.assert_close(copy.linear.weight, module.linear.weight, rtol=0, atol=0)


def test_a_rule_setting_is_validated_once_from_config_to_predictor(monkeypatch):
    """predictor.eps: checked (the rule run once on a tiny input) where the config is read; the
    predictor built from it does not check it again."""
    from dynamics.predictors import spectral
    from dynamics.train.config import load_config

    calls = []
    original = spectral.PredictorRule.__call__
    monkeypatch.setattr(spectral.PredictorRule, "__call__",
                        lambda self, *a, **k: calls.append(self.name) or original(self, *a, **k))
    cfg = load_config(None, ["predictor.kind=directpred", "predictor.eps=0.3712"])
    assert calls == ["directpred"]
    build_predictor(cfg, 4)
    assert calls == ["directpred"]

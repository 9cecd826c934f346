"""The predictor registry: per-kind config sections, defaults that are the rules' own, a kind
added at run time reachable from a config and from the CLI, old run folders still readable."""

from pathlib import Path

import pytest
import torch

from dynamics.cli import main
from dynamics.errors import ConfigError
from dynamics.predictors import PREDICTOR_RULES
from dynamics.train.config import from_yaml_text, load_config, to_yaml
from dynamics.train.models import build_predictor
from dynamics.train.models.predictor_registry import (
    COMMON,
    PREDICTOR_KINDS,
    Param,
    get_kind,
    kinds_table,
    predictor_config,
    register_predictor,
    unregister_predictor,
)
from dynamics.train.models.predictors import LinearPredictor

ROOT = Path(__file__).resolve().parents[2]
SMOKE = ROOT / "experiments" / "train" / "smoke_byol_digits.yaml"


def test_one_list_of_kinds():
    assert list(PREDICTOR_KINDS) == [k.name for k in PREDICTOR_KINDS.values()]
    for k in PREDICTOR_KINDS.values():
        assert set(COMMON) <= set(k.params) and k.doc


@pytest.mark.parametrize("kind", [k for k, v in PREDICTOR_KINDS.items()
                                  if v.closed_form])
def test_training_defaults_are_the_rules_documented_defaults(kind):
    """The drift that made directcopy train with eps 0.1 (rule: 0.25), directset with 0.1
    (rule: 0), ridge with 0.1 (rule: 0) and threshold in the code form (rule: paper)."""
    cfg = load_config(SMOKE, [f"predictor.kind={kind}"])  # the kind's defaults, untouched
    pred = build_predictor(cfg, 8)
    rule = PREDICTOR_RULES[pred.rule_name]
    assert pred.rule_kwargs == dict(rule.defaults), (kind, pred.rule_kwargs, rule.defaults)
    assert pred.rule_name == get_kind(kind).rule  # directpred: the code form by default


def test_known_defaults():
    """The values the rules document (sources in dynamics.predictors.spectral)."""
    d = {k: predictor_config({"kind": k}) for k in ("directpred", "directcopy", "directset",
                                                    "ridge", "threshold")}
    assert (d["directpred"].eps, d["directpred"].form) == (0.1, "code")
    assert (d["directcopy"].eps, d["directcopy"].normalize) == (0.25, "max")
    assert (d["directset"].alpha, d["directset"].eps) == (0.5, 0.0)
    assert d["ridge"].ridge == 0.01
    assert (d["threshold"].c, d["threshold"].form) == (0.0, "paper")


@pytest.mark.parametrize("override,message", [
    ("predictor.eps=0.2", "predictor.eps: is not an option of predictor.kind=linear; its "
                          "options: rho, centered, bias"),
    ("predictor.kind=directcopy predictor.hidden=3", "predictor.hidden: is not an option of "
                                                     "predictor.kind=directcopy"),
    ("predictor.kind=directset predictor.normalize=l3", "predictor.normalize: must be one of"),
    ("predictor.kind=directpred predictor.form=both", "predictor.form: must be one of code"),
    ("predictor.kind=mlp predictor.hidden=0", "predictor.hidden: must be an integer >= 1"),
    ("predictor.kind=ridge predictor.ridge=-1", "predictor.ridge:"),
    ("predictor.kind=directcopy predictor.eps=abc", "predictor.eps:"),
])
def test_options_belong_to_their_kind(override, message):
    with pytest.raises(ConfigError) as exc:
        load_config(SMOKE, override.split())
    assert str(exc.value).startswith(message) and "\n" not in str(exc.value)


def test_code_form_accepts_a_negative_eps():
    cfg = load_config(SMOKE, ["predictor.kind=directpred", "predictor.eps=-0.05"])
    assert cfg.predictor.eps == -0.05  # the official code allows negative dyn_eps


def test_every_rule_knob_is_reachable():
    cfg = load_config(SMOKE, ["predictor.kind=directset", "predictor.eps_position=outside",
                              "predictor.normalize=fro", "predictor.alpha=0.8"])
    pred = build_predictor(cfg, 6)
    assert pred.rule_kwargs == {"alpha": 0.8, "eps": 0.0, "normalize": "fro",
                                "eps_position": "outside"}


def test_saved_config_round_trip_and_old_run_folders():
    cfg = load_config(SMOKE, ["predictor.kind=threshold", "predictor.c=0.1"])
    assert from_yaml_text(to_yaml(cfg)).predictor == cfg.predictor
    # a run folder written with the old single flat section keeps the values it ran with
    flat = ("predictor:\n  kind: {k}\n  bias: false\n  hidden: 512\n  rho: 0.3\n  eps: 0.1\n"
            "  freq: 1\n  form: code\n  alpha: 0.5\n  threshold: 0.2\n  centered: false\n")
    old = {k: from_yaml_text(flat.format(k=k)).predictor for k in
           ("directcopy", "ridge", "threshold", "mlp")}
    assert old["directcopy"].eps == 0.1  # what that run used, not today's default
    assert old["ridge"].ridge == 0.1  # the old config read eps as the ridge term
    assert (old["threshold"].c, old["threshold"].form) == (0.2, "code")
    assert old["mlp"].hidden == 512 and not hasattr(old["mlp"], "eps")


def test_docs_table_is_read_from_the_registry():
    table = kinds_table()
    for k in PREDICTOR_KINDS:
        assert f"| `{k}` |" in table
    readme = (ROOT / "README.md").read_text()
    assert table in readme, "README's predictor table is out of date: paste kinds_table()"


class ScaledIdentity(LinearPredictor):
    kind = "toy_scaled"

    def __init__(self, dim, scale):
        super().__init__(dim)
        with torch.no_grad():
            self.linear.weight.copy_(scale * torch.eye(dim))


@pytest.fixture
def toy_kind():
    register_predictor("toy_scaled", "a scaled identity to start from",
                       {"scale": Param(float, 1.0, "initial scale")},
                       lambda p, dim: ScaledIdentity(dim, p.scale))
    yield
    unregister_predictor("toy_scaled")


def test_a_kind_added_at_run_time_is_reachable_from_config_and_cli(toy_kind, tmp_path,
                                                                   capsys):
    cfg = load_config(SMOKE, ["predictor.kind=toy_scaled", "predictor.scale=2"])
    pred = build_predictor(cfg, 4)
    assert torch.equal(pred.matrix(), 2 * torch.eye(4))
    with pytest.raises(ConfigError, match="predictor.eps: is not an option of "
                                          "predictor.kind=toy_scaled"):
        load_config(SMOKE, ["predictor.kind=toy_scaled", "predictor.eps=1"])
    assert main(["train", str(SMOKE), f"out_dir={tmp_path}", "predictor.kind=toy_scaled",
                 "predictor.scale=0.5", "optim.max_steps=2", "eval.every_epoch=false",
                 "eval.final=false"]) == 0
    assert "train: smoke_byol_digits finished: 2 steps" in capsys.readouterr().out
    saved = (tmp_path / "smoke_byol_digits" / "config.yaml").read_text()
    assert "kind: toy_scaled" in saved and "scale: 0.5" in saved


def test_switching_the_kind_in_an_override_starts_a_fresh_section():
    """A file with a linear predictor's options, overridden to another kind: the file's
    options for the old kind are dropped (not an error); options of the same kind merge."""
    base = ROOT / "experiments" / "train" / "cpu_digits_byol_linear.yaml"  # bias: false
    cfg = load_config(base, ["predictor.kind=none"])
    assert cfg.predictor.kind == "none" and not hasattr(cfg.predictor, "bias")
    cfg = load_config(base, ["predictor.kind=directpred", "predictor.eps=0.5"])
    assert (cfg.predictor.kind, cfg.predictor.eps) == ("directpred", 0.5)
    assert load_config(base, ["predictor.bias=true"]).predictor.bias is True
    with pytest.raises(ConfigError, match="^predictor.eps: is not an option"):
        load_config(base, ["predictor.eps=0.5"])

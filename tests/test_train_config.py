"""Typed training configs: defaults, overrides, one-line errors naming the dotted field."""

import pytest

from dynamics.errors import ConfigError
from dynamics.train.config import TrainConfig, from_yaml_text, load_config, to_yaml


def test_defaults_and_overrides(tmp_path):
    cfg = load_config(None, ["optim.lr=0.05", "predictor.kind=directpred", "name=x"])
    assert isinstance(cfg, TrainConfig)
    assert cfg.optim.lr == 0.05 and cfg.predictor.kind == "directpred"
    assert cfg.run_dir == tmp_path.__class__("runs") / "x"
    assert cfg.ema_momentum == 0.996  # BYOL default
    y = tmp_path / "c.yaml"
    y.write_text("method:\n  name: simsiam\noptim:\n  epochs: 3\n")
    cfg = load_config(y, ["optim.epochs=5"])
    assert cfg.method.name == "simsiam" and cfg.ema_momentum == 0.0 and cfg.optim.epochs == 5


def test_yaml_round_trip():
    cfg = load_config(None, ["method.name=simclr", "predictor.kind=none", "method.loss=dcl"])
    assert from_yaml_text(to_yaml(cfg)) == cfg


@pytest.mark.parametrize(
    "overrides,message",
    [
        (["optim.lr=-1"], "optim.lr: must be in (0, inf), got -1"),
        (["optim.lrr=1"], "optim.lrr: unknown key; allowed: lr, momentum"),
        (["bogus=1"], "bogus: unknown key; allowed: name, out_dir"),
        (["optim.lr=abc"], "optim.lr: Value 'abc' of type 'str' could not be converted"),
        (["optim.epochs=1.5"], "optim.epochs: Value '1.5'"),
        (["predictor.kind=mlp2"], "predictor.kind: must be one of none, linear, mlp"),
        (["method.name=simsiam", "method.ema=0.9"], "method.ema: must be 0 for method=simsiam"),
        (["method.name=simclr"], "method.loss: must be one of infonce, dcl"),
        (["method.name=simclr", "method.loss=infonce"], "predictor.kind: must be none"),
        (["data.dataset=folder"], "data.root: is required for dataset=folder"),
        (["model.encoder=linear"], "model.encoder: linear goes with data.dataset=synthetic"),
        (["predictor.rho=1.0"], "predictor.rho: must be in [0, 1)"),
        (["device=tpu"], "device: must be one of auto, cpu, cuda, cuda:N"),
        (["optim.lr"], "overrides: must look like key=value"),
    ],
)
def test_errors_are_one_line_with_the_field(overrides, message):
    with pytest.raises(ConfigError) as exc:
        load_config(None, overrides)
    text = str(exc.value)
    assert "\n" not in text and text.startswith(message), text


def test_missing_file():
    with pytest.raises(ConfigError, match="^config: file not found"):
        load_config("nope.yaml")

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


def test_each_method_has_its_own_typed_options():
    """A method's options exist only in its own section, typed and range-checked there."""
    from dynamics.train.methods import METHODS
    from dynamics.train.methods.options import COMMON, method_config

    for name, cls in METHODS.items():
        section = method_config({"name": name})
        assert set(vars(section)) == set(COMMON) | set(cls.options), name
        for opt_name, opt in cls.options.items():
            assert getattr(section, opt_name) == opt.default and opt.doc
    cfg = load_config(None, ["method.name=barlow_twins", "predictor.kind=none", "method.lambd=1",
                             "method.standardize=false"])
    assert (cfg.method.lambd, cfg.method.standardize) == (1.0, False)
    assert not hasattr(cfg.method, "tau") and not hasattr(cfg.method, "sim_coeff")
    for overrides, message in (
            (["method.tau=0.1"], "method.tau: is not an option of method.name=byol"),
            (["method.name=simclr", "predictor.kind=none", "method.tau=0"],
             "method.tau: must be in (0, inf)"),
            (["method.name=vicreg", "predictor.kind=none", "method.cov_coeff=-1"],
             "method.cov_coeff: must be in [0, inf)")):
        with pytest.raises(ConfigError) as exc:
            load_config(None, overrides)
        assert str(exc.value).startswith(message), str(exc.value)


def test_switching_the_method_keeps_the_shared_options_only(tmp_path):
    y = tmp_path / "c.yaml"
    y.write_text("method:\n  name: simclr\n  tau: 0.2\n  ema: 0\npredictor:\n  kind: none\n")
    cfg = load_config(y, ["method.name=barlow_twins"])
    assert cfg.method.name == "barlow_twins" and cfg.method.ema == 0
    assert not hasattr(cfg.method, "tau")


def test_a_run_folder_with_the_flat_method_section_still_loads():
    """Run folders written before the per-method sections hold every method's options side by
    side; each is read back with its own method's values."""
    import yaml

    data = yaml.safe_load(to_yaml(load_config(None, ["method.name=barlow_twins",
                                                     "predictor.kind=none"])))
    flat = {"tau": 0.5, "dclw_sigma": 0.5, "unif_t": 2.0, "unif_weight": 1.0,
            "directclr_dim": None, "bt_lambda": 1.0, "bt_standardize": False,
            "vicreg_sim": 25.0, "vicreg_std": 25.0, "vicreg_cov": 1.0}
    data["method"] = {k: v for k, v in data["method"].items()
                      if k not in ("lambd", "standardize")} | flat
    cfg = from_yaml_text(yaml.safe_dump(data))
    assert (cfg.method.lambd, cfg.method.standardize) == (1.0, False)
    assert not hasattr(cfg.method, "tau")


def test_readme_method_options_table_is_current():
    from pathlib import Path

    from dynamics.train.methods.options import options_table

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert options_table() in readme, "README's method options table is out of date"


def test_plain_sections_skip_omegaconf_with_the_same_result():
    """A section whose values already have their fields' exact types is built directly; the
    object equals OmegaConf's merge of the same section, and anything that needs a conversion
    or check still goes through OmegaConf (and its one-line errors)."""
    from omegaconf import OmegaConf

    from dynamics.config import plain_section
    from dynamics.train.methods.options import config_class as method_class
    from dynamics.train.methods.options import method_config
    from dynamics.train.models.predictor_registry import config_class as predictor_class
    from dynamics.train.models.predictor_registry import predictor_config

    def via_omegaconf(cls, section):
        return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(cls), section))

    for cls, section in [(predictor_class("directpred"), {"kind": "directpred", "freq": 5,
                                                          "rho": 0.3}),
                         (method_class("byol"), {"name": "byol", "ema": 0.99}),
                         (method_class("byol"), {"name": "byol", "ema": None})]:
        fast = plain_section(cls, section)
        assert fast is not None and fast == via_omegaconf(cls, section)
    cls = predictor_class("directpred")
    for needs_omegaconf in ({"kind": "directpred", "rho": 0},       # int -> float conversion
                            {"kind": "directpred", "freq": True},   # bool is not an int field
                            {"kind": "directpred", "freq": "5"},    # str -> int conversion
                            {"kind": "directpred", "unknown": 1},
                            {"kind": "${oops}"}):
        assert plain_section(cls, needs_omegaconf) is None
    assert predictor_config({"kind": "directpred", "rho": 0}).rho == 0.0
    assert isinstance(predictor_config({"kind": "directpred", "freq": "5"}).freq, int)
    with pytest.raises(ConfigError, match="predictor.freq"):
        predictor_config({"kind": "directpred", "freq": "often"})
    with pytest.raises(ConfigError, match="method.ema"):
        method_config({"name": "byol", "ema": "slow"})

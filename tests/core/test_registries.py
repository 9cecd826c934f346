"""Every extension point is one registry: a toy entry added at run time is reachable from a
config and from the command line, and nothing else needs to change (no name lists to edit)."""

import json
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from dynamics.cli import main
from dynamics.errors import ConfigError
from dynamics.losses import LOSSES
from dynamics.plots import FIGURES
from dynamics.plots.base import FigureResult, FigureSpec
from dynamics.registry import Registry
from dynamics.train.config import load_config
from dynamics.train.data.augment_recipes import RECIPES, Recipe
from dynamics.train.data.datasets import DATASETS, ImageDataset
from dynamics.train.methods.base import METHODS
from dynamics.train.methods.options import Option
from dynamics.train.methods.simsiam import SimSiam
from dynamics.train.metric_groups import TRAIN_METRICS
from dynamics.train.models.encoders import ENCODERS

ROOT = Path(__file__).resolve().parents[2]
SMOKE = ROOT / "experiments" / "train" / "smoke_byol_digits.yaml"
FAST = ["optim.max_steps=2", "optim.batch_size=16", "eval.every_epoch=false",
        "eval.final=false", "log.log_every=1"]


@pytest.fixture
def toys(monkeypatch):
    """One toy entry in each training registry (removed afterwards)."""
    added = []

    def add(reg: Registry, name: str, obj, **tags):
        reg.register(name, obj, **tags)
        added.append((reg, name))

    def toy_loss(z1, z2, tau, check=True):
        return 1.0 - torch.nn.functional.cosine_similarity(z1, z2).mean() / tau

    @METHODS.register("toy_siam", loss_family="regression", default_ema=0.0,
                      doc="SimSiam under another name")
    class ToySiam(SimSiam):
        name = "toy_siam"
        options = {"toy_gain": Option(float, 1.0, "a toy option of its own", low=0)}

    added.append((METHODS, "toy_siam"))
    add(LOSSES, "toy_contrast", toy_loss, family="contrastive", args={"tau": "tau"},
        checks=True, doc="toy contrastive loss")

    def toy_encoder(cfg, in_shape):
        n = int(torch.tensor(in_shape).prod())
        return nn.Sequential(nn.Flatten(), nn.Linear(n, 6), nn.ReLU()), 6

    add(ENCODERS, "toy_flat", toy_encoder)

    def blobs(cfg, pretrain):
        g = torch.Generator().manual_seed(cfg.seed)
        labels = torch.arange(64) % 2
        images = (torch.rand(64, 1, 6, 6, generator=g) * 100 + 100 * labels[:, None, None,
                                                                          None]).to(torch.uint8)
        ds = ImageDataset(images, labels, ["a", "b"], name="toy_blobs")
        return ds, ds, ds, True, "toy blobs"

    add(DATASETS, "toy_blobs", lambda **kw: None, sets=blobs, recipe="toy_noaug", files=False,
        needs_root=False, theory=False, labels=True)
    add(RECIPES, "toy_noaug", lambda size=None, mean=None, std=None: Recipe(
        "toy_noaug", [], (size, size) if size else (0, 0), None, None, "no augmentation"))
    add(TRAIN_METRICS, "toy", lambda ctx: ({"toy/trace": None if ctx.F is None
                                            else float(ctx.F.trace())}, {}),
        keys=("toy/trace",), doc="trace of F")
    yield
    for reg, name in added:
        reg.unregister(name)


def _metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_toy_entries_are_reachable_from_config_and_cli(toys, tmp_path, capsys):
    over = ["method.name=toy_siam", "model.encoder=toy_flat", "data.dataset=toy_blobs",
            "model.projector_hidden=8", "model.projector_dim=4", "method.toy_gain=2"]
    cfg = load_config(SMOKE, over)
    assert (cfg.method.name, cfg.model.encoder, cfg.data.dataset) == ("toy_siam", "toy_flat",
                                                                      "toy_blobs")
    assert cfg.method.toy_gain == 2.0  # a method's own option: declared with the method only
    with pytest.raises(ConfigError, match=r"^method.toy_gain: must be in \[0, inf\)"):
        load_config(SMOKE, [*over, "method.toy_gain=-1"])
    assert main(["train", str(SMOKE), f"out_dir={tmp_path}", "name=toy", *over, *FAST]) == 0
    rows = [r for r in _metrics(tmp_path / "toy") if r.get("kind") == "train"]
    assert rows and all(r["toy/trace"] is not None and r["toy/trace"] > 0 for r in rows)
    saved = (tmp_path / "toy" / "config.yaml").read_text()
    assert "name: toy_siam" in saved and "encoder: toy_flat" in saved and "toy_gain: 2.0" in saved

    # a contrastive loss is reachable by the methods whose loss family it belongs to
    assert main(["train", str(SMOKE), f"out_dir={tmp_path}", "name=toy_simclr",
                 "method.name=simclr", "predictor.kind=none", "method.loss=toy_contrast",
                 *FAST]) == 0
    assert _metrics(tmp_path / "toy_simclr")[0]["loss"] is not None
    with pytest.raises(ConfigError, match="^method.loss: must be one of cosine, euclidean, "
                                          "isoloss; got 'toy_contrast'"):
        load_config(SMOKE, ["method.loss=toy_contrast"])


def test_errors_list_the_registered_names(toys):
    with pytest.raises(ConfigError, match="^data.dataset: must be one of .*toy_blobs"):
        load_config(SMOKE, ["data.dataset=nope"])
    with pytest.raises(ConfigError, match="^model.encoder: must be one of .*toy_flat"):
        load_config(SMOKE, ["model.encoder=nope"])
    with pytest.raises(ConfigError, match="^method.name: must be one of .*toy_siam"):
        load_config(SMOKE, ["method.name=nope"])
    with pytest.raises(ConfigError, match="^data.augment: must be one of auto, .*toy_noaug"):
        load_config(SMOKE, ["data.augment=nope"])


def test_toy_figure_is_reachable_from_the_cli(tmp_path, monkeypatch, capsys):
    mod = tmp_path / "toy_figure_mod.py"
    mod.write_text(
        "from dynamics.plots.base import FigureResult\n"
        "def make(out_dir, quick=False):\n"
        "    p = out_dir / 'toy.png'\n"
        "    p.write_bytes(b'png')\n"
        "    return FigureResult('fig99toy', [p], {'answer': 42.0})\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    FIGURES.register("fig99toy", FigureSpec("fig99toy", "a toy figure", "toy_figure_mod"))
    try:
        assert main(["figures", "fig99toy", "--out", str(tmp_path / "figs")]) == 0
        assert (tmp_path / "figs" / "toy.png").read_bytes() == b"png"
        assert "fig99toy" in (tmp_path / "figs" / "config.yaml").read_text()
    finally:
        FIGURES.unregister("fig99toy")
        sys.modules.pop("toy_figure_mod", None)
    assert isinstance(FigureResult, type)


def test_toy_hltm_loss_is_reachable_from_the_cli(tmp_path, capsys):
    from dynamics.theories.dual_networks.hltm.train import loss_options, subtract_loss

    LOSSES.register("hltm_toy", lambda f, fp, fn, tau: subtract_loss(f, fp, fn, tau),
                    family="hltm", option="toy", in_batch=False)
    try:
        assert "toy" in loss_options()
        assert main(["hltm", "--hid", "2", "--delta-lower", "0.9", "--depth", "2",
                     "--seeds", "1", "--epochs", "1", "--draws", "256", "--eval-samples",
                     "256", "--op-samples", "0", "loss=toy", "--out", str(tmp_path),
                     "--quiet"]) == 0
        assert "loss toy" in capsys.readouterr().out
    finally:
        LOSSES.unregister("hltm_toy")


def test_registry_basics():
    reg = Registry("thing", field="x.kind")
    reg.register("a", 1, doc="first", color="red")
    reg.register("b", 2, color="blue")
    assert list(reg) == ["a", "b"] and reg["a"] == 1 and reg.names(color="blue") == ("b",)
    with pytest.raises(ValueError, match="already registered"):
        reg.register("a", 3)
    with pytest.raises(ConfigError, match="^x.kind: must be one of a, b; got 'c'"):
        reg.get("c")
    assert "| `a` | first | red | - |" in reg.table("color")
    reg.unregister("a")
    assert list(reg) == ["b"]

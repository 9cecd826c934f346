"""Contrastive, metric and bridge predictions (dynamics.theories.dual_networks.predictions*,
.bridge): every simulation prediction is confirmed at the smoke tier with its figure; the
training-based ones run their smoke RunSpecs here; and each rule is shown to refute broken or
fabricated input (a rule that always passes would fail these tests)."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
import torch

from dynamics.verify.prediction import CONFIRMED, NOT_RUN, REFUTED, Context
from dynamics.verify.registry import PREDICTIONS

ROOT = Path(__file__).resolve().parents[2]

SIMULATIONS = [
    "dual_networks.covariance_operator_identity",
    "dual_networks.linear_pca",
    "dual_networks.hltm_trends",
    "alignment_uniformity.uniformity_reference",
    "rank_metrics.rankme_reference",
    "dcl.gradient_identity",
    "dcl.q_statistics",
]
TRAINING = ["bridge.linear_byol_vs_ode", "alignment_uniformity.vs_accuracy",
            "rank_metrics.rankme_ranks_runs"]


def _check_outcome(out, ctx, pred_id):
    assert out.rule and out.theory is not None and out.measured is not None
    assert out.figure == str(ctx.figure(pred_id)) and Path(out.figure).is_file()


@pytest.mark.parametrize("pred_id", SIMULATIONS)
def test_simulation_prediction_is_confirmed_at_smoke(pred_id, tmp_path):
    pred = PREDICTIONS[pred_id]
    assert pred.kind == "contrastive" and pred.runs_for("smoke") == []
    ctx = Context("smoke", tmp_path)
    out = pred.evaluate(ctx)
    assert out.status == CONFIRMED, (out.measured, out.details)
    _check_outcome(out, ctx, pred_id)


# ------------------------------------------------------------------ training at smoke tier
def _train(spec, out_dir: Path) -> Path:
    from dynamics.cli.main import main

    cfg = spec.config if Path(spec.config).is_absolute() else \
        str(ROOT / "experiments" / "train" / spec.config)
    rc = main(["train", cfg, *spec.overrides, f"seed={spec.seed}", f"name={spec.name()}",
               f"out_dir={out_dir}", "--no-progress"])
    assert rc == 0
    return out_dir / spec.name()


@pytest.fixture(scope="module")
def smoke_runs(tmp_path_factory):
    """Every smoke RunSpec of the training-based predictions, trained once (shared specs once)."""
    out = tmp_path_factory.mktemp("runs")
    runs = {}
    for pred_id in TRAINING:
        for spec in PREDICTIONS[pred_id].runs_for("smoke"):
            if spec not in runs:
                runs[spec] = _train(spec, out)
    return runs


def _ctx(tmp_path, runs, pred_id, tier="smoke"):
    specs = PREDICTIONS[pred_id].runs_for(tier)
    return Context(tier, tmp_path / "figs", {s: runs[s] for s in specs if s in runs})


def test_training_predictions_run_at_smoke(smoke_runs, tmp_path):
    for pred_id in TRAINING:
        ctx = _ctx(tmp_path, smoke_runs, pred_id)
        out = PREDICTIONS[pred_id].evaluate(ctx)
        assert out.status in (CONFIRMED, REFUTED), (pred_id, out.details)
        _check_outcome(out, ctx, pred_id)
        if pred_id == "bridge.linear_byol_vs_ode":
            assert out.status == CONFIRMED, out.measured
            assert out.numbers["movement"][0] > 0.1  # the spectrum really moved
        else:
            assert math.isfinite(out.numbers["spearman"])
        assert "smoke tier" in out.details  # the single smoke seed is said


def test_missing_run_is_not_run(smoke_runs, tmp_path):
    for pred_id in TRAINING:
        specs = PREDICTIONS[pred_id].runs_for("smoke")
        runs = {s: smoke_runs[s] for s in specs[1:]}
        out = PREDICTIONS[pred_id].evaluate(Context("smoke", tmp_path, runs))
        assert out.status == NOT_RUN and "missing" in out.details


def test_bridge_refutes_a_wrong_time_mapping(smoke_runs, tmp_path):
    """The same checkpoints read with half the learning rate (half the ODE time per step)."""
    (spec,) = PREDICTIONS["bridge.linear_byol_vs_ode"].runs_for("smoke")
    fake = tmp_path / "fake"
    shutil.copytree(smoke_runs[spec], fake)
    cfg = (fake / "config.yaml").read_text()
    assert "lr: 0.05" in cfg
    (fake / "config.yaml").write_text(cfg.replace("lr: 0.05", "lr: 0.025", 1))
    out = PREDICTIONS["bridge.linear_byol_vs_ode"].evaluate(
        Context("smoke", tmp_path / "figs", {spec: fake}))
    assert out.status == REFUTED, out.measured
    assert max(out.numbers["max_rel_error"]) > 0.05


# ------------------------------------------------------------------ fabricated run folders
def _fake_run(folder: Path, *, knn: float, align=0.5, unif=-2.0, rankme=10.0) -> Path:
    folder.mkdir(parents=True)
    row = {"kind": "train", "step": 10, "epoch": 1.0, "views/alignment": align,
           "views/uniformity": unif}
    (folder / "metrics.jsonl").write_text(json.dumps(row) + "\n")
    (folder / "summary.json").write_text(json.dumps({
        "knn": {"top1": knn}, "linear_eval": {"final_accuracy": knn},
        "collapse": {"rankme_backbone_test": rankme}}))
    return folder


def test_align_uniform_rule_refutes_the_wrong_sign(tmp_path):
    pred = PREDICTIONS["alignment_uniformity.vs_accuracy"]
    specs = pred.runs_for("smoke")
    # better accuracy where alignment + uniformity is HIGHER: the claim's opposite
    runs = {s: _fake_run(tmp_path / s.name(), knn=0.5 + 0.05 * i, unif=-3.0 + 0.2 * i)
            for i, s in enumerate(specs)}
    out = pred.evaluate(Context("smoke", tmp_path / "figs", runs))
    assert out.status == REFUTED and out.numbers["spearman"] > 0.9
    runs = {s: _fake_run(tmp_path / "ok" / s.name(), knn=0.9 - 0.05 * i, unif=-3.0 + 0.2 * i)
            for i, s in enumerate(specs)}
    assert pred.evaluate(Context("smoke", tmp_path / "figs", runs)).status == CONFIRMED


def test_rankme_rule_refutes_an_inverted_ranking(tmp_path):
    pred = PREDICTIONS["rank_metrics.rankme_ranks_runs"]
    specs = pred.runs_for("smoke")
    runs = {s: _fake_run(tmp_path / s.name(), knn=0.9 - 0.05 * i, rankme=5.0 + i)
            for i, s in enumerate(specs)}
    out = pred.evaluate(Context("smoke", tmp_path / "figs", runs))
    assert out.status == REFUTED and out.numbers["spearman"] < -0.9


def _dcl_runs(tmp_path, acc):
    """Fabricated cpu-tier folders: acc(loss, batch, seed) -> kNN accuracy."""
    pred = PREDICTIONS["dcl.small_batch"]
    runs = {}
    for s in pred.runs_for("cpu"):
        over = dict(o.split("=", 1) for o in s.overrides)
        runs[s] = _fake_run(tmp_path / s.name(), knn=acc(over["method.loss"],
                                                         int(over["optim.batch_size"]), s.seed))
    return runs


def test_dcl_small_batch_tiers_seeds_and_rule(tmp_path):
    pred = PREDICTIONS["dcl.small_batch"]
    assert "smoke" not in pred.tiers and "real images" in pred.why_not
    assert pred.runs_for("smoke") == []
    specs = pred.runs_for("cpu")
    assert len(specs) == 12 and {s.seed for s in specs} == {0, 1, 2}
    assert all("data.root={data_root}" in s.overrides for s in specs)
    assert pred.evaluate(Context("smoke", tmp_path)).status == NOT_RUN

    def claim(loss, batch, seed):  # DCL +3 points at batch 32, +0.5 at 256
        gap = {32: 0.03, 256: 0.005}[batch] if loss == "dcl" else 0.0
        return 0.6 + gap + 0.002 * seed

    out = pred.evaluate(Context("cpu", tmp_path / "figs", _dcl_runs(tmp_path / "a", claim)))
    assert out.status == CONFIRMED, out.measured
    assert Path(out.figure).is_file()

    def reversed_(loss, batch, seed):  # InfoNCE better at small batch
        return claim("infonce" if loss == "dcl" else "dcl", batch, seed)

    out = pred.evaluate(Context("cpu", tmp_path / "figs", _dcl_runs(tmp_path / "b", reversed_)))
    assert out.status == REFUTED

    def noisy(loss, batch, seed):  # a gap well inside the seed noise
        return claim(loss, batch, 0) - 0.003 + [0.0, 0.05, -0.05][seed]

    out = pred.evaluate(Context("cpu", tmp_path / "figs", _dcl_runs(tmp_path / "c", noisy)))
    assert out.status == REFUTED


# ------------------------------------------------------------------ broken simulation inputs
def test_uniformity_rule_refutes_a_wrong_reference(tmp_path, monkeypatch):
    from dynamics.theories.alignment_uniformity import predictions as cm

    table = dict(cm.UNIFORMITY_TABLE)
    table[(16, 2)] += 0.05
    monkeypatch.setattr(cm, "UNIFORMITY_TABLE", table)
    out = PREDICTIONS["alignment_uniformity.uniformity_reference"].evaluate(
        Context("smoke", tmp_path))
    assert out.status == REFUTED and out.numbers["max_error"] > 0.04


def test_operator_rule_refutes_a_wrong_operator(tmp_path, monkeypatch):
    from dynamics.theories.dual_networks import predictions as c

    real = c.simple_loss_gradient_operator
    monkeypatch.setattr(c, "simple_loss_gradient_operator",
                        lambda *a, **k: 1.01 * real(*a, **k))
    out = PREDICTIONS["dual_networks.covariance_operator_identity"].evaluate(
        Context("smoke", tmp_path))
    assert out.status == REFUTED
    assert min(out.numbers["rel_error_per_layer"]) > 1e-3


def test_q_statistics_rule_refutes_a_wrong_temperature(tmp_path, monkeypatch):
    from dynamics.theories.dcl import predictions as cm

    real = cm.npc_multiplier
    monkeypatch.setattr(cm, "npc_multiplier", lambda z1, z2, tau: real(z1, z2, 2 * tau))
    out = PREDICTIONS["dcl.q_statistics"].evaluate(Context("smoke", tmp_path))
    assert out.status == REFUTED


def test_dcl_identity_rule_refutes_a_wrong_multiplier(tmp_path, monkeypatch):
    from dynamics.theories.dcl import predictions as cm

    monkeypatch.setattr(cm, "npc_multiplier", lambda z1, z2, tau: torch.full(
        (2, z1.shape[0]), 0.5, dtype=z1.dtype))
    out = PREDICTIONS["dcl.gradient_identity"].evaluate(Context("smoke", tmp_path))
    assert out.status == REFUTED


def test_marchenko_pastur_expectation_matches_a_large_sample():
    from dynamics.metrics.rank import rankme, rankme_from_singular_values
    from dynamics.theories.rank_metrics.predictions import marchenko_pastur_singular_values

    sv = marchenko_pastur_singular_values(64, 64 / 2560)
    assert sv[0] >= sv[-1] > 0
    expected = rankme_from_singular_values(torch.tensor(sv))
    g = torch.Generator().manual_seed(5)
    measured = rankme(torch.randn(2560, 64, dtype=torch.float64, generator=g))
    assert measured == pytest.approx(expected, abs=0.03)

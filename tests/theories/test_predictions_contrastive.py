"""Contrastive, metric and bridge predictions (dynamics.theories.dual_networks.predictions*,
.bridge): each rule is shown to refute broken or fabricated input (a rule that always passes
would fail these tests). Each prediction is judged at the smoke tier once: the run-free ones in
``tests/verify/test_predictions_at_smoke.py``, the training-based ones on the shared smoke runs
in ``tests/integration/test_smoke_verify.py``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from dynamics.verify.prediction import CONFIRMED, NOT_RUN, REFUTED, Context
from dynamics.verify.registry import PREDICTIONS


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

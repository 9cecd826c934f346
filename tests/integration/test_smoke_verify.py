"""The smoke tier of ``verify`` end to end (the shared session run of
``tests/conftest.py``): every training-based prediction trained and judged, none
refuted, each with its figure; and those predictions' rules read the same run folders (a
missing run is ``not run``, a wrong time mapping is refuted)."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

from dynamics.verify.prediction import CONFIRMED, NOT_RUN, REFUTED, Context
from dynamics.verify.registry import PREDICTIONS

TRAINING = ["bridge.linear_byol_vs_ode", "alignment_uniformity.vs_accuracy",
            "rank_metrics.rankme_ranks_runs"]


def test_the_training_predictions_are_confirmed_end_to_end(smoke_verify):
    report = smoke_verify.report
    statuses = {p["id"]: p["status"] for p in report["predictions"]}
    trained = [pid for pid, p in PREDICTIONS.items() if "smoke" in p.tiers and p.runs_for("smoke")]
    assert sorted(statuses) == sorted(trained)
    refuted = [pid for pid, st in statuses.items() if st == REFUTED]
    assert smoke_verify.code == 0 and not refuted, refuted
    assert all(st == CONFIRMED for st in statuses.values()), statuses
    for p in report["predictions"]:
        assert p["figure"] and Path(p["figure"]).is_file(), p["id"]
    assert (smoke_verify.out / "config.yaml").is_file()
    # every run folder finished, with the precision it computed in recorded
    import json

    for folder in smoke_verify.runs.iterdir():
        summary = json.loads((folder / "summary.json").read_text())
        assert summary["status"] == "finished" and summary["precision"] in ("fp32", "bf16")


def _ctx(tmp_path, smoke_verify, pred_id):
    specs = PREDICTIONS[pred_id].runs_for("smoke")
    return Context("smoke", tmp_path / "figs", smoke_verify.folders(specs))


def test_training_predictions_rules_on_the_shared_runs(smoke_verify, tmp_path):
    for pred_id in TRAINING:
        ctx = _ctx(tmp_path, smoke_verify, pred_id)
        out = PREDICTIONS[pred_id].evaluate(ctx)
        assert out.status in (CONFIRMED, REFUTED), (pred_id, out.details)
        assert out.rule and out.theory is not None and out.measured is not None
        assert out.figure == str(ctx.figure(pred_id)) and Path(out.figure).is_file()
        if pred_id == "bridge.linear_byol_vs_ode":
            assert out.status == CONFIRMED, out.measured
            assert out.numbers["movement"][0] > 0.1  # the spectrum really moved
        else:
            assert math.isfinite(out.numbers["spearman"])
        assert "smoke tier" in out.details  # the single smoke seed is said


def test_missing_run_is_not_run(smoke_verify, tmp_path):
    for pred_id in TRAINING:
        specs = PREDICTIONS[pred_id].runs_for("smoke")
        out = PREDICTIONS[pred_id].evaluate(
            Context("smoke", tmp_path, smoke_verify.folders(specs[1:])))
        assert out.status == NOT_RUN and "missing" in out.details


def test_bridge_refutes_a_wrong_time_mapping(smoke_verify, tmp_path):
    """The same checkpoints read with half the learning rate (half the ODE time per step)."""
    (spec,) = PREDICTIONS["bridge.linear_byol_vs_ode"].runs_for("smoke")
    fake = tmp_path / "fake"
    shutil.copytree(smoke_verify.runs / spec.name(), fake)
    cfg = (fake / "config.yaml").read_text()
    assert "lr: 0.05" in cfg
    (fake / "config.yaml").write_text(cfg.replace("lr: 0.05", "lr: 0.025", 1))
    out = PREDICTIONS["bridge.linear_byol_vs_ode"].evaluate(
        Context("smoke", tmp_path / "figs", {spec: fake}))
    assert out.status == REFUTED, out.measured
    assert max(out.numbers["max_rel_error"]) > 0.05

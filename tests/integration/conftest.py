"""The smoke tier of ``verify``, run once per test session and shared: the training-based
predictions with every smoke run they need (trained two at a time, as ``reproduce`` trains
them), whose run folders the run-based figure and prediction tests read instead of training
their own. (The run-free predictions are judged once, in the default suite:
``tests/verify/test_predictions_at_smoke.py``.)"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass
class SmokeVerify:
    """What the shared smoke verify left behind."""

    code: int  #: the command's exit code
    report: dict  #: report.json
    runs: Path  #: the run folders (``runs / spec.name()``)
    out: Path  #: report.md, report.json, figures/

    def folders(self, specs) -> dict:
        """``{spec: folder}`` of the given run specs."""
        return {s: self.runs / s.name() for s in specs}


def trained_prediction_ids() -> list[str]:
    """The predictions that train runs at the smoke tier."""
    from dynamics.verify.registry import PREDICTIONS

    return [pid for pid, p in PREDICTIONS.items()
            if "smoke" in p.tiers and p.runs_for("smoke")]


@pytest.fixture(scope="session")
def smoke_verify(tmp_path_factory) -> SmokeVerify:
    """``ssl-dynamics verify --tier smoke --only <every training-based prediction> --jobs 2``."""
    from dynamics.cli import main

    root = tmp_path_factory.mktemp("smoke_verify")
    code = main(["verify", "--tier", "smoke", "--only", *trained_prediction_ids(),
                 "--runs", str(root / "runs"), "--out", str(root / "out"), "--jobs", "2"])
    report = json.loads((root / "out" / "report.json").read_text())
    return SmokeVerify(code, report, root / "runs", root / "out")

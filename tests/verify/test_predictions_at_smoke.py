"""Every prediction that needs no training run at the smoke tier is judged here, once per test
session: confirmed, with its figure (a PNG in the figure folder) and its rule and details
stated. (The training-based ones run in the integration suite, on the shared smoke verify:
``tests/conftest.py``.)"""

import json
import math
from pathlib import Path

import pytest

from dynamics.io import to_json
from dynamics.verify.prediction import CONFIRMED, Context
from dynamics.verify.registry import PREDICTIONS

RUN_FREE = [pid for pid, p in PREDICTIONS.items() if "smoke" in p.tiers and not p.runs_for("smoke")]


def test_the_smoke_tier_is_split_between_the_suites():
    trained = [pid for pid, p in PREDICTIONS.items() if "smoke" in p.tiers and p.runs_for("smoke")]
    assert len(RUN_FREE) >= 30 and len(trained) >= 10
    assert not set(RUN_FREE) & set(trained)


@pytest.mark.parametrize("pid", RUN_FREE)
def test_confirmed_at_smoke_with_figure_and_rule(pid, tmp_path):
    out = PREDICTIONS[pid].evaluate(Context("smoke", tmp_path))
    assert out.status == CONFIRMED, (pid, out.measured, out.details)
    assert out.rule.strip()
    assert out.theory is not None and out.measured is not None
    fig = Path(out.figure)
    assert fig.is_file() and fig.suffix == ".png" and fig.parent == tmp_path
    assert fig.stat().st_size > 5_000
    for key, value in out.numbers.items():  # the figure's numbers: finite, JSON-ready
        if isinstance(value, float):
            assert math.isfinite(value), (pid, key)
    json.loads(to_json({"theory": out.theory, "measured": out.measured,
                        "numbers": out.numbers}))

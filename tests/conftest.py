import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest


def pytest_xdist_auto_num_workers(config):
    """Workers of the default run (``-n auto`` in the addopts): one per usable core, at most 4.
    The integration suite runs in one process: its tests share a session fixture of trained
    smoke runs (in each worker it would train them again)."""
    from _pytest.mark.expression import Expression

    from dynamics.threads import available_cpus

    markexpr = config.option.markexpr or ""
    if markexpr and Expression.compile(markexpr).evaluate(lambda name: name == "integration"):
        return 0
    cpus = available_cpus()
    return min(cpus, 4) if cpus > 1 else 0


def pytest_configure(config):
    """The suite follows the package's threading policy: the idle cores, at least one (a busy
    machine would otherwise slow torch's default pool down many times over); a worker of a
    parallel run takes its share of the cores."""
    from dynamics.threads import apply_threads, available_cpus, choose_threads

    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT") or 1)
    share = max(1, available_cpus() // workers)
    apply_threads(min(share, choose_threads("auto").threads))


def pytest_collection_modifyitems(config, items):
    """Every test under ``tests/integration/`` is an end-to-end check (marker ``integration``:
    ``pytest -m integration`` runs them; the default run leaves them out)."""
    for item in items:
        if "integration" in item.path.parts[-3:-1]:
            item.add_marker(pytest.mark.integration)


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def check_figure_files(res, out: Path, tier: str) -> None:
    """A made figure's files: the PNG in ``out`` (not empty), its PDF, its caption file holding
    the caption and the command's ``--tier``, and plain numbers."""
    assert res.png.parent == out and res.png.stat().st_size > 10_000
    assert res.pdf.is_file() and res.pdf.stat().st_size > 0
    text = res.caption_path.read_text()
    assert res.caption.strip() in text and f"--tier {tier}" in text
    for key, val in res.numbers.items():
        assert isinstance(val, float | str), key


def random_psd(rng, n, scale=1.0, rank=None):
    """A random symmetric PSD matrix (full rank unless ``rank`` is given)."""
    k = n if rank is None else rank
    A = rng.standard_normal((n, k))
    return scale * A @ A.T / k


@pytest.fixture(scope="session")
def made(tmp_path_factory):
    """A simulation figure of :data:`dynamics.plots.FIGURES` made once per test session in quick
    mode: ``made(name) -> (FigureResult, out_dir)``."""
    from dynamics.plots import FIGURES

    cache: dict = {}

    def get(name: str):
        if name not in cache:
            out = tmp_path_factory.mktemp(name)
            cache[name] = (FIGURES[name].make(out, quick=True), out)
        return cache[name]

    return get


@pytest.fixture
def smoke_cfg():
    """``smoke_cfg(out_dir, *overrides)``: the digits smoke training config with the fast
    settings of ``tests/train/test_train_loop.py`` (BYOL + DirectPred, 256 digits, batch 64)."""
    from pathlib import Path

    from dynamics.train.config import load_config

    smoke = Path(__file__).resolve().parents[1] / "experiments" / "train" / "smoke_byol_digits.yaml"
    fast = ["data.subset=256", "optim.batch_size=64", "optim.max_steps=null",
            "predictor.kind=directpred", "eval.online_probe_epochs=2", "eval.linear_epochs=3",
            "log.log_every=1"]

    def make(out, *overrides):
        return load_config(smoke, [f"out_dir={out}", *fast, *overrides])

    return make


# ------------------------------------------------------------------------------------------
# The smoke tier of ``verify``, run once per test session and shared by the integration tests:
# the training-based predictions with every smoke run they need (trained two at a time, as
# ``reproduce`` trains them); the run-based figure and prediction tests read these run folders
# instead of training their own. (The run-free predictions are judged once, in the default
# suite: ``tests/verify/test_predictions_at_smoke.py``.)


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

"""Run-based DirectPred figures (Figs. 2 and 6) at the smoke tier, drawn from the digits runs of
the shared smoke verify (``tests/conftest.py``), the facts each figure
reports checked against the run folders, and the one-line error of a cpu-tier figure without
data and without runs."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from dynamics.errors import ConfigError
from dynamics.plots import FIGURES, make_figures
from dynamics.theories.directpred.predictions.training import ARMS, BASE, SEEDS, arms
from dynamics.verify.prediction import compare_means
from dynamics.verify.registry import PREDICTIONS
from dynamics.verify.run_data import collapse, linear_accuracy, series


@pytest.fixture(scope="module")
def made(tmp_path_factory, smoke_verify):
    """Figs. 2 and 6 made once at the smoke tier from the shared smoke verify's runs (the
    figures' runs are the predictions' runs: nothing is trained again)."""
    out = tmp_path_factory.mktemp("figruns") / "out"
    res = make_figures(["directpred_fig2", "directpred_fig6"], out, tier="smoke",
                       runs_dir=smoke_verify.runs, jobs=2)
    return res, out, smoke_verify.runs


def _files(res, out: Path) -> None:
    assert res.png.parent == out and res.png.stat().st_size > 10_000
    assert res.pdf.is_file() and res.pdf.stat().st_size > 0
    text = res.caption_path.read_text()
    assert res.caption.strip() in text and "Settings: tier = smoke" in text
    assert "--tier smoke" in text
    for key, val in res.numbers.items():
        assert isinstance(val, float | str), key


def _folders(runs_dir: Path, label: str) -> list[Path]:
    return [runs_dir / s.name() for s in arms(label)("smoke")]


def test_fig2_specs_are_those_of_the_predictions():
    specs = FIGURES["directpred_fig2"].runs_for("smoke")
    assert specs == arms("linear")("smoke") == \
        PREDICTIONS["directpred.eigenspace_alignment"].runs_for("smoke")
    assert [s.seed for s in specs] == list(SEEDS)
    assert FIGURES["directpred_fig2"].runs_for("cpu") == \
        PREDICTIONS["directpred.predictor_symmetric_psd"].runs_for("cpu")


def test_fig2_alignment_rises_and_predictor_turns_symmetric(made):
    res, out, runs_dir = made
    fig2 = res["directpred_fig2"]
    _files(fig2, out)
    n = fig2.numbers
    folders = _folders(runs_dir, "linear")
    assert fig2.settings["runs"] == [f.name for f in folders]
    assert fig2.settings["seeds"] == list(SEEDS) and n["seeds"] == len(SEEDS)
    # Alignment: the s-weighted mean over F's modes rises clearly, as does the plain mean.
    assert n["align_w_end_mean"] > n["align_w_start_mean"] + 0.2
    assert n["align_mean_end_mean"] > n["align_mean_start_mean"]
    assert n["align_w_end_std"] < 0.1
    # The same numbers straight from the logs.
    ends = [series(f, "predictor/weighted_alignment")[1][-1] for f in folders]
    assert n["align_w_end_mean"] == pytest.approx(np.mean(ends), rel=1e-9)
    asym = [series(f, "predictor/asymmetry")[1] for f in folders]
    assert n["asym_start_mean"] == pytest.approx(np.mean([a[0] for a in asym]), rel=1e-9)
    # Asymmetry: finite, decreasing (full matrix on every row of the seed mean, and on F's
    # data subspace); the symmetric part's smallest eigenvalue rises there.
    for k in ("asym_start_mean", "asym_end_mean", "asym_data_start_mean",
              "asym_data_end_mean"):
        assert math.isfinite(n[k]) and n[k] >= 0
    assert n["asym_end_mean"] < n["asym_start_mean"]
    assert n["asym_decreasing_frac"] == 1.0
    assert n["asym_data_end_mean"] < 0.5 * n["asym_data_start_mean"]
    assert n["lmin_data_end_mean"] > n["lmin_data_start_mean"]
    # Bifurcation of F: some modes grow, the others shrink, on every seed.
    assert n["F_grow_min"] >= 1 and n["F_shrink_min"] >= 1
    assert n["F_grow_mean"] + n["F_shrink_mean"] <= n["n_modes"]
    assert n["F_grow_x2_mean"] <= n["F_grow_mean"]
    # The caption quotes this call's numbers.
    assert f"{n['align_w_end_mean']:.3f}" in fig2.caption
    assert f"{n['asym_end_mean']:.2f}" in fig2.caption
    assert fig2.caption.startswith("A learned linear predictor aligns")


def test_fig6_specs_sweep_alpha_p():
    from dynamics.theories.directpred.figures.fig06_alpha_p_sweep import REFERENCE, SWEEP, alpha_p

    assert [alpha_p(a) for a in SWEEP["cpu"]] == [0.3, 1.0, 3.0, 10.0]
    assert [alpha_p(a) for a in SWEEP["smoke"]] == [1.0, 10.0]
    for a in SWEEP["cpu"]:  # the sweep arms differ from symmetric_noema only by alpha_p
        rest = [o for o in ARMS[a] if not o.startswith("optim.predictor_lr_mult=")]
        assert rest == list(ARMS["symmetric_noema"])
    cpu = FIGURES["directpred_fig6"].runs_for("cpu")
    assert len(cpu) == 5 * len(SEEDS)
    # The runs of predictions 18 and 19 are among them (same folders as verify).
    shared = set(PREDICTIONS["directpred.symmetric_needs_ema"].runs_for("cpu"))
    shared |= {s for s in PREDICTIONS["directpred.symmetric_rescues"].runs_for("cpu")
               if s.label != "symmetric_noema_pwd"}
    assert shared <= set(cpu)
    smoke = FIGURES["directpred_fig6"].runs_for("smoke")
    assert {s.label for s in smoke} == {*SWEEP["smoke"], REFERENCE}
    for s in smoke:
        assert s.config == BASE["smoke"][0]
        assert s.overrides == BASE["smoke"][1] + ARMS[s.label]


def test_fig6_reports_accuracy_and_collapse_per_alpha_p(made):
    res, out, runs_dir = made
    fig6 = res["directpred_fig6"]
    _files(fig6, out)
    n = fig6.numbers
    assert fig6.settings["alpha_p"] == [1.0, 10.0] and n["n_alpha"] == 2
    d = yaml.safe_load((_folders(runs_dir, "symmetric_ema")[0] / "config.yaml").read_text())
    d = d["model"]["projector_dim"]
    assert n["zstd_isotropic"] == pytest.approx(1 / math.sqrt(d))
    accs = {}
    for key, label in (("alpha=1", "symmetric_noema"), ("alpha=10", "symmetric_noema_alpha"),
                       ("ema", "symmetric_ema")):
        folders = _folders(runs_dir, label)
        accs[key] = [linear_accuracy(f) for f in folders]
        assert n[f"{key}_acc_mean"] == pytest.approx(np.mean(accs[key]), rel=1e-9)
        assert n[f"{key}_acc_std"] == pytest.approx(np.std(accs[key], ddof=1), rel=1e-9)
        ranks = [collapse(f)["rankme_projector"] for f in folders]
        assert n[f"{key}_rankme_mean"] == pytest.approx(np.mean(ranks), rel=1e-9)
        assert 0.1 < n[f"{key}_acc_mean"] <= 1.0
        assert 1.0 <= n[f"{key}_rankme_mean"] <= d
        assert 0.0 < n[f"{key}_zstd_mean"] < n["zstd_isotropic"]
    diff, se, ok = compare_means(accs["alpha=10"], accs["alpha=1"])
    assert n["alpha=10_minus_alpha=1_acc"] == pytest.approx(diff)
    assert n["alpha=10_se"] == pytest.approx(se)
    assert n["alpha=10_rescued"] == ("yes" if ok else "no")
    assert n["best_alpha"] in (1.0, 10.0)
    assert f"{n['alpha=10_acc_mean']:.3f}" in fig6.caption
    assert f"{n['ema_acc_mean']:.3f}" in fig6.caption
    assert ("alpha_p = 10 is rescued" in fig6.caption) == ok


@pytest.mark.parametrize("name", ["directpred_fig2", "directpred_fig6"])
def test_cpu_tier_figure_without_data_root_or_runs(tmp_path, name):
    """Asked for by name at the cpu tier with no CIFAR-10 and no runs: a one-line error naming
    data_root before any work."""
    with pytest.raises(ConfigError, match=rf"data_root: figure {name} needs \d+ cpu-tier run"):
        make_figures([name], tmp_path / "o", tier="cpu", runs_dir=tmp_path / "runs")
    assert not list((tmp_path / "o").glob("*.png"))
    assert not list((tmp_path / "runs").glob("*"))

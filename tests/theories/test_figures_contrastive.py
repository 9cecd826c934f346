"""Contrastive figures: the S^1 toy of Wang & Isola (``alignment_uniformity_circle``, quick size),
every fact it reports recomputed from the library; the run specs of the two run-based figures
(``alignment_uniformity_scatter``, ``dual_networks_covop_spectrum``), drawn from training runs in
``tests/integration/test_figures_contrastive_runs.py``."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import check_figure_files

from dynamics.errors import ConfigError
from dynamics.plots import FIGURES, make_figures
from dynamics.verify.recipes import simclr_arm
from dynamics.verify.registry import PREDICTIONS

#: Figures drawn end to end (make, caption, files): the integration suite.
pytestmark = pytest.mark.integration

RUN_FIGS = ["alignment_uniformity_scatter", "dual_networks_covop_spectrum"]


# ----------------------------------------------------------------------------
# alignment_uniformity_circle
@pytest.fixture(scope="module")
def circle(tmp_path_factory):
    from dynamics.theories.alignment_uniformity.figures.circle import circle_features

    out = tmp_path_factory.mktemp("circle")
    return (FIGURES["alignment_uniformity_circle"].make(out, quick=True), out,
            circle_features(quick=True))


def test_wi_circle_numbers_are_the_library_metrics_of_the_plotted_features(circle):
    from dynamics.metrics.alignment_uniformity import alignment, uniformity, uniformity_on_sphere

    res, out, feats = circle
    check_figure_files(res, out, "smoke")
    n = res.numbers
    assert n["uniform_reference"] == pytest.approx(uniformity_on_sphere(2, t=2.0))
    for key in ("init", "align", "infonce", "align_uniform"):
        f = feats[key]
        assert np.allclose(np.linalg.norm(f["test"], axis=1), 1.0)
        # a second, independent training run gives the same features (seeded) and the
        # figure's numbers are the library's metrics of them
        assert n[f"{key}_uniformity"] == pytest.approx(uniformity(f["test"], t=2.0), abs=1e-9)
        assert n[f"{key}_alignment"] == pytest.approx(
            alignment(f["view1"], f["view2"], alpha=2.0), abs=1e-9)
        theta = np.arctan2(f["test"][:, 1], f["test"][:, 0])
        assert n[f"{key}_resultant_length"] == pytest.approx(
            abs(np.exp(1j * theta).mean()), abs=1e-9)


def test_wi_circle_uniformity_spreads_and_alignment_alone_collapses(circle):
    n = circle[0].numbers
    ref = n["uniform_reference"]
    # alignment only: one point (L_uniform ~ 0, resultant length ~ 1, chance-level kNN)
    assert n["align_uniformity"] > -0.01 and n["align_resultant_length"] > 0.99
    assert n["align_alignment"] < 0.01
    # alignment + uniformity: close to the uniform measure on S^1, spread around the circle
    assert n["align_uniform_uniformity"] < n["align_uniformity"] - 1.0
    assert abs(n["align_uniform_uniformity"] - ref) < 0.15
    assert n["align_uniform_resultant_length"] < 0.3
    assert n["align_uniform_uniformity"] < n["init_uniformity"]
    assert n["align_uniform_alignment"] < n["init_alignment"]
    assert n["align_uniform_knn_top1"] > n["align_knn_top1"] + 0.2
    assert n["infonce_uniformity"] < n["init_uniformity"]
    cap = circle[0].caption
    assert f"{n['align_uniform_uniformity']:.3f}" in cap and f"{ref:.3f}" in cap
    assert cap.startswith("The uniformity term spreads")


def test_wi_circle_density_is_a_probability_density():
    from dynamics.theories.alignment_uniformity.figures.circle import von_mises_kde

    grid = np.linspace(-np.pi, np.pi, 2001)
    for angles in (np.zeros(3), np.random.default_rng(0).uniform(-np.pi, np.pi, 50)):
        assert np.trapezoid(von_mises_kde(angles, grid), grid) == pytest.approx(1.0, abs=1e-6)
    # a point at theta = 0 peaks there
    dens = von_mises_kde(np.zeros(1), grid)
    assert grid[int(np.argmax(dens))] == pytest.approx(0.0, abs=2e-3)


# ---------------------------------------------------------------------- run-based figures
def test_run_specs_are_those_of_the_predictions():
    for tier in ("smoke", "cpu"):
        assert FIGURES["alignment_uniformity_scatter"].runs_for(tier) == \
            PREDICTIONS["alignment_uniformity.vs_accuracy"].runs_for(tier)
        specs = FIGURES["dual_networks_covop_spectrum"].runs_for(tier)
        rankme = PREDICTIONS["rank_metrics.rankme_ranks_runs"].runs_for(tier)
        assert specs and all(s in rankme for s in specs)
        assert {s.label for s in specs} == {simclr_arm(tier)[0]}
        assert [s.seed for s in specs] == ([0] if tier == "smoke" else [0, 1, 2])


@pytest.mark.parametrize("name", RUN_FIGS)
def test_cpu_tier_figure_without_data_root_or_runs(tmp_path, name):
    with pytest.raises(ConfigError, match=rf"data_root: figure {name} needs \d+ cpu-tier run"):
        make_figures([name], tmp_path / "o", tier="cpu", runs_dir=tmp_path / "runs")
    assert not list((tmp_path / "o").glob("*.png"))

"""Contrastive figures: the S^1 toy of Wang & Isola (``alignment_uniformity_circle``, quick size)
and the two run-based figures (``alignment_uniformity_scatter``, ``dual_networks_covop_spectrum``)
at the smoke tier, their digits runs trained once in child processes through ``make_figures``; every
fact a figure reports is recomputed from the library (metrics, covariance operator, run folders)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from dynamics.errors import ConfigError
from dynamics.plots import FIGURES, make_figures
from dynamics.verify import run_data as rd
from dynamics.verify.prediction import Context, spearman
from dynamics.verify.recipes import simclr_arm
from dynamics.verify.registry import PREDICTIONS

RUN_FIGS = ["alignment_uniformity_scatter", "dual_networks_covop_spectrum"]


def _files(res, out: Path, tier: str) -> None:
    assert res.png.parent == out and res.png.stat().st_size > 10_000
    assert res.pdf.is_file() and res.pdf.stat().st_size > 0
    text = res.caption_path.read_text()
    assert res.caption.strip() in text and f"--tier {tier}" in text
    for key, val in res.numbers.items():
        assert isinstance(val, float | str), key


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
    _files(res, out, "smoke")
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


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """Both run-based figures made once at the smoke tier (4 digits runs, two at a time)."""
    root = tmp_path_factory.mktemp("contrastive_runs")
    out, runs_dir = root / "out", root / "runs"
    res = make_figures(RUN_FIGS, out, tier="smoke", runs_dir=runs_dir, jobs=2)
    return res, out, runs_dir


def test_wi_align_uniform_points_and_correlations_match_the_runs(made, tmp_path):
    res, out, runs_dir = made
    fig = res["alignment_uniformity_scatter"]
    _files(fig, out, "smoke")
    n = fig.numbers
    specs = FIGURES["alignment_uniformity_scatter"].runs_for("smoke")
    pts = []
    for s in specs:
        row = rd.final_row(runs_dir / s.name())
        pts.append((row["views/alignment"], row["views/uniformity"],
                    rd.linear_accuracy(runs_dir / s.name()), rd.knn_accuracy(runs_dir / s.name())))
    assert n["runs"] == len(specs) == 4
    total = [a + u for a, u, _, _ in pts]
    assert n["spearman_linear_sum"] == pytest.approx(spearman(total, [p[2] for p in pts]))
    assert n["spearman_linear_unif"] == pytest.approx(
        spearman([p[1] for p in pts], [p[2] for p in pts]))
    assert n["spearman_knn_align"] == pytest.approx(
        spearman([p[0] for p in pts], [p[3] for p in pts]))
    best = max(pts, key=lambda p: p[2])
    assert n["best_linear"] == pytest.approx(best[2]) and n["best_unif"] == pytest.approx(best[1])
    assert n["linear_min"] == pytest.approx(min(p[2] for p in pts))
    # the figure and the prediction it draws read the same runs and agree
    pred = PREDICTIONS["alignment_uniformity.vs_accuracy"]
    outcome = pred.evaluate(Context("smoke", tmp_path, {s: runs_dir / s.name() for s in specs}))
    assert outcome.numbers["spearman"] == pytest.approx(n["spearman_knn_sum"])
    assert f"{n['spearman_linear_sum']:.2f}" in fig.caption
    assert f"{100 * best[2]:.1f}%" in fig.caption


def test_dual_covop_spectrum_numbers_and_operator_identity(made):
    from dynamics.theories.dual_networks.figures import covop_spectrum as mod
    from dynamics.theories.dual_networks.operator import (
        LayeredNet,
        augmentation_averaged_connection,
        covariance_operator,
    )

    res, out, runs_dir = made
    fig = res["dual_networks_covop_spectrum"]
    _files(fig, out, "smoke")
    n = fig.numbers
    (spec,) = FIGURES["dual_networks_covop_spectrum"].runs_for("smoke")
    folder = runs_dir / spec.name()
    cfg, data, init, trained = mod._networks(folder)
    assert n["g_dim"] == cfg.model.projector_hidden and n["h_dim"] == 4 * cfg.model.width
    # measuring again gives the figure's numbers (fixed batch, run's own initial weights)
    again = mod.measure_run(folder, quick=True)
    for layer in ("g", "h"):
        for name in ("init", "trained"):
            st = again[name][layer]
            assert n[f"{layer}_{name}_pr"] == pytest.approx(st["pr"], rel=1e-6)
            assert n[f"{layer}_{name}_invariant_share"] == pytest.approx(
                st["invariant_share"], rel=1e-6)
            assert st["eig"].sum() == pytest.approx(1.0) and np.all(np.diff(st["eig"]) <= 1e-12)
            assert np.all((st["inv_k"] > -1e-9) & (st["inv_k"] < 1 + 1e-9))
            assert 0.0 < st["invariant_share"] < 1.0
        # the fact the caption states: training makes the variance more augmentation-stable
        assert n[f"{layer}_trained_invariant_share"] > n[f"{layer}_init_invariant_share"] + 0.1
    # the initial network is the run's own start: rebuilt twice, identical weights
    _, _, init2, _ = mod._networks(folder)
    for p, q in zip(init.parameters(), init2.parameters(), strict=True):
        assert torch.equal(p, q)
    assert not all(torch.equal(p, q) for p, q in zip(init.parameters(), trained.parameters(),
                                                     strict=True))
    # OP_L of the top (linear) projector layer is Sigma_bar_g kron I: same eigenvalues
    views = mod._fixed_batch(data, 48, 4)
    g = mod._features(trained, views, cfg.optim.batch_size)["g"]
    n_out = cfg.model.projector_dim
    top = LayeredNet([g.shape[2], n_out], activation="linear", top="linear")
    op = covariance_operator(augmentation_averaged_connection(top, g, layer=1))
    lam_op = torch.linalg.eigvalsh(op).flip(0)
    sig = mod.spectrum_stats(g)
    trace = float(torch.linalg.eigvalsh(op).sum()) / n_out
    expect = np.repeat(sig["eig"] * trace, n_out)
    assert np.allclose(lam_op.numpy(), np.sort(expect)[::-1], atol=1e-9 * trace)
    cap = fig.caption
    assert f"{n['g_init_pr']:.1f} -> {n['g_trained_pr']:.1f}" in cap
    assert ("rises from" if n["g_trained_invariant_share"] > n["g_init_invariant_share"]
            else "falls from") in cap
    assert math.isfinite(n["g_grown_trained_share"])

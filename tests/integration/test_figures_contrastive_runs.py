"""The two run-based contrastive figures (``alignment_uniformity_scatter``,
``dual_networks_covop_spectrum``) at the smoke tier, drawn from the digits runs of the shared smoke
verify (``tests/conftest.py``); every fact a figure reports is recomputed from the
library (metrics, covariance operator, run folders)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from conftest import check_figure_files

from dynamics.plots import FIGURES, make_figures
from dynamics.verify import run_data as rd
from dynamics.verify.prediction import Context, spearman
from dynamics.verify.registry import PREDICTIONS

RUN_FIGS = ["alignment_uniformity_scatter", "dual_networks_covop_spectrum"]


@pytest.fixture(scope="module")
def made(tmp_path_factory, smoke_verify):
    """Both run-based figures made once at the smoke tier from the shared smoke verify's runs
    (the figures' runs are the predictions' runs: nothing is trained again)."""
    out = tmp_path_factory.mktemp("contrastive_runs") / "out"
    res = make_figures(RUN_FIGS, out, tier="smoke", runs_dir=smoke_verify.runs, jobs=2)
    return res, out, smoke_verify.runs


def test_wi_align_uniform_points_and_correlations_match_the_runs(made, tmp_path):
    res, out, runs_dir = made
    fig = res["alignment_uniformity_scatter"]
    check_figure_files(fig, out, "smoke")
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
    check_figure_files(fig, out, "smoke")
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

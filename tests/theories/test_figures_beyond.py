"""Figures beyond the papers (the linear bridge, the collapse phase diagrams) and the HLTM
figure, at quick / smoke size; each test checks the facts the figure shows against the
library's closed forms and the rules of the predictions the figure draws."""

from __future__ import annotations

import re

import pytest

from dynamics.plots import FIGURES, make_figures
from dynamics.plots.base import FigureResult
from dynamics.theories.directpred.closed_form import collapse_threshold

#: Figures drawn end to end (make, caption, files): the integration suite.
pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """Each simulation figure made once in quick mode (shared by the tests below)."""
    cache: dict[str, FigureResult] = {}

    def get(name: str) -> FigureResult:
        if name not in cache:
            cache[name] = FIGURES[name].make(tmp_path_factory.mktemp(name), quick=True)
        return cache[name]

    return get


@pytest.fixture(scope="module")
def bridge(tmp_path_factory):
    """The bridge figure at the smoke tier: trains its one linear BYOL run (seconds)."""
    runs = tmp_path_factory.mktemp("runs")
    out = tmp_path_factory.mktemp("bridge")
    return make_figures(["bridge_linear"], out, tier="smoke", runs_dir=runs)["bridge_linear"], runs


def _files_and_caption(res: FigureResult, stem: str) -> None:
    assert res.png.name == f"{stem}.png" and res.png.stat().st_size > 10_000
    assert res.pdf.exists() and res.caption_path.exists()
    assert res.caption and res.settings
    sentences = re.split(r"(?<=[.])\s+(?=[A-Z(])", res.caption.strip())
    assert 2 <= len(sentences) <= 4, sentences  # a few sentences, the claim first
    assert all(isinstance(v, (float, str)) for v in res.numbers.values())
    assert res.caption.strip() in res.caption_path.read_text()


def test_bridge_engine_follows_the_ode_within_the_prediction_tolerance(bridge):
    from dynamics.theories.bridge.figures import runs as figure_runs
    from dynamics.theories.bridge.predictions import (
        TOL_FRACTION,
        TOL_REL,
        compare_run,
        linear_byol_runs,
    )

    res, runs_dir = bridge
    n = res.numbers
    _files_and_caption(res, "bridge_linear")
    # The figure uses the prediction's runs, so verify and figures share the folders.
    for tier in ("smoke", "cpu"):
        assert figure_runs(tier) == linear_byol_runs(tier)
    folder = runs_dir / linear_byol_runs("smoke")[0].name()
    assert (folder / "checkpoints").is_dir()
    # The numbers are the prediction's: bridge.compare_run on the same folder.
    ref = compare_run(folder)
    assert n["max_rel_error_worst_seed"] == pytest.approx(float(ref["rel"].max()), rel=1e-12)
    # The rule of bridge.linear_byol_vs_ode, on a spectrum that really moves.
    assert n["max_rel_error_worst_seed"] <= TOL_REL
    assert n["max_rel_error_worst_seed"] <= TOL_FRACTION * n["movement_min"]
    assert n["movement_min"] > 2 * TOL_REL
    assert n["within_tolerance"] == "yes" and n["seeds"] == 1.0
    assert n["epochs"] == len(ref["t"]) >= 3
    # Largest eigenvalue of F at the end: engine and ODE agree; the library's SGD deviates
    # only at the finite-batch level, like the engine.
    top_ode, top_eng = n["s_max_end_ode_seed0"], n["s_max_end_engine_seed0"]
    assert abs(top_eng - top_ode) <= TOL_REL * top_ode
    assert n["sgd_sim_max_rel_error_worst_seed"] <= TOL_REL
    assert f"{100 * n['max_rel_error_worst_seed']:.2f}%" in res.caption


def test_phase_eta_alpha_p_jumps_to_collapse_at_the_closed_form_threshold(made):
    res = made("directpred_phase_eta_alpha_p")
    n = res.numbers
    _files_and_caption(res, "directpred_phase_eta_alpha_p")
    ec = float(collapse_threshold(1.0, res.settings["sigma2"]))
    assert n["eta_c"] == pytest.approx(ec) and res.settings["tau"] == 1.0
    assert f"{ec:.3g}" in res.caption
    # ~0 well below eta_c, exactly 1 above it (Obs. 5), monotone in eta (Obs. 4).
    assert n["max_fraction_eta_le_half_eta_c"] <= 0.05
    assert n["min_fraction_above_eta_c"] == 1.0
    assert n["max_drop_along_eta"] == 0.0
    # Something does collapse below eta_c, less at large alpha_p (Obs. 1).
    lo, hi = (n[f"fraction_last_below_eta_c_alpha_p={a}"] for a in ("0.25", "8"))
    assert lo > hi and lo >= 0.5
    assert n["max_rise_along_alpha_p"] == 0.0
    # Every cell lies within the theory's certified range (Eq. 14 invariant regions).
    assert n["max_outside_theory_range"] == 0.0
    assert n["min_fraction_settled"] == 1.0 and n["max_status"] == 0.0
    for a in ("0.25", "1", "8"):
        assert n[f"eta_all_collapsed_alpha_p={a}"] > ec * 0.9


def test_phase_eta_beta_slow_ema_traps_more_modes(made):
    res = made("directpred_phase_eta_beta")
    n = res.numbers
    _files_and_caption(res, "directpred_phase_eta_beta")
    ec = float(collapse_threshold(1.0, res.settings["sigma2"]))
    assert n["eta_c"] == pytest.approx(ec)
    # Above eta_c(tau = 1) everything collapses; monotone in eta.
    assert n["min_fraction_above_eta_c"] == 1.0
    assert n["max_drop_along_eta"] == 0.0
    # A slower EMA never saves a mode (non-increasing in beta) and never beats tau = 1.
    assert n["max_rise_along_beta"] == 0.0
    assert n["max_ema_below_fixed_tau"] == 0.0
    assert n["fraction_at_eta_ref_beta=0.01"] - n["fraction_at_eta_ref_beta=1"] >= 0.5
    assert n["eta_all_collapsed_beta=0.01"] < 0.75 * ec
    # With tau fixed at 1 the jump sits at the closed-form threshold.
    assert ec < n["eta_all_collapsed_fixed_tau"] <= 1.25 * ec
    assert n["min_fraction_settled"] == 1.0 and n["max_status"] == 0.0


def test_dual_hltm_shows_the_predicted_trends(made):
    res = made("dual_networks_hltm")
    n = res.numbers
    _files_and_caption(res, "dual_networks_hltm")
    dls, hids = res.settings["delta_lowers"], res.settings["hids"]
    assert n["cells"] == len(dls) * len(hids) * len(res.settings["seeds"])
    # The rule of dual_networks.hltm_trends.
    assert n["rise"] > 2 * n["rise_se"] > 0
    assert n["delta_lower_diff"] > 2 * n["delta_lower_se"]
    after = [n[f"after_delta_lower={d:g}"] for d in dls]
    assert all(b > a for a, b in zip(after, after[1:], strict=False))
    assert n[f"after_hid={hids[-1]}"] >= n[f"after_hid={hids[0]}"]
    assert n["trends_as_predicted"] == "yes"
    # Lowest at the root, after training as before.
    d = res.settings["depths"][0]
    assert n[f"depth{d}_root_after"] < n[f"depth{d}_leaf_parents_after"]
    assert n[f"depth{d}_root_before"] < n[f"depth{d}_leaf_parents_before"]

"""Figs. 7-10 of Tian, Chen & Ganguli (2021): full-matrix, balanced-manifold and scalar models,
at quick size; each test checks the facts the figure shows, against closed forms where there
are any."""

from __future__ import annotations

import math

import pytest

from dynamics.plots.base import FigureResult

#: Figures drawn end to end (make, caption, files): the integration suite.
pytestmark = pytest.mark.integration

ETAS7, GAMMAS7 = (0.0, 0.01, 0.1), (0.9, 0.99, 0.996)
ETAS8, TAUS8 = (0.001, 0.01, 0.05), (0.25, 0.5, 1.0)
TAUS9, ETAS9 = (0.5, 1.0, 2.0), (0.0, 0.01, 0.1, 0.5)


def _caption_ok(res: FigureResult) -> None:
    assert res.caption and res.settings
    assert 2 <= res.caption.count(". ") + 1 <= 5  # a few sentences, the claim first


def test_fig7_a1_holds_after_the_ema_forgets_a_random_target(made):
    res = made("directpred_fig7")[0]
    n = res.numbers
    _caption_ok(res)
    # Independent random Wa(0): the check starts far from A1 (c ~ 0), unlike Wa(0) = 0.
    assert -0.3 < n["corr_t0_seed_min"] <= n["corr_t0_seed_max"] < 0.3
    assert n["zero_init_corr_min_overall"] > 0.95
    # Static-W closed form: Wa = e^{-bt} Wa(0) + (1 - e^{-bt}) W with Wa(0) _|_ W of equal norm
    # reaches c = 0.9 at e^{-bt} = 1 / (1 + 0.9 / sqrt(1 - 0.81)).
    bt_static = math.log(1 + 0.9 / math.sqrt(1 - 0.81))
    for eta in ETAS7:
        fast = n[f"eta={eta:g}_gamma=0.9_beta_t90"]  # beta = 10: W barely moves meanwhile
        assert bt_static * 0.9 < fast < bt_static * 1.35
        # The transient scales with the EMA time 1/beta (beta = 10 vs 0.4).
        ratio = n[f"eta={eta:g}_gamma=0.996_t90"] / n[f"eta={eta:g}_gamma=0.9_t90"]
        assert ratio == pytest.approx(10 / 0.4, rel=0.2)
        for g in GAMMAS7:
            key = f"eta={eta:g}_gamma={g:g}"
            assert n[f"{key}_corr_min_after_t90"] >= n["level"]  # never falls back below 0.9
            assert n[f"{key}_corr_final_min"] > 0.99
        # With Wa(0) = 0 the only deviation is the EMA lag, larger for a slower EMA.
        assert (n[f"eta={eta:g}_gamma=0.996_zero_init_corr_min"]
                < n[f"eta={eta:g}_gamma=0.9_zero_init_corr_min"])


def test_fig8_skew_part_vanishes_and_a_collapses_above_threshold(made):
    res = made("directpred_fig8")[0]
    n = res.numbers
    _caption_ok(res)
    assert n["B_final_over_B0_max"] < 1e-9
    assert n["end_eig_dev_max"] < 1e-6
    for eta in ETAS8:
        for tau in TAUS8:
            key = f"eta={eta:g}_tau={tau:g}"
            # Every run is resolved: B reached the noise floor, before the run stopped.
            assert n[f"{key}_t_B_floor"] <= n[f"{key}_t_resolved"] <= 2.0**16
            # A -> 0 exactly when eta exceeds eta_c = tau^2 / 4 (sigma2 = 0).
            above = eta > tau**2 / 4
            assert n[f"{key}_eta_c"] == pytest.approx(tau**2 / 4)
            assert n[f"{key}_A_collapsed"] == ("yes" if above else "no")
            if not above:
                # Surviving modes sit at Eq. 16's stable p*_+ = (tau + sqrt(tau^2 - 4 eta)) / 2.
                p_plus = (tau + math.sqrt(tau**2 - 4 * eta)) / 2
                assert n[f"{key}_p_plus"] == pytest.approx(p_plus, rel=1e-12)
                k = n[f"{key}_n_modes_at_p_plus"]
                assert k >= 1
                assert n[f"{key}_A_final"] == pytest.approx(math.sqrt(k) * p_plus, rel=1e-6)
    assert n["eta=0.05_tau=0.25_A_collapsed"] == "yes"


def test_fig9_commutator_grows_only_where_k12_is_negative(made):
    res = made("directpred_fig9")[0]
    n = res.numbers
    _caption_ok(res)
    assert "tau=2_eta=0_Kmin_min" not in n  # lambda_1 + lambda_2 replaces lambda_min
    # Theorem 3: d log||L|| / dt <= -(lambda_1 + lambda_2), up to the sampling error.
    assert n["bound_excess_max"] < 0.05
    for tau in TAUS9:
        for eta in ETAS9:
            key = f"tau={tau:g}_eta={eta:g}"
            assert n[f"{key}_resolved"] == "decayed"
            assert n[f"{key}_t_L_floor"] <= n[f"tau={tau:g}_t_end"]
            if n[f"{key}_L_growth"] > 1.01:
                assert n[f"{key}_K12_min"] < 0
            if n[f"{key}_F_norm_final"] < 1e-8:
                # Collapsed state (F = Wp = 0): K = (3/2) eta I, so lambda_1 + lambda_2 = 3 eta.
                assert n[f"{key}_K12_final"] == pytest.approx(3 * eta, rel=1e-6)
        assert n[f"tau={tau:g}_eta=0.5_L_growth"] <= 1.01  # strong weight decay: no growth
        assert n[f"tau={tau:g}_eta=0.5_K12_final"] == pytest.approx(1.5, rel=1e-6)
    assert n["tau=2_eta=0_L_growth"] > 100 and n["tau=2_eta=0_K12_min"] < 0
    assert n["tau=2_eta=0_L_growth"] > n["tau=1_eta=0_L_growth"] > n["tau=0.5_eta=0_L_growth"]
    assert n["tau=2_eta=0.1_L_growth"] > 10 and n["tau=0.5_eta=0.1_L_growth"] <= 1.01


def test_fig10_scalar_model_fixed_points(made):
    res = made("directpred_fig10")[0]
    n = res.numbers
    _caption_ok(res)
    ratio = n["lambda_d"] / n["lambda_s"]
    assert n["tied_n_stable"] == 1
    assert n["tied_stable_w"] == pytest.approx(ratio, abs=1e-9)
    assert n["tied_stable_wa"] == pytest.approx(ratio, abs=1e-9)
    assert n["tied_sim_final_max_dev"] < 1e-2
    assert n["tied_invariance_max_dev"] < 1e-12  # w = wp is invariant for alpha_p = 1
    assert n["tied_fp0_w"] == 0 and n["tied_fp0_kind"] == "semi-stable"
    # The attracting side of the semi-stable origin: w < 0 starts never cross w = 0 and
    # creep in along the centre manifold, w(t) ~ -1/(lambda_d t) from above.
    assert n["tied_neg_n_starts"] >= 4
    assert n["tied_neg_w_max"] < 0 and n["tied_neg_final_dist_max"] < 0.05
    assert 0.7 < n["tied_neg_scaled_w_min"] <= n["tied_neg_scaled_w_max"] < 1.0
    assert n["left_origin_kind"] == "saddle"
    assert n["left_hyperbola_field_max"] < 1e-12 and n["left_final_wp_w_max_dev"] < 1e-3
    assert n["nopred_n_fixed"] == 1 and n["nopred_fp0_kind"] == "stable"
    assert abs(n["nopred_fp0_w"]) < 1e-9 and n["nopred_sim_final_abs_max"] < 1e-3

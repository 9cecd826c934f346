"""Figs. 3-5 of Tian, Chen & Ganguli (2021): the mode dynamics, at quick size; each test checks
the facts the figure shows against the closed forms of the library."""

from __future__ import annotations

import math

import pytest

from dynamics.theories.directpred.closed_form import collapse_threshold, fixed_points
from dynamics.theories.directpred.modes import dtau_dt

#: Figures drawn end to end (make, caption, files): the integration suite.
pytestmark = pytest.mark.integration


def test_fig3_fixed_points_match_closed_form(made):
    n = made("directpred_fig3")[0].numbers
    pm, pp = fixed_points(1.0, 0.0, 0.01)
    assert n["b_p_minus"] == pytest.approx(float(pm), rel=1e-10)
    assert n["b_p_plus"] == pytest.approx(float(pp), rel=1e-10)
    assert [n[f"b_fp{i}_kind"] for i in range(3)] == ["stable", "saddle", "stable"]
    assert n["b_fp1_s"] == pytest.approx(float(pm) ** 2)  # on the parabola s = p^2/alpha_p
    # eta = 0: two lines of fixed points; eta = 1 > tau^2/4: only the (stable) origin.
    assert n["a_n_fixed"] == 2 and n["a_line0"] == "s = 0"
    assert "0..1 unstable" in n["a_line0_segments"]
    assert n["c_n_fixed"] == 1 and n["c_fp0_kind"] == "stable"
    assert n["c_collapse_fraction"] == 1.0
    assert 0 < n["b_collapse_fraction"] < 0.5
    assert n["b_settled_fraction"] == 1.0


def test_fig3_drawn_basins_are_the_theory_and_match_simulation(made):
    n = made("directpred_fig3")[0].numbers
    # eta = 0, tau = alpha_p = 1 (Eq. 14): collapse iff p0 <= 0 and s0 <= p0^2, or
    # s0 <= p0^2 - 1. Its area in the window [-1, 1.6] x [0, 2]: int_{-1}^0 p^2 dp +
    # int_1^1.6 (p^2 - 1) dp, over the window's area 5.2.
    area = 1 / 3 + (1.6**3 - 1) / 3 - 0.6
    assert n["a_theory_collapse_fraction"] == pytest.approx(area / 5.2, rel=1e-2)
    assert n["c_theory_collapse_fraction"] == 1.0
    assert 0 < n["b_theory_collapse_fraction"] < n["a_theory_collapse_fraction"]
    # Every settled simulated start lands on the side of the drawn basin edge it predicts.
    for tag in "abc":
        assert n[f"{tag}_sim_theory_agree"] == 1.0, tag
        assert n[f"{tag}_sim_theory_n_disagree"] == 0.0, tag
    # The saddle's stable manifold agrees with the rigorous certificates of predict_collapse
    # and lies just above the parabola left of the saddle (c > 0 there, c -> 0 as eta -> 0).
    assert n["b_certificate_conflicts"] == 0.0
    p, s = n["b_manifold_p"], n["b_manifold_s"]
    assert p < 0 and p**2 < s < p**2 + 0.01


def test_fig4_regimes_and_simulated_boundary(made):
    res = made("directpred_fig4")[0]
    n, st = res.numbers, res.settings
    assert n["eta_c"] == pytest.approx(float(collapse_threshold(1.0, 0.0)))
    pm, pp = (float(v) for v in fixed_points(1.0, 0.0, 0.1))
    assert n["a_0_kind"] == "saddle-node" and n["a_p*+_kind"] == "stable"
    assert n["a_p*+"] == pytest.approx(float(fixed_points(1.0, 0.0, 0.0)[1]))
    assert n["b_p*-"] == pytest.approx(pm) and n["b_p*+"] == pytest.approx(pp)
    assert (n["b_0_kind"], n["b_p*-_kind"], n["b_p*+_kind"]) == ("stable", "unstable", "stable")
    assert n["c_n_fixed_points"] == 1
    # The integrated mode ODEs split exactly at p*_- (within the spacing of the start grid);
    # at eta = 0 they split at the semi-stable origin: every start with p0 < 0 collapses and
    # every start with p0 > 0 leaves for p*_+.
    spacing = (st["p0_range"][1] - st["p0_range"][0]) / (st["n_starts"] - 1)
    assert abs(n["b_sim_boundary"] - pm) < spacing
    assert abs(n["a_sim_boundary"]) < spacing
    assert n["a_sim_n_neg"] >= 3 and n["a_sim_n_pos"] >= 3
    assert n["a_sim_neg_collapse_frac"] == 1.0 and n["a_sim_pos_survive_frac"] == 1.0
    assert n["b_sim_neg_collapse_frac"] == 1.0
    assert n["c_sim_survive_frac"] == 0.0


def test_fig5_weight_decay_trends(made):
    n = made("directpred_fig5")[0].numbers
    etas = (0.01, 0.04, 0.2)
    # Larger eta raises lambda_min(K) but collapses more modes and shrinks p_j.
    k_eta = [n[f"eta={e:g}_minK_min"] for e in etas]
    assert k_eta == sorted(k_eta) and k_eta[-1] > 0 > k_eta[0]
    coll = [n[f"eta={e:g}_n_collapsed"] for e in etas]
    assert coll == sorted(coll) and coll[0] < coll[1] < coll[2] < n["n_modes"]
    for e in etas:
        key = f"eta={e:g}"
        # Survivors end at p*_+ of Eq. 16 with tau -> 1, on the parabola s = p^2 (Eq. 14).
        assert n[f"{key}_p_final_max"] == pytest.approx(float(fixed_points(1.0, 0.0, e)[1]),
                                                        abs=1e-4)
        assert n[f"{key}_s_final_max"] == pytest.approx(n[f"{key}_p_final_max"] ** 2,
                                                        abs=1e-6)
        assert n[f"{key}_tau_final_alive_mean"] == pytest.approx(1.0, abs=1e-3)
        # The EMA ratio of the ODE is Eq. 15 on the parabola.
        assert n[f"{key}_tau_eq15_maxerr"] < 5e-3
        # A start survives only above p*_-(tau = 1): the EMA can only raise the threshold.
        assert n[f"{key}_p0_collapse_max"] < n[f"{key}_p0_threshold"]
        assert n[f"{key}_p0_threshold"] >= n[f"{key}_p_minus_tau1"]
        assert n[f"{key}_p_minus_tau1"] == pytest.approx(float(fixed_points(1.0, 0.0, e)[0]))
    p_end = [n[f"eta={e:g}_p_final_max"] for e in etas]
    assert p_end == sorted(p_end, reverse=True)
    # At eta = 0.2 the slow start of tau traps modes that tau = 1 would keep.
    assert n["eta=0.2_p0_collapse_max"] > n["eta=0.2_p_minus_tau1"]


def test_fig5_ema_rate_trends(made):
    n = made("directpred_fig5")[0].numbers
    betas = (0.04, 0.4, 4)
    # Smaller beta raises lambda_min(K) but converges more slowly ...
    k_beta = [n[f"beta={b:g}_minK_min"] for b in betas]
    assert k_beta[0] > k_beta[1] > k_beta[2]
    t_conv = [n[f"beta={b:g}_t_converge"] for b in betas]
    assert t_conv[0] > t_conv[1] > t_conv[2]
    # ... and traps more modes: fewer survive, the survival threshold on p_j(0) rises, and a
    # start that the fastest EMA keeps collapses under the slowest.
    surv = [n[f"beta={b:g}_n_survive"] for b in betas]
    assert surv[0] < surv[1] <= surv[2]
    thr = [n[f"beta={b:g}_p0_threshold"] for b in betas]
    assert thr[0] > thr[1] >= thr[2] >= n["beta=4_p_minus_tau1"]
    assert n["beta=0.04_p0_collapse_max"] >= n["beta=4_p0_threshold"]
    # Survivors all reach p*_+(tau = 1) whatever beta.
    pp = float(fixed_points(1.0, 0.0, 0.04)[1])
    for b in betas:
        assert n[f"beta={b:g}_p_final_max"] == pytest.approx(pp, abs=1e-3)
    assert n["beta=0.04_tau_eq15_maxerr"] < 5e-3
    # Collapsed modes: W_j decays faster than W_a,j and tau_j settles where Eq. 13 vanishes at
    # p_j = 0 (beta > eta), or keeps growing (beta = eta = 0.04).
    for key, beta, eta in (("beta=0.4", 0.4, 0.04), ("beta=4", 4.0, 0.04),
                           ("eta=0.2", 0.4, 0.2)):
        tau = n[f"{key}_tau_final_collapsed_mean"]
        assert tau > 1 and abs(float(dtau_dt(0.0, tau, beta, eta, 0.0))) < 1e-6, key
    assert n["beta=0.04_tau_final_collapsed_mean"] > 10


def test_figs_3_to_5_captions_quote_their_numbers(made):
    for name, keys in (("directpred_fig3", ("b_p_minus",)), ("directpred_fig4", ("b_p*-",)),
                       ("directpred_fig5", ("beta=0.04_p0_threshold",))):
        res = made(name)[0]
        assert res.caption, name
        for key in keys:
            val = res.numbers[key]
            assert isinstance(val, float) and math.isfinite(val)
            assert f"{val:.3f}" in res.caption or f"{val:.4f}" in res.caption, (name, key)

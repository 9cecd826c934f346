"""The simulation predictions of Tian, Chen & Ganguli 2021 (``directpred.*``, kind simulation):
all registered, and the rules do reject settings outside the claims. (Each is judged at the
smoke tier, once, in ``tests/verify/test_predictions_at_smoke.py``.)"""


import numpy as np
import pytest

from dynamics.theories.directpred.predictions.flows import near_aligned_run, skew_outcome, skew_runs
from dynamics.theories.directpred.predictions.modes import strong_wd_outcome
from dynamics.theories.directpred.predictions.simulation import decay_rate, no_predictor_outcome
from dynamics.verify.prediction import REFUTED, Context
from dynamics.verify.registry import PREDICTIONS

THEORY_IDS = [
    "directpred.theorem1_invariant",
    "directpred.no_stopgrad_collapse",
    "directpred.no_predictor_collapse",
    "directpred.commutator_alignment",
    "directpred.skew_decay_symmetric_fixed_point",
    "directpred.mode_invariant",
    "directpred.eta0_fate",
    "directpred.collapse_threshold",
    "directpred.strong_weight_decay_collapse",
    "directpred.alpha_p_basin",
    "directpred.ema_curriculum",
    "directpred.a1_validity",
    "directpred.appendix_d_scalar",
    "directpred.sgd_matches_ode",
    "directpred.batched_integrator",
]


def test_all_theory_predictions_are_registered_as_simulations():
    sims = [p for p in PREDICTIONS if p.startswith("directpred.")
            and PREDICTIONS[p].kind == "simulation"]
    assert sorted(sims) == sorted(THEORY_IDS)
    for pid in THEORY_IDS:
        pred = PREDICTIONS[pid]
        assert pred.tiers == ("smoke", "cpu", "paper") and pred.runs_for("smoke") == []
        assert pred.claim and pred.source.startswith("Tian, Chen & Ganguli")


def test_decay_rate_of_an_exponential():
    t = np.linspace(0.0, 10.0, 101)
    assert decay_rate(t, 3.0 * np.exp(-0.7 * t)) == pytest.approx(0.7)
    assert decay_rate(t, np.exp(0.2 * t)) == pytest.approx(-0.2)
    # a series that falls below the floor is fitted where it is resolved
    assert decay_rate(t, np.exp(-5.0 * t)) == pytest.approx(5.0)


def test_no_predictor_rule_rejects_a_setting_without_augmentation_noise(tmp_path):
    """With X' = 0 and eta = 0 nothing drives W to 0 (dW/dt = -W X' = 0): refuted."""
    ctx = Context("smoke", tmp_path)
    out = no_predictor_outcome(ctx, "test.no_predictor", sigma2=0.0, etas=(0.0,))
    assert out.status == REFUTED
    assert "0.001" in out.rule


def test_strong_weight_decay_rule_rejects_eta_below_the_threshold(tmp_path):
    """At 0.9 eta_c some modes survive, so 'every mode collapses' must be refuted there."""
    out = strong_wd_outcome(Context("smoke", tmp_path), "test.strong_wd", factor=0.9,
                            contrast=0.9)
    assert out.status == REFUTED
    assert out.measured["max s(T)"] > 1e-6


def test_skew_rule_rejects_eta_zero_with_a_singular_F(tmp_path):
    """Without weight decay and with a rank-deficient F, Wp's part on F's null space never
    decays: the fixed point is not unique and the skew part stays."""
    runs = skew_runs([("eq62", 0.0, 1.0)], rank=3, t_end=200.0)
    out = skew_outcome(Context("smoke", tmp_path), "test.skew", runs)
    assert out.status == REFUTED
    assert out.measured["max B(T)/B(0)"] > 1e-2


def test_commutator_rate_follows_the_pair_sum_not_lambda_min():
    """Near an aligned state with lambda_min(K) < 0 < k1 + k2 the commutator decays at the
    pair-sum rate, not at Theorem 3's 2 lambda_min (which would be growth)."""
    tr, k = near_aligned_run([1.0, 0.1, 1.0], [1.0, 0.0, 0.4], tau=1.0, eta=0.0, t_end=40.0)
    rate = decay_rate(tr.t, tr.commutator_norm())
    assert k[0] < 0 and rate == pytest.approx(k[0] + k[1], rel=0.02)
    assert rate > 0 and abs(rate - 2 * k[0]) > 0.1

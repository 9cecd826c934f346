"""Paper figures (dynamics.plots) and the one-command reproduction (dynamics.reproduce).

Every figure is made in its quick mode; the assertions check the quantitative facts the figure
is meant to show, against the closed forms of the library where one exists.
"""

from __future__ import annotations

import json

import pytest

from dynamics.errors import ConfigError
from dynamics.plots import FIGURES, FigureResult, make_figures, resolve_names
from dynamics.theory.closed_form import collapse_threshold, fixed_points

EXPECTED = ["fig3", "fig4", "fig5", "fig7", "fig8", "fig9", "fig10"]


def _check_files(res: FigureResult, out_dir) -> None:
    assert [p.suffix for p in res.paths] == [".png", ".pdf"]
    for p in res.paths:
        assert p.parent == out_dir and p.is_file()
        assert p.stat().st_size > 10_000, p
    assert res.png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert res.pdf.read_bytes()[:5] == b"%PDF-"
    # Atomic writes leave no temporary files behind.
    assert not [p for p in out_dir.iterdir() if p.name.startswith(".")]
    for key, val in res.numbers.items():
        assert isinstance(val, float | str), (key, type(val))


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """Each registered figure made once in quick mode (shared by the tests below)."""
    cache: dict[str, tuple[FigureResult, object]] = {}

    def get(name: str):
        if name not in cache:
            out = tmp_path_factory.mktemp(name)
            cache[name] = (FIGURES[name].make(out, quick=True), out)
        return cache[name]

    return get


def test_registry_names_and_specs():
    assert list(FIGURES) == EXPECTED
    for name, spec in FIGURES.items():
        assert spec.name == name and spec.title and spec.paper_ref.startswith("Fig.")
        assert callable(spec.load())
    assert resolve_names(None) == EXPECTED
    assert resolve_names("all") == EXPECTED
    assert resolve_names(["3", "fig03", "FIG10"]) == ["fig3", "fig10"]
    with pytest.raises(ConfigError):
        resolve_names(["fig6"])


@pytest.mark.parametrize("name", EXPECTED)
def test_figure_writes_png_and_pdf(made, name):
    res, out = made(name)
    assert res.name == name
    _check_files(res, out)
    assert res.numbers and res.seconds > 0


def test_fig3_fixed_points_match_closed_form(made):
    n = made("fig3")[0].numbers
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


def test_fig4_regimes_and_simulated_boundary(made):
    n = made("fig4")[0].numbers
    assert n["eta_c"] == pytest.approx(float(collapse_threshold(1.0, 0.0)))
    pm, pp = (float(v) for v in fixed_points(1.0, 0.0, 0.1))
    assert n["a_0_kind"] == "saddle-node" and n["a_p*+_kind"] == "stable"
    assert n["b_p*-"] == pytest.approx(pm) and n["b_p*+"] == pytest.approx(pp)
    assert (n["b_0_kind"], n["b_p*-_kind"], n["b_p*+_kind"]) == ("stable", "unstable", "stable")
    assert n["c_n_fixed_points"] == 1
    # The integrated mode ODEs split exactly at p*_- (within the spacing of the start grid).
    assert abs(n["b_sim_boundary"] - pm) < 0.035
    assert n["a_sim_survive_frac"] == 1.0 and n["c_sim_survive_frac"] == 0.0


def test_fig5_weight_decay_and_ema_trends(made):
    n = made("fig5")[0].numbers
    # Larger eta raises lambda_min(K) but collapses more modes and shrinks p_j.
    k_eta = [n[f"eta={e:g}_minK_min"] for e in (0.01, 0.04, 0.2)]
    assert k_eta == sorted(k_eta) and k_eta[-1] > 0 > k_eta[0]
    assert n["eta=0.2_n_collapsed"] > n["eta=0.04_n_collapsed"]
    assert n["eta=0.2_p_final_max"] < n["eta=0.04_p_final_max"] < n["eta=0.01_p_final_max"]
    # Survivors end at p*_+ of Eq. 16 with tau -> 1.
    assert n["eta=0.04_p_final_max"] == pytest.approx(float(fixed_points(1.0, 0.0, 0.04)[1]),
                                                      abs=1e-4)
    # Smaller beta raises lambda_min(K) but converges more slowly.
    k_beta = [n[f"beta={b:g}_minK_min"] for b in (0.04, 0.4, 4)]
    assert k_beta == sorted(k_beta, reverse=True)
    assert n["beta=0.04_t_converge"] > n["beta=0.4_t_converge"] >= n["beta=4_t_converge"]


def test_fig7_a1_correlation_stays_high(made):
    n = made("fig7")[0].numbers
    assert n["corr_min_overall"] > 0.9
    for eta in (0, 0.01, 0.1):
        for g in (0.9, 0.99, 0.996):
            assert n[f"eta={eta:g}_gamma={g:g}_corr_final_mean"] > 0.99
    # Slower EMA (gamma_a closer to 1) lags more.
    assert n["eta=0.1_gamma=0.996_corr_min"] < n["eta=0.1_gamma=0.9_corr_min"]


def test_fig8_skew_part_vanishes(made):
    n = made("fig8")[0].numbers
    assert n["B_final_over_B0_max"] < 0.05
    for eta in (0.001, 0.01, 0.05):
        for tau in (0.5, 1.0):
            assert n[f"eta={eta:g}_tau={tau:g}_B_final"] < 1e-4 * n[f"eta={eta:g}_tau={tau:g}_B0"]
    # A -> 0 for large eta / small tau (eta = 0.05 > tau^2/4 = 0.01), not for tau = 1.
    assert n["eta=0.05_tau=0.2_A_collapsed"] == "yes"
    assert n["eta=0.001_tau=1_A_collapsed"] == "no"


def test_fig9_commutator_grows_for_small_eta_large_tau(made):
    n = made("fig9")[0].numbers
    assert n["tau=2_eta=0_L_growth"] > 10 and n["tau=2_eta=0_Kmin_min"] < 0
    assert n["tau=2_eta=0_L_growth"] > n["tau=2_eta=0.1_L_growth"] > 1
    for tau in (0.5, 1, 2):
        assert n[f"tau={tau:g}_eta=0.5_L_growth"] == 1.0  # monotone decay from t = 0
        assert n[f"tau={tau:g}_eta=0.5_L_final_rel"] < 1e-6
    assert n["tau=0.5_eta=0.5_Kmin_min"] > 0


def test_fig10_scalar_model_fixed_points(made):
    n = made("fig10")[0].numbers
    ratio = n["lambda_d"] / n["lambda_s"]
    assert n["tied_n_stable"] == 1
    assert n["tied_stable_w"] == pytest.approx(ratio, abs=1e-9)
    assert n["tied_stable_wa"] == pytest.approx(ratio, abs=1e-9)
    assert n["tied_sim_final_max_dev"] < 1e-2
    assert n["tied_invariance_max_dev"] < 1e-12  # w = wp is invariant for alpha_p = 1
    assert n["left_origin_kind"] == "saddle"
    assert n["left_hyperbola_field_max"] < 1e-12 and n["left_final_wp_w_max_dev"] < 1e-3
    assert n["nopred_n_fixed"] == 1 and n["nopred_fp0_kind"] == "stable"
    assert abs(n["nopred_fp0_w"]) < 1e-9 and n["nopred_sim_final_abs_max"] < 1e-3


def test_make_figures_api(tmp_path):
    res = make_figures(["8"], tmp_path, quick=True)
    assert list(res) == ["fig8"]
    assert res["fig8"].png.exists()


def test_run_reproduce_quick(tmp_path):
    from dynamics.reproduce import run_reproduce

    only = ["directpred.theorem1_invariant", "directpred.collapse_threshold",
            "directpred.no_predictor_collapse"]
    lines: list[str] = []
    summary = run_reproduce(tmp_path, quick=True, log=lines.append, only=only)
    js = tmp_path / "summary.json"
    md = tmp_path / "summary.md"
    assert js.is_file() and md.is_file()
    data = json.loads(js.read_text())
    assert data == summary
    assert data["quick"] is True and data["all_checks_passed"] is True
    assert list(data["figures"]) == EXPECTED
    for name, fig in data["figures"].items():
        assert fig["numbers"], name
        for p in fig["paths"]:
            assert (tmp_path / "figures" / p.split("/")[-1]).is_file()
    checks = {c["name"]: c for c in data["checks"]}
    assert list(checks) == only  # the predictions of the registry, verified
    for name, chk in checks.items():
        assert chk["passed"] and chk["threshold"], (name, chk)
        assert name in md.read_text()
    assert data["verify"]["counts"]["confirmed"] == 3
    assert (tmp_path / "verify" / "report.md").is_file()
    assert any("summary.json" in line for line in lines)

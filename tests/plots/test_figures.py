"""Paper figures (dynamics.plots) and the one-command reproduction (dynamics.workflows.reproduce).

The registry, captions, the gallery, the tiers of run-based figures and ``reproduce``; the
facts each figure shows are tested in test_figures_modes.py, test_figures_matrix.py,
test_figures_beyond.py, test_figures_runs.py and test_figures_contrastive.py.
"""

from __future__ import annotations

import json

import pytest

from dynamics.errors import ConfigError
from dynamics.plots import FIGURES, make_figures, resolve_names
from dynamics.plots.base import FigureResult

THEORY = [n for n, spec in FIGURES.items() if not spec.run_based]
RUN_BASED = [n for n, spec in FIGURES.items() if spec.run_based]


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


def test_registry_names_and_specs():
    from dynamics.verify import PAPERS, PREDICTIONS

    assert {f"directpred_fig{n}" for n in range(2, 11)} | {
        "dual_networks_hltm", "dual_networks_covop_spectrum", "alignment_uniformity_scatter",
        "alignment_uniformity_circle", "bridge_linear", "directpred_phase_eta_alpha_p",
        "directpred_phase_eta_beta"} <= set(FIGURES)
    for name, spec in FIGURES.items():
        assert spec.name == name and spec.title and spec.paper in PAPERS
        assert callable(spec.load())
        # Each figure is the visual form of registered predictions.
        assert spec.predictions and all(p in PREDICTIONS for p in spec.predictions), name
        if spec.run_based:
            for tier in ("smoke", "cpu"):
                specs = spec.runs_for(tier)
                assert specs and len({s.name() for s in specs}) == len(specs), (name, tier)
        else:
            assert spec.runs_for("cpu") == []
    assert resolve_names(None) == list(FIGURES) == resolve_names("all")
    # the paper's figure numbers are aliases of DirectPred's figures
    assert resolve_names(["3", "fig03", "FIG10", "directpred_fig3",
                          "alignment_uniformity_circle"]) == [
        "directpred_fig3", "directpred_fig10", "alignment_uniformity_circle"]
    for bad in (["fig1"], ["fig11"], ["circle"], ["wi_circle"], ["halvagal_modes"]):
        with pytest.raises(ConfigError, match="figure: unknown figure"):
            resolve_names(bad)


def test_run_based_figures_share_the_predictions_runs():
    """A run-based figure reads the same run folders as the predictions it draws, whenever
    those predictions need runs at that tier (one training run serves both)."""
    from dynamics.verify.registry import PREDICTIONS

    for name in RUN_BASED:
        spec = FIGURES[name]
        for tier in ("smoke", "cpu"):
            mine = {s.name() for s in spec.runs_for(tier)}
            theirs = {s.name() for p in spec.predictions
                      for s in PREDICTIONS[p].runs_for(tier)}
            if theirs:
                assert mine & theirs, (name, tier)


def test_caption_file_and_gallery(tmp_path):
    from dynamics.plots.gallery import END, START, write_gallery

    res = make_figures(["directpred_fig10"], tmp_path / "figs", quick=True)["directpred_fig10"]
    _check_files(res, tmp_path / "figs")
    cap = res.caption_path
    assert cap == tmp_path / "figs" / "directpred_fig10.caption.md" and cap.is_file()
    text = cap.read_text()
    assert res.caption and res.caption.strip()[:40] in text
    assert "Settings:" in text and "ssl-dynamics figures directpred_fig10 --tier smoke" in text
    assert "`directpred.appendix_d_scalar`" in text
    readme = tmp_path / "README.md"
    readme.write_text("# Figures\n\nintro\n\n" + START + "\nOLD BODY\n" + END + "\n\ntail\n")
    write_gallery(readme, {"directpred_fig10": res}, "ssl-dynamics figures fig10",
                  skipped={"directpred_fig2": "needs runs"})
    out = readme.read_text()
    assert out.startswith("# Figures\n\nintro") and out.rstrip().endswith("tail")
    assert "OLD BODY" not in out and "![directpred_fig10](figs/directpred_fig10.png)" in out
    assert res.caption.strip()[:40] in out and "Not in the gallery: needs runs." in out
    assert out.count(START) == 1 and out.count(END) == 1
    # A later command that makes another figure keeps fig10's entry (the folder's index).
    import shutil

    from dynamics.plots.base import FigureResult

    other = [tmp_path / "figs" / f"directpred_fig4.{ext}" for ext in ("png", "pdf")]
    for src, dst in zip(res.paths, other, strict=True):
        shutil.copy(src, dst)
    (tmp_path / "figs" / "directpred_fig4.caption.md").write_text("**Fig. 4.** flow\n")
    write_gallery(readme, {"directpred_fig4": FigureResult("directpred_fig4", other, {})},
                  "ssl-dynamics figures fig4")
    out = readme.read_text()
    assert out.index("![directpred_fig4]") < out.index("![directpred_fig10]")  # registry order
    assert "**Fig. 4.** flow" in out
    assert ("Not in the gallery: not made yet (`ssl-dynamics figures directpred_fig2 --tier cpu "
            "--data-root") in out
    (tmp_path / "figs" / "directpred_fig4.png").unlink()  # gone: dropped from the gallery
    write_gallery(readme, {"directpred_fig10": res})
    text = readme.read_text()
    assert "![directpred_fig4]" not in text and "![directpred_fig10]" in text


def test_cpu_tier_run_figures_need_data_or_runs(tmp_path):
    """Asked for by name, a cpu-tier run-based figure without real images and without its runs
    is a one-line error before any work; with every figure requested it is skipped."""
    with pytest.raises(ConfigError, match="data_root: figure directpred_fig2 needs"):
        make_figures(["directpred_fig2"], tmp_path / "o", tier="cpu", runs_dir=tmp_path / "runs")
    assert not list((tmp_path / "o").glob("*.png"))
    from dynamics.plots import _prepare_runs

    skipped: dict[str, str] = {}
    ctxs = _prepare_runs(["directpred_fig2"], "cpu", tmp_path / "runs", None, 1, "cpu", False,
                         skipped,
                         None)
    assert ctxs == {} and "pass --data-root" in skipped["directpred_fig2"]
    with pytest.raises(ConfigError, match="tier: must be one of smoke, cpu"):
        make_figures(["directpred_fig8"], tmp_path / "o", tier="paper")


def test_make_figures_api(tmp_path):
    lines: list[str] = []
    res = make_figures(["10"], tmp_path, quick=True, log=lines.append)
    assert list(res) == ["directpred_fig10"]
    assert res["directpred_fig10"].png.exists() and res["directpred_fig10"].caption_path.exists()
    assert lines and lines[0].startswith("directpred_fig10: ")


@pytest.mark.integration  # end to end (pytest -m integration)
def test_run_reproduce_quick(tmp_path):
    from dynamics.workflows.reproduce import run_reproduce

    only = ["directpred.theorem1_invariant", "directpred.collapse_threshold",
            "directpred.no_predictor_collapse"]
    lines: list[str] = []
    summary = run_reproduce(tmp_path, quick=True, log=lines.append, only=only,
                            figures=["directpred_fig4", "directpred_fig10"])
    js = tmp_path / "summary.json"
    md = tmp_path / "summary.md"
    assert js.is_file() and md.is_file()
    data = json.loads(js.read_text())
    assert data == summary
    assert data["quick"] is True and data["all_checks_passed"] is True
    assert list(data["figures"]) == ["directpred_fig4", "directpred_fig10"]
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


@pytest.mark.integration  # end to end (pytest -m integration)
def test_figures_command_writes_the_gallery(tmp_path, capsys):
    """`ssl-dynamics figures NAME --gallery README.md`: the figure, its caption, the saved
    config and the gallery entry, from the command line."""
    from dynamics.cli import main

    readme = tmp_path / "README.md"
    assert main(["figures", "directpred_fig10", "--quick", "--out", str(tmp_path / "g"),
                 "--gallery", str(readme)]) == 0
    text = readme.read_text()
    assert "![directpred_fig10](g/directpred_fig10.png)" in text
    assert "Last updated by `ssl-dynamics figures directpred_fig10 --tier cpu --quick --out" in text
    assert (tmp_path / "g" / "directpred_fig10.caption.md").is_file()
    assert (tmp_path / "g" / "config.yaml").is_file()
    assert (tmp_path / "g" / "gallery.json").is_file()
    assert "gallery: " in capsys.readouterr().out

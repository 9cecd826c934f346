"""Figures of the theories beyond DirectPred (dimensional collapse, deep linear JEPA) at quick
size: files, caption, and the facts each figure states, checked against the theory."""

from __future__ import annotations

import pytest

from dynamics.plots import FIGURES
from dynamics.theories.deep_jepa import model as dj
from dynamics.theories.dimensional_collapse import toys as ct


@pytest.mark.slow  # about 45 s for both; the toys they draw run in the smoke verify test
@pytest.mark.parametrize("name", ["dimensional_collapse_linear", "deep_jepa_critical_times"])
def test_theory_figure_files_and_caption(name, tmp_path):
    res = FIGURES[name].make(tmp_path, quick=True)
    assert res.png.name == f"{name}.png" and res.png.stat().st_size > 10_000
    assert res.pdf.exists() and res.caption and res.settings
    n = res.numbers
    if name == "dimensional_collapse_linear":
        # the toys' SGD against the large-batch law and the two-layer collapse
        assert n["spectrum_max_rel_dev"] < 0.15
        assert n["collapsed_one_layer_sgd"] == 0 and n["collapsed_two_layers_sgd"] >= 2
        assert n["collapsed_two_layers_flow"] >= 2
        assert f"{ct.TAU_TOY:g}" in str(res.settings["tau"])
    else:
        table = dj.order_table()
        assert n["jepa_ratio_L1"] == pytest.approx(table["jepa_ratio"][0])
        assert n["jepa_ratio_L1"] < 1 < n["jepa_ratio_L6"]
        assert n["sgd_jepa_ratio_L6"] == pytest.approx(n["jepa_ratio_L6"], rel=0.05)
        assert n["mae_ratio_L6"] < 1

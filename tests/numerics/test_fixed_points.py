"""One fixed-point type and one meaning per name (dynamics.numerics.fixed_point).

The numeric phase-portrait code (phase.mode_fixed_points / parabola_fixed_points, Tian, Chen &
Ganguli 2021, Eqs. 11-12 and Eq. 16) and the sympy analysis
(symbolic.mode_fixed_points_symbolic / parabola_fixed_points_symbolic) return the same
FixedPoint type with the same labels, and agree on locations, eigenvalues and stability."""

import ast
import json
import math
from pathlib import Path

import numpy as np
import pytest

from dynamics.numerics import fixed_point
from dynamics.theories.directpred import phase, symbolic
from dynamics.theories.directpred.closed_form import collapse_threshold
from dynamics.theories.directpred.phase import portrait as phase_portrait
from dynamics.theories.directpred.symbolic import fixed_points as symbolic_fixed_points

PKG = Path(__file__).resolve().parents[2] / "dynamics"

# (tau, sigma2, alpha_p, eta as a fraction of the collapse threshold tau^2/(4(1+sigma2)))
CASES = [
    (1.0, 0.0, 1.0, 0.4),
    (1.3, 0.4, 0.7, 0.2),
    (0.8, 2.0, 3.0, 0.9),
    (1.7, 0.25, 0.5, 0.02),
    (1.0, 0.5, 1.0, 1.5),  # above the threshold: only the origin
    (1.2, 0.25, 2.0, 0.0),  # eta = 0: lines of fixed points
]


def _params(tau, sigma2, alpha_p, frac):
    return {"tau": tau, "sigma2": sigma2, "alpha_p": alpha_p,
            "eta": frac * float(collapse_threshold(tau, sigma2))}


def test_one_fixed_point_type():
    assert phase.FixedPoint is fixed_point.FixedPoint
    assert symbolic.FixedPoint is fixed_point.FixedPoint
    par = _params(1.0, 0.0, 1.0, 0.4)
    numeric = phase.mode_fixed_points(**par) + phase.parabola_fixed_points(
        tau=par["tau"], eta=par["eta"], sigma2=par["sigma2"])
    sym = (symbolic.mode_fixed_points_symbolic().points
           + symbolic.mode_fixed_points_symbolic(eta_zero=True).points
           + symbolic.parabola_fixed_points_symbolic().points)
    for pt in numeric + sym:
        assert type(pt) is fixed_point.FixedPoint
        assert pt.kind in fixed_point.KINDS
        json.dumps(pt.to_dict())


def _assert_same(num, sym):
    assert [f.label for f in num] == [f.label for f in sym]
    for a, b in zip(num, sym, strict=True):
        assert type(a) is type(b) is fixed_point.FixedPoint
        assert a.kind == b.kind, a.label
        assert a.free == b.free and a.isolated == b.isolated
        assert sorted(a.coords) == sorted(b.coords)
        for name in a.coords:
            np.testing.assert_allclose(a.coord(name), b.coord(name), rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(a.eigenvalues, b.eigenvalues, rtol=1e-9, atol=1e-12)
        if a.isolated:
            np.testing.assert_allclose(a.jacobian, b.jacobian, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("case", CASES)
def test_numeric_and_symbolic_mode_fixed_points_agree(case):
    par = _params(*case)
    num = phase.mode_fixed_points(**par)
    analysis = symbolic.mode_fixed_points_symbolic(eta_zero=par["eta"] == 0)
    _assert_same(num, analysis.at(**par))
    if par["eta"] == 0:
        # The numeric lines' transverse stability per segment = the symbolic normal stability.
        for f in num:
            for lo, hi, kind in f.segments:
                mid = (max(lo, -5.0) + min(hi, 5.0)) / 2
                assert analysis.classify(f.label, **{f.parameter: mid}, **par) == kind


@pytest.mark.parametrize("case", CASES)
def test_numeric_and_symbolic_parabola_fixed_points_agree(case):
    par = _params(*case)
    num = phase.parabola_fixed_points(tau=par["tau"], eta=par["eta"], sigma2=par["sigma2"])
    sym = symbolic.parabola_fixed_points_symbolic(eta_zero=par["eta"] == 0).at(**par)
    _assert_same(num, sym)
    for f in num:
        assert f.derivative == pytest.approx(float(f.eigenvalues[0].real), abs=0)


def test_expected_labels_and_kinds():
    par = _params(1.0, 0.0, 1.0, 0.4)
    fps = phase.mode_fixed_points(**par)
    assert [(f.label, f.kind) for f in fps] == [
        ("origin", "stable"), ("p_minus", "saddle"), ("p_plus", "stable")]
    at = phase.mode_fixed_points(**_params(1.0, 0.1, 1.0, 1.0))
    assert [(f.label, f.kind) for f in at] == [("origin", "stable"), ("p_double", "saddle-node")]
    lines = phase.mode_fixed_points(**_params(1.0, 0.25, 1.0, 0.0))
    assert [(f.label, f.parameter, f.line) for f in lines] == [
        ("collapsed", "p", "s = 0"), ("noncollapsed", "s", "p = tau/(1+sigma2)")]
    assert math.isnan(lines[0].p) and math.isnan(lines[1].s)
    sym = symbolic.mode_fixed_points_symbolic(eta_zero=True)
    assert [pt.kind for pt in sym.points] == ["non-isolated", "non-isolated"]
    assert all(pt.kind == "unclassified" for pt in symbolic.mode_fixed_points_symbolic().points)


def _top_level_names(path: Path) -> set[str]:
    names = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    return names


def test_one_name_one_meaning():
    defined: dict[str, list[str]] = {}
    for f in PKG.rglob("*.py"):
        for name in _top_level_names(f):
            defined.setdefault(name, []).append(str(f.relative_to(PKG.parent)))
    for name in ("FixedPoint", "mode_fixed_points", "parabola_fixed_points",
                 "mode_fixed_points_symbolic", "parabola_fixed_points_symbolic"):
        assert len(defined.get(name, [])) == 1, (name, defined.get(name))
    for old in ("ParabolaFixedPoint", "mode_fixed_points_numeric"):
        assert old not in defined, (old, defined[old])
    # The symbolic module no longer has names that mean something else in
    # dynamics.theories.directpred.phase.
    for name in ("mode_fixed_points", "parabola_fixed_points"):
        assert not hasattr(symbolic, name)
        assert not hasattr(symbolic_fixed_points, name)
        assert getattr(phase, name) is getattr(phase_portrait, name)


def test_no_submodule_shadows_a_package_name():
    """Importing a submodule sets an attribute of the package: no theory module may be named
    like a name the package exports (e.g. ``dynamics.theories.directpred.fixed_points``, the
    function of closed_form)."""
    import importlib
    import types

    import dynamics.theories.directpred as theory

    for f in (PKG / "theory").glob("*.py"):
        importlib.import_module(f"dynamics.theories.directpred.{f.stem}")
    assert theory.fixed_points is theory.closed_form.fixed_points
    for name in theory.__all__:
        assert not isinstance(getattr(theory, name), types.ModuleType), name

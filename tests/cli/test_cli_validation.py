"""Bad input to the theory commands (simulate modes|matrix|phase, figures, reproduce): exit code
2 and ONE stderr line ``ssl-dynamics: error: <field>: ...`` before any computation or file is
written; no traceback, no numpy warning. Plus the limits module (memory estimate, t_end bound)
and the progress of ``simulate phase``."""

from __future__ import annotations

import argparse
import os
import re
import warnings
from pathlib import Path

import pytest

import dynamics.cli.phase as cli_phase
import dynamics.theories.directpred.matrix_flow as matrix_flow
import dynamics.theories.directpred.modes as modes
import dynamics.theories.directpred.phase as phase
import dynamics.theories.directpred.phase.mode_collapse as phase_collapse
from dynamics import resources
from dynamics.cli import build_parser, main
from dynamics.errors import ConfigError
from dynamics.locks import FolderLock
from dynamics.theories.directpred.parameters import PARAMETERS

PROC = "/proc/ssl_dynamics_test"  # not creatable, even for root


@pytest.fixture
def no_work(monkeypatch):
    """Any integration, figure or reproduction started makes the test fail."""

    def fail(*a, **k):
        raise AssertionError("work started before the input was checked")

    import dynamics.plots
    import dynamics.workflows.reproduce

    monkeypatch.setattr(modes, "simulate_modes", fail)
    monkeypatch.setattr(phase_collapse, "simulate_modes", fail)
    monkeypatch.setattr(matrix_flow, "simulate_matrix", fail)
    monkeypatch.setattr(dynamics.plots, "make_figures", fail)
    monkeypatch.setattr(dynamics.workflows.reproduce, "_reproduce", fail)


def leaf_options(argv: list[str]) -> set[str]:
    """Option strings of the sub-command ``argv`` selects."""
    node = build_parser()
    for word in argv:
        subs = [a for a in node._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs or word not in subs[0].choices:
            break
        node = subs[0].choices[word]
    return {o for a in node._actions for o in a.option_strings}


def refused(argv: list[str], field: str, capsys, *, hints: bool = True) -> str:
    """Run ``main(argv)``: exit code 2, nothing on stdout, exactly one stderr line naming
    ``field``, no warning, and (``hints``) every ``--option`` the line names exists. Returns
    the line."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse errors
            code = exc.code
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert code == 2, err
    assert out == ""
    assert len(lines) == 1, err
    assert lines[0].startswith(f"ssl-dynamics: error: {field}: "), lines[0]
    assert not caught, [str(w.message) for w in caught]
    if hints:
        named = set(re.findall(r"--[a-z][a-z0-9-]*", lines[0]))
        assert named <= leaf_options(argv), (named, lines[0])
    return lines[0]


def out_args(tmp_path: Path, name: str = "x.npz") -> tuple[list[str], Path]:
    """``--out`` in a folder that does not exist yet (a check that writes would create it)."""
    path = tmp_path / "sub" / name
    return ["--out", str(path)], path


# --------------------------------------------------------------------------------------------
# 1. NaN / Inf / out-of-range values


@pytest.mark.parametrize("extra,field", [
    (["--p0", "nan"], "p0"), (["--p0", "inf"], "p0"), (["--p0", "1e200"], "p0"),
    (["--tau0", "nan"], "tau0"), (["--tau0", "-inf"], "tau0"),
    (["--s0", "nan"], "s0"), (["--s0", "inf"], "s0"),
    (["--beta", "nan"], "beta"), (["--beta", "inf"], "beta"),
    (["--beta", "0.5", "--tau0", "nan"], "tau0"),
    (["--eta", "nan"], "eta"), (["--sigma2", "1e300"], "sigma2"),
    (["--s-tol", "nan"], "s_tol"), (["--n-save", "1"], "n_save"),
])
def test_modes_bad_values(extra, field, tmp_path, capsys, no_work):
    out, path = out_args(tmp_path)
    refused(["simulate", "modes", *extra, *out], field, capsys)
    assert not path.parent.exists()


@pytest.mark.parametrize("extra,field", [
    (["--seed", "-1"], "seed"), (["--alpha-p", "inf"], "alpha_p"),
    (["--sigma2", "1e300"], "sigma2"), (["--eta", "1e300"], "eta"),
    (["--init-scale", "1e200"], "init_scale"), (["--n1", "0"], "n1"),
])
def test_matrix_bad_values(extra, field, tmp_path, capsys, no_work):
    out, path = out_args(tmp_path)
    refused(["simulate", "matrix", *extra, *out], field, capsys)
    assert not path.parent.exists()


@pytest.mark.parametrize("extra,field", [
    (["--kind", "hyper", "--seed", "-1"], "seed"),
    (["--s0-range", "0", "inf"], "s0_range"),
    (["--s0-range", "nan", "1"], "s0_range"),
    (["--p0-range", "0", "inf"], "p0_range"),
    (["--p0-range", "-1e300", "0"], "p0_range"),
    (["--kind", "hyper", "--x", "eta", "0", "inf", "5"], "x"),
    (["--kind", "hyper", "--x", "eta", "-1", "0.4", "5"], "x"),
    (["--kind", "hyper", "--y", "alpha_p", "0", "1", "5"], "y"),
    (["--kind", "hyper", "--x", "tau", "0", "1", "5", "--beta", "0.5"], "x"),
    (["--kind", "hyper", "--x", "eta", "0", "1", "5", "--y", "eta", "0", "1", "5"], "y"),
    (["--kind", "hyper", "--init-scale", "inf"], "init_scale"),
    (["--beta", "0.5", "--tau0", "nan"], "tau0"),
    (["--tau0", "0.5"], "tau0"),
    (["--tau", "nan"], "tau"),
    (["--grid", "1"], "grid"),
])
def test_phase_bad_values(extra, field, tmp_path, capsys, no_work):
    out, path = out_args(tmp_path)
    refused(["simulate", "phase", *extra, *out], field, capsys)
    assert not path.parent.exists()


# --------------------------------------------------------------------------------------------
# 3. t_end is bounded


@pytest.mark.parametrize("command", ["modes", "matrix", "phase"])
def test_t_end_bounded(command, tmp_path, capsys, no_work):
    out, path = out_args(tmp_path)
    line = refused(["simulate", command, "--t-end", "1e300", *out], "t_end", capsys)
    assert f"at most {resources.T_END_LIMIT:g}" in line
    assert not path.parent.exists()
    with pytest.raises(SystemExit):
        main(["simulate", command, "--help"])
    assert f"{resources.T_END_LIMIT:g}]" in capsys.readouterr().out


def test_t_end_limit_keeps_existing_horizons():
    t_end = PARAMETERS["t_end"]
    t_end.check(resources.T_END_LIMIT, limits=True)
    t_end.check(phase.T_END_MAX, limits=True)  # longest default horizon
    with pytest.raises(ConfigError, match="t_end: must be at most"):
        t_end.check(2 * resources.T_END_LIMIT, limits=True)
    with pytest.raises(ConfigError, match=r"t_end: must be in \(0, inf\)"):
        t_end.check(0.0, limits=True)


def test_each_model_parameter_has_one_contract(capsys):
    """eta's meaning, range and limit are stated once: the help of every command, the
    simulations' checks and the commands' limits read the same entry."""
    from dynamics.cli import main
    from dynamics.theories.directpred.matrix_flow import MatrixFlowConfig

    eta = PARAMETERS["eta"]
    for command in (["simulate", "modes"], ["simulate", "matrix"], ["simulate", "phase"]):
        with pytest.raises(SystemExit):
            main([*command, "--help"])
        assert " ".join(capsys.readouterr().out.split()).count(eta.help) == 1, command
    for check in (lambda: modes.validate_mode_inputs(s0=0.5, alpha_p=1, eta=-1, sigma2=0,
                                                      beta=None, t_end=1),
                  lambda: MatrixFlowConfig(eta=-1)):
        with pytest.raises(ConfigError, match=r"^eta: must be in \[0, inf\)"):
            check()
    with pytest.raises(ConfigError, match="^eta: must be at most 1e"):
        modes.validate_mode_inputs(s0=0.5, alpha_p=1, eta=2 * resources.PARAM_LIMIT,
                                   sigma2=0, beta=None, t_end=1, limits=True)


# --------------------------------------------------------------------------------------------
# 4. memory, estimated before allocating


@pytest.mark.parametrize("command,extra,field", [
    ("phase", ["--grid", "50000"], "grid"),
    ("phase", ["--kind", "hyper", "--x", "eta", "0", "1", "2000000"], "x"),
    ("matrix", ["--n1", "100000"], "n1"),
    ("matrix", ["--n1", "400", "--method", "Radau"], "method"),
    ("matrix", ["--n1", "20", "--n-save", "2000000000"], "n_save"),
    ("modes", ["--n-save", "5000000000"], "n_save"),
])
def test_memory_refused_before_allocating(command, extra, field, tmp_path, capsys, no_work):
    out, path = out_args(tmp_path)
    line = refused(["simulate", command, *extra, *out], field, capsys)
    assert re.search(r"need about [\d.]+ [KMGT]iB, more than the [\d.]+ [KMGT]?i?B available",
                     line), line
    assert not path.parent.exists()


def test_memory_estimates_and_check():
    gib = 2**30
    assert resources.format_bytes(560 * gib) == "560 GiB"
    assert resources.format_bytes(22.1 * gib) == "22.1 GiB"
    assert resources.format_bytes(512) == "512 B"
    avail = resources.available_memory()
    assert avail is None or avail > 0
    # 1e6 modes x 2 saved points: a few hundred MiB; 2.5e9 (a 50000^2 grid): ~1 TiB
    assert 100 * 2**20 < resources.mode_batch_bytes(1e6, 2) < 2 * gib
    assert resources.mode_batch_bytes(2.5e9, 2, working=65536) > 500 * gib
    assert resources.mode_batch_bytes(10, 1000) < resources.mode_batch_bytes(10, 2000)
    small, big = resources.matrix_flow_bytes(8, 8, 201), resources.matrix_flow_bytes(1e5, 1e5, 2)
    assert small < 4 * 2**20 and big > 1e5**2 * 8 * 6
    assert (resources.matrix_flow_bytes(50, 50, 2, implicit=True)
            > 10 * resources.matrix_flow_bytes(50, 50, 2))
    resources.check_memory("grid", 1e9, "x", "y", available=2 * 10**9)
    with pytest.raises(ConfigError) as exc:
        resources.check_memory("grid", 3 * gib, "2 x 2 points", "use a smaller --grid",
                               available=gib)
    assert str(exc.value) == ("grid: 2 x 2 points need about 3 GiB, more than the 1 GiB "
                              "available; use a smaller --grid")
    assert resources.fits(1.0, None) or resources.available_memory() is None


# --------------------------------------------------------------------------------------------
# 6. output places checked before any work


@pytest.fixture
def afile(tmp_path) -> Path:
    f = tmp_path / "afile"
    f.write_text("x")
    return f


@pytest.mark.parametrize("command", ["modes", "matrix", "phase"])
def test_simulate_output_under_a_file(command, afile, capsys, no_work):
    line = refused(["simulate", command, "--out", str(afile / "x.npz")], "out", capsys)
    assert "is a file" in line and afile.read_text() == "x"


@pytest.mark.parametrize("command", ["modes", "matrix", "phase"])
def test_simulate_output_unwritable(command, capsys, no_work):
    line = refused(["simulate", command, "--out", f"{PROC}/out.npz"], "out", capsys)
    assert "cannot create" in line and not Path(PROC).exists()


def test_phase_picture_place_checked(tmp_path, capsys, no_work):
    (tmp_path / "d.png").mkdir()  # the PNG written next to d.npz would have to go there
    line = refused(["simulate", "phase", "--out", str(tmp_path / "d.npz")], "out", capsys)
    assert "d.png" in line and "is a folder" in line
    assert not (tmp_path / "d.npz").exists()


@pytest.mark.parametrize("command", [["figures", "directpred_fig3"], ["reproduce", "--quick"]])
def test_figures_and_reproduce_output_checked(command, afile, capsys, no_work):
    line = refused([*command, "--out", str(afile)], "out", capsys)
    assert "is a file" in line
    refused([*command, "--out", str(afile / "sub")], "out", capsys)
    line = refused([*command, "--out", PROC], "out", capsys)
    assert "cannot create" in line and not Path(PROC).exists()


def test_make_figures_checks_its_folder(afile):
    from dynamics.plots import make_figures

    with pytest.raises(ConfigError, match="out_dir: .* is a file"):
        make_figures(["directpred_fig3"], afile, quick=True)


# --------------------------------------------------------------------------------------------
# 7. one reproduce per output folder


def test_reproduce_refused_while_folder_locked(tmp_path, capsys, no_work):
    out = tmp_path / "res"
    with FolderLock(out, field="out", what="output folder"):
        # (the line quotes the holder's command line: pytest's options, not ours)
        line = refused(["reproduce", "--quick", "--out", str(out)], "out", capsys, hints=False)
    assert "in use by" in line and f"process {os.getpid()}" in line
    assert not (out / "figures").exists() and not (out / "summary.json").exists()


# --------------------------------------------------------------------------------------------
# 8. progress of simulate phase


def test_phase_progress_lines_and_quiet(tmp_path, capsys, monkeypatch):
    import dynamics.theories.directpred.figures.diagrams as diagrams

    monkeypatch.setattr(phase_collapse, "CHUNK", 40)
    monkeypatch.setattr(cli_phase.Progress, "line_every_s", 0.0)
    monkeypatch.setattr(diagrams, "plot_basin", lambda d, png: [png])  # (speed)
    argv = ["simulate", "phase", "--grid", "11", "--t-end", "5", "--out",
            str(tmp_path / "b.npz")]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert out.startswith("phase basin: 11x11 grid")
    assert len(lines) == 4 and lines[-1].startswith("phase basin: 100% of 121 trajectories")
    assert all("elapsed" in x and "left" in x for x in lines)
    assert build_parser().parse_args(["simulate", "phase", "--quiet"]).quiet
    quiet = cli_phase.Progress("phase basin", quiet=True)
    for done in (0, 40, 121):
        quiet(done, 121)
    assert capsys.readouterr().err == ""


def test_chunked_phase_equals_one_batch(monkeypatch):
    import numpy as np

    p0, s0 = np.linspace(-1, 2, 9), np.linspace(0, 2, 7)
    whole = phase.basin_grid(p0, s0, eta=0.05, t_end=50)
    calls = []
    monkeypatch.setattr(phase_collapse, "CHUNK", 10)
    parts = phase.basin_grid(p0, s0, eta=0.05, t_end=50,
                             progress=lambda d, t: calls.append((d, t)))
    assert calls[0] == (0, 63) and calls[-1] == (63, 63) and len(calls) == 8
    np.testing.assert_allclose(parts.s, whole.s, rtol=1e-12, atol=1e-14)
    assert np.array_equal(parts.collapsed, whole.collapsed)


# --------------------------------------------------------------------------------------------
# hints name options that exist


def test_option_names_come_from_the_parser():
    args = build_parser().parse_args(["simulate", "modes"])
    assert args.opt("n_save") == "--n-save" and args.opt("p0") == "--p0"
    args = build_parser().parse_args(["simulate", "phase"])
    assert args.opt("grid") == "--grid" and args.opt("n_modes") == "--n-modes"
    assert "opt" not in __import__("dynamics.cli", fromlist=["x"])._jsonable_args(args)

"""The command line: simulations write files and one-line summaries; bad input gets one line
and exit code 2."""

import json
import subprocess
import sys

import numpy as np
import pytest

from dynamics.cli import main
from dynamics.io import load_arrays


def run(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_modes_writes_each_format(tmp_path, capsys):
    for suffix in (".json", ".csv", ".npz"):
        out_file = tmp_path / f"traj{suffix}"
        code, out, err = run(["simulate", "modes", "--p0", "0.2", "0.8", "--s0", "0.1",
                              "--eta", "0.01", "--t-end", "50", "--n-save", "11", "--out",
                              str(out_file)], capsys)
        assert code == 0, err
        assert out.count("\n") == 1 and "modes: 2 mode(s)" in out and "invariant error" in out
        assert out_file.stat().st_size > 0
    arrays, meta = load_arrays(tmp_path / "traj.npz")
    assert arrays["p"].shape == (11, 2) and meta["command"] == "simulate modes"
    header = (tmp_path / "traj.csv").read_text().splitlines()
    assert any(line.startswith("t,p[0],p[1],s[0]") for line in header)
    js = json.loads((tmp_path / "traj.json").read_text())
    assert len(js["arrays"]["t"]) == 11


def test_modes_summary_reports_collapse(capsys):
    # eta above tau^2/(4(1+sigma2)) = 0.25: every mode collapses
    code, out, _ = run(["simulate", "modes", "--p0", "0.5", "0.9", "--s0", "0.25", "--eta",
                        "0.3", "--t-end", "200"], capsys)
    assert code == 0 and "collapsed (s < 1e-06): 2/2" in out


def test_matrix_run_and_summary(tmp_path, capsys):
    out_file = tmp_path / "m.npz"
    code, out, err = run(["simulate", "matrix", "--n1", "5", "--n2", "3", "--t-end", "5",
                          "--n-save", "6", "--out", str(out_file)], capsys)
    assert code == 0, err
    assert "invariant error max=" in out and "status: completed" in out
    arrays, meta = load_arrays(out_file)
    assert arrays["W"].shape == (6, 3, 5)
    assert np.nanmax(arrays["invariant_residual"]) < 1e-8
    code, out, _ = run(["simulate", "matrix", "--n1", "4", "--target", "simsiam",
                        "--no-stop-grad", "--t-end", "60", "--sigma2", "0.3"], capsys)
    assert code == 0 and "collapsed=True" in out


def test_matrix_reads_X_from_file(tmp_path, capsys):
    X = np.diag([1.0, 2.0, 0.5])
    np.save(tmp_path / "X.npy", X)
    (tmp_path / "Xp.json").write_text(json.dumps((0.1 * np.eye(3)).tolist()))
    code, out, err = run(["simulate", "matrix", "--X", str(tmp_path / "X.npy"), "--Xprime",
                          str(tmp_path / "Xp.json"), "--t-end", "2"], capsys)
    assert code == 0, err and "n1=3" in out


def test_config_file_and_override(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("p0: [0.3]\ns0: [0.2]\neta: 0.3\nt_end: 100\n")
    code, out, _ = run(["simulate", "modes", "--config", str(cfg)], capsys)
    assert code == 0 and "collapsed (s < 1e-06): 1/1" in out
    code, out, _ = run(["simulate", "modes", "--config", str(cfg), "--eta", "0.0"], capsys)
    assert code == 0 and "collapsed (s < 1e-06): 0/1" in out


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["simulate", "modes", "--sigma2", "-1"], "sigma2: must be in [0, inf), got -1"),
        (["simulate", "modes", "--t-end", "0"], "t_end: must be in (0, inf)"),
        (["simulate", "modes", "--p0", "1", "2", "--s0", "1", "2", "3"], "s0: needs 1 value"),
        (["simulate", "modes", "--out", "x.txt"], "out: must end in one of .json, .csv, .npz"),
        (["simulate", "modes", "--eta", "abc"], "argument --eta: invalid float value"),
        (["simulate", "modes", "--bogus", "1"], "unrecognized arguments: --bogus"),
        (["simulate", "matrix", "--predictor", "mlp"],
         "predictor: must be one of learned, identity, symmetric"),
        (["simulate", "matrix", "--no-stop-grad"], "stop_grad: false requires target=simsiam"),
        (["simulate", "matrix", "--beta", "0"], "beta: must be in (0, inf), got 0"),
        (["simulate", "matrix", "--X", "missing.npy"], "X: file not found"),
        (["simulate", "modes", "--device", "tpu"], "device: must be one of cpu, cuda"),
        (["figures", "fig99"], "figure: unknown figure 'fig99'"),
    ],
)
def test_bad_input_is_one_line_exit_2(argv, needle, capsys):
    with pytest.raises(SystemExit) as exc:
        sys.exit(main(argv))
    assert exc.value.code == 2
    _, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ssl-dynamics: error: "), err
    assert needle in lines[0]


def test_non_psd_X_rejected(tmp_path, capsys):
    np.save(tmp_path / "X.npy", np.array([[1.0, 0.0], [0.0, -1.0]]))
    code, _, err = run(["simulate", "matrix", "--X", str(tmp_path / "X.npy")], capsys)
    assert code == 2 and "X: must be positive semi-definite" in err


def test_unknown_config_key(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("etaa: 0.1\n")
    code, _, err = run(["simulate", "modes", "--config", str(cfg)], capsys)
    assert code == 2 and "etaa: unknown key; allowed: p0, s0, alpha_p, eta" in err


def test_blowup_keeps_partial_output(tmp_path, capsys):
    """s grows from 1 towards 1.64 for p0 = 0.6; a blow-up limit of 1.2 on sqrt(s) stops the
    run, keeps the computed part, says so on stderr and exits 1."""
    out_file = tmp_path / "b.npz"
    code, out, err = run(["simulate", "modes", "--p0", "0.6", "--s0", "1", "--t-end", "20",
                          "--n-save", "21", "--blowup", "1.2", "--out", str(out_file)], capsys)
    assert code == 1 and "stopped early" in err and "blow-up" in err
    arrays, _ = load_arrays(out_file)
    s = arrays["s"][:, 0]
    assert np.isfinite(s[0]) and np.isnan(s[-1]) and np.nanmax(s) <= 1.2**2
    # small init, eta = 0: the weights grow (s_j -> s_j(0) + p_inf^2 - p_j(0)^2), past 0.3
    code, out, err = run(["simulate", "matrix", "--n1", "3", "--init-scale", "0.1", "--eta",
                          "0", "--blowup", "0.3", "--t-end", "40", "--out",
                          str(tmp_path / "m.npz")], capsys)
    assert code == 1 and "blow-up" in err
    arrays, _ = load_arrays(tmp_path / "m.npz")
    assert np.all(np.isfinite(arrays["W"])) and 0 < arrays["t"][-1] < 40
    assert np.abs(arrays["W"]).max() <= 0.3


@pytest.mark.integration  # end to end (pytest -m integration)
def test_console_script_entry_point():
    res = subprocess.run([sys.executable, "-m", "dynamics.cli", "simulate", "modes", "--eta",
                          "-1"], capture_output=True, text=True)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert res.stderr.strip() == "ssl-dynamics: error: eta: must be in [0, inf), got -1"


def test_phase_basin_and_hyper(tmp_path, capsys):
    out_file = tmp_path / "basin.npz"
    code, out, err = run(["simulate", "phase", "--kind", "basin", "--grid", "21", "--eta",
                          "0.05", "--out", str(out_file)], capsys)
    assert code == 0, err
    assert out.startswith("phase basin: 21x21 grid") and "% collapsed" in out
    assert out_file.exists() and (tmp_path / "basin.png").stat().st_size > 10_000
    from dynamics.theories.directpred.phase import BasinDiagram

    diagram = BasinDiagram.load(out_file)
    assert diagram.collapsed.shape == (21, 21)
    assert 0 < diagram.fraction_collapsed < 1
    hyper = tmp_path / "hyper.json"
    code, out, err = run(["simulate", "phase", "--kind", "hyper", "--x", "eta", "0", "0.4", "5",
                          "--y", "tau", "0.5", "1.5", "3", "--n-modes", "8", "--t-end", "300",
                          "--out", str(hyper)], capsys)
    assert code == 0, err
    data = json.loads(hyper.read_text())
    frac = np.asarray(data["arrays"]["fraction_collapsed"], dtype=float)
    assert frac.shape == (3, 5)
    # eta = 0.4 > tau^2/4 for every tau <= 1.2: all modes collapse there
    assert np.all(frac[:2, -1] == 1.0)
    assert (tmp_path / "hyper.png").exists() and (tmp_path / "hyper.pdf").exists()


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["--kind", "hyper", "--x", "lr", "0", "1", "5"], "x: name must be one of eta"),
        (["--kind", "hyper", "--x", "eta", "1", "0", "5"], "x: needs MAX > MIN"),
        (["--kind", "basin", "--s0-range", "-1", "2"], "s0_range: needs 0 <= MIN < MAX"),
        (["--kind", "basin", "--out", "p.csv"], "out: must end in .npz or .json"),
        (["--kind", "triangle"], "kind: must be one of basin, hyper"),
    ],
)
def test_phase_bad_input(argv, needle, capsys):
    code = None
    try:
        code = main(["simulate", "phase", *argv])
    except SystemExit as exc:
        code = exc.code
    _, err = capsys.readouterr()
    assert code == 2 and len(err.strip().splitlines()) == 1 and needle in err, err


@pytest.mark.integration  # end to end (pytest -m integration)
@pytest.mark.parametrize("caller", ["default", "handler"])
def test_sigterm_during_an_in_process_command_reaches_the_caller(tmp_path, caller):
    """``main`` called from Python cleans up on SIGTERM, restores the caller's handler and
    passes the signal on: a script (or test runner) told to stop does stop, and a caller with
    its own handler sees the signal."""
    import signal
    import textwrap
    import time

    code = textwrap.dedent('''
        import signal, sys, threading, time
        from dynamics.cli import main
        seen = []
        if sys.argv[1] == "handler":
            signal.signal(signal.SIGTERM, lambda s, f: seen.append(s))
        before = signal.getsignal(signal.SIGTERM)

        def announce():  # "ready" once the command has installed its own handler
            while signal.getsignal(signal.SIGTERM) is before:
                time.sleep(0.01)
            print("ready", flush=True)

        threading.Thread(target=announce, daemon=True).start()
        rc = main(["simulate", "phase", "--kind", "basin", "--grid", "1000", "--eta", "0.01",
                   "--t-end", "20000", "--quiet", "--out", sys.argv[2]])
        print("returned", rc, "seen", seen, flush=True)
        ''')
    proc = subprocess.Popen([sys.executable, "-c", code, caller, str(tmp_path / "b.npz")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"  # the command's handler is in place
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert "interrupted by SIGTERM" in err
    if caller == "default":  # the default handler ends the caller, as SIGTERM should
        assert proc.returncode == -signal.SIGTERM and "returned" not in out
    else:
        assert proc.returncode == 0 and "returned 143 seen [15]" in out
    assert not (tmp_path / "b.npz").exists()

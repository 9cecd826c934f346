"""``ssl-dynamics hltm``: output checked and locked before any work, one record per finished grid
cell, resume after an interrupt (SIGINT in-process, SIGTERM in a subprocess) with the numbers of
an uninterrupted run, settings mismatch / --overwrite, and --threads."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from dynamics.cli import main
from dynamics.locks import FolderLock
from dynamics.theories.dual_networks.hltm import grid as G

ROOT = Path(__file__).resolve().parents[3]
# 4 tiny cells (depth 2, hid 2 and 3, seeds 1 and 2): a few hundredths of a second each.
TINY = ["--hid", "2", "3", "--delta-lower", "0.8", "--depth", "2", "--seeds", "1", "2",
        "--epochs", "1", "--draws", "256", "--eval-samples", "256", "--op-samples", "32"]
ONE = ["--hid", "2", "--delta-lower", "0.8", "--depth", "2", "--seeds", "1", "--epochs", "1",
       "--draws", "256", "--eval-samples", "256", "--op-samples", "0"]


@pytest.fixture
def calls(monkeypatch):
    """Count the cells trained (``run_cell`` calls); ``raise_on = k`` makes the k-th call raise
    KeyboardInterrupt, as Ctrl-C in the middle of that cell."""
    real = G.run_cell
    state = {"n": 0, "raise_on": None}

    def counted(cell, **kw):
        state["n"] += 1
        if state["raise_on"] == state["n"]:
            raise KeyboardInterrupt
        return real(cell, **kw)

    monkeypatch.setattr(G, "run_cell", counted)
    return state


def _hltm(out, *extra, base=TINY):
    return main(["hltm", *base, "--quiet", "--out", str(out), *extra])


def _no_timing(value):
    """A row without its wall-clock times (the only numbers that may differ between runs)."""
    if isinstance(value, dict):
        return {k: _no_timing(v) for k, v in value.items() if k != "runtime_s"}
    if isinstance(value, list):
        return [_no_timing(v) for v in value]
    return value


def _rows(out):
    return [_no_timing(r) for r in json.loads((out / "hltm.json").read_text())["rows"]]


def _table(out):
    with open(out / "hltm_table.csv") as fh:
        return [{k: v for k, v in r.items() if k != "runtime_s"} for r in csv.DictReader(fh)]


def _err_lines(capsys):
    return [line for line in capsys.readouterr().err.splitlines() if line.strip()]


def test_interrupted_grid_resumes_with_identical_numbers(tmp_path, calls, capsys):
    out = tmp_path / "a"
    calls["raise_on"] = 2
    assert _hltm(out) == 130  # KeyboardInterrupt in cell 2: as main() returns for SIGINT
    err = _err_lines(capsys)
    assert len(err) == 1 and err[0].startswith("ssl-dynamics: hltm interrupted by SIGINT: 1 of "
                                               "4 cells saved in")
    assert "rerun the same command to resume" in err[0]
    assert sorted(p.name for p in (out / "cells").iterdir()) == ["d2_dl0.8_hid2_s1.json"]
    partial = json.loads((out / "hltm.json").read_text())  # tables from the finished cell
    assert partial["complete"] is False and len(partial["rows"]) == 1
    assert partial["cells"] == {"finished": 1, "total": 4, "reused": 0}
    assert len(_table(out)) == 1 and (out / "hltm_corr.png").stat().st_size > 0
    assert not list(out.rglob("*.tmp"))

    # Resume: global random state disturbed on purpose (each cell seeds its own generators).
    torch.manual_seed(12345)
    np.random.seed(6789)  # noqa: NPY002 - the legacy global state, on purpose
    calls.update(n=0, raise_on=None)
    assert _hltm(out) == 0
    assert calls["n"] == 3  # only the missing cells
    captured = capsys.readouterr()
    assert "hltm: resuming in" in captured.err and "1 of 4 cells already finished" in captured.err
    assert "hltm: 4 run(s) (1 reused from" in captured.out
    assert json.loads((out / "hltm.json").read_text())["complete"] is True

    calls.update(n=0)
    ref = tmp_path / "ref"
    assert _hltm(ref) == 0 and calls["n"] == 4
    assert _rows(out) == _rows(ref)  # every number, full precision
    assert _table(out) == _table(ref)
    for rec in (ref / "cells").iterdir():
        a, b = (json.loads(p.read_text()) for p in (rec, out / "cells" / rec.name))
        assert _no_timing(a) == _no_timing(b), rec.name

    # Everything finished: a third run trains nothing.
    calls.update(n=0)
    assert _hltm(out) == 0 and calls["n"] == 0
    assert "hltm: 4 run(s) (4 reused" in capsys.readouterr().out


def test_second_interrupt_while_writing_the_partial_outputs(tmp_path, calls, capsys,
                                                             monkeypatch):
    """Ctrl-C again while the figure of the partial outputs is being saved: every file is
    whole (the writers are atomic), the exit code and the one line stay."""
    import dynamics.plots.style as style

    def atomic_then_interrupted(fig, path, fmt):
        from dynamics.io import atomic_writer

        with atomic_writer(path, fsync=False) as fh:
            fh.write(b"half")
            raise KeyboardInterrupt

    monkeypatch.setattr(style, "_atomic_savefig", atomic_then_interrupted)
    calls["raise_on"] = 3
    assert _hltm(tmp_path / "s") == 130
    err = _err_lines(capsys)
    assert len(err) == 1 and "2 of 4 cells saved" in err[0] and "interrupted again" in err[0]
    out = tmp_path / "s"
    assert not list(out.rglob("*.tmp")) and not (out / "hltm_corr.png").exists()
    assert len(_table(out)) == 2  # written whole before the interrupt
    assert len(list((out / "cells").glob("*.json"))) == 2


def test_settings_mismatch_is_refused_and_overwrite_clears(tmp_path, calls, capsys):
    out = tmp_path / "b"
    assert _hltm(out, base=ONE) == 0 and calls["n"] == 1
    capsys.readouterr()
    calls.update(n=0)
    assert _hltm(out, "--epochs", "2", base=ONE) == 2
    err = _err_lines(capsys)
    assert len(err) == 1 and calls["n"] == 0
    assert err[0].startswith("ssl-dynamics: error: out: ")
    assert "--epochs 1 there, 2 now" in err[0] and "--overwrite" in err[0]
    assert _hltm(out, "--seeds", "1", "2", base=ONE) == 2  # a grid axis is a setting too
    assert "--seeds 1 there, 1 2 now" in capsys.readouterr().err

    assert _hltm(out, "--epochs", "2", "--overwrite", base=ONE) == 0 and calls["n"] == 1
    rec = json.loads((out / "cells" / "d2_dl0.8_hid2_s1.json").read_text())
    assert rec["settings"]["epochs"] == 2 and rec["row"]["epochs"] == 2
    data = json.loads((out / "hltm.json").read_text())
    assert data["settings"]["epochs"] == 2 and len(data["rows"]) == 1


@pytest.mark.parametrize("where", ["file", "under_file", "proc"])
def test_unusable_output_is_refused_before_any_work(tmp_path, calls, capsys, where):
    f = tmp_path / "f"
    f.write_text("not a folder")
    out = {"file": f, "under_file": f / "out", "proc": Path("/proc/ssl_dynamics_test/out")}
    assert _hltm(out[where]) == 2
    err = _err_lines(capsys)
    assert len(err) == 1 and err[0].startswith("ssl-dynamics: error: out: ")
    assert calls["n"] == 0
    assert f.read_text() == "not a folder"


def test_locked_folder_is_refused_naming_the_holder(tmp_path, calls, capsys):
    out = tmp_path / "d"
    with FolderLock(out, field="out", what="HLTM output folder"):
        assert _hltm(out) == 2
    err = _err_lines(capsys)
    assert len(err) == 1 and err[0].startswith("ssl-dynamics: error: out: HLTM output folder")
    assert f"in use by process {os.getpid()}" in err[0]
    assert calls["n"] == 0 and not (out / "cells").exists()


def test_threads_option(tmp_path, calls, capsys):
    before = torch.get_num_threads()
    assert _hltm(tmp_path / "t", "--threads", "auto", base=ONE) == 0
    assert torch.get_num_threads() == before  # applied around the grid only
    threads = json.loads((tmp_path / "t" / "hltm.json").read_text())["settings"]["threads"]
    assert threads["requested"] == "auto" and threads["threads"] >= 1
    assert _hltm(tmp_path / "t", "--threads", "2", base=ONE) == 0  # not a cell setting: reused
    assert calls["n"] == 1
    capsys.readouterr()
    for bad in ("0", "x"):
        assert _hltm(tmp_path / "u", "--threads", bad, base=ONE) == 2
        err = _err_lines(capsys)
        assert len(err) == 1 and "threads: must be auto or a positive integer" in err[0]
    assert not (tmp_path / "u").exists()


@pytest.mark.integration  # end to end (pytest -m integration)
def test_sigterm_keeps_finished_cells_and_resumes(tmp_path):
    out = tmp_path / "e"
    # 4 cells of about half a second each (depth 3, 2 x 32000 draws), so that SIGTERM lands
    # while the second cell trains.
    argv = ["hltm", "--hid", "2", "--delta-lower", "0.7", "0.9", "--depth", "3", "--seeds",
            "1", "2", "--epochs", "2", "--draws", "32000", "--eval-samples", "1024",
            "--op-samples", "64", "--out", str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "dynamics", *argv], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not (out / "cells").is_dir() or not list((out / "cells").glob("*.json")):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no cell finished within 60 s"
            time.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 143, err
    saved = sorted((out / "cells").glob("*.json"))
    assert 1 <= len(saved) < 4
    assert not list(out.rglob("*.tmp"))
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines[-1].startswith(f"ssl-dynamics: hltm interrupted by SIGTERM: {len(saved)} of 4 "
                                f"cells saved in"), err
    assert "rerun the same command to resume" in lines[-1]
    assert sum("interrupted" in line for line in lines) == 1
    assert len(json.loads((out / "hltm.json").read_text())["rows"]) == len(saved)

    # The same command, in process, finishes only the missing cells.
    with pytest.MonkeyPatch.context() as mp:
        n = {"calls": 0}
        real = G.run_cell

        def counted(cell, **kw):
            n["calls"] += 1
            return real(cell, **kw)

        mp.setattr(G, "run_cell", counted)
        assert main([*argv, "--quiet"]) == 0
    assert n["calls"] == 4 - len(saved)
    assert len(list((out / "cells").glob("*.json"))) == 4

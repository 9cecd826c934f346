"""The CPU threading policy: parsing, the auto rule, the governor, and real contention."""

import subprocess
import sys
import time

import pytest
import torch

from dynamics import threads
from dynamics.cli import main
from dynamics.errors import ConfigError


@pytest.fixture(autouse=True)
def keep_torch_threads(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    n = torch.get_num_threads()
    yield
    threads.set_threads(n)


@pytest.mark.parametrize("value,expected", [("auto", "auto"), (None, "auto"), ("3", 3), (2, 2),
                                            (" AUTO ", "auto")])
def test_parse_threads(value, expected):
    assert threads.parse_threads(value) == expected


@pytest.mark.parametrize("value", ["0", 0, -1, "many", 1.5, True])
def test_parse_threads_rejects(value):
    with pytest.raises(ConfigError, match="threads: must be auto or a positive integer"):
        threads.parse_threads(value)


@pytest.mark.parametrize("cpus,busy,expected", [(2, 0, 2), (2, 1, 1), (2, 2, 1), (2, 7, 1),
                                                (16, 3, 13)])
def test_auto_takes_the_idle_cores(monkeypatch, cpus, busy, expected):
    monkeypatch.setattr(threads, "available_cpus", lambda: cpus)
    monkeypatch.setattr(threads, "busy_other_threads", lambda **k: busy)
    choice = threads.choose_threads("auto")
    assert (choice.threads, choice.cpus, choice.busy_others) == (expected, cpus, busy)
    assert choice.source == "auto"


def test_explicit_choices_win(monkeypatch):
    monkeypatch.setattr(threads, "busy_other_threads", lambda **k: pytest.fail("not asked"))
    assert threads.choose_threads(3).threads == 3
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    choice = threads.choose_threads("auto")
    assert (choice.threads, choice.source) == (2, "OMP_NUM_THREADS")


def test_apply_sets_torch_and_blas():
    from threadpoolctl import threadpool_info

    choice = threads.apply_threads(1)
    assert torch.get_num_threads() == 1 and choice.threads == 1
    assert all(p["num_threads"] == 1 for p in threadpool_info())


def test_governor_follows_the_load(monkeypatch):
    busy = [0]
    monkeypatch.setattr(threads, "available_cpus", lambda: 4)
    monkeypatch.setattr(threads, "busy_other_threads", lambda **k: busy[0])
    gov = threads.ThreadGovernor(threads.apply_threads("auto"), period=0.0)
    assert gov.threads == 4
    busy[0] = 3
    assert gov.tick() == 1 and torch.get_num_threads() == 1
    busy[0] = 1
    assert gov.tick() == 3 and [n for _, n in gov.changes] == [1, 3]
    fixed = threads.ThreadGovernor(threads.apply_threads(2), period=0.0)
    busy[0] = 4
    assert fixed.tick() == 2  # an explicit count is never changed


def test_busy_processes_are_seen():
    """Two spinning processes are counted as busy (the measurement behind `auto`)."""
    code = "import time\nt = time.time()\nwhile time.time() - t < 20: pass\n"
    procs = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(2)]
    try:
        time.sleep(0.5)
        seen = max(threads.busy_other_threads() for _ in range(3))
    finally:
        for p in procs:
            p.kill()
            p.wait()
    assert seen >= 2


def test_cli_threads_flag(capsys, tmp_path):
    assert main(["simulate", "modes", "--threads", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["ssl-dynamics: error: threads: must be auto or a positive integer; got 0"]
    out = tmp_path / "m.json"
    assert main(["simulate", "modes", "--threads", "1", "--t-end", "1", "--out", str(out)]) == 0
    import json

    meta = json.loads(out.read_text())["meta"]
    assert meta["thread_choice"]["threads"] == 1 and meta["thread_choice"]["source"] == "option"


def test_train_records_its_threads(tmp_path):
    from pathlib import Path

    from dynamics.train.config import load_config
    from dynamics.train.trainer import train

    smoke = Path(__file__).resolve().parents[2] / "experiments" / "train" / "smoke_byol_digits.yaml"
    before = torch.get_num_threads()
    cfg = load_config(smoke, [f"out_dir={tmp_path}", "threads=1", "optim.max_steps=2",
                              "eval.every_epoch=false", "eval.final=false"])
    summary = train(cfg)
    assert summary["threads"]["threads"] == 1 and summary["threads"]["source"] == "option"
    assert torch.get_num_threads() == before  # restored for the caller
    with pytest.raises(ConfigError, match="threads"):
        load_config(smoke, ["threads=zero"])


def test_torchrun_processes_split_the_cores(monkeypatch):
    monkeypatch.setattr(threads, "available_cpus", lambda: 16)
    monkeypatch.setattr(threads, "busy_other_threads", lambda **k: 0)
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")
    assert threads.choose_threads("auto").threads == 4
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "32")
    assert threads.choose_threads("auto").threads == 1

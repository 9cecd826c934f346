"""Runs that cannot corrupt each other: locked run folders, resume against a live run, corrupt
checkpoints, signals outside the training loop, outputs checked before the work, file modes."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from dynamics.cli import main
from dynamics.errors import ConfigError
from dynamics.locks import FolderLock
from dynamics.train import run_folder as runs
from dynamics.train import trainer
from dynamics.train.config import load_config

ROOT = Path(__file__).resolve().parents[2]
SMOKE = ROOT / "experiments" / "train" / "smoke_byol_digits.yaml"
# 256 digits, batch 64: 4 steps per epoch
FAST = ["data.subset=256", "optim.batch_size=64", "optim.max_steps=null", "optim.epochs=1",
        "eval.online_probe_epochs=1", "eval.linear_epochs=1", "log.log_every=2",
        "eval.every_epoch=false", "eval.final=false"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def cfg_for(tmp_path, *overrides):
    return load_config(SMOKE, [f"out_dir={tmp_path}", *FAST, *overrides])


def stderr_lines(capsys) -> list[str]:
    return [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]


def start_cli(*args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "dynamics", *map(str, args)], env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(predicate, proc: subprocess.Popen, timeout: float = 90.0) -> None:
    t0 = time.monotonic()
    while not predicate():
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"process ended early (rc {proc.returncode}): {err[-2000:]}")
        if time.monotonic() - t0 > timeout:
            proc.kill()
            pytest.fail("timed out waiting for the subprocess")
        time.sleep(0.05)


def finish(proc: subprocess.Popen, timeout: float = 60.0) -> tuple[int, str]:
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail("the subprocess did not stop after the signal")
    return proc.returncode, err


def no_temp_files(folder: Path) -> list[str]:
    return [str(p) for p in folder.rglob("*") if p.name.endswith(".tmp") or ".tmp." in p.name]


def metrics_rows(run: runs.RunDir) -> list[dict]:
    return runs.read_jsonl(run.metrics)


# --------------------------------------------------------------------------------------------
# two processes, one run folder


@pytest.mark.integration  # end to end (pytest -m integration)
def test_second_process_is_refused_while_a_run_is_live(tmp_path, capsys):
    """A live training (a real second process) holds its folder: a second `train` of the same
    name (other seed), a `--resume`, an `--overwrite` and an `eval` are each refused with one
    line naming the live process, and nothing of the live run is deleted or mixed."""
    common = [f"out_dir={tmp_path}", "name=live", "optim.batch_size=64",
              "optim.max_steps=null", "optim.epochs=500", "eval.every_epoch=false",
              "eval.final=false", "log.log_every=1"]
    proc = start_cli("train", SMOKE, *common, "seed=0")
    run = runs.RunDir(tmp_path / "live")
    wait_for(lambda: len(metrics_rows(run)) >= 2, proc)
    inode = run.metrics.stat().st_ino
    try:
        for extra in (["seed=1"], ["seed=0", "--resume"], ["seed=1", "--overwrite"]):
            assert main(["train", str(SMOKE), *common, *extra]) == 2
            lines = stderr_lines(capsys)
            assert len(lines) == 1, lines
            assert f"process {proc.pid}" in lines[0] and "is in use" in lines[0], lines[0]
        assert main(["eval", str(run.path)]) == 2
        lines = stderr_lines(capsys)
        assert len(lines) == 1 and f"process {proc.pid}" in lines[0]
        assert run.metrics.stat().st_ino == inode  # never deleted or replaced
    finally:
        proc.send_signal(signal.SIGTERM)
    rc, err = finish(proc)
    assert rc == 143, err
    assert "interrupted by SIGTERM" in err.strip().splitlines()[-1]
    summary = run.read_summary()
    assert summary["status"] == "interrupted" and summary["seed"] == 0
    assert run.read_config().seed == 0
    steps = [r["step"] for r in metrics_rows(run)]
    assert steps == list(range(1, len(steps) + 1))  # one run's rows, none interleaved
    # the lock died with the process: the run can be continued at once
    stop_at = summary["step"] + 2
    assert main(["train", str(SMOKE), *common, "seed=0", "--resume",
                 f"optim.max_steps={stop_at}"]) == 0
    capsys.readouterr()
    assert run.read_summary()["status"] == "finished" and run.read_summary()["step"] == stop_at


def test_lock_is_released_by_a_crashed_process(tmp_path):
    folder = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-c",
                           "import os; from dynamics.locks import FolderLock; "
                           f"FolderLock({str(folder)!r}).acquire(); os._exit(9)"], env=ENV)
    assert proc.returncode == 9
    assert json.loads((folder / ".lock").read_text())["pid"] > 0  # holder info was written
    with FolderLock(folder) as lock:  # not stuck
        assert lock.held
    with FolderLock(folder), pytest.raises(ConfigError, match=f"process {os.getpid()}"):
        FolderLock(folder).acquire()


def test_resume_before_the_first_checkpoint_of_a_live_run_deletes_nothing(tmp_path, capsys):
    """`--resume` while the first process has no checkpoint yet used to "restart" the run and
    delete its files; now it is refused and the live files stay."""
    cfg = cfg_for(tmp_path)
    run = runs.RunDir(cfg.run_dir)
    with run.lock().acquire():  # stands for a live process that has written only metrics
        run.write_config(cfg)
        run.write_summary({"status": "running", "epoch": 0, "step": 3})
        run.metrics.write_text('{"kind":"train","step":1}\n')
        rc = main(["train", str(SMOKE), f"out_dir={tmp_path}", *FAST, "--resume"])
        assert rc == 2 and f"process {os.getpid()}" in stderr_lines(capsys)[0]
        assert run.metrics.read_text() == '{"kind":"train","step":1}\n'
        assert run.read_summary()["step"] == 3


# --------------------------------------------------------------------------------------------
# checkpoints


def weights(path: Path) -> dict[str, torch.Tensor]:
    return runs.load_checkpoint(path)["method"]["modules"]


def test_epoch_checkpoint_is_an_independent_copy_and_corrupt_last_falls_back(tmp_path, capsys):
    cfg = cfg_for(tmp_path / "a", "optim.epochs=2")
    trainer.train(cfg)
    run = runs.RunDir(cfg.run_dir)
    newest = run.epoch_checkpoint(2)
    assert run.last.read_bytes() == newest.read_bytes()
    assert run.last.stat().st_ino != newest.stat().st_ino
    assert run.last.stat().st_nlink == 1
    kept = newest.read_bytes()
    run.last.write_bytes(b"\0garbage" * 64)  # a corrupt last.pt ...
    assert newest.read_bytes() == kept  # ... leaves the epoch file intact

    # eval names the checkpoint to use
    with pytest.raises(ConfigError) as exc:
        from dynamics.train.evaluate import evaluate_run

        evaluate_run(run.path, write=False)
    assert "pass --checkpoint" in str(exc.value) and "epoch_0002.pt" in str(exc.value)

    # resume falls back to the newest readable checkpoint and says so
    capsys.readouterr()
    summary = trainer.train(cfg_for(tmp_path / "a", "optim.epochs=3"), resume=True)
    err = capsys.readouterr().err
    assert "last.pt" in err and "resumed from epoch_0002.pt" in err
    assert "epoch_0002.pt" in summary["resume_note"] and summary["status"] == "finished"

    # ... and ends exactly where an uninterrupted 3-epoch run ends
    ref = trainer.train(cfg_for(tmp_path / "b", "optim.epochs=3"))
    assert ref["step"] == summary["step"] == 12
    mine, theirs = weights(run.last), weights(runs.RunDir(Path(ref["run_dir"])).last)
    assert mine.keys() == theirs.keys()
    assert all(torch.equal(mine[k], theirs[k]) for k in mine)


def test_no_readable_checkpoint_is_one_line(tmp_path):
    cfg = cfg_for(tmp_path, "optim.epochs=2")
    trainer.train(cfg)
    run = runs.RunDir(cfg.run_dir)
    for p in run.checkpoints.glob("*.pt"):
        p.write_bytes(p.read_bytes()[:100])  # truncated
    with pytest.raises(ConfigError) as exc:
        trainer.train(cfg_for(tmp_path, "optim.epochs=3"), resume=True)
    assert "no readable checkpoint" in str(exc.value) and "\n" not in str(exc.value)


@pytest.mark.parametrize("keep,expected", [(2, ["epoch_0003.pt", "epoch_0004.pt", "last.pt"]),
                                           (0, ["last.pt"]),
                                           ("null", [f"epoch_000{i}.pt" for i in range(1, 5)]
                                            + ["last.pt"])])
def test_keep_checkpoints(tmp_path, keep, expected):
    cfg = cfg_for(tmp_path, "optim.epochs=4", f"keep_checkpoints={keep}")
    trainer.train(cfg)
    assert sorted(p.name for p in runs.RunDir(cfg.run_dir).checkpoints.iterdir()) == expected


def test_divergence_caught_at_the_epoch_checkpoint_names_its_epoch(tmp_path, monkeypatch):
    original = trainer.build_method_for

    def build(cfg, in_shape, device):  # NaN weights after the last step of epoch 1
        method = original(cfg, in_shape, device)
        inner = method.after_optimizer_step

        def after(i):
            inner(i)
            if i == 3:
                next(method.encoder.parameters()).data.fill_(float("nan"))

        method.after_optimizer_step = after
        return method

    monkeypatch.setattr(trainer, "build_method_for", build)
    with pytest.raises(runs.TrainingDiverged) as exc:
        trainer.train(cfg_for(tmp_path, "optim.epochs=3"))
    assert "at step 4 (epoch 1)" in str(exc.value), str(exc.value)


# --------------------------------------------------------------------------------------------
# signals outside the training loop


@pytest.mark.integration  # end to end (pytest -m integration)
def test_sigterm_during_final_evaluation_is_recorded_and_resumable(tmp_path):
    args = ["train", SMOKE, f"out_dir={tmp_path}", "name=ev", "optim.max_steps=2",
            "eval.every_epoch=false", "eval.final=true", "eval.linear_epochs=100000"]
    proc = start_cli(*args)
    run = runs.RunDir(tmp_path / "ev")
    wait_for(lambda: (run.read_summary() or {}).get("phase") == "final evaluation", proc)
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    rc, err = finish(proc)
    assert rc == 143, err
    last = err.strip().splitlines()[-1]
    assert "interrupted by SIGTERM during the final evaluation" in last and "--resume" in last
    summary = run.read_summary()
    assert summary["status"] == "interrupted" and summary["phase"] == "final evaluation"
    assert no_temp_files(tmp_path) == []
    # --resume redoes only the evaluation (eval.* may change on resume)
    done = trainer.train(load_config(SMOKE, [a for a in args[2:] if "linear_epochs" not in a]
                                     + ["eval.linear_epochs=2"]), resume=True)
    assert done["status"] == "finished" and done["step"] == 2
    assert done["linear_eval"]["final_accuracy"] is not None


@pytest.mark.integration  # end to end (pytest -m integration)
def test_sigterm_during_reproduce_leaves_no_temp_files(tmp_path):
    out = tmp_path / "res"
    proc = start_cli("reproduce", "--quick", "--out", out)
    # the first training run of its verify stage has logged: reproduce is mid-way
    wait_for(lambda: out.is_dir() and any(out.rglob("metrics.jsonl")), proc, timeout=120)
    proc.send_signal(signal.SIGTERM)
    rc, err = finish(proc)
    assert rc == 143, err
    assert "SIGTERM" in err.strip().splitlines()[-1]
    assert no_temp_files(out) == []


# --------------------------------------------------------------------------------------------
# outputs checked before any work


@pytest.fixture
def no_work(monkeypatch):
    def fail(*a, **k):
        raise AssertionError("work started before the output was checked")

    monkeypatch.setattr(trainer, "load_run_data", fail)


@pytest.mark.parametrize("where", ["file", "under_file", "proc"])
def test_train_output_checked_before_work(tmp_path, capsys, no_work, where):
    afile = tmp_path / "afile"
    afile.write_text("x")
    out = {"file": afile, "under_file": afile / "sub", "proc": "/proc/ssl_dynamics_test"}[where]
    assert main(["train", str(SMOKE), f"out_dir={out}"]) == 2
    lines = stderr_lines(capsys)
    assert len(lines) == 1 and lines[0].startswith("ssl-dynamics: error: out_dir:"), lines


def test_compare_output_checked_before_work(tmp_path, capsys, monkeypatch):
    import dynamics.train.report as report

    monkeypatch.setattr(report, "collect", lambda *a: pytest.fail("collected before the check"))
    afile = tmp_path / "afile"
    afile.write_text("x")
    for out in (tmp_path, afile / "t.md"):
        assert main(["compare", str(tmp_path), "--out", str(out)]) == 2
        lines = stderr_lines(capsys)
        assert len(lines) == 1 and "error: out:" in lines[0], lines


# --------------------------------------------------------------------------------------------
# file modes, copied run folders, config files of a run


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_outputs_honour_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        cfg = cfg_for(tmp_path)
        trainer.train(cfg)
    finally:
        os.umask(old)
    run = runs.RunDir(cfg.run_dir)
    files = [run.config, run.summary, run.metrics, run.spectra, run.last,
             run.epoch_checkpoint(1)]
    modes = {p.name: oct(p.stat().st_mode & 0o777) for p in files}
    assert set(modes.values()) == {oct(0o666 & ~umask)}, modes


def test_a_copied_run_folder_resumes_in_its_new_place(tmp_path, capsys):
    cfg = cfg_for(tmp_path / "old")
    trainer.train(cfg)
    src = runs.RunDir(cfg.run_dir)
    before = src.last.read_bytes()
    dst = tmp_path / "elsewhere" / "copy"
    shutil.copytree(src.path, dst)
    assert main(["train", str(dst), "--resume", "optim.epochs=2"]) == 0
    capsys.readouterr()
    summary = runs.RunDir(dst).read_summary()
    assert summary["status"] == "finished" and summary["epoch"] == 2
    assert summary["name"] == "copy" and Path(summary["run_dir"]) == dst.resolve()
    assert src.last.read_bytes() == before and src.read_summary()["epoch"] == 1


@pytest.mark.parametrize("text", ["optim: {lr: [1, 2\n", "optim:\n  lr: abc\n", "- a\n- b\n"])
def test_eval_of_a_run_with_a_malformed_config_is_one_line(tmp_path, capsys, text):
    cfg = cfg_for(tmp_path)
    trainer.train(cfg)
    run = runs.RunDir(cfg.run_dir)
    run.config.write_text(text)
    assert main(["eval", str(run.path)]) == 2
    lines = stderr_lines(capsys)
    assert len(lines) == 1 and "config.yaml is not a valid config" in lines[0], lines


def test_digits_refuse_a_data_root(tmp_path):
    with pytest.raises(ConfigError, match="data.root: data.dataset=digits is built in"):
        cfg_for(tmp_path, "data.root=/data/cifar")


def test_batch_size_error_names_the_config_key(tmp_path):
    with pytest.raises(ConfigError, match=r"^optim.batch_size: 512 is larger than the 256"):
        trainer.train(cfg_for(tmp_path, "optim.batch_size=512"))


# --------------------------------------------------------------------------------------------
# compare: a Markdown table that renders, epochs that read


def test_compare_markdown_renders_and_formats_epochs():
    from dynamics.train.report import COLUMNS, format_table

    row = dict.fromkeys(COLUMNS)
    row.update(run="a|b", method="byol", predictor="linear", ema=0.996, epochs=12.345678,
               linear_eval=0.5, linear_eval_best=0.52, probe_epochs=500, knn=0.4,
               rankme_projector=40.61, rankme_backbone=38.3, z_std=0.075,
               z_std_isotropic=0.088)
    whole = {**row, "run": "c", "epochs": 40.0}
    lines = format_table([row, whole], "md").splitlines()

    def cells(line):  # GitHub's rule: split on unescaped pipes
        return re.split(r"(?<!\\)\|", line.strip())[1:-1]

    n = len(cells(lines[0]))
    assert n == len(COLUMNS) - 2  # best accuracy and isotropic std share cells
    assert all(len(cells(ln)) == n for ln in lines)
    assert r"std(z/\|z\|)" in lines[0] and r"a\|b" in lines[2]
    assert cells(lines[2])[4].strip() == "12.35" and cells(lines[3])[4].strip() == "40"


def test_a_write_probe_of_another_rank_does_not_make_the_folder_foreign(tmp_path):
    """Under torchrun every rank checks the run folder; one rank's short-lived write probe
    must not make another rank see a non-empty, foreign folder (a flaky DDP start)."""
    from dynamics.io import PROBE_PREFIX

    cfg = cfg_for(tmp_path)
    run = runs.RunDir(cfg.run_dir)
    with run.lock():
        (run.path / f"{PROBE_PREFIX}abc123").write_text("")
        assert runs.plan_run(cfg).mode == "new"

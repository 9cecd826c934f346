"""Run folders: atomic checkpoints, overwrite/resume guards, NaN stop, config errors."""

import argparse
import hashlib
import json
from pathlib import Path

import pytest
import torch

from dynamics.errors import ConfigError
from dynamics.train import run_folder as runs
from dynamics.train import trainer
from dynamics.train.config import load_config

SMOKE = Path(__file__).resolve().parents[2] / "experiments" / "train" / "smoke_byol_digits.yaml"
# 256 digits, batch 64: 4 steps per epoch
FAST = ["data.subset=256", "optim.batch_size=64", "optim.max_steps=null", "optim.epochs=1",
        "eval.online_probe_epochs=1", "eval.linear_epochs=1", "log.log_every=2"]


def cfg_for(tmp_path, *overrides):
    return load_config(SMOKE, [f"out_dir={tmp_path}", *FAST, *overrides])


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fake_run(cfg, status="running", **summary):
    """A run folder as an earlier, stopped process would have left it (no training needed)."""
    run = runs.RunDir(cfg.run_dir)
    run.checkpoints.mkdir(parents=True)
    run.write_config(cfg)
    if status is not None:
        run.write_summary({"status": status, "epoch": 1, "step": 4, **summary})
    return run


def one_line(exc_info) -> str:
    text = str(exc_info.value)
    assert "\n" not in text, text
    return text


# --------------------------------------------------------------------------------------------
# atomic checkpoints


def test_crash_mid_save_leaves_previous_checkpoint_intact(tmp_path, monkeypatch):
    path = tmp_path / "checkpoints" / "last.pt"
    runs.atomic_torch_save({"w": torch.ones(3)}, path)
    before = digest(path)

    def broken_save(obj, f, *args, **kwargs):
        f.write(b"half a checkpoint")
        raise OSError("disk full")

    with monkeypatch.context() as m:
        m.setattr(torch, "save", broken_save)
        with pytest.raises(OSError, match="disk full"):
            runs.atomic_torch_save({"w": torch.zeros(3)}, path)
    assert digest(path) == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["last.pt"]  # no temp file left

    def broken_replace(src, dst):
        raise OSError("power cut")

    with monkeypatch.context() as m:
        m.setattr(runs.os, "replace", broken_replace)
        with pytest.raises(OSError, match="power cut"):
            runs.atomic_torch_save({"w": torch.zeros(3)}, path)
    assert digest(path) == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["last.pt"]
    assert torch.equal(torch.load(path)["w"], torch.ones(3))


def test_failed_checkpoint_during_training_keeps_last_good(tmp_path, monkeypatch):
    cfg = cfg_for(tmp_path, "eval.every_epoch=false", "eval.final=false")
    trainer.train(cfg)
    run = runs.RunDir(cfg.run_dir)
    before = digest(run.last)

    def broken_save(obj, f, *args, **kwargs):
        f.write(b"x")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError):
        trainer.train(cfg_for(tmp_path, "eval.every_epoch=false", "eval.final=false",
                              "optim.epochs=2"), resume=True)
    monkeypatch.undo()
    assert digest(run.last) == before
    assert runs.load_checkpoint(run.last)["step"] == 4
    assert run.read_summary()["status"] == "crashed"
    assert not list(run.checkpoints.glob(".*tmp"))


# --------------------------------------------------------------------------------------------
# guards


def test_finished_run_is_never_overwritten_without_overwrite(tmp_path):
    cfg = cfg_for(tmp_path)
    run = fake_run(cfg, status="finished")
    before = {p.name: digest(p) for p in (run.config, run.summary)}
    with pytest.raises(ConfigError) as exc:
        trainer.train(cfg)
    assert "--overwrite" in one_line(exc) and "finished" in str(exc.value)
    with pytest.raises(ConfigError) as exc:  # resume that asks for no more training
        trainer.train(cfg, resume=True)
    assert "no more training" in one_line(exc)
    assert {p.name: digest(p) for p in (run.config, run.summary)} == before
    assert runs.plan_run(cfg, overwrite=True).mode == "overwrite"
    # a larger optim.epochs extends a finished run
    (run.last).write_bytes(b"")
    assert runs.plan_run(cfg_for(tmp_path, "optim.epochs=3"), resume=True).mode == "resume"
    with pytest.raises(ConfigError, match="exclude each other"):
        runs.plan_run(cfg, resume=True, overwrite=True)


def test_unfinished_run_needs_resume_or_overwrite(tmp_path):
    cfg = cfg_for(tmp_path)
    fake_run(cfg, status="running")
    with pytest.raises(ConfigError) as exc:
        trainer.train(cfg)
    text = one_line(exc)
    assert "unfinished" in text and "--resume" in text and "--overwrite" in text
    assert runs.plan_run(cfg, resume=True).mode == "restart"  # no checkpoint yet


def test_overwrite_refuses_folders_that_are_not_runs(tmp_path):
    cfg = cfg_for(tmp_path)
    cfg.run_dir.mkdir(parents=True)
    (cfg.run_dir / "thesis.tex").write_text("precious")
    with pytest.raises(ConfigError) as exc:
        runs.plan_run(cfg, overwrite=True)
    assert "not a run folder" in one_line(exc)
    assert (cfg.run_dir / "thesis.tex").read_text() == "precious"


def test_resume_with_a_different_config_names_the_keys(tmp_path):
    cfg = cfg_for(tmp_path)
    fake_run(cfg, status="interrupted")
    changed = cfg_for(tmp_path, "optim.lr=0.1", "model.width=16", "optim.epochs=5")
    with pytest.raises(ConfigError) as exc:
        trainer.train(changed, resume=True)
    text = one_line(exc)
    assert "optim.lr (0.05 -> 0.1)" in text and "model.width (8 -> 16)" in text
    assert "optim.epochs (" not in text
    # length of training, logging and evaluation knobs may change
    ok = cfg_for(tmp_path, "optim.epochs=5", "log.log_every=7", "eval.linear_epochs=9",
                 "log.progress=true")
    assert runs.plan_run(ok, resume=True).mode == "restart"


# --------------------------------------------------------------------------------------------
# divergence


@pytest.mark.parametrize("poison,kind,what", [
    ("loss", "linear", "the loss is NaN/Inf"),
    # NaN weights: DirectPred's running F refuses the NaN batch inside the forward
    ("weights", "directpred", "the weights became NaN/Inf"),
    # a collapsed F makes the ridge predictor's F + 0 I singular: the CIFAR-10 ridge arm with
    # ridge = 0 stopped at step 44 as a crash ("error: ridge: ...", exit 2), its work unmarked
    ("singular", "ridge", "the predictor's system became singular (ridge: F + ridge I is "
                          "singular"),
])
def test_nan_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch, poison,
                                                              kind, what):
    original = trainer.build_method_for

    def build(cfg, in_shape, device):  # poison the 6th step
        method = original(cfg, in_shape, device)
        inner, calls = method.training_step, [0]

        def step(v1, v2):
            calls[0] += 1
            if calls[0] == 6 and poison == "weights":
                next(method.encoder.parameters()).data.fill_(float("nan"))
            out = inner(v1, v2)
            if calls[0] == 6 and poison == "singular":  # after this step's fold into F
                method.predictor.rule.state.corr._F.zero_()  # every mode collapsed: F + 0 I = 0
            if calls[0] >= 6 and poison == "loss":
                out.loss = out.loss * float("nan")
            return out

        method.training_step = step
        return method

    monkeypatch.setattr(trainer, "build_method_for", build)
    ridge = ("predictor.ridge=0",) if kind == "ridge" else ()
    cfg = cfg_for(tmp_path, "optim.epochs=3", "log.log_every=1", "eval.every_epoch=false",
                  f"predictor.kind={kind}", *ridge)
    with pytest.raises(runs.TrainingDiverged) as exc:
        trainer.train(cfg)
    text = one_line(exc)
    assert what in text and "at step 6" in text and "last.pt (step 4) kept" in text
    if kind == "ridge":
        assert text.endswith("pass a larger predictor.ridge")
    run = runs.RunDir(cfg.run_dir)
    summary = run.read_summary()
    assert summary["status"] == "diverged" and summary["diverged"]["step"] == 6
    ckpt = runs.load_checkpoint(run.last)
    assert ckpt["step"] == 4 and digest(run.last) == digest(run.epoch_checkpoint(1))
    assert not run.epoch_checkpoint(2).exists()
    assert runs.all_finite(ckpt["method"]["modules"].values())
    rows = runs.read_jsonl(run.metrics)
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5]
    assert all(r["loss"] is not None for r in rows)
    json.loads(run.summary.read_text(), parse_constant=lambda c: pytest.fail(c))


# --------------------------------------------------------------------------------------------
# config errors: one line, before any work


def _train_args(config, overrides):
    from dynamics.cli.train import add_train_arguments

    p = argparse.ArgumentParser()
    add_train_arguments(p)
    return p.parse_args([str(config), *overrides])


@pytest.mark.parametrize("override,message", [
    ("optim.lrr=1", "optim.lrr: unknown key; allowed: lr, momentum"),
    ("optim.lr=abc", "optim.lr: Value 'abc' of type 'str' could not be converted"),
    ("optim.lr=-1", "optim.lr: must be in (0, inf), got -1"),
])
def test_config_errors_are_one_line_before_any_work(tmp_path, override, message):
    from dynamics.cli.train import run_train

    out = tmp_path / "out"
    args = _train_args(SMOKE, [f"out_dir={out}", override])
    with pytest.raises(ConfigError) as exc:
        run_train(args)
    assert one_line(exc).startswith(message)
    assert not out.exists()


def test_missing_logging_backend_is_a_config_error(tmp_path):
    import importlib.util

    if importlib.util.find_spec("tensorboard") is not None:
        pytest.skip("tensorboard is installed")
    cfg = cfg_for(tmp_path / "out", "log.tensorboard=true")
    with pytest.raises(ConfigError) as exc:
        trainer.train(cfg)
    assert one_line(exc).startswith("log.tensorboard: needs the tensorboard package")
    assert not (tmp_path / "out").exists()


def test_optional_backends_mirror_the_rows(tmp_path, monkeypatch):
    """W&B and TensorBoard are optional: with (fake) packages present every row is mirrored."""
    import importlib.machinery
    import sys
    import types

    calls = {"wandb": [], "tb": []}

    class Run:
        summary: dict = {}

        def log(self, values, step):
            calls["wandb"].append((step, values))

        def finish(self):
            calls["wandb"].append("finish")

    class Writer:
        def __init__(self, log_dir):
            calls["tb"].append(("dir", log_dir))

        def add_scalar(self, name, value, global_step):
            calls["tb"].append((global_step, name, value))

        def flush(self):
            pass

        def close(self):
            calls["tb"].append("close")

    wandb = types.ModuleType("wandb")
    wandb.__spec__ = importlib.machinery.ModuleSpec("wandb", None)
    wandb.init = lambda **kw: calls["wandb"].append(kw) or Run()
    tb = types.ModuleType("tensorboard")
    tb.__spec__ = importlib.machinery.ModuleSpec("tensorboard", None)
    tut = types.ModuleType("torch.utils.tensorboard")
    tut.SummaryWriter = Writer
    for name, mod in (("wandb", wandb), ("tensorboard", tb), ("torch.utils.tensorboard", tut)):
        monkeypatch.setitem(sys.modules, name, mod)

    cfg = cfg_for(tmp_path, "optim.max_steps=2", "eval.final=false", "log.wandb=true",
                  "log.tensorboard=true")
    summary = trainer.train(cfg)
    init = calls["wandb"][0]
    assert init["id"] == summary["run_id"] and init["resume"] == "allow"
    assert init["config"]["optim.lr"] == cfg.optim.lr
    steps = [c[0] for c in calls["wandb"][1:-1]]
    assert steps == [2] and "loss" in calls["wandb"][1][1] and "F/top/0" in calls["wandb"][1][1]
    assert calls["wandb"][-1] == "finish" and calls["tb"][-1] == "close"
    assert ("dir", str(cfg.run_dir / "tensorboard")) in calls["tb"]
    assert any(c[1] == "loss" for c in calls["tb"] if len(c) == 3)


EXPERIMENTS = SMOKE.parent


@pytest.mark.parametrize("path", sorted(EXPERIMENTS.glob("*.yaml")), ids=lambda p: p.stem)
def test_experiment_configs_are_valid(path):
    needs_root = path.stem.startswith("cpu_cifar10")
    if needs_root:  # the tarball is given on the command line, never hard-coded
        with pytest.raises(ConfigError, match="data.root: is required"):
            load_config(path)
    cfg = load_config(path, ["data.root=/data/cifar10.tar.gz"] if needs_root else [])
    assert cfg.name and cfg.out_dir.startswith("runs/")


# --------------------------------------------------------------------------------------------
# step profile


def test_summary_has_a_step_profile_that_continues_on_resume(tmp_path):
    """summary.json "profile": every phase timed, shares summing to 1, every step counted;
    a resumed run adds to the profile it checkpointed instead of starting from zero."""
    from dynamics.train.step_profile import OTHER_PHASES, STEP_PHASES

    first = trainer.train(cfg_for(tmp_path, "optim.epochs=2", "predictor.kind=directpred"))
    prof = first["profile"]
    assert set(prof["seconds"]) == set(STEP_PHASES + OTHER_PHASES)
    assert prof["steps"] == prof["timed_steps"] == first["step"] == 8  # CPU: every step timed
    assert sum(prof["share"].values()) == pytest.approx(1.0, abs=1e-3)
    for phase in ("data", "forward", "backward", "optimizer", "update", "instrument",
                  "eval", "checkpoint", "final_eval"):
        assert prof["seconds"][phase] > 0, phase
    assert prof["images_per_s"] > 0
    more = trainer.train(cfg_for(tmp_path, "optim.epochs=3", "predictor.kind=directpred"),
                         resume=True)
    assert more["profile"]["steps"] == 12
    assert more["profile"]["seconds"]["forward"] > prof["seconds"]["forward"]


def test_online_samples_evaluates_a_fixed_subset_each_epoch(tmp_path):
    """eval.online_samples: the per-epoch kNN + probe see the same seeded subset every epoch
    (the final evaluation still sees all images); training itself is unchanged by it."""
    from dynamics.train.evaluate import online_subset

    full = trainer.train(cfg_for(tmp_path, "name=full", "optim.epochs=2"))
    sub = trainer.train(cfg_for(tmp_path, "name=sub", "optim.epochs=2",
                                "eval.online_samples=32"))
    rows = [r for r in runs.read_jsonl(runs.RunDir(Path(sub["run_dir"])).metrics)
            if r.get("kind") == "eval"]
    assert len(rows) == 2
    a = torch.load(runs.RunDir(Path(full["run_dir"])).last, weights_only=False)["method"]
    b = torch.load(runs.RunDir(Path(sub["run_dir"])).last, weights_only=False)["method"]
    assert all(torch.equal(x, y) for x, y in zip(a["modules"].values(), b["modules"].values(),
                                                   strict=True))
    assert sub["linear_eval"]["final_accuracy"] == full["linear_eval"]["final_accuracy"]
    from dynamics.train.data.run_images import EvalData

    imgs = torch.arange(100).view(100, 1, 1, 1)
    data = EvalData(imgs, torch.arange(100), imgs[:50], torch.arange(50), None, 100, "toy")
    s1, s2 = online_subset(data, 10, seed=3), online_subset(data, 10, seed=3)
    assert s1.train_images.shape[0] == s1.test_images.shape[0] == 10
    assert torch.equal(s1.train_labels, s2.train_labels)
    assert torch.equal(s1.train_images.flatten(), s1.train_labels)  # images stay with labels
    assert online_subset(data, None, 3) is data
    with pytest.raises(ConfigError, match="^eval.online_samples: must be an integer >= 1"):
        cfg_for(tmp_path, "eval.online_samples=0")

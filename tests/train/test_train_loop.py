"""Smoke training on digits: run-folder contents, exact resume, `ssl-dynamics eval`."""

import argparse
import json
import os
import signal
from pathlib import Path

import pytest
import torch

from dynamics.train import run_folder as runs
from dynamics.train import trainer
from dynamics.train.checkpoint_files import state_tensors
from dynamics.train.config import from_yaml_text, load_config

SMOKE = Path(__file__).resolve().parents[2] / "experiments" / "train" / "smoke_byol_digits.yaml"
# BYOL + DirectPred (EMA target, running F), 256 digits, batch 64: 4 steps per epoch
FAST = ["data.subset=256", "optim.batch_size=64", "optim.max_steps=null",
        "predictor.kind=directpred", "eval.online_probe_epochs=2", "eval.linear_epochs=3",
        "log.log_every=1"]
TIMING = ("images_per_s", "elapsed_s", "eval/time_s")

TRAIN_KEYS = {
    "kind", "step", "epoch", "lr", "loss", "images_per_s", "elapsed_s",
    "F/top", "F/bottom", "F/trace", "F/n_modes",
    "predictor/eig_top", "predictor/eig_bottom", "predictor/eig_imag_max",
    "predictor/mean_alignment", "predictor/weighted_alignment",
    "predictor/relative_commutator", "predictor/asymmetry", "predictor/min_sym_eigenvalue",
    "predictor/slope",
    "collapse/z_std", "collapse/z_std_ref", "collapse/rankme_z", "collapse/rankme_h",
    "collapse/samples", "views/alignment", "views/uniformity",
    "spectral/alpha_req_z", "spectral/alpha_req_r2", "spectral/stable_rank_z",
    "spectral/erank_z", "spectral/predictor_orthogonality",
}
EVAL_KEYS = {"kind", "step", "epoch", "eval/knn_top1", "eval/probe_final_accuracy",
             "eval/probe_best_accuracy", "eval/probe_epochs", "eval/time_s"}


def cfg_for(out, *overrides):
    return load_config(SMOKE, [f"out_dir={out}", *FAST, *overrides])


def strip_timing(rows):
    return [{k: v for k, v in r.items() if k not in TIMING} for r in rows]


def assert_same_run(a: runs.RunDir, b: runs.RunDir):
    assert strip_timing(runs.read_jsonl(a.metrics)) == strip_timing(runs.read_jsonl(b.metrics))
    assert runs.read_jsonl(a.spectra) == runs.read_jsonl(b.spectra)
    ca, cb = runs.load_checkpoint(a.last), runs.load_checkpoint(b.last)
    ma, mb = state_tensors(ca["method"]["modules"]), state_tensors(cb["method"]["modules"])
    assert ma.keys() == mb.keys() and any(".F" in k for k in ma)  # the predictor's running F too
    assert all(torch.equal(ma[k], mb[k]) for k in ma)
    oa, ob = ca["optimizer"]["state"], cb["optimizer"]["state"]
    assert all(torch.equal(oa[i]["momentum_buffer"], ob[i]["momentum_buffer"]) for i in oa)
    sa, sb = a.read_summary(), b.read_summary()
    assert sa["linear_eval"]["final_accuracy"] == sb["linear_eval"]["final_accuracy"]
    assert sa["collapse"]["rankme_projector"] == sb["collapse"]["rankme_projector"]


@pytest.fixture(scope="module")
def run_a(tmp_path_factory):
    """The uninterrupted reference: 2 epochs = 8 steps."""
    out = tmp_path_factory.mktemp("runs")
    cfg = cfg_for(out, "name=a", "optim.epochs=2")
    summary = trainer.train(cfg)
    return cfg, runs.RunDir(cfg.run_dir), summary


def test_smoke_run_writes_the_run_folder(run_a):
    cfg, run, summary = run_a
    assert from_yaml_text(run.config.read_text()) == cfg
    rows = runs.read_jsonl(run.metrics)
    train_rows = [r for r in rows if r["kind"] == "train"]
    eval_rows = [r for r in rows if r["kind"] == "eval"]
    assert [r["step"] for r in train_rows] == list(range(1, 9))
    assert [(r["epoch"], r["step"]) for r in eval_rows] == [(1, 4), (2, 8)]
    for r in train_rows:
        assert TRAIN_KEYS <= r.keys(), TRAIN_KEYS - r.keys()
        assert len(r["F/top"]) == 5 and len(r["predictor/eig_top"]) == 5
        for k in TRAIN_KEYS - {"kind"}:  # DirectPred: everything is defined
            assert r[k] is not None, k
    for r in eval_rows:
        assert r.keys() == EVAL_KEYS
        assert 0 <= r["eval/knn_top1"] <= 1 and 0 <= r["eval/probe_final_accuracy"] <= 1
    spectra = runs.read_jsonl(run.spectra)
    assert [s["step"] for s in spectra] == list(range(1, 9))
    assert spectra[-1]["F_source"] == "method"
    assert len(spectra[-1]["F_eigs"]) == cfg.model.projector_dim
    assert len(spectra[-1]["alignment_cos"]) == cfg.model.projector_dim
    names = sorted(p.name for p in run.checkpoints.iterdir())
    assert names == ["epoch_0001.pt", "epoch_0002.pt", "last.pt"]

    on_disk = json.loads(run.summary.read_text(), parse_constant=lambda c: pytest.fail(c))
    assert on_disk == json.loads(json.dumps(runs.plain(summary)))
    assert on_disk["status"] == "finished" and on_disk["step"] == 8 and on_disk["epoch"] == 2
    lin = on_disk["linear_eval"]
    assert 0 <= lin["final_accuracy"] <= lin["best_accuracy"] <= 1
    assert "best_accuracy" in lin["note"] and "final_accuracy" in lin["note"]
    assert lin["epochs"] == 3 and lin["lr"] == 3e-4 and lin["weight_decay"] == 1e-3
    assert len(lin["test_accuracy_per_epoch"]) == 3
    assert 0 <= on_disk["knn"]["top1"] <= 1
    col = on_disk["collapse"]
    for k in ("rankme_projector", "rankme_backbone", "rankme_backbone_test",
              "normalized_std_projector"):
        assert col[k] > 0, k
    assert set(on_disk["runtime"]) == {"train_s", "eval_s", "this_process_s", "thread_changes"}


def test_resume_after_an_epoch_equals_the_uninterrupted_run(run_a, tmp_path):
    _, run, _ = run_a
    first = trainer.train(cfg_for(tmp_path, "name=a", "optim.epochs=1"))
    assert first["status"] == "finished" and first["step"] == 4
    second = trainer.train(cfg_for(tmp_path, "name=a", "optim.epochs=2"), resume=True)
    assert second["resumed"] and second["run_id"] == first["run_id"]
    assert_same_run(run, runs.RunDir(tmp_path / "a"))


def test_interrupt_mid_epoch_then_resume_equals_the_uninterrupted_run(run_a, tmp_path,
                                                                     monkeypatch):
    _, run, _ = run_a
    original = trainer.build_method_for

    def build(cfg, in_shape, device):  # SIGINT during the 6th step (epoch 2, step 2 of 4)
        method = original(cfg, in_shape, device)
        inner, calls = method.training_step, [0]

        def step(v1, v2):
            calls[0] += 1
            if calls[0] == 6:
                os.kill(os.getpid(), signal.SIGINT)
            return inner(v1, v2)

        method.training_step = step
        return method

    monkeypatch.setattr(trainer, "build_method_for", build)
    cfg = cfg_for(tmp_path, "name=a", "optim.epochs=2")
    with pytest.raises(runs.TrainingInterrupted) as exc:
        trainer.train(cfg)
    assert "at step 6" in str(exc.value) and "--resume" in str(exc.value)
    partial = runs.RunDir(cfg.run_dir)
    assert partial.read_summary()["status"] == "interrupted"
    ckpt = runs.load_checkpoint(partial.last)
    assert (ckpt["step"], ckpt["epoch"], ckpt["epoch_step"]) == (6, 1, 2)
    monkeypatch.setattr(trainer, "build_method_for", original)
    trainer.train(cfg, resume=True)
    assert_same_run(run, partial)


def test_eval_command_reevaluates_the_last_checkpoint(run_a, capsys):
    from dynamics.cli.train import add_eval_arguments, run_eval

    _, run, summary = run_a
    p = argparse.ArgumentParser()
    add_eval_arguments(p)
    assert run_eval(p.parse_args([str(run.path), "--device", "cpu"])) == 0
    assert "eval.json" in capsys.readouterr().out
    res = json.loads(run.eval.read_text())
    assert res["step"] == 8 and res["epoch"] == 2
    # same checkpoint, same seeded probe: the numbers of the run's own final evaluation
    assert res["linear_eval"]["final_accuracy"] == summary["linear_eval"]["final_accuracy"]
    assert res["linear_eval"]["best_accuracy"] == summary["linear_eval"]["best_accuracy"]
    assert res["knn"]["top1"] == summary["knn"]["top1"]


@pytest.mark.parametrize("overrides,predictor_defined", [
    (["method.name=simsiam"], True),
    (["predictor.kind=none"], False),
    (["predictor.kind=mlp"], False),
    (["method.name=simclr", "predictor.kind=none", "method.loss=infonce"], False),
    (["data.on_device=false", "data.num_workers=0"], True),
    (["data.dataset=synthetic", "model.encoder=linear", "data.synthetic_size=256"], True),
])
def test_methods_and_data_paths_smoke(tmp_path, overrides, predictor_defined):
    cfg = cfg_for(tmp_path, "optim.max_steps=2", "eval.every_epoch=false",
                  "eval.linear_epochs=1", "predictor.kind=linear", *overrides)
    summary = trainer.train(cfg)
    rows = runs.read_jsonl(cfg.run_dir / "metrics.jsonl")
    assert len(rows) == 2 and all(TRAIN_KEYS <= r.keys() for r in rows)
    assert (rows[-1]["predictor/asymmetry"] is not None) == predictor_defined
    assert rows[-1]["loss"] is not None and rows[-1]["F/top"] is not None
    if cfg.data.dataset == "synthetic":
        assert summary["linear_eval"] is None and "no labels" in summary["note"]
    else:
        assert 0 <= summary["linear_eval"]["final_accuracy"] <= 1


def test_eval_random_init_baseline(tmp_path):
    """``eval --random-init`` evaluates an untrained network of the run's architecture and
    writes eval_random_init.json next to eval.json (the trained run's)."""
    from dynamics.cli import main

    cfg = tmp_path / "c.yaml"
    root = Path(__file__).resolve().parents[2]
    cfg.write_text((root / "experiments/train/smoke_byol_digits.yaml").read_text())
    assert main(["train", str(cfg), f"out_dir={tmp_path}", "name=r"]) == 0
    assert main(["eval", str(tmp_path / "r"), "--random-init"]) == 0
    res = json.loads((tmp_path / "r" / "eval_random_init.json").read_text())
    assert res["checkpoint"] == "random initialisation" and res["step"] == 0
    assert 0.0 <= res["linear_eval"]["final_accuracy"] <= 1.0
    assert "re-estimated" in res["batchnorm"]  # the fair baseline

    # `compare`: the run's row and its random-init row, numbers straight from the files
    import csv

    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    out_csv = tmp_path / "table.csv"
    assert main(["compare", str(tmp_path / "r"), "--out", str(out_csv)]) == 0
    rows = list(csv.DictReader(out_csv.open()))
    assert [r["run"] for r in rows] == ["r", "r @ random init"]
    trained, baseline = rows
    assert float(trained["linear_eval"]) == summary["linear_eval"]["final_accuracy"]
    assert float(trained["knn"]) == summary["knn"]["top1"]
    assert float(trained["rankme_projector"]) == summary["collapse"]["rankme_projector"]
    assert float(trained["z_std"]) == summary["collapse"]["normalized_std_projector"]
    assert float(trained["ema"]) == 0.996 and trained["predictor"] == "linear"
    assert float(baseline["linear_eval"]) == res["linear_eval"]["final_accuracy"]
    assert baseline["rankme_projector"] == "" and float(baseline["epochs"]) == 0
    md = tmp_path / "table.md"
    assert main(["compare", str(tmp_path / "r"), "--out", str(md)]) == 0
    lines = md.read_text().splitlines()
    assert len(lines) == 4 and lines[2].startswith("| r | byol | linear | 0.996 |")
    assert f"{100 * summary['linear_eval']['final_accuracy']:.1f}%" in lines[2]


@pytest.mark.parametrize("argv,field", [
    (["compare", "--format", "xml", "{run}"], "--format"),
    (["compare", "{missing}"], "run_dir"),
    (["compare", "{empty}"], "run_dir"),
])
def test_compare_rejects_bad_input(run_a, tmp_path, capsys, argv, field):
    from dynamics.cli import main

    (tmp_path / "empty").mkdir()
    paths = {"run": str(run_a[1].path), "missing": str(tmp_path / "nope"),
             "empty": str(tmp_path / "empty")}
    assert main([a.format(**paths) for a in argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"ssl-dynamics: error: {field}:")


def test_bf16_run_on_cpu(tmp_path):
    """precision=bf16 autocasts on the CPU too: the run records it and trains to finite
    metrics, with losses close to the fp32 run's."""
    base = ["optim.max_steps=3", "eval.every_epoch=false", "eval.linear_epochs=1"]
    s16 = trainer.train(cfg_for(tmp_path, *base, "precision=bf16", "name=bf16"))
    s32 = trainer.train(cfg_for(tmp_path, *base, "precision=fp32", "name=fp32"))
    assert s16["precision"] == "bf16" and s32["precision"] == "fp32"
    r16 = runs.read_jsonl(tmp_path / "bf16" / "metrics.jsonl")
    r32 = runs.read_jsonl(tmp_path / "fp32" / "metrics.jsonl")
    l16, l32 = [r["loss"] for r in r16], [r["loss"] for r in r32]
    assert len(l16) == len(l32) == 3 and l16 != l32
    assert all(abs(a - b) <= 0.05 * abs(b) for a, b in zip(l16, l32, strict=True))
    assert all(v is not None for r in r16 for k, v in r.items() if k.startswith("collapse/"))


@pytest.mark.slow
def test_compiled_run_matches_eager(tmp_path):
    """compile=true (torch.compile of the training step, inductor on the CPU) follows the
    eager run's losses."""
    base = ["optim.max_steps=3", "eval.every_epoch=false", "eval.linear_epochs=1"]
    trainer.train(cfg_for(tmp_path, *base, "compile=true", "name=compiled"))
    trainer.train(cfg_for(tmp_path, *base, "name=eager"))
    lc = [r["loss"] for r in runs.read_jsonl(tmp_path / "compiled" / "metrics.jsonl")]
    le = [r["loss"] for r in runs.read_jsonl(tmp_path / "eager" / "metrics.jsonl")]
    assert len(lc) == 3
    assert all(abs(a - b) <= 1e-4 * abs(b) + 1e-6 for a, b in zip(lc, le, strict=True))


@pytest.mark.integration  # end to end (pytest -m integration): compiles with inductor
def test_compiled_directpred_step_compiles_once(tmp_path):
    """compile=on with the DirectPred predictor: the predictor's running statistics stay eager
    code inside the compiled step, so 12 steps compile a few graphs, not one per step (a
    Python counter traced into the graph would recompile every step and fall back to eager),
    and the losses follow the eager run's."""
    import torch._dynamo

    base = ["optim.max_steps=12", "eval.every_epoch=false", "eval.linear_epochs=1",
            "predictor.kind=directpred", "predictor.freq=1"]
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    trainer.train(cfg_for(tmp_path, *base, "compile=on", "name=compiled"))
    graphs = torch._dynamo.utils.counters["stats"]["unique_graphs"]
    trainer.train(cfg_for(tmp_path, *base, "compile=off", "name=eager"))
    assert 1 <= graphs <= 6, graphs
    lc = [r["loss"] for r in runs.read_jsonl(tmp_path / "compiled" / "metrics.jsonl")]
    le = [r["loss"] for r in runs.read_jsonl(tmp_path / "eager" / "metrics.jsonl")]
    assert len(lc) == len(le) >= 2
    assert all(abs(a - b) <= 1e-3 * abs(b) + 1e-5 for a, b in zip(lc, le, strict=True))


def test_batchnorm_recalibration_matches_the_data():
    """A random network's BatchNorm statistics are re-estimated as the plain average over the
    images: after it, the running mean of the first BN equals the per-channel mean of its
    inputs over all images (to float precision)."""
    import torch

    from dynamics.train.config import load_config
    from dynamics.train.evaluate import recalibrate_batchnorm
    from dynamics.train.setup import build_method_for

    root = Path(__file__).resolve().parents[2]
    cfg = load_config(root / "experiments/train/smoke_byol_digits.yaml")
    method = build_method_for(cfg, (1, 8, 8), torch.device("cpu"))
    bn = next(m for m in method.encoder.modules() if isinstance(m, torch.nn.BatchNorm2d))
    inputs = []
    hook = bn.register_forward_hook(lambda mod, inp, out: inputs.append(inp[0].detach()))
    images = torch.randint(0, 256, (300, 1, 8, 8), dtype=torch.uint8)
    transform = lambda x: x.float() / 255  # noqa: E731
    method.eval()
    assert recalibrate_batchnorm(method, images, transform, torch.device("cpu"),
                                 batch_size=60) >= 1  # equal batches: the plain mean
    hook.remove()
    x = torch.cat(inputs)
    assert torch.allclose(bn.running_mean, x.mean(dim=(0, 2, 3)), atol=1e-5)
    assert bn.momentum == 0.1 and not method.training

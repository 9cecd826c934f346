"""The bad-input matrix: every command, many wrong values. Each must end with exit code 2 and
exactly one line ``ssl-dynamics: error: <field>: ...`` naming the field, before any work and
without writing anything. (Faults that need a live process, signals or corrupt files are in
test_run_safety.py and test_hltm_grid_resume.py.)"""

from pathlib import Path

import pytest

from dynamics.cli import main

ROOT = Path(__file__).resolve().parents[2]
SMOKE = str(ROOT / "experiments" / "train" / "smoke_byol_digits.yaml")

SIMULATE = [
    (["simulate", "modes", "--p0", "nan"], "p0"),
    (["simulate", "modes", "--p0", "inf"], "p0"),
    (["simulate", "modes", "--s0", "nan"], "s0"),
    (["simulate", "modes", "--s0", "-1"], "s0"),
    (["simulate", "modes", "--tau0", "nan"], "tau0"),
    (["simulate", "modes", "--beta", "nan"], "beta"),
    (["simulate", "modes", "--eta", "-0.1"], "eta"),
    (["simulate", "modes", "--alpha-p", "0"], "alpha_p"),
    (["simulate", "modes", "--t-end", "1e300"], "t_end"),
    (["simulate", "modes", "--t-end", "-1"], "t_end"),
    (["simulate", "modes", "--n-save", "1"], "n_save"),
    (["simulate", "modes", "--rtol", "0"], "rtol"),
    (["simulate", "modes", "--device", "tpu"], "device"),
    (["simulate", "modes", "--threads", "0"], "threads"),
    (["simulate", "modes", "--out", "x.txt"], "out"),
    (["simulate", "matrix", "--seed", "-1"], "seed"),
    (["simulate", "matrix", "--n1", "0"], "n1"),
    (["simulate", "matrix", "--n1", "100000"], "n1"),
    (["simulate", "matrix", "--n2", "0"], "n2"),
    (["simulate", "matrix", "--t-end", "1e300"], "t_end"),
    (["simulate", "matrix", "--init-scale", "0"], "init_scale"),
    (["simulate", "matrix", "--X", "missing.npy"], "X"),
    (["simulate", "phase", "--kind", "hyper", "--seed", "-1"], "seed"),
    (["simulate", "phase", "--grid", "50000"], "grid"),
    (["simulate", "phase", "--s0-range", "0", "inf"], "s0_range"),
    (["simulate", "phase", "--s0-range", "-1", "2"], "s0_range"),
    (["simulate", "phase", "--t-end", "1e300"], "t_end"),
    (["simulate", "phase", "--kind", "hyper", "--x", "zeta", "0", "1", "3"], "x"),
    (["simulate", "phase", "--kind", "hyper", "--n-modes", "0"], "n_modes"),
    (["figures", "fig99"], "figure"),
]

TRAIN = [
    (["optim.lr=-1"], "optim.lr"),
    (["optim.lr=abc"], "optim.lr"),
    (["optim.lrr=1"], "optim.lrr"),
    (["optim.batch_size=1"], "optim.batch_size"),
    (["optim.epochs=0"], "optim.epochs"),
    (["optim.momentum=1"], "optim.momentum"),
    (["data.dataset=imagenet"], "data.dataset"),
    (["data.root=/somewhere"], "data.root"),
    (["data.dataset=folder"], "data.root"),
    (["data.dataset=folder", "data.root=/nonexistent/cifar.tar.gz"], "data.root"),
    (["data.dataset=cifar10", "data.root=/nonexistent"], "data.root"),
    (["data.image_size=0"], "data.image_size"),
    (["model.encoder=vit"], "model.encoder"),
    (["predictor.kind=quadratic"], "predictor.kind"),
    (["predictor.rho=1"], "predictor.rho"),
    (["method.name=moco"], "method.name"),
    (["method.name=simclr"], "method.loss"),
    (["method.name=simsiam", "method.ema=0.99"], "method.ema"),
    (["method.loss=hinge"], "method.loss"),
    (["device=tpu"], "device"),
    (["precision=fp8"], "precision"),
    (["threads=0"], "threads"),
    (["threads=lots"], "threads"),
    (["keep_checkpoints=-1"], "keep_checkpoints"),
    (["name=a/b"], "name"),
    (["seed=-1"], "seed"),
    (["log.log_every=0"], "log.log_every"),
    (["log.wandb=maybe"], "log.wandb"),
    (["noequals"], "overrides"),
    (["--threads", "0"], "threads"),
    (["--resume", "--overwrite"], None),  # argparse: mutually exclusive
]


def one_error_line(capsys, field):
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err and "Warning" not in err, err
    assert lines[0].startswith("ssl-dynamics: error: ")
    if field is not None:
        assert lines[0].startswith(f"ssl-dynamics: error: {field}:"), lines[0]


@pytest.mark.parametrize("argv,field", SIMULATE, ids=lambda v: " ".join(v)
                         if isinstance(v, list) else str(v))
def test_simulate_bad_input(tmp_path, monkeypatch, capsys, argv, field):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    one_error_line(capsys, field)
    assert list(tmp_path.iterdir()) == []  # nothing written


@pytest.mark.parametrize("overrides,field", TRAIN, ids=lambda v: " ".join(v)
                         if isinstance(v, list) else str(v))
def test_train_bad_input(tmp_path, capsys, overrides, field):
    out = tmp_path / "runs"
    code = None
    try:
        code = main(["train", SMOKE, f"out_dir={out}", "log.progress=true", *overrides])
    except SystemExit as exc:  # argparse errors
        code = exc.code
    assert code == 2
    one_error_line(capsys, field)
    assert not any(out.rglob("*.pt")) and not any(out.rglob("metrics.jsonl"))


def test_batch_larger_than_the_data(tmp_path, capsys):
    """Known only once the data is loaded: the progress note comes first, then the error."""
    out = tmp_path / "runs"
    assert main(["train", SMOKE, f"out_dir={out}", "optim.batch_size=100000"]) == 2
    err = capsys.readouterr().err
    errors = [ln for ln in err.splitlines() if "error" in ln]
    assert errors == [err.strip().splitlines()[-1]] and "Traceback" not in err
    assert errors[0].startswith("ssl-dynamics: error: optim.batch_size: 100000 is larger than")
    assert not any(out.rglob("*.pt"))


@pytest.mark.parametrize("argv,field", [
    (["eval", "/nonexistent/run"], "run_dir"),
    (["eval", ".", "--device", "tpu"], "device"),
    (["compare", "/nonexistent/run"], "run_dir"),
    (["compare", ".", "--format", "xml"], "--format"),
    (["hltm", "--hid", "0"], "hid"),
    (["hltm", "--threads", "none"], "threads"),
    (["hltm", "--depth", "20"], "depth"),
])
def test_other_commands_bad_input(tmp_path, monkeypatch, capsys, argv, field):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    one_error_line(capsys, field)

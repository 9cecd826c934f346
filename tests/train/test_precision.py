"""The precision a run computes in: ``auto`` takes bf16 where the hardware has it natively and
the model sees images, fp32 elsewhere; explicit choices win; the run records what it used."""

import pytest
import torch

from dynamics.train import precision as prec

CPU, CUDA = torch.device("cpu"), torch.device("cuda")


@pytest.mark.parametrize("native,in_shape,expected", [
    (True, (3, 32, 32), "bf16"),   # a native-bf16 CPU, a ConvNet on images
    (False, (3, 32, 32), "fp32"),  # emulated bf16 gains nothing
    (True, (16,), "fp32"),         # the synthetic linear runs keep full precision
    (True, (1, 8, 8), "fp32"),     # the 8 x 8 digits: no faster in bf16
])
def test_auto_on_the_cpu(monkeypatch, native, in_shape, expected):
    monkeypatch.setattr(prec, "cpu_has_native_bf16", lambda: native)
    assert prec.effective_precision(CPU, "auto", in_shape) == expected


def test_explicit_choices_and_cuda(monkeypatch):
    monkeypatch.setattr(prec, "cpu_has_native_bf16", lambda: True)
    assert prec.effective_precision(CPU, "fp32", (3, 32, 32)) == "fp32"
    assert prec.effective_precision(CPU, "bf16", (16,)) == "bf16"
    assert prec.effective_precision(CUDA, "auto", (3, 32, 32)) == "bf16"
    assert prec.use_channels_last(True, (3, 8, 8)) and not prec.use_channels_last(True, (16,))
    assert not prec.use_channels_last(False, (3, 8, 8))


def test_cpu_flags_are_read_from_cpuinfo(monkeypatch, tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse avx512f avx512_bf16\n")
    real = prec.Path

    monkeypatch.setattr(prec, "Path", lambda p: info if p == "/proc/cpuinfo" else real(p))
    prec.cpu_has_native_bf16.cache_clear()
    try:
        assert prec.cpu_has_native_bf16()
        info.write_text("processor\t: 0\nflags\t\t: fpu sse avx512f\n")
        prec.cpu_has_native_bf16.cache_clear()
        assert not prec.cpu_has_native_bf16()
    finally:
        prec.cpu_has_native_bf16.cache_clear()


@pytest.mark.parametrize("native", [True, False])
def test_the_run_records_the_precision_it_used(monkeypatch, smoke_cfg, tmp_path, native):
    from dynamics.train.trainer import train

    monkeypatch.setattr(prec, "cpu_has_native_bf16", lambda: native)
    monkeypatch.setattr(prec, "BF16_MIN_PIXELS", 8 * 8)  # the digits count as large here
    s = train(smoke_cfg(tmp_path, "optim.max_steps=2", "optim.epochs=1", "eval.linear_epochs=1",
                        "eval.online_probe_epochs=1", "device=cpu"))
    assert s["precision"] == ("bf16" if native else "fp32")


@pytest.mark.parametrize("device, in_shape, steps, compiler, expected", [
    ("cpu", (3, 32, 32), 3125, True, True),     # the cpu tier: 40 epochs of 78 steps
    ("cpu", (3, 32, 32), 999, True, False),     # too short to earn the compilation back
    ("cpu", (3, 32, 32), 3125, False, False),   # no C++ compiler for inductor
    ("cpu", (1, 8, 8), 5000, True, False),      # the digits
    ("cpu", (6,), 5000, True, False),           # the linear runs checked against the theory
    ("cuda", (3, 32, 32), 5000, True, False),   # not measured on a GPU: eager unless asked
])
def test_compile_auto(monkeypatch, device, in_shape, steps, compiler, expected):
    monkeypatch.setattr(prec, "have_cpp_compiler", lambda: compiler)
    assert prec.effective_compile(torch.device(device), "auto", in_shape, steps) is expected


def test_compile_choices():
    from dynamics.errors import ConfigError

    dev = torch.device("cpu")
    assert prec.effective_compile(dev, "on", (6,), 1) is True
    assert prec.effective_compile(dev, True, (6,), 1) is True  # a YAML boolean
    assert prec.effective_compile(dev, "False", (3, 32, 32), 10**6) is False
    with pytest.raises(ConfigError, match="compile: must be one of auto, on, off"):
        prec.compile_choice("maybe")


def test_the_run_records_whether_it_compiled(smoke_cfg, tmp_path):
    from dynamics.train.trainer import train

    summary = train(smoke_cfg(tmp_path, "optim.max_steps=1", "optim.epochs=1",
                              "eval.linear_epochs=1", "eval.online_probe_epochs=1"))
    assert summary["compiled"] is False  # auto: 8 x 8 digits, one step

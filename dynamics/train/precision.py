"""How a run computes: its precision (bf16 autocast or fp32) and memory format, decided once.

``precision: auto`` (the default) is bf16 autocast where the hardware computes bf16 natively and
the model is a convolutional image encoder, fp32 elsewhere:

* CUDA: bf16 (tensor cores);
* CPU: bf16 when the processor has native bf16 instructions (AVX-512 BF16 or AMX-BF16, which
  oneDNN uses for convolutions and matrix products) and the inputs are images of at least
  :data:`BF16_MIN_PIXELS` pixels; measured on the cpu tier's ConvNet on 32 x 32 images
  (``benchmarks/bench_cpu_step.py``) the step is about 2x faster than fp32, while on the 8 x 8
  digits of the smoke configs a run is no faster (3 epochs of ``cpu_digits_byol_directpred``:
  0.73 s of training either way), so those keep fp32. CPUs without native bf16 emulate it and
  gain nothing, so they stay in fp32;
* vector inputs (the synthetic linear runs checked against the theory) stay in fp32.

Under autocast the loss, the predictor's statistics and the probes keep full precision
(:func:`dynamics.train.methods.base.full_precision`). ``precision: fp32`` or ``bf16`` is used as
given on any device. ``channels_last`` (default true) stores image batches and convolution
weights in NHWC order, on CPU (oneDNN's native layout) and CUDA alike; it changes no number
beyond rounding. The precision in effect is recorded in ``summary.json`` (``precision``).

``compile: auto`` (the default) runs the training step through ``torch.compile`` (inductor) on
a CPU for convolutional image runs of at least :data:`COMPILE_MIN_STEPS` optimizer steps, where
a C++ compiler is found: measured on the cpu tier's step (``benchmarks/bench_cpu_step.py``) the
compiled bf16 step is about 1.3x faster than the eager one, for a few seconds of compilation
that a short run would not earn back. ``on`` / ``off`` (or true / false) are used as given; the
decision is recorded in ``summary.json`` (``compiled``).
"""

from __future__ import annotations

import functools
from pathlib import Path

import torch

#: CPU flags (``/proc/cpuinfo``) of native bf16 arithmetic.
BF16_FLAGS = ("avx512_bf16", "amx_bf16")
#: Smallest image (height x width) for which ``auto`` takes bf16 on a CPU.
BF16_MIN_PIXELS = 32 * 32
#: Fewest optimizer steps for which ``compile: auto`` compiles a CPU run's step.
COMPILE_MIN_STEPS = 1000
#: The values of ``compile`` (true / false read from YAML count as on / off).
COMPILE_CHOICES = ("auto", "on", "off")


@functools.cache
def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 natively (a flag of :data:`BF16_FLAGS`); False where
    ``/proc/cpuinfo`` cannot be read."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines()
                  if line.startswith("flags")), [])
    return any(f in flags for f in BF16_FLAGS)


def is_image_input(in_shape) -> bool:
    """Whether a model's input shape is an image (C, H, W)."""
    return in_shape is not None and len(tuple(in_shape)) == 3


def _large_images(in_shape) -> bool:
    """Images of at least :data:`BF16_MIN_PIXELS` pixels (None: assumed so)."""
    if in_shape is None:
        return True
    return is_image_input(in_shape) and in_shape[1] * in_shape[2] >= BF16_MIN_PIXELS


def effective_precision(device: torch.device, precision: str, in_shape=None) -> str:
    """The precision a run computes in (``"bf16"`` or ``"fp32"``; see the module docstring).

    Args:
        device: the run's device.
        precision: ``"auto"``, ``"fp32"`` or ``"bf16"`` (the config's ``precision``).
        in_shape: the model's input shape (C, H, W) for images, (d,) for vectors; None: large
            images.

    Returns:
        ``"bf16"`` or ``"fp32"``.
    """
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16"
    native = device.type == "cpu" and cpu_has_native_bf16()
    return "bf16" if native and _large_images(in_shape) else "fp32"


def use_channels_last(channels_last: bool, in_shape) -> bool:
    """Whether a run stores images and convolution weights channels-last (images only)."""
    return bool(channels_last) and is_image_input(in_shape)


def autocast_for(device: torch.device, precision: str, in_shape=None):
    """The autocast context of a run (bf16 where :func:`effective_precision` says so)."""
    use = effective_precision(device, precision, in_shape) == "bf16"
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=use)


__all__ = ["BF16_FLAGS", "BF16_MIN_PIXELS", "autocast_for", "cpu_has_native_bf16",
           "effective_precision", "is_image_input", "use_channels_last"]


def compile_choice(value) -> str:
    """``auto``, ``on`` or ``off`` for a config's ``compile`` (booleans and their spellings as
    on / off); a one-line :class:`~dynamics.errors.ConfigError` otherwise."""
    from dynamics.errors import check_choice

    text = str(value).strip().lower()
    text = {"true": "on", "false": "off", "1": "on", "0": "off"}.get(text, text)
    check_choice("compile", text, COMPILE_CHOICES)
    return text


@functools.cache
def have_cpp_compiler() -> bool:
    """Whether inductor finds a C++ compiler for its CPU kernels."""
    import shutil

    return any(shutil.which(c) for c in ("g++", "c++", "clang++"))


def effective_compile(device: torch.device, compile_: str, in_shape=None,
                      total_steps: int | None = None) -> bool:
    """Whether a run compiles its training step (see the module docstring).

    Args:
        device: the run's device.
        compile_: the config's ``compile`` (``auto``, ``on``, ``off`` or a boolean).
        in_shape: the model's input shape (C, H, W) for images, (d,) for vectors.
        total_steps: the run's optimizer steps (None: unknown, counted as short).

    Returns:
        True to run the step through ``torch.compile``.
    """
    choice = compile_choice(compile_)
    if choice != "auto":
        return choice == "on"
    return (device.type == "cpu" and is_image_input(in_shape) and _large_images(in_shape)
            and (total_steps or 0) >= COMPILE_MIN_STEPS and have_cpp_compiler())

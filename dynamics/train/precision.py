"""How a run computes: its precision (bf16 autocast or fp32) and memory format, decided once.

``precision: auto`` (the default) is bf16 autocast where the hardware computes bf16 natively and
the model is a convolutional image encoder, fp32 elsewhere:

* CUDA: bf16 (tensor cores);
* CPU: bf16 when the processor has native bf16 instructions (AVX-512 BF16 or AMX-BF16, which
  oneDNN uses for convolutions and matrix products) and the inputs are images; measured on the
  cpu tier's ConvNet (``benchmarks/bench_cpu_step.py``) the step is about 2x faster than fp32.
  CPUs without them emulate bf16 and gain nothing, so they stay in fp32;
* vector inputs (the synthetic linear runs checked against the theory) stay in fp32.

Under autocast the loss, the predictor's statistics and the probes keep full precision
(:func:`dynamics.train.methods.base.full_precision`). ``precision: fp32`` or ``bf16`` is used as
given on any device. ``channels_last`` (default true) stores image batches and convolution
weights in NHWC order, on CPU (oneDNN's native layout) and CUDA alike; it changes no number
beyond rounding. The precision in effect is recorded in ``summary.json`` (``precision``).
"""

from __future__ import annotations

import functools
from pathlib import Path

import torch

#: CPU flags (``/proc/cpuinfo``) of native bf16 arithmetic.
BF16_FLAGS = ("avx512_bf16", "amx_bf16")


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


def effective_precision(device: torch.device, precision: str, in_shape=None) -> str:
    """The precision a run computes in (``"bf16"`` or ``"fp32"``; see the module docstring).

    Args:
        device: the run's device.
        precision: ``"auto"``, ``"fp32"`` or ``"bf16"`` (the config's ``precision``).
        in_shape: the model's input shape (C, H, W) for images, (d,) for vectors; None: images.

    Returns:
        ``"bf16"`` or ``"fp32"``.
    """
    if precision != "auto":
        return precision
    images = in_shape is None or is_image_input(in_shape)
    if device.type == "cuda":
        return "bf16"
    return "bf16" if device.type == "cpu" and images and cpu_has_native_bf16() else "fp32"


def use_channels_last(channels_last: bool, in_shape) -> bool:
    """Whether a run stores images and convolution weights channels-last (images only)."""
    return bool(channels_last) and is_image_input(in_shape)


def autocast_for(device: torch.device, precision: str, in_shape=None):
    """The autocast context of a run (bf16 where :func:`effective_precision` says so)."""
    use = effective_precision(device, precision, in_shape) == "bf16"
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=use)


__all__ = ["BF16_FLAGS", "autocast_for", "cpu_has_native_bf16", "effective_precision",
           "is_image_input", "use_channels_last"]

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
"""

from __future__ import annotations

import functools
from pathlib import Path

import torch

#: CPU flags (``/proc/cpuinfo``) of native bf16 arithmetic.
BF16_FLAGS = ("avx512_bf16", "amx_bf16")
#: Smallest image (height x width) for which ``auto`` takes bf16 on a CPU.
BF16_MIN_PIXELS = 32 * 32


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

"""The interface every SSL method implements (BYOL, SimSiam, SimCLR, ...).

A method owns the online network (encoder + projector [+ predictor]) and, where it has one, the
target network. The trainer only talks to this interface:

    out = method.training_step(view1, view2)      # forward, loss
    out.loss.backward(); optimizer.step()
    method.after_optimizer_step(step)              # EMA update, predictor rewrite, symmetrise

and the instrumentation reads ``out`` (detached tensors) and :meth:`predictor_matrix` /
:meth:`correlation_matrix`. Methods register themselves by name in :data:`METHODS` (one
decorated class per file in this package; the package imports every module), with the tags
``loss_family`` (the family of :data:`dynamics.losses.LOSSES` their ``method.loss`` comes from)
and ``default_ema`` (the target momentum when ``method.ema`` is unset). A method's own typed
options (SimCLR's temperature, Barlow Twins' lambda, ...) are its class attribute ``options``
(:class:`~dynamics.train.methods.options.Option` entries: type, default, range, source), which
make its ``method`` config section (:func:`~dynamics.train.methods.options.method_config`);
rules across sections live in :meth:`Method.check_config`, which config validation calls.
Adding a method is one file: the class, its options and its rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from dynamics.registry import Registry

#: SSL methods by ``method.name``: each entry a :class:`Method` subclass built as
#: ``cls(cfg, in_shape)``, tagged ``loss_family`` and ``default_ema``.
METHODS = Registry("method", field="method.name")


def full_precision(t: Tensor) -> torch.autocast:
    """Autocast switched off on ``t``'s device. Under bf16 autocast the encoder and projector
    run in bf16; the head (predictor) and the loss run in float32 inside this context, on
    :func:`at_least_fp32` inputs, so the loss and the predictor's statistics keep full precision."""
    return torch.autocast(device_type=t.device.type, enabled=False)


def at_least_fp32(*tensors: Tensor) -> tuple[Tensor, ...]:
    """bf16/fp16 tensors as float32; float32/float64 ones unchanged (a float64 model, e.g. the
    synthetic linear runs checked against the theory, keeps its precision)."""
    return tuple(t.float() if t.dtype in (torch.float16, torch.bfloat16) else t
                 for t in tensors)


@dataclass
class StepOutput:
    """What one training step produced.

    ``loss``: the scalar to back-propagate. Detached tensors for the measurements:
    ``features`` (backbone outputs of both views, (2B, d_h)), ``online`` (projector outputs f
    of both views, the predictor's input, (2B, d_z)), ``predicted`` (predictor outputs, or None),
    ``target`` (target-branch outputs, or None). ``extra``: scalar diagnostics (floats).
    """

    loss: Tensor
    features: Tensor
    online: Tensor
    predicted: Tensor | None = None
    target: Tensor | None = None
    extra: dict[str, float] = field(default_factory=dict)


class Method(nn.Module):
    """Base class of the SSL methods. Subclasses implement :meth:`training_step` and may
    override the hooks; everything that must be checkpointed lives in ``state_dict``."""

    name: str = "method"
    #: the method's own options (its ``method`` section beyond the shared ones)
    options: ClassVar[Mapping[str, Any]] = {}

    @classmethod
    def check_config(cls, cfg: Any) -> None:
        """Rules of this method on an otherwise valid TrainConfig (one-line ConfigError);
        called by :func:`dynamics.train.validate.validate` before any work. Default: none."""

    def training_step(self, view1: Tensor, view2: Tensor) -> StepOutput:
        """Forward both views and compute the loss; returns a :class:`StepOutput`."""
        raise NotImplementedError

    def forward(self, view1: Tensor, view2: Tensor) -> StepOutput:
        """Same as :meth:`training_step` (so that a DDP wrapper around the method can be called
        on the two views)."""
        return self.training_step(view1, view2)

    def parameter_groups(self) -> list[dict]:
        """Optimizer parameter groups: the online network with the base lr and weight decay,
        the predictor with lr * predictor_lr_mult (alpha_p) and its own weight decay."""
        raise NotImplementedError

    @torch.no_grad()
    def after_optimizer_step(self, step: int) -> None:
        """Called after every optimizer step (EMA target update, DirectPred rewrite, ...)."""

    @torch.no_grad()
    def backbone_features(self, x: Tensor) -> Tensor:
        """Frozen-encoder features for probes (eval mode is the caller's business)."""
        raise NotImplementedError

    def predictor_matrix(self) -> Tensor | None:
        """The linear predictor's weight Wp (d_z x d_z), or None (no / non-linear predictor)."""
        return None

    def correlation_matrix(self) -> Tensor | None:
        """The running correlation F of the predictor input, where the method keeps one."""
        return None

"""The regression losses of the non-contrastive methods (BYOL, SimSiam, DirectPred), registered
in :data:`dynamics.losses.LOSSES` with family ``regression``.

Each is called as ``fn(z, p, t, *, p_sqrt=None, form="cosine")`` with the online projector
output z (the predictor input), the prediction p = Wp z and the target t, all (B, d); it
returns the batch mean. Tags: ``pair`` -- how the two directions of a symmetric loss combine
("sum", as the official code does, or "mean"); ``trains_predictor`` -- False if no gradient
reaches the predictor; ``needs_sqrt`` -- the cosine form wants ``p_sqrt`` = Wp^{1/2} z;
``check`` -- ``check(method, kind)`` raises for settings the loss cannot honour.

- ``cosine``: 2 - 2 cos(p, t) (BYOL's normalised MSE; the official ``regression_loss``).
- ``euclidean``: 1/2 ||p - t||^2 summed over dimensions: the theory's
  J = 1/2 E||Wp W x1 - Wa x2||^2 (Tian, Chen & Ganguli 2021, Eq. 1) per direction.
- ``isoloss``: IsoLoss (Halvagal, Laborieux & Zenke 2023), cosine or Euclidean ``form``.
"""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from torch import Tensor

from dynamics.errors import ConfigError
from dynamics.losses.registry import LOSSES
from dynamics.predictors import isoloss_cosine, isoloss_euclidean


def cosine_loss(p: Tensor, t: Tensor) -> Tensor:
    """mean_b (2 - 2 cos(p_b, t_b)) with ``F.normalize`` (the official ``regression_loss``).

    Args:
        p: predictions, torch tensor (B, d).
        t: targets, (B, d) (not detached here).

    Returns:
        Tensor: 0-d loss in [0, 4].

    Example:
        >>> import torch
        >>> p = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
        >>> t = torch.tensor([[1.0, 0.2], [0.0, 1.0], [-1.0, 1.0]])
        >>> cosine_loss(p, t)
        tensor(0.6796)
    """
    return (2 - 2 * (F.normalize(p, dim=1) * F.normalize(t, dim=1)).sum(dim=1)).mean()


def euclidean_loss(p: Tensor, t: Tensor) -> Tensor:
    """mean_b 1/2 ||p_b - t_b||^2 (sum over dimensions): the theory's J (Eq. 1) on a batch.

    Args:
        p: predictions, torch tensor (B, d).
        t: targets, (B, d).

    Returns:
        Tensor: 0-d loss.

    Example:
        >>> import torch
        >>> p = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
        >>> t = torch.tensor([[1.0, 0.2], [0.0, 1.0], [-1.0, 1.0]])
        >>> euclidean_loss(p, t)
        tensor(0.6733)
    """
    return 0.5 * (p - t).pow(2).sum(dim=1).mean()


def _cosine(z: Tensor, p: Tensor, t: Tensor, **_: Any) -> Tensor:
    return cosine_loss(p, t)


def _euclidean(z: Tensor, p: Tensor, t: Tensor, **_: Any) -> Tensor:
    return euclidean_loss(p, t)


def isoloss(z: Tensor, p: Tensor, t: Tensor, *, p_sqrt: Tensor | None = None,
            form: str = "cosine") -> Tensor:
    """IsoLoss (Halvagal et al. 2023): the cosine form with ``p_sqrt`` = Wp^{1/2} z (z itself
    when None, i.e. Wp = I), or the Euclidean form (see :mod:`dynamics.predictors.isoloss`).

    Args:
        z: online projector outputs (the predictor input), torch tensor (B, d).
        p: predictions p = Wp z, (B, d); used as a value only.
        t: targets, (B, d); detached inside.
        p_sqrt: Wp^{1/2} z, (B, d), for the cosine form; None: ``z``.
        form: ``"euclidean"``, or the cosine form for any other value (default ``"cosine"``;
            not validated).

    Returns:
        Tensor: 0-d loss (cosine form: -2 mean_b sim_b; -1 when Wp = I and p, t align).

    Example:
        >>> import torch
        >>> p = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
        >>> t = torch.tensor([[1.0, 0.2], [0.0, 1.0], [-1.0, 1.0]])
        >>> isoloss(p, p, t), isoloss(p, p, t, form="euclidean")
        (tensor(-0.6602), tensor(1.3467))
    """
    if form == "euclidean":
        return isoloss_euclidean(z, t, p)
    return isoloss_cosine(z, t, p, z if p_sqrt is None else p_sqrt)


def check_isoloss(method: Any, kind: str) -> None:
    """IsoLoss stops the gradient into the predictor and the target by construction: it needs
    a closed-form predictor (a symmetric one for the cosine form) and stop-gradient.

    Args:
        method: the ``method`` config section; reads ``method.predictor.closed_form``,
            ``method.isoloss_form`` and ``method.stop_grad``.
        kind: the predictor kind (``predictor.kind``); ``"ridge"`` is refused for the cosine
            form.

    Returns:
        None.

    Raises:
        ConfigError: for a trained (not closed-form) predictor, a ridge predictor with the
            cosine form, or ``method.stop_grad`` false.
    """
    if not method.predictor.closed_form:
        raise ConfigError("method.loss", f"isoloss sends no gradient to the predictor, so it "
                                         f"needs a closed-form predictor (predictor.kind "
                                         f"none, directpred, directcopy, directset, "
                                         f"threshold); got predictor.kind={kind}")
    if kind == "ridge" and method.isoloss_form == "cosine":
        raise ConfigError("predictor.kind", "the cosine isoloss needs a symmetric PSD "
                                            "predictor (Wp^1/2); ridge is not symmetric")
    if not method.stop_grad:
        raise ConfigError("method.stop_grad", "isoloss stops the target gradient by "
                                              "construction; use method.stop_grad=true")


LOSSES.register("cosine", _cosine, doc="2 - 2 cos(p, t) (BYOL's normalised MSE)",
                source="Grill et al. 2020; official code", family="regression", pair="sum",
                trains_predictor=True, needs_sqrt=False)
LOSSES.register("euclidean", _euclidean, doc="1/2 ||p - t||^2: the theory's J (Eq. 1)",
                source="Tian, Chen & Ganguli 2021, Eq. 1", family="regression", pair="mean",
                trains_predictor=True, needs_sqrt=False)
LOSSES.register("isoloss", isoloss, doc="IsoLoss: no gradient into predictor or target",
                source="Halvagal et al. 2023", family="regression", pair="sum",
                trains_predictor=False, needs_sqrt=True, check=check_isoloss)

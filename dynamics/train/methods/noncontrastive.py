"""Shared machinery of the non-contrastive methods (BYOL, SimSiam): online network, predictor,
losses, parameter groups.

Online network: encoder -> projector (f, the predictor input) -> predictor (Wp f). The target
branch (f_a) is the subclass's business (:meth:`SiameseMethod.targets`). One training step,
in the official luckmatters order (``byol_trainer.py``)::

    h1, h2 = encoder(v1), encoder(v2)            # views forwarded separately (per-view BN)
    z1, z2 = projector(h1), projector(h2)        # f
    t1, t2 = targets(v1, v2, z1, z2)             # f_a (no grad unless stop_grad is False)
    predictor.observe(cat(z1, z2), cat(t2, t1))  # closed-form predictors: fold into F first
    p1, p2 = predictor(z1), predictor(z2)
    loss = D(p1, t2)          [+ D(p2, t1) if method.symmetric_loss]

Losses D (per sample, mean over the batch) are the ``regression`` entries of
:data:`dynamics.losses.LOSSES` (:mod:`dynamics.losses.regression`):

- ``cosine``: 2 - 2 cos(p, t) (L2-normalised MSE of BYOL; the official code's
  ``regression_loss``). With ``symmetric_loss`` the two directions are *summed*, as in the
  official code (loss = D(p1, t2) + D(p2, t1)), so the paper's learning rates carry over.
- ``euclidean``: 1/2 ||p - t||^2 summed over dimensions: exactly the theory's
  J = 1/2 E||Wp W x1 - Wa x2||^2 per direction (Tian, Chen & Ganguli 2021, Eq. 1), whose
  gradient w.r.t. W is Wp^T (Wp W x1 - Wa x2) x1^T / B. With ``symmetric_loss`` the two
  directions are *averaged* (the entry's ``pair`` tag), so the large-batch flow is still
  Lemma 1's.
- ``isoloss``: IsoLoss (Halvagal, Laborieux & Zenke 2023), cosine form by default
  (``isoloss_form="euclidean"`` for the Euclidean one). It stops the gradient into the
  predictor and the target by construction, so it needs a closed-form predictor
  (``predictor.kind`` none, directpred, directcopy, directset, threshold; ridge only with the
  Euclidean form) and ``method.stop_grad`` true (the entry's ``check``).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from dynamics.errors import check_choice
from dynamics.losses import LOSSES
from dynamics.train.methods.base import Method, StepOutput, at_least_fp32, full_precision
from dynamics.train.models import (
    build_encoder,
    build_predictor,
    build_projector,
    projector_out_dim,
    scale_initial_weights,
)

ISOLOSS_FORMS = ("cosine", "euclidean")


def online_network(cfg: Any, in_shape) -> tuple[Any, int, Any, int]:
    """(encoder, feat_dim, projector, out_dim) from ``cfg.model``."""
    encoder, feat_dim = build_encoder(cfg, in_shape)
    projector = build_projector(cfg, feat_dim)
    scale_initial_weights((encoder, projector), float(cfg.model.init_scale))
    return encoder, feat_dim, projector, projector_out_dim(cfg, feat_dim)


def optim_settings(cfg: Any) -> dict[str, float]:
    """lr / weight decay of the online network and of the predictor (alpha_p, Table 5)."""
    o = cfg.optim
    wd_p = o.weight_decay if o.predictor_weight_decay is None else o.predictor_weight_decay
    return {"lr": float(o.lr), "weight_decay": float(o.weight_decay),
            "predictor_lr": float(o.lr * o.predictor_lr_mult),
            "predictor_weight_decay": float(wd_p)}


class SiameseMethod(Method):
    """Base of BYOL and SimSiam (see the module docstring). Subclasses implement
    :meth:`targets` and may extend :meth:`after_optimizer_step`.

    Attributes: ``encoder``, ``projector``, ``predictor`` (a
    :class:`~dynamics.train.models.Predictor`), ``feat_dim``, ``out_dim``, ``loss_name``,
    ``symmetric_loss``, ``stop_grad``, ``ema`` (effective target momentum), ``optim`` (lr / wd
    settings), ``config`` (the TrainConfig).
    """

    name = "siamese"

    def __init__(self, cfg: Any, in_shape, *, isoloss_form: str = "cosine"):
        super().__init__()
        self.config = cfg
        self.encoder, self.feat_dim, self.projector, self.out_dim = online_network(cfg, in_shape)
        self.predictor = build_predictor(cfg, self.out_dim)
        me = cfg.method
        self.loss_name = me.loss
        self.symmetric_loss = bool(me.symmetric_loss)
        self.stop_grad = bool(me.stop_grad)
        self.ema = float(cfg.ema_momentum)
        self.optim = optim_settings(cfg)
        check_choice("isoloss_form", isoloss_form, ISOLOSS_FORMS)
        self.isoloss_form = isoloss_form
        entry = LOSSES.entry(LOSSES.check(self.loss_name, family="regression"))
        self.loss_fn, self.loss_tags = entry.obj, dict(entry.tags)
        if self.loss_tags.get("check") is not None:
            self.loss_tags["check"](self, cfg.predictor.kind)

    # --- pieces ---------------------------------------------------------------------------
    def online_modules(self) -> list[torch.nn.Module]:
        """The online network's trained modules besides the predictor: encoder, projector."""
        return [self.encoder, self.projector]

    def targets(self, view1: Tensor, view2: Tensor, z1: Tensor, z2: Tensor
                ) -> tuple[Tensor, Tensor]:
        """Target-branch outputs (t1, t2) of view1 and view2."""
        raise NotImplementedError

    def _direction(self, z: Tensor, p: Tensor, t: Tensor, p_sqrt_w: Tensor | None) -> Tensor:
        p_sqrt = None if p_sqrt_w is None else z @ p_sqrt_w.to(z.dtype).T
        return self.loss_fn(z, p, t, p_sqrt=p_sqrt, form=self.isoloss_form)

    # --- Method interface -----------------------------------------------------------------
    def training_step(self, view1: Tensor, view2: Tensor) -> StepOutput:
        """One step in the official luckmatters order (see the module docstring)."""
        h1, h2 = self.encoder(view1), self.encoder(view2)
        z1, z2 = self.projector(h1), self.projector(h2)
        t1, t2 = self.targets(view1, view2, z1, z2)
        z1, z2, t1, t2 = at_least_fp32(z1, z2, t1, t2)
        with full_precision(z1):  # predictor and loss in float32 under bf16 autocast
            self.predictor.observe(torch.cat([z1, z2]).detach(), torch.cat([t2, t1]).detach())
            p1, p2 = self.predictor(z1), self.predictor(z2)
            sqrt_w = (self.predictor.sqrt_matrix() if self.loss_tags["needs_sqrt"]
                      and self.isoloss_form == "cosine" else None)
            loss = self._direction(z1, p1, t2, sqrt_w)
            if self.symmetric_loss:
                other = self._direction(z2, p2, t1, sqrt_w)
                loss = ((loss + other) / 2 if self.loss_tags["pair"] == "mean"
                        else loss + other)
        has_pred = self.predictor.kind != "none"
        return StepOutput(
            loss=loss,
            features=torch.cat([h1, h2]).detach(),
            online=torch.cat([z1, z2]).detach(),
            predicted=torch.cat([p1, p2]).detach() if has_pred else None,
            target=torch.cat([t1, t2]).detach(),
        )

    def parameter_groups(self) -> list[dict]:
        """``[{"name": "online", encoder + projector, lr, weight_decay},
        {"name": "predictor", lr * predictor_lr_mult, predictor_weight_decay}]`` (the predictor
        group is omitted when it has no parameters). The paper's Table 5 ("predictor-only weight
        decay") is ``optim.weight_decay=0 optim.predictor_weight_decay=4e-4``; without
        ``predictor_weight_decay`` the predictor uses ``weight_decay``."""
        online = [p for m in self.online_modules() for p in m.parameters() if p.requires_grad]
        groups = [{"name": "online", "params": online, "lr": self.optim["lr"],
                   "weight_decay": self.optim["weight_decay"]}]
        pred = [p for p in self.predictor.parameters() if p.requires_grad]
        if pred:
            groups.append({"name": "predictor", "params": pred,
                           "lr": self.optim["predictor_lr"],
                           "weight_decay": self.optim["predictor_weight_decay"]})
        return groups

    @torch.no_grad()
    def after_optimizer_step(self, step: int) -> None:
        """Predictor hook (symmetrise / DirectPred rewrite), then (BYOL) the target EMA."""
        self.predictor.after_optimizer_step(step)

    @torch.no_grad()
    def backbone_features(self, x: Tensor) -> Tensor:
        """The online encoder's output h."""
        return self.encoder(x)

    def predictor_matrix(self) -> Tensor | None:
        """The predictor's Wp (see :meth:`Predictor.matrix`)."""
        return self.predictor.matrix()

    def correlation_matrix(self) -> Tensor | None:
        """The predictor's running F (DirectPred Eq. 19), or None if it keeps none."""
        return self.predictor.correlation()

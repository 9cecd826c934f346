"""BYOL (Grill et al. 2020) as in the DirectPred paper and its official code (Tian, Chen &
Ganguli 2021; luckmatters ``byol_trainer.py``).

Target network = a deep copy of the online encoder + projector, with ``requires_grad=False``,
updated after every optimizer step (after the predictor hook) by

    theta_a <- m theta_a + (1 - m) theta,       m = cfg.ema_momentum (gamma_a; BYOL 0.996)

(the theory's Wa with m = 1 - lr * beta). m = 0 copies the online weights every step ("no EMA";
then BYOL is SimSiam with a separately computed target forward). Only parameters are averaged;
BatchNorm buffers are not (the target runs its own BN in train mode, as in the official code).

Differences from the official code: the target is *initialised as a copy* of the online network
(the official copy-initialisation call is commented out, so its target starts from an
independent random init; the EMA forgets the difference within a few 1/(1-m) steps).

``method.stop_grad=False`` computes the target branch with gradients flowing into the *online*
weights. That only makes sense when the target *is* the online network, i.e. m = 0 (Theorem 2's
setting); then the target outputs are the online projector outputs themselves. With m > 0 it is
refused (ConfigError on ``method.stop_grad``).
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import Tensor, nn

from dynamics.errors import ConfigError
from dynamics.train.methods.base import METHODS
from dynamics.train.methods.noncontrastive import SiameseMethod


@METHODS.register("byol", doc="EMA target network + predictor", source="Grill et al. 2020",
                  loss_family="regression", default_ema=0.996)
class BYOL(SiameseMethod):
    """BYOL with an EMA target (see the module docstring). ``target_encoder`` /
    ``target_projector`` are the target network."""

    name = "byol"

    def __init__(self, cfg: Any, in_shape, **kwargs: Any):
        super().__init__(cfg, in_shape, **kwargs)
        if not self.stop_grad and self.ema > 0:
            raise ConfigError("method.stop_grad", f"false needs a target equal to the online "
                                                  f"network (method.ema=0); got effective EMA "
                                                  f"momentum {self.ema:g}")
        self.target_encoder = copy.deepcopy(self.encoder)
        self.target_projector = copy.deepcopy(self.projector)
        for p in self.target_parameters():
            p.requires_grad_(False)

    def target_parameters(self) -> list[nn.Parameter]:
        """Parameters of the target encoder and projector (theta_a)."""
        return [*self.target_encoder.parameters(), *self.target_projector.parameters()]

    def online_parameters(self) -> list[nn.Parameter]:
        """Parameters of the online encoder and projector (theta), same order as the target's."""
        return [*self.encoder.parameters(), *self.projector.parameters()]

    def targets(self, view1: Tensor, view2: Tensor, z1: Tensor, z2: Tensor
                ) -> tuple[Tensor, Tensor]:
        """Target-network outputs of both views, no grad; the online ``z1, z2`` if m = 0, no SG."""
        if not self.stop_grad:  # m = 0: the target is the online network, gradient flows
            return z1, z2
        with torch.no_grad():
            t1 = self.target_projector(self.target_encoder(view1))
            t2 = self.target_projector(self.target_encoder(view2))
        return t1, t2

    @torch.no_grad()
    def update_target(self) -> None:
        """theta_a <- m theta_a + (1 - m) theta over the parameters (m = 0: exact copy)."""
        tgt, onl = self.target_parameters(), self.online_parameters()
        if self.ema == 0:
            for t, o in zip(tgt, onl, strict=True):
                t.copy_(o)
            return
        torch._foreach_mul_(tgt, self.ema)
        torch._foreach_add_(tgt, onl, alpha=1 - self.ema)

    @torch.no_grad()
    def after_optimizer_step(self, step: int) -> None:
        """Predictor hook first, then the EMA (the official order)."""
        super().after_optimizer_step(step)
        self.update_target()

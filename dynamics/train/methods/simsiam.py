"""SimSiam (Chen & He 2021): the target is the online projector output itself,
f_a = f = projector(encoder(v)) (the theory's Wa = W), with the stop-gradient on or off
(``method.stop_grad``; off is Theorem 2's collapsing setting). No EMA (``method.ema`` must be
0 or unset, checked by the config).

Architecture and loss follow the DirectPred configuration (projector Linear-BN-ReLU-Linear,
predictor from ``predictor.kind``), not SimSiam's own 3-layer projector / bottleneck predictor;
the symmetric loss is SimSiam's 1/2 D(p1, z2) + 1/2 D(p2, z1).
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

from dynamics.errors import ConfigError
from dynamics.train.methods.base import METHODS
from dynamics.train.methods.noncontrastive import SiameseMethod


@METHODS.register("simsiam", doc="stop-gradient target = online network, + predictor",
                  source="Chen & He 2021", loss_family="regression", default_ema=0.0)
class SimSiam(SiameseMethod):
    """SimSiam (see the module docstring)."""

    name = "simsiam"

    @classmethod
    def check_config(cls, cfg: Any) -> None:
        """The target is the online network: ``method.ema`` must be unset or 0."""
        if cfg.method.ema not in (None, 0):
            raise ConfigError("method.ema", "must be 0 for method=simsiam (the target is the "
                                            "online network); use method=byol for an EMA "
                                            "target")

    def targets(self, view1: Tensor, view2: Tensor, z1: Tensor, z2: Tensor
                ) -> tuple[Tensor, Tensor]:
        """The online projector outputs ``z1, z2`` as targets, detached if ``stop_grad``."""
        if self.stop_grad:
            return z1.detach(), z2.detach()
        return z1, z2

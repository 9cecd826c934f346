"""Barlow Twins (Zbontar et al. 2021) and VICReg (Bardes, Ponce & LeCun 2022): encoder ->
projector -> a redundancy-reduction loss of the two views' projector outputs
(:mod:`dynamics.contrastive.redundancy`); no predictor, no target network.

``method.loss`` defaults to the method's own loss (``barlow_twins`` / ``vicreg``; config
validation resolves the shared default ``cosine`` to it); its coefficients are
``method.bt_lambda`` (0.0051) and ``method.vicreg_sim`` / ``vicreg_std`` / ``vicreg_cov``
(25 / 25 / 1), the papers' defaults. The projector is ``model.projector_*`` (the papers use
8192-wide three-layer projectors on ImageNet; the shipped CIFAR configs keep the toolkit's
512-128 MLP).
"""

from __future__ import annotations

from typing import Any

import dynamics.contrastive.redundancy  # noqa: F401 - registers the losses
from dynamics.errors import ConfigError
from dynamics.train.methods.base import METHODS
from dynamics.train.methods.simclr import SimCLR


class _OwnLoss(SimCLR):
    """The SimCLR pipeline with the ``redundancy`` family, restricted to the method's own loss
    (Barlow Twins with the VICReg loss would be VICReg under another name)."""

    family = "redundancy"

    @classmethod
    def check_config(cls, cfg: Any) -> None:
        """SimCLR's rules, and ``method.loss`` is the method's own loss."""
        super().check_config(cfg)
        if cfg.method.loss != cls.name:
            raise ConfigError("method.loss", f"method={cls.name} uses its own loss {cls.name}; "
                                             f"got {cfg.method.loss!r} (choose the method by "
                                             f"method.name)")


@METHODS.register("barlow_twins", doc="redundancy reduction: cross-correlation to identity",
                  source="Zbontar et al. 2021", loss_family="redundancy", default_ema=0.0,
                  default_loss="barlow_twins")
class BarlowTwins(_OwnLoss):
    """Barlow Twins: encoder -> projector -> :func:`~dynamics.contrastive.redundancy.
    barlow_twins_loss`."""

    name = "barlow_twins"


@METHODS.register("vicreg", doc="variance-invariance-covariance regularisation",
                  source="Bardes, Ponce & LeCun 2022", loss_family="redundancy",
                  default_ema=0.0, default_loss="vicreg")
class VICReg(_OwnLoss):
    """VICReg: encoder -> projector -> :func:`~dynamics.contrastive.redundancy.vicreg_loss`."""

    name = "vicreg"

"""Barlow Twins (Zbontar et al. 2021) and VICReg (Bardes, Ponce & LeCun 2022): encoder ->
projector -> a redundancy-reduction loss of the two views' projector outputs
(:mod:`dynamics.losses.redundancy`); no predictor, no target network.

``method.loss`` defaults to the method's own loss (``barlow_twins`` / ``vicreg``; config
validation resolves the shared default ``cosine`` to it); its coefficients are each method's
own options, ``method.lambd`` (0.0051) and ``method.standardize`` for Barlow Twins,
``method.sim_coeff`` / ``std_coeff`` / ``cov_coeff`` (25 / 25 / 1) for VICReg, the papers'
defaults. The projector is ``model.projector_*`` (the papers use
8192-wide three-layer projectors on ImageNet; the shipped CIFAR configs keep the toolkit's
512-128 MLP).
"""

from __future__ import annotations

from typing import Any

from dynamics.errors import ConfigError
from dynamics.train.methods.base import METHODS
from dynamics.train.methods.options import Option
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
    """Barlow Twins: encoder -> projector -> :func:`~dynamics.losses.redundancy.
    barlow_twins_loss`."""

    name = "barlow_twins"
    options = {
        "lambd": Option(float, 0.0051, "weight of the off-diagonal terms", low=0,
                        source="Zbontar et al. 2021"),
        "standardize": Option(bool, True, "standardise each dimension over the batch (false "
                                          "with lambd = 1: the spectral loss of the linear "
                                          "theory, Simon et al. 2023)",
                              source="Zbontar et al. 2021"),
    }


@METHODS.register("vicreg", doc="variance-invariance-covariance regularisation",
                  source="Bardes, Ponce & LeCun 2022", loss_family="redundancy",
                  default_ema=0.0, default_loss="vicreg")
class VICReg(_OwnLoss):
    """VICReg: encoder -> projector -> :func:`~dynamics.losses.redundancy.vicreg_loss`."""

    name = "vicreg"
    options = {
        "sim_coeff": Option(float, 25.0, "invariance (MSE) coefficient lambda", low=0,
                            source="Bardes, Ponce & LeCun 2022"),
        "std_coeff": Option(float, 25.0, "variance coefficient mu", low=0,
                            source="Bardes, Ponce & LeCun 2022"),
        "cov_coeff": Option(float, 1.0, "covariance coefficient nu", low=0,
                            source="Bardes, Ponce & LeCun 2022"),
    }

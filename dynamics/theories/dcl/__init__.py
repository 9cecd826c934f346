"""Decoupled contrastive learning (Yeh, Hong, Hsu, Liu, Chen & LeCun, ECCV 2022): InfoNCE without
the negative-positive coupling multiplier q. The losses are ``dcl``/``dclw`` of
:data:`dynamics.losses.LOSSES` (:mod:`dynamics.losses.contrastive`); here: ``predictions`` (the
gradient identity, q's batch-size statistics, DCL against InfoNCE at small batch).
"""

from dynamics.verify.papers import Paper

PAPER = Paper("dcl", "Yeh, Hong, Hsu, Liu, Chen & LeCun",
              "Decoupled contrastive learning",
              "ECCV 2022", 2022, "2110.06848")

__all__ = ["PAPER"]

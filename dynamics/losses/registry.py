"""The one loss registry :data:`LOSSES` and its families (see :mod:`dynamics.losses`)."""

from __future__ import annotations

from dynamics.registry import Registry

#: Every loss by name (see the module docstring for the families and their call conventions).
LOSSES = Registry("loss", field="method.loss")

FAMILIES = ("contrastive", "regression", "redundancy", "hltm")

__all__ = ["FAMILIES", "LOSSES"]

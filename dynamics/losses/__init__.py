"""Every loss of the toolkit, theory and training, in one registry :data:`LOSSES`.

Each loss registers itself next to its definition with a ``family`` tag that fixes how it is
called:

=============== ============================================================================
family          call and users
=============== ============================================================================
contrastive     ``fn(z1, z2, **kwargs) -> scalar``: SimCLR's batch losses (InfoNCE / NT-Xent,
                DCL, DCLW, exact-covariance InfoNCE, alignment + uniformity). The ``args`` tag
                maps each keyword to the ``method.*`` config field that supplies it;
                ``checks`` says whether it takes ``check=`` (input checks, off in training)
regression      ``fn(z, p, t, *, p_sqrt=None, form="cosine") -> scalar``: the non-contrastive
                loss of a prediction p against a target t (BYOL/SimSiam/DirectPred). Tags:
                ``pair`` ("sum" or "mean" of the two directions of a symmetric loss),
                ``trains_predictor`` (False: no gradient reaches the predictor),
                ``needs_sqrt`` (the cosine form wants Wp^{1/2} z as ``p_sqrt``)
redundancy      ``fn(z1, z2, **kwargs) -> scalar``: Barlow Twins and VICReg on the projector
                outputs (``args`` as for contrastive)
hltm            ``fn(f, f_pos, f_neg, tau) -> (L, pos, neg)``: the HLTM losses of Tian et al.
                (2020); the ``option`` tag is the value of the HLTM ``loss`` setting
=============== ============================================================================

Configs, the CLI and the docs read the allowed names from here (``LOSSES.names(family=...)``);
adding a loss is one decorated function in the module of its family (:mod:`.contrastive`,
:mod:`.distance`, :mod:`.regression`, :mod:`.redundancy`, :mod:`.hltm`) or in a new module of
this package: the package imports every module it holds.
"""

from __future__ import annotations

import importlib as _importlib
import pkgutil as _pkgutil

from dynamics.losses.registry import FAMILIES, LOSSES

__all__ = ["FAMILIES", "LOSSES"]

# Every module of this package registers its losses when imported: all are imported here (no
# list of them), so that reading LOSSES from anywhere sees every loss.
for _mod in _pkgutil.iter_modules(__path__):
    _importlib.import_module(f"{__name__}.{_mod.name}")

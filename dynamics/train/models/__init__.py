"""Networks of the training engine: encoders (:data:`ENCODERS`), the projector head and the
predictor modules (kinds in :data:`PREDICTOR_KINDS`). Every module of this package is imported, so a
new encoder or predictor kind is one new file here that registers itself."""

import importlib as _importlib
import pkgutil as _pkgutil

from dynamics.train.models import predictor_kinds  # noqa: F401 - registers the built-in kinds
from dynamics.train.models.encoders import ENCODERS, ConvNet, build_encoder
from dynamics.train.models.heads import (
    PROJECTOR_KINDS,
    build_projector,
    mlp_head,
    projector_out_dim,
    scale_initial_weights,
)
from dynamics.train.models.predictor_registry import PREDICTOR_KINDS, build_predictor
from dynamics.train.models.predictors import (
    ClosedFormPredictor,
    IdentityPredictor,
    LinearPredictor,
    MLPPredictor,
    Predictor,
    SymmetricPredictor,
)

__all__ = [
    "ENCODERS",
    "PREDICTOR_KINDS",
    "ClosedFormPredictor",
    "ConvNet",
    "IdentityPredictor",
    "LinearPredictor",
    "MLPPredictor",
    "Predictor",
    "SymmetricPredictor",
    "build_encoder",
    "build_predictor",
    "PROJECTOR_KINDS",
    "build_projector",
    "mlp_head",
    "projector_out_dim",
    "scale_initial_weights",
]

for _mod in _pkgutil.iter_modules(__path__):  # every file registers its encoders / kinds
    _importlib.import_module(f"{__name__}.{_mod.name}")

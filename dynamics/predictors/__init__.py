"""Closed-form predictors of the DirectPred family, written once and shared by the theory
simulations and by training (torch tensors in, same device out; CPU or GPU).

Modules:

- :mod:`~dynamics.predictors.spectral` — pure functions: eigenvalue rules
  (``directpred_eigenvalues`` code/paper forms of Eq. 18, ``directset_eigenvalues`` DirectSet /
  DirectCopy, ``threshold_eigenvalues`` Table 7), ``predictor_from_spectrum``,
  ``predictor_from_correlation``, ``ridge_predictor`` (Table 1), the registry
  ``PREDICTOR_RULES`` / ``get_rule``; its helper maths (input checks, ``sym_eigh64``,
  ``predictor_from_spectrum``) in :mod:`~dynamics.predictors.spectral_linalg`
- :mod:`~dynamics.predictors.estimators` — ``CrossCorrelationEstimator`` (E[f_a f^T]) and
  ``SpectralPredictorState`` (running F, ``freq``, in-place weight rewrite in the official
  order, DDP ``all_reduce`` hook, checkpoints)
- :mod:`~dynamics.predictors.isoloss` — IsoLoss (Halvagal et al. 2023), Euclidean and cosine
- :mod:`~dynamics.predictors.update_rules` — the update-rule interface (learned / identity /
  symmetric / spectral) that the theory's ODE and SGD and the training predictors share
  (DirectPred on the linear model: :mod:`dynamics.theories.directpred.directpred_linear`)

The running estimate of F itself is :class:`dynamics.metrics.directpred.CorrelationEstimator`.
"""

from dynamics.predictors.estimators import CrossCorrelationEstimator, SpectralPredictorState
from dynamics.predictors.isoloss import isoloss_cosine, isoloss_euclidean
from dynamics.predictors.spectral import (
    PREDICTOR_RULES,
    RIDGE_DEFAULT,
    PredictorRule,
    SpectralPredictor,
    directpred_eigenvalues,
    directset_eigenvalues,
    get_rule,
    predictor_from_correlation,
    predictor_from_spectrum,
    ridge_predictor,
    sym_eigh64,
    threshold_eigenvalues,
)

__all__ = [
    "PREDICTOR_RULES",
    "RIDGE_DEFAULT",
    "CrossCorrelationEstimator",
    "PredictorRule",
    "SpectralPredictor",
    "SpectralPredictorState",
    "directpred_eigenvalues",
    "directset_eigenvalues",
    "get_rule",
    "isoloss_cosine",
    "isoloss_euclidean",
    "predictor_from_correlation",
    "predictor_from_spectrum",
    "ridge_predictor",
    "sym_eigh64",
    "threshold_eigenvalues",
]

"""Measurement layer: representation metrics as pure functions (one module per family).

Conventions (every function): torch tensors in (CPU or GPU, float32 or float64) -> array
results on the same device; numpy arrays accepted (converted to torch; array outputs come back
as numpy); scalar results are Python floats; inputs are detached (measurements, not losses);
bad input raises :class:`~dynamics.errors.ConfigError` naming the argument. Sums over samples
are accumulated in float64; eigendecompositions use ``torch.linalg.eigh`` on explicitly
symmetrised matrices.

Modules:

- :mod:`~dynamics.metrics.alignment_uniformity` — Wang & Isola 2020: ``alignment``,
  ``uniformity`` (blockwise, bounded memory), closed form ``uniformity_on_sphere``
- :mod:`~dynamics.metrics.rank` — ``rankme`` (Garrido et al. 2023), ``participation_ratio``,
  ``singular_values``
- :mod:`~dynamics.metrics.spectral` — ``alpha_req`` (Agrawal et al. 2022), ``stable_rank``,
  ``effective_rank`` and ``effective_rank_gap`` (Zhuo et al. 2023), ``lidar`` (Thilak et al.
  2024), ``predictor_orthogonality`` (Richemond et al. 2023), ``mode_growth_rates``
- :mod:`~dynamics.metrics.collapse_signals` — ``normalized_std``, ``embedding_spectrum``,
  ``top_k_variance_fraction``, ``covariance``
- :mod:`~dynamics.metrics.directpred` — Tian, Chen & Ganguli 2021: ``CorrelationEstimator``,
  predictor/F eigenspace alignment, asymmetry, eigenvalue slope
- :mod:`~dynamics.metrics.streaming` — constant-memory accumulators over batches (moments,
  spectrum, RankMe, normalized std; the pair-based alignment and within-batch uniformity
  accumulators in :mod:`~dynamics.metrics.streaming_pairs`, re-exported there)
- :mod:`~dynamics.metrics.probes` — weighted cosine kNN and the linear-evaluation probe (the
  latter in :mod:`~dynamics.metrics.linear_eval`, re-exported there)

The ``Example:`` sections of the docstrings assume ``import torch``, ``import numpy as np`` and
the documented name imported from its module (e.g. ``from dynamics.metrics import rankme``).
"""

from dynamics.metrics.alignment_uniformity import alignment, uniformity, uniformity_on_sphere
from dynamics.metrics.collapse_signals import (
    covariance,
    embedding_spectrum,
    normalized_std,
    top_k_variance_fraction,
)
from dynamics.metrics.directpred import (
    CorrelationEstimator,
    directpred_summary,
    eigenvalue_slope,
    mean_alignment,
    predictor_asymmetry,
    predictor_eigenspace_alignment,
    predictor_min_sym_eigenvalue,
    relative_commutator,
)
from dynamics.metrics.probes import (
    ProbeResult,
    knn_accuracy,
    knn_predict,
    linear_probe,
    standardize_features,
)
from dynamics.metrics.rank import participation_ratio, rankme, singular_values
from dynamics.metrics.spectral import (
    alpha_req,
    effective_rank,
    effective_rank_gap,
    growth_rate_spread,
    lidar,
    mode_growth_rates,
    predictor_orthogonality,
    stable_rank,
)
from dynamics.metrics.streaming import (
    StreamingAlignment,
    StreamingBatchUniformity,
    StreamingMoments,
    StreamingNormalizedStd,
    StreamingRankMe,
    StreamingSpectrum,
)

__all__ = [
    "CorrelationEstimator",
    "ProbeResult",
    "StreamingAlignment",
    "StreamingBatchUniformity",
    "StreamingMoments",
    "StreamingNormalizedStd",
    "StreamingRankMe",
    "StreamingSpectrum",
    "alignment",
    "alpha_req",
    "covariance",
    "directpred_summary",
    "effective_rank",
    "effective_rank_gap",
    "eigenvalue_slope",
    "embedding_spectrum",
    "growth_rate_spread",
    "knn_accuracy",
    "knn_predict",
    "lidar",
    "linear_probe",
    "mean_alignment",
    "mode_growth_rates",
    "normalized_std",
    "participation_ratio",
    "predictor_eigenspace_alignment",
    "predictor_min_sym_eigenvalue",
    "predictor_asymmetry",
    "predictor_orthogonality",
    "rankme",
    "relative_commutator",
    "singular_values",
    "stable_rank",
    "standardize_features",
    "top_k_variance_fraction",
    "uniformity",
    "uniformity_on_sphere",
]

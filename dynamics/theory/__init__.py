"""Linear-network theory of non-contrastive SSL (Tian, Chen & Ganguli, ICML 2021).

Modules (one job each):

- :mod:`~dynamics.theory.matrix_flow` — Lemma 1 (Eqs. 2-4) and Theorem 2, ``simulate_matrix``
- :mod:`~dynamics.theory.reduced` — reduced flows Eq. 62 / Eq. 67 and Theorem 3's K
- :mod:`~dynamics.theory.modes` — decoupled eigenmode ODEs Eqs. 11-13, batched ``simulate_modes``
- :mod:`~dynamics.theory.closed_form` — Eqs. 14-17, fixed points, collapse threshold
- :mod:`~dynamics.theory.integrate` — batched adaptive Dormand-Prince integrator (numpy/torch)
- :mod:`~dynamics.theory.data_models` — data/augmentation models with exact X, X'
- :mod:`~dynamics.theory.sgd` — discrete minibatch SGD of the same linear model (one loop, any
  predictor update rule); :mod:`~dynamics.theory.directpred_linear` — with the spectral rule
- :mod:`~dynamics.theory.symbolic` — sympy derivations checked against the numeric code
- :mod:`~dynamics.theory.phase` — phase portraits and phase diagrams
- :mod:`~dynamics.theory.nonisotropic` — Appendix D: non-isotropic data, scalar model
"""

from dynamics.theory.closed_form import (
    collapse_threshold,
    eq17_alignment_stable,
    fixed_points,
    invariant_c,
    k_eigenvalue,
    parabola_flow,
    parabola_s,
    tau_ema,
)
from dynamics.theory.data_models import AdditiveGaussian, MultiplicativeScrambling
from dynamics.theory.directpred_linear import simulate_directpred_linear
from dynamics.theory.matrix_flow import MatrixFlowConfig, MatrixTrajectory, simulate_matrix
from dynamics.theory.modes import ModeTrajectory, delta, mode_rhs, simulate_modes
from dynamics.theory.reduced import ReducedTrajectory, simulate_reduced
from dynamics.theory.sgd import simulate_sgd

__all__ = [
    "AdditiveGaussian",
    "MatrixFlowConfig",
    "MatrixTrajectory",
    "ModeTrajectory",
    "MultiplicativeScrambling",
    "ReducedTrajectory",
    "collapse_threshold",
    "delta",
    "eq17_alignment_stable",
    "fixed_points",
    "invariant_c",
    "k_eigenvalue",
    "mode_rhs",
    "parabola_flow",
    "parabola_s",
    "simulate_matrix",
    "simulate_modes",
    "simulate_reduced",
    "simulate_directpred_linear",
    "simulate_sgd",
    "tau_ema",
]

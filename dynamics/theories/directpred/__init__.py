"""Linear-network theory of non-contrastive SSL (Tian, Chen & Ganguli, ICML 2021).

Modules (one job each):

- :mod:`~dynamics.theories.directpred.matrix_flow` — Lemma 1 (Eqs. 2-4) and Theorem 2,
``simulate_matrix``
- :mod:`~dynamics.theories.directpred.reduced` — reduced flows Eq. 62 / Eq. 67 and Theorem 3's K
- :mod:`~dynamics.theories.directpred.modes` — decoupled eigenmode ODEs Eqs. 11-13, batched
``simulate_modes``
- :mod:`~dynamics.theories.directpred.closed_form` — Eqs. 14-17, fixed points, collapse threshold
- :mod:`~dynamics.numerics.integrate` — batched adaptive Dormand-Prince integrator (numpy/torch)
- :mod:`~dynamics.numerics.data_models` — data/augmentation models with exact X, X'
- :mod:`~dynamics.theories.directpred.sgd` — discrete minibatch SGD of the same linear model (one
  loop, any predictor update rule); :mod:`~dynamics.theories.directpred.directpred_linear` — with
  the spectral rule
- :mod:`~dynamics.theories.directpred.symbolic` — sympy derivations checked against the numeric code
- :mod:`~dynamics.theories.directpred.phase` — phase portraits and phase diagrams
- :mod:`~dynamics.theories.directpred.nonisotropic` — Appendix D: non-isotropic data, scalar model
"""

from dynamics.numerics.data_models import AdditiveGaussian, MultiplicativeScrambling
from dynamics.theories.directpred.closed_form import (
              collapse_threshold,
              eq17_alignment_stable,
              fixed_points,
              invariant_c,
              k_eigenvalue,
              parabola_flow,
              parabola_s,
              tau_ema,
)
from dynamics.theories.directpred.directpred_linear import simulate_directpred_linear
from dynamics.theories.directpred.matrix_flow import (
              MatrixFlowConfig,
              MatrixTrajectory,
              simulate_matrix,
)
from dynamics.theories.directpred.modes import ModeTrajectory, delta, mode_rhs, simulate_modes
from dynamics.theories.directpred.reduced import ReducedTrajectory, simulate_reduced
from dynamics.theories.directpred.sgd import simulate_sgd
from dynamics.verify.papers import Paper

PAPER = Paper("directpred", "Tian, Chen & Ganguli",
              "Understanding self-supervised learning dynamics without contrastive pairs",
              "ICML 2021", 2021, "2102.06810")

__all__ = [
    "PAPER",
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

"""Linear-network theory of non-contrastive SSL (Tian, Chen & Ganguli, ICML 2021): BYOL / SimSiam
with a predictor, stop-gradient, EMA target and weight decay.

Modules (one job each):

- :mod:`~.mode_equations` -- Eqs. 11-16 written once (Delta_j, dp/dt, ds/dt, dtau/dt, the Eq. 14
  invariant and parabola); :mod:`~.modes` -- the batched ``simulate_modes`` and its checks;
  :mod:`~.mode_trajectory` -- its result type; :mod:`~.closed_form` -- Eqs. 14-17, fixed points,
  collapse threshold
- :mod:`~.matrix_config` -- the flow's hyper-parameters and switches; :mod:`~.matrix_flow` --
  Lemma 1 (Eqs. 2-4) and Theorem 2, ``simulate_matrix``; :mod:`~.matrix_trajectory` -- its
  result type
- :mod:`~.reduced` -- reduced flows Eq. 62 / Eq. 67 and Theorem 3's K
- :mod:`~.sgd` -- discrete minibatch SGD of the same linear model (one loop, any predictor update
  rule); :mod:`~.directpred_linear` -- with the spectral rule
- :mod:`~.nonisotropic` -- Appendix D: non-isotropic data, scalar model;
  :mod:`~.assumption_a1` -- the runs of Fig. 7
- :mod:`~.parameters` -- each model parameter's meaning, range and the commands' limit;
  :mod:`~.run_configs` -- the typed configs of ``simulate modes|matrix|phase``
- :mod:`~.symbolic` -- sympy derivations checked against the numeric code; :mod:`~.phase` --
  phase portraits, basins and phase diagrams (data only)
- ``predictions`` and ``figures`` -- the paper's registered claims and Figs. 2-10

The engine underneath: :mod:`dynamics.numerics.integrate` (batched Dormand-Prince),
:mod:`dynamics.numerics.data_models` (data with exact X, X'), :mod:`dynamics.predictors`.
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

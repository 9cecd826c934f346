"""The covariance operator of contrastive learning in deep ReLU networks and the hierarchical
latent tree model (Tian, Yu, Chen & Ganguli 2020, arXiv 2010.00578).

- :mod:`~dynamics.theories.dual_networks.operator` — layered bias-free nets, connection
  matrices, the covariance operator and exact expected updates on finite sample x augmentation
  sets (nets and connection matrices in :mod:`~dynamics.theories.dual_networks.connection`,
  exact expectations in :mod:`~dynamics.theories.dual_networks.expected_update`, both
  re-exported by ``operator``);
- :mod:`~dynamics.theories.dual_networks.hltm` — the HLTM, its tree-shaped net, contrastive
  training and resumable grids;
- ``predictions`` and ``figures``: the paper's registered claims and figures.

The contrastive losses the paper analyses are entries of :data:`dynamics.losses.LOSSES`
(:mod:`dynamics.losses.distance`, :mod:`dynamics.losses.contrastive`).
"""

from dynamics.theories.dual_networks.operator import (
    LayeredNet,
    augmentation_averaged_connection,
    augmentation_averaged_covariance,
    connection_matrix,
    covariance_operator,
    enumerate_tuples,
    expected_loss,
    expected_update_operator,
    linear_operator,
    preactivation_jacobian,
    simple_loss_gradient_operator,
    unvec,
    vec,
)
from dynamics.verify.papers import Paper

PAPER = Paper("dual_networks", "Tian, Yu, Chen & Ganguli",
              "Understanding self-supervised learning with dual deep networks",
              "arXiv 2020", 2020, "2010.00578")

__all__ = [
    "PAPER",
    "LayeredNet",
    "augmentation_averaged_connection",
    "augmentation_averaged_covariance",
    "connection_matrix",
    "covariance_operator",
    "enumerate_tuples",
    "expected_loss",
    "expected_update_operator",
    "linear_operator",
    "preactivation_jacobian",
    "simple_loss_gradient_operator",
    "unvec",
    "vec",
]

"""Contrastive SSL: losses as functions of embeddings and the covariance operator of
Tian, Yu, Chen & Ganguli 2020 (arXiv 2010.00578).

- :mod:`~dynamics.contrastive.losses` — distance losses (simple, soft triplet, InfoNCE);
  :mod:`~dynamics.contrastive.batch_losses` — batch losses (NT-Xent, DCL, DCLW, exact-cov
  InfoNCE), NPC multiplier, Wang & Isola's alignment + uniformity loss.
  All losses are entries of :data:`dynamics.losses.LOSSES` (re-exported here)
- :mod:`~dynamics.contrastive.operator` — layered bias-free nets, connection matrices, the
  covariance operator and exact expected updates on finite sample x augmentation sets (nets
  and connection matrices in :mod:`~dynamics.contrastive.connection`, exact expectations in
  :mod:`~dynamics.contrastive.expected_update`, both re-exported by ``operator``)
"""

from dynamics.contrastive.batch_losses import (
    align_uniform_loss,
    dcl,
    dclw,
    dclw_weights,
    exact_cov_from_distances,
    exact_cov_infonce,
    exact_cov_weights,
    npc_multiplier,
    nt_xent,
)
from dynamics.contrastive.losses import (
    infonce_from_distances,
    ntxent_distances,
    pair_distance,
    pairwise_distances,
    simple_contrastive,
    soft_triplet,
)
from dynamics.contrastive.operator import (
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
from dynamics.losses import LOSSES

__all__ = [
    "LOSSES",
    "LayeredNet",
    "align_uniform_loss",
    "augmentation_averaged_connection",
    "augmentation_averaged_covariance",
    "connection_matrix",
    "covariance_operator",
    "dcl",
    "dclw",
    "dclw_weights",
    "enumerate_tuples",
    "exact_cov_from_distances",
    "exact_cov_infonce",
    "exact_cov_weights",
    "expected_loss",
    "expected_update_operator",
    "infonce_from_distances",
    "linear_operator",
    "npc_multiplier",
    "nt_xent",
    "ntxent_distances",
    "pair_distance",
    "pairwise_distances",
    "preactivation_jacobian",
    "simple_contrastive",
    "simple_loss_gradient_operator",
    "soft_triplet",
    "unvec",
    "vec",
]

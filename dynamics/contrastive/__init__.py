"""Contrastive SSL: losses as functions of embeddings and the covariance operator of
Tian, Yu, Chen & Ganguli 2020 (arXiv 2010.00578).

- :mod:`~dynamics.contrastive.losses` — distance losses (simple, soft triplet, InfoNCE) and batch
  losses (NT-Xent, DCL, DCLW, exact-cov InfoNCE), NPC multiplier, ``LOSSES`` registry
- :mod:`~dynamics.contrastive.operator` — layered bias-free nets, connection matrices, the
  covariance operator and exact expected updates on finite sample x augmentation sets
"""

from dynamics.contrastive.losses import (
    LOSSES,
    dcl,
    dclw,
    dclw_weights,
    exact_cov_from_distances,
    exact_cov_infonce,
    exact_cov_weights,
    infonce_from_distances,
    npc_multiplier,
    nt_xent,
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

__all__ = [
    "LOSSES",
    "LayeredNet",
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

"""SimCLR (Chen et al. 2020) and its contrastive-loss variants: encoder -> projector -> loss on
the two views' projector outputs (z1, z2); no predictor, no target network.

``method.loss`` (all average over the 2N anchors of both views):

- ``infonce`` (NT-Xent), ``dcl``, ``dclw`` (weights with ``method.dclw_sigma``), ``exact_cov``
  (the luckmatters "exact covariance" InfoNCE, beta = 0): the batch losses of
  :data:`dynamics.contrastive.losses.LOSSES`, temperature ``method.tau``;
- ``align_uniform``: :func:`align_uniform_loss` (Wang & Isola 2020), with ``method.unif_t`` and
  ``method.unif_weight``.

``method.ema`` must be 0/unset and ``method.symmetric_loss`` true (these losses are symmetric by
construction); ``method.stop_grad`` has no meaning here and is ignored.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from dynamics.contrastive.losses import LOSSES
from dynamics.errors import ConfigError
from dynamics.train.methods.base import Method, StepOutput, at_least_fp32, full_precision
from dynamics.train.methods.noncontrastive import online_network, optim_settings


def align_uniform_loss(z1: Tensor, z2: Tensor, t: float = 2.0, weight: float = 1.0,
                       alpha: float = 2.0) -> Tensor:
    """Differentiable alignment + uniformity loss (Wang & Isola, ICML 2020, arXiv 2005.10242;
    reference code SsnL/align_uniform):

        L = L_align(alpha) + weight * (L_unif(u1; t) + L_unif(u2; t)) / 2,
        L_align = mean_i ||u1_i - u2_i||^alpha,
        L_unif(u; t) = log mean_{i<j} exp(-t ||u_i - u_j||^2)   (``torch.pdist``: i < j pairs),

    with u = z / ||z|| (rows L2-normalised here). The metric versions in
    :mod:`dynamics.metrics.alignment_uniformity` are detached; this one back-propagates.
    Needs N >= 2 rows.
    """
    if z1.ndim != 2 or z1.shape != z2.shape or z1.shape[0] < 2:
        raise ConfigError("z1", f"must be (N, d) with N >= 2 and match z2, got "
                                f"{tuple(z1.shape)} and {tuple(z2.shape)}")
    u1, u2 = F.normalize(z1, dim=1), F.normalize(z2, dim=1)
    align = (u1 - u2).norm(p=2, dim=1).pow(alpha).mean()

    def unif(u: Tensor) -> Tensor:
        return torch.pdist(u, p=2).pow(2).mul(-t).exp().mean().log()

    return align + weight * (unif(u1) + unif(u2)) / 2


class SimCLR(Method):
    """SimCLR with the contrastive losses above. ``encoder``, ``projector``, ``feat_dim``,
    ``out_dim``, ``loss_name``."""

    name = "simclr"

    def __init__(self, cfg: Any, in_shape):
        super().__init__()
        me = cfg.method
        if me.ema not in (None, 0, 0.0):
            raise ConfigError("method.ema", f"simclr has no target network; leave it unset or "
                                            f"0, got {me.ema!r}")
        if not me.symmetric_loss:
            raise ConfigError("method.symmetric_loss", "simclr's losses average over both views'"
                                                       " anchors; only true is supported")
        if me.loss != "align_uniform" and me.loss not in LOSSES:
            raise ConfigError("method.loss", f"must be one of {', '.join(LOSSES)}, "
                                             f"align_uniform; got {me.loss!r}")
        self.config = cfg
        self.encoder, self.feat_dim, self.projector, self.out_dim = online_network(cfg, in_shape)
        self.loss_name = me.loss
        self.tau, self.dclw_sigma = float(me.tau), float(me.dclw_sigma)
        self.unif_t, self.unif_weight = float(me.unif_t), float(me.unif_weight)
        self.optim = optim_settings(cfg)

    def loss(self, z1: Tensor, z2: Tensor) -> Tensor:
        """The ``method.loss`` contrastive loss of the projector outputs of the two views."""
        if self.loss_name == "align_uniform":
            return align_uniform_loss(z1, z2, self.unif_t, self.unif_weight)
        # no per-step value checks (a host sync): the trainer's NaN guard watches the loss
        if self.loss_name == "dclw":
            return LOSSES["dclw"](z1, z2, self.tau, sigma=self.dclw_sigma, check=False)
        return LOSSES[self.loss_name](z1, z2, self.tau, check=False)

    def training_step(self, view1: Tensor, view2: Tensor) -> StepOutput:
        """Encode and project both views, then the contrastive loss (float32 under autocast)."""
        h1, h2 = self.encoder(view1), self.encoder(view2)
        z1, z2 = at_least_fp32(self.projector(h1), self.projector(h2))
        with full_precision(z1):  # the loss in float32 under bf16 autocast
            loss = self.loss(z1, z2)
        return StepOutput(loss=loss, features=torch.cat([h1, h2]).detach(),
                          online=torch.cat([z1, z2]).detach())

    def parameter_groups(self) -> list[dict]:
        """One group: encoder + projector with ``optim.lr`` and ``optim.weight_decay``."""
        params = [p for m in (self.encoder, self.projector) for p in m.parameters()
                  if p.requires_grad]
        return [{"name": "online", "params": params, "lr": self.optim["lr"],
                 "weight_decay": self.optim["weight_decay"]}]

    @torch.no_grad()
    def backbone_features(self, x: Tensor) -> Tensor:
        """The encoder's output h."""
        return self.encoder(x)

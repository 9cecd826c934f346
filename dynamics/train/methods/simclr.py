"""SimCLR (Chen et al. 2020) and its contrastive-loss variants: encoder -> projector -> loss on
the two views' projector outputs (z1, z2); no predictor, no target network.

``method.loss`` (all average over the 2N anchors of both views):

- any ``contrastive`` entry of :data:`dynamics.losses.LOSSES`: ``infonce`` (NT-Xent), ``dcl``,
  ``dclw`` (weights with ``method.dclw_sigma``), ``exact_cov`` (the luckmatters "exact
  covariance" InfoNCE, beta = 0), temperature ``method.tau``;
  ``align_uniform`` (Wang & Isola 2020), with ``method.unif_t`` and ``method.unif_weight``.
  Each entry's ``args`` tag says which ``method.*`` field feeds which keyword.

``method.directclr_dim = d0`` is DirectCLR (Jing, Vincent, LeCun & Tian, ICLR 2022): the loss
on the first d0 dimensions of the representation, with no projector (``model.projector=false``).

``method.ema`` must be 0/unset and ``method.symmetric_loss`` true (these losses are symmetric by
construction); ``method.stop_grad`` has no meaning here and is ignored.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from dynamics.errors import ConfigError
from dynamics.losses import LOSSES
from dynamics.train.methods.base import (
    METHODS,
    Method,
    StepOutput,
    at_least_fp32,
    full_precision,
)
from dynamics.train.methods.noncontrastive import online_network, optim_settings
from dynamics.train.methods.options import Option


def _arg(value: Any) -> Any:
    """A loss keyword from the config: switches stay bool, numbers become float."""
    return value if isinstance(value, bool) else float(value)


@METHODS.register("simclr", doc="contrastive: no predictor, no target network",
                  source="Chen et al. 2020", loss_family="contrastive", default_ema=0.0)
class SimCLR(Method):
    """SimCLR with the contrastive losses above. ``encoder``, ``projector``, ``feat_dim``,
    ``out_dim``, ``loss_name``. Subclasses with another ``family`` of batch losses
    f(z1, z2) (:mod:`dynamics.train.methods.redundancy`) share everything else."""

    name = "simclr"
    family = "contrastive"
    options = {
        "tau": Option(float, 0.5, "temperature of the contrastive losses", low=0, low_open=True,
                      source="Chen et al. 2020"),
        "dclw_sigma": Option(float, 0.5, "DCLW weighting temperature", low=0, low_open=True,
                             source="Yeh et al. 2022"),
        "unif_t": Option(float, 2.0, "align_uniform: uniformity temperature t", low=0,
                         low_open=True, source="Wang & Isola 2020"),
        "unif_weight": Option(float, 1.0, "align_uniform: weight of the uniformity term",
                              low=0, source="Wang & Isola 2020"),
        "directclr_dim": Option(int, None, "DirectCLR: the loss on the first d0 dimensions of "
                                           "the representation, no projector (None: SimCLR)",
                                low=1, source="Jing et al. 2022"),
    }

    @classmethod
    def check_config(cls, cfg: Any) -> None:
        """No predictor, no target (``method.ema`` unset or 0), symmetric losses only."""
        me = cfg.method
        if cfg.predictor.kind != "none":
            raise ConfigError("predictor.kind", f"must be none for method={cls.name} (no "
                                                f"predictor)")
        if me.ema not in (None, 0, 0.0):
            raise ConfigError("method.ema", f"{cls.name} has no target network; leave it unset "
                                            f"or 0, got {me.ema!r}")
        if not me.symmetric_loss:
            raise ConfigError("method.symmetric_loss", f"{cls.name}'s losses are symmetric in "
                                                       f"the two views; only true is supported")
        if getattr(me, "directclr_dim", None) is not None:
            if cfg.model.projector:
                raise ConfigError("method.directclr_dim", "DirectCLR has no trainable "
                                                          "projector: set model.projector=false")

    def __init__(self, cfg: Any, in_shape):
        super().__init__()
        me = cfg.method
        self.check_config(cfg)
        entry = LOSSES.entry(LOSSES.check(me.loss, family=self.family))
        self.loss_fn = entry.obj
        self.loss_kwargs = {kw: _arg(getattr(me, field))
                            for kw, field in entry.tags["args"].items()}
        if entry.tags.get("checks"):
            # no per-step value checks (a host sync): the trainer's NaN guard watches the loss
            self.loss_kwargs["check"] = False
        self.config = cfg
        self.encoder, self.feat_dim, self.projector, self.out_dim = online_network(cfg, in_shape)
        self.directclr_dim = getattr(me, "directclr_dim", None)
        if self.directclr_dim is not None and self.directclr_dim > self.out_dim:
            raise ConfigError("method.directclr_dim", f"must be at most the representation's "
                                                      f"{self.out_dim} dimensions, got "
                                                      f"{self.directclr_dim}")
        self.loss_name = me.loss
        self.optim = optim_settings(cfg)

    def loss(self, z1: Tensor, z2: Tensor) -> Tensor:
        """The ``method.loss`` loss of the projector outputs of the two views."""
        return self.loss_fn(z1, z2, **self.loss_kwargs)

    def training_step(self, view1: Tensor, view2: Tensor) -> StepOutput:
        """Encode and project both views, then the loss (float32 under autocast)."""
        h1, h2 = self.encoder(view1), self.encoder(view2)
        z1, z2 = at_least_fp32(self.projector(h1), self.projector(h2))
        d0 = self.directclr_dim
        with full_precision(z1):  # the loss in float32 under bf16 autocast
            loss = self.loss(z1, z2) if d0 is None else self.loss(z1[:, :d0], z2[:, :d0])
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

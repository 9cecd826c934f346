"""Contrastive SGD training of a tree net on the HLTM task: the losses, the training loop and its
per-epoch record (Tian, Yu, Chen & Ganguli 2020, arXiv 2010.00578; official code luckmatters
``ssl/hltm``).
Public face: :mod:`dynamics.theories.dual_networks.hltm`.

The losses are the ``hltm`` family of :data:`dynamics.losses.LOSSES` (:mod:`dynamics.losses.hltm`).

The metrics of :mod:`~dynamics.theories.dual_networks.hltm.measure` are logged on fresh samples
before training and after every epoch. The training and evaluation samples come from two streams
seeded by ``train_hltm(seed)``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from dynamics.errors import check_choice, check_range
from dynamics.losses import LOSSES as ALL_LOSSES
from dynamics.losses.hltm import infonce_loss, nce_loss, subtract_loss  # noqa: F401
from dynamics.theories.dual_networks.hltm.data import HLTM, _check_int
from dynamics.theories.dual_networks.hltm.measure import (
    LAYOUTS,
    LevelStats,
    best_correlation,
    operator_norms,
)
from dynamics.theories.dual_networks.hltm.net import TreeNet, _check_compatible
from dynamics.threads import with_thread_policy


def loss_options() -> tuple[str, ...]:
    """The values of the HLTM ``loss`` setting: the ``option`` tags of the ``hltm`` family of
    :data:`dynamics.losses.LOSSES`.

    Returns:
        A tuple of strings, in registration order.

    Example:
        >>> loss_options()
        ('nce', 'subtract', 'infonce')
    """
    return tuple(e.tags["option"] for e in ALL_LOSSES.entries(family="hltm"))


def _loss_entry(loss: str):
    options = loss_options()
    check_choice("loss", loss, options)
    return ALL_LOSSES.entries(family="hltm")[options.index(loss)]


#: The HLTM loss options at import time (see :func:`loss_options` for the live list).
LOSSES = loss_options()


def hltm_loss(
    f: Tensor, f_pos: Tensor, f_neg: Tensor | None, loss: str = "nce", tau: float = 0.1
) -> tuple[Tensor, Tensor, Tensor]:
    """(L, pos, neg) for a batch of embeddings (the three losses: :mod:`dynamics.losses.hltm`).
    ``pos``/``neg`` are the batch-and-dimension mean squared distances (``neg`` of ``infonce`` is
    the mean over the in-batch off-diagonal pairs).

    Args:
        f: anchor embeddings (B, hid).
        f_pos: positive embeddings (B, hid).
        f_neg: negative embeddings (B, hid); unused (may be None) for ``infonce``.
        loss: one of :func:`loss_options`; the losses are defined in :mod:`dynamics.losses.hltm`.
        tau: the temperature, > 0.

    Returns:
        (L, pos, neg), three 0-d tensors; L carries the autograd graph.

    Example:
        >>> L, pos, neg = hltm_loss(torch.zeros(8, 4), torch.zeros(8, 4), torch.ones(8, 4),
        ...                         "subtract")
        >>> float(L), float(pos), float(neg)
        (-1.0, 0.0, 1.0)
    """
    return _loss_entry(loss).obj(f, f_pos, f_neg, tau)


@dataclass
class HLTMHistory:
    """Per-epoch record of :func:`train_hltm`. Index 0 is before training, index e after epoch e
    (so every array has ``epochs + 1`` rows); ``loss``, ``pos`` and ``neg`` are the means over the
    epoch's SGD steps (NaN at index 0). ``corr[e, l]``: mean best |corr| at level l;
    ``op_norm[e, l]``: mean ||OP_mu||_F at level l (NaN when not tracked); ``weight_norm[e, l]``:
    mean ||W_mu||_F; ``corr_nodes[e][l]`` / ``op_nodes[e][l]``: the per-node values.

    Attributes:
        epoch: 0 ... epochs, (E,) with E = epochs + 1.
        loss, pos, neg: the epoch means of the loss and of its two distances, (E,).
        corr, op_norm, weight_norm: per-level means, (E, L).
        corr_nodes, op_nodes: per-node values per epoch (``op_nodes[e]`` empty when skipped).
        settings: the tree, net and training settings of the run (a dict).
        runtime_s: wall-clock seconds of :func:`train_hltm`.
    """

    epoch: np.ndarray
    loss: np.ndarray
    pos: np.ndarray
    neg: np.ndarray
    corr: np.ndarray
    op_norm: np.ndarray
    weight_norm: np.ndarray
    corr_nodes: list[list[np.ndarray]]
    op_nodes: list[list[np.ndarray]]
    settings: dict[str, Any]
    runtime_s: float = float("nan")

    def to_dict(self, nodes: bool = False) -> dict[str, Any]:
        """The history as a dict (per-node values only when ``nodes``).

        Args:
            nodes: include ``corr_nodes`` and ``op_nodes``.

        Returns:
            A dict of the fields (arrays as they are; ``settings`` copied).
        """
        out: dict[str, Any] = {
            "epoch": self.epoch,
            "loss": self.loss,
            "pos": self.pos,
            "neg": self.neg,
            "corr": self.corr,
            "op_norm": self.op_norm,
            "weight_norm": self.weight_norm,
            "settings": dict(self.settings),
            "runtime_s": self.runtime_s,
        }
        if nodes:
            out["corr_nodes"] = self.corr_nodes
            out["op_nodes"] = self.op_nodes
        return out


def validate_training(
    loss: str,
    tau: float,
    lr: float,
    batch_size: int,
    epochs: int,
    draws_per_epoch: int,
    eval_samples: int = 8192,
    op_samples: int = 2048,
) -> tuple[int, int, int, int, int]:
    """Check the training settings (ConfigError naming the field); returns the integers.

    Args:
        loss: one of :func:`loss_options`.
        tau: temperature, > 0.
        lr: learning rate, > 0.
        batch_size: integer >= 1 (>= 2 for the in-batch ``infonce``).
        epochs: integer >= 0.
        draws_per_epoch: integer >= batch_size.
        eval_samples: integer >= 16.
        op_samples: integer >= 0.

    Returns:
        (batch_size, epochs, draws_per_epoch, eval_samples, op_samples) as ints.

    Example:
        >>> validate_training("nce", 0.1, 0.1, 128, 2, 1000)
        (128, 2, 1000, 8192, 2048)
    """
    check_choice("loss", loss, loss_options())
    check_range("tau", tau, low=0.0, low_open=True)
    check_range("lr", lr, low=0.0, low_open=True)
    in_batch = _loss_entry(loss).tags["in_batch"]  # in-batch negatives: B >= 2
    batch_size = _check_int("batch_size", batch_size, 2 if in_batch else 1)
    epochs = _check_int("epochs", epochs, 0)
    draws = _check_int("draws_per_epoch", draws_per_epoch, batch_size)
    eval_samples = _check_int("eval_samples", eval_samples, 16)
    op_samples = _check_int("op_samples", op_samples, 0)
    return batch_size, epochs, draws, eval_samples, op_samples


@with_thread_policy
def train_hltm(
    tree: HLTM,
    net: TreeNet,
    loss: str = "nce",
    tau: float = 0.1,
    lr: float = 0.1,
    batch_size: int = 128,
    epochs: int = 20,
    draws_per_epoch: int = 64000,
    seed: int = 1,
    *,
    eval_samples: int = 8192,
    op_samples: int = 2048,
    op_layout: str = "theory",
    log: Callable[[str], None] | None = None,
) -> HLTMHistory:
    """Train ``net`` in place on the tree's contrastive task with plain SGD (no momentum, no
    weight decay), as the official code: each epoch draws ``draws_per_epoch`` fresh (anchor,
    positive, negative) triplets and takes ceil(draws / batch_size) steps (the last batch may be
    smaller). Metrics are taken on fresh samples before training and after each epoch
    (``op_samples=0`` skips the operator norms).

    Args:
        tree: the :class:`~dynamics.theories.dual_networks.hltm.data.HLTM` task.
        net: the :class:`~dynamics.theories.dual_networks.hltm.net.TreeNet`, built for ``tree``.
        loss: one of :func:`loss_options`.
        tau: the temperature, > 0.
        lr: the SGD learning rate, > 0 (FloatingPointError if the weights diverge).
        batch_size: triplets per step (in-batch losses skip a last batch of one).
        epochs: number of epochs, >= 0.
        draws_per_epoch: fresh triplets per epoch, >= batch_size.
        seed: seeds the training and the evaluation samples (two streams).
        eval_samples: fresh samples per correlation measurement, >= 16.
        op_samples: samples per operator-norm measurement (0: skip).
        op_layout: ``"theory"`` or ``"code"`` (:func:`~dynamics.theories.dual_networks.hltm.
            measure.operator_norms`).
        log: called with one progress line per epoch, or None.

    Returns:
        An :class:`HLTMHistory`.

    Example:
        >>> from dynamics.theories.dual_networks.hltm.data import HLTM
        >>> tree = HLTM(depth=3, seed=0)
        >>> net = TreeNet(tree, hid=4, seed=0)
        >>> h = train_hltm(tree, net, epochs=2, draws_per_epoch=512, batch_size=64,
        ...                eval_samples=256, op_samples=0)
        >>> h.corr.shape, h.loss.round(3).tolist()
        ((3, 3), [nan, -0.51, -0.552])
    """
    batch_size, epochs, draws, eval_samples, op_samples = validate_training(
        loss, tau, lr, batch_size, epochs, draws_per_epoch, eval_samples, op_samples
    )
    check_choice("op_layout", op_layout, LAYOUTS)
    _check_compatible(tree, net)
    entry = _loss_entry(loss)
    in_batch = entry.tags["in_batch"]  # in-batch negatives: no explicit negative branch
    t0 = time.perf_counter()
    data_rng = np.random.default_rng([int(seed), 1])
    eval_rng = np.random.default_rng([int(seed), 2])
    opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.0)
    L = tree.depth
    E = epochs + 1
    hist = {k: np.full(E, np.nan) for k in ("loss", "pos", "neg")}
    corr = np.full((E, L), np.nan)
    opn = np.full((E, L), np.nan)
    wn = np.full((E, L), np.nan)
    corr_nodes: list[list[np.ndarray]] = []
    op_nodes: list[list[np.ndarray]] = []

    def evaluate(e: int) -> None:
        c = best_correlation(tree, net, eval_samples, eval_rng)
        corr[e], wn[e] = c.per_level, LevelStats.from_nodes(net.weight_norms()).per_level
        corr_nodes.append(c.per_node)
        if op_samples > 0:
            o = operator_norms(tree, net, op_samples, eval_rng, layout=op_layout)
            opn[e] = o.op.per_level
            op_nodes.append(o.op.per_node)
        else:
            op_nodes.append([])

    evaluate(0)
    if log:
        log(f"  epoch 0: best corr {_levels(corr[0])}")
    for e in range(1, E):
        a, p, n = tree.triplets(draws, data_rng)
        xa, xp, xn = (torch.from_numpy(s.x) for s in (a, p, n))
        tot = np.zeros(3)
        steps = 0
        for start in range(0, draws, batch_size):
            sl = slice(start, start + batch_size)
            B = xa[sl].shape[0]
            if in_batch:
                if B < 2:
                    continue
                if net.bn:
                    f, fp = net(xa[sl]), net(xp[sl])
                else:
                    f, fp = net(torch.cat([xa[sl], xp[sl]])).split(B)
                fn = None
            elif net.bn:  # separate passes: batch statistics per branch
                f, fp, fn = net(xa[sl]), net(xp[sl]), net(xn[sl])
            else:  # one pass over the three branches (identical without bn, and faster)
                f, fp, fn = net(torch.cat([xa[sl], xp[sl], xn[sl]])).split(B)
            value, pos, neg = entry.obj(f, fp, fn, tau)
            opt.zero_grad(set_to_none=True)
            value.backward()
            opt.step()
            tot += (float(value.detach()), float(pos.detach()), float(neg.detach()))
            steps += 1
        if not all(torch.isfinite(w).all() for w in net.parameters()):
            raise FloatingPointError(
                f"HLTM training diverged in epoch {e} (non-finite weights); lower lr (got {lr:g})"
            )
        hist["loss"][e], hist["pos"][e], hist["neg"][e] = tot / max(steps, 1)
        evaluate(e)
        if log:
            log(f"  epoch {e}: loss {hist['loss'][e]:.4f}, best corr {_levels(corr[e])}")
    settings = {
        "depth": tree.depth,
        "num_children": tree.num_children,
        "delta_lower": tree.delta_lower,
        "delta_upper": tree.delta_upper,
        "hid": net.hid,
        "bn": net.bn,
        "loss": loss,
        "tau": float(tau),
        "lr": float(lr),
        "batch_size": batch_size,
        "epochs": epochs,
        "draws_per_epoch": draws,
        "seed": int(seed),
        "eval_samples": eval_samples,
        "op_samples": op_samples,
        "op_layout": op_layout,
    }
    return HLTMHistory(
        epoch=np.arange(E),
        loss=hist["loss"],
        pos=hist["pos"],
        neg=hist["neg"],
        corr=corr,
        op_norm=opn,
        weight_norm=wn,
        corr_nodes=corr_nodes,
        op_nodes=op_nodes,
        settings=settings,
        runtime_s=time.perf_counter() - t0,
    )


def _levels(values: np.ndarray) -> str:
    return "[" + " ".join(f"{v:.2f}" for v in values) + "]"

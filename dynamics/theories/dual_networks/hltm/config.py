"""The typed config of an HLTM grid (``ssl-dynamics hltm``): which trees, networks and seeds
are trained and how (Tian, Yu, Chen & Ganguli 2020, Sec. 5; official code ``ssl/hltm``).

Loaded by :func:`dynamics.config.load_typed` (YAML / JSON file, ``key=value`` overrides, the
``--flags``); every default and its help are written once here. The output folder, ``--quiet``
and ``--overwrite`` are not part of it (they say where and how, not what).
"""

from __future__ import annotations

from dataclasses import dataclass

from dynamics.config import option
from dynamics.theories.dual_networks.hltm.train import loss_options

#: Largest tree (leaves) a grid may ask for.
MAX_LEAVES = 4096


@dataclass
class HLTMGridRun:
    """One HLTM grid: every combination of ``hid`` x ``delta_lower`` x ``depth`` x ``seeds``
    is one training run.

    Attributes:
        hid, delta_lower, depth, seeds: the grid's axes (lists; see each field's ``help``).
        delta_upper, num_children: the rest of the tree
            (:class:`~dynamics.theories.dual_networks.hltm.data.HLTM`).
        epochs, draws, loss, tau, lr, batch_size: the training
            (:func:`~dynamics.theories.dual_networks.hltm.train.train_hltm`; ``draws`` per epoch).
        bn: the net's batch-norm ablation
            (:class:`~dynamics.theories.dual_networks.hltm.net.TreeNet`).
        eval_samples, op_samples: the measurement samples (``op_samples`` 0 skips the operators).
        threads: CPU threads for torch and BLAS, a positive integer or ``"auto"``.

    Example:
        >>> from dynamics.config import load_typed
        >>> cfg = load_typed(HLTMGridRun, overrides=["depth=[3]", "epochs=2"])
        >>> cfg.depth, cfg.epochs, cfg.hid
        ([3], 2, [2, 10])
    """

    hid: list[int] = option(help="hidden units per latent node, >= 1", factory=lambda: [2, 10])
    delta_lower: list[float] = option(help="lower end of the edge polarity |delta|, in "
                                           "[0, delta_upper]", factory=lambda: [0.7, 0.9])
    depth: list[int] = option(help=f"tree depth >= 1 (levels below the root; "
                                   f"num_children^depth <= {MAX_LEAVES} leaves)",
                              factory=lambda: [4])
    seeds: list[int] = option(help="seeds >= 0; each fixes the tree, the initial weights and "
                                   "the data", factory=lambda: [1, 2, 3])
    delta_upper: float = option(1.0, "upper end of |delta| <= 1")
    num_children: int = option(2, "branching >= 2")
    epochs: int = option(10, "training epochs >= 0 (the paper's code: 20)")
    draws: int = option(32000, "fresh (anchor, positive, negative) draws per epoch >= batch "
                               "size (the paper's code: 64000)")
    loss: str = option("nce", "nce: the official code's -P(positive) on batch-mean MSEs; "
                              "subtract: pos - neg; infonce: in-batch InfoNCE",
                       choices=loss_options)
    tau: float = option(0.1, "temperature > 0 (the code's default 0.01 saturates)")
    lr: float = option(0.1, "SGD rate > 0")
    batch_size: int = option(128, "batch size")
    bn: bool = option(False, "batch-normalise every non-root node (ablation)")
    eval_samples: int = option(8192, "fresh samples for the correlations, >= 16")
    op_samples: int = option(1024, "samples for the covariance-operator norms, 0 = skip")
    threads: str = option("1", "CPU threads for torch and BLAS: a positive integer or auto "
                               "(1: the layers are small, more threads only add overhead)")


__all__ = ["MAX_LEAVES", "HLTMGridRun"]

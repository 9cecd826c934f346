"""The two toy experiments of Jing, Vincent, LeCun & Tian (2022) in the model of
:mod:`dynamics.theories.dimensional_collapse.model`, each run by the theory and by SGD; the
predictions (:mod:`dynamics.theories.dimensional_collapse.predictions`), the figure
(``dimensional_collapse_linear``) and the tests share them.

* :func:`augmentation_toy` (strong augmentation, the paper's case 1): per-axis data variances
  ``A_TOY`` and augmentation variances ``SIGMA2_TOY`` (one axis with no data variance at all),
  tau = 0.5, batch 512: large-batch SGD of the one-layer net against the annealed theory,
  the embedding spectrum tau a/(a + sigma2) and the column norms u_k(t) of
  :func:`~dynamics.theories.dimensional_collapse.model.annealed_modes`. V = sum a^2/c^2 = 1.54 here,
  so N = 512 >> e^V = 4.7 (the limit's condition).
* :func:`two_layer_toy` (implicit regularisation, case 2): d = 16, tau = 0.1, augmentation noise
  std 1e-3, both layers started from random singular vectors with singular values
  exp(-0.35 k) (the paper's toy), batch 128, lr 0.01: the one-layer net started from the
  same product, the two-layer net, each by the annealed flow and by SGD (to t = 100, or 30
  when quick); collapsed singular values (more than 4 e-folds below the largest) at the end.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dynamics.theories.dimensional_collapse import model as dc

A_TOY = np.array([1.0, 1.0, 1.0, 0.5, 0.0])
SIGMA2_TOY = np.array([0.0, 1.0, 4.0, 0.5, 1.0])
TAU_TOY = 0.5


@dataclass
class AugmentationToy:
    """Theory and SGD of the strong-augmentation toy (see the module docstring).

    Attributes:
        t: the SGD record times (T,).
        u_sgd: the column norms |W e_k|^2 of the SGD run, (T, n).
        u_theory: :func:`~dynamics.theories.dimensional_collapse.model.annealed_modes` at
            ``t``, (T, n).
        spectrum_sgd: eigenvalues u_k c_k of W C W^T at the end, per axis (n,).
        spectrum_theory: the limit tau a / c per axis (n,); the a = 0 axis: its theory u(T) c.
        validity: V = sum a^2 / c^2 of
            :func:`~dynamics.theories.dimensional_collapse.model.annealed_validity`.
    """

    t: np.ndarray          # SGD record times
    u_sgd: np.ndarray      # (T, n) column norms |W e_k|^2
    u_theory: np.ndarray   # (T, n) annealed_modes at the same times
    spectrum_sgd: np.ndarray     # eigenvalues of W C W^T at the end, per axis (diag order)
    spectrum_theory: np.ndarray  # tau a / c per axis (the limit; the a = 0 axis: its u(T) c)
    validity: float


def augmentation_toy(*, quick: bool = False, seed: int = 0) -> AugmentationToy:
    """Large-batch SGD from a small diagonal start against the annealed closed form.

    Args:
        quick: 1500 SGD steps at lr 0.02 instead of 5000 at lr 0.01.
        seed: seed of the SGD samples.

    Returns:
        An :class:`AugmentationToy` (41 records, 42 when quick; seconds even when quick).

    Example:
        >>> toy = augmentation_toy(quick=True)  # doctest: +SKIP
        >>> toy.spectrum_sgd.round(3).tolist()  # doctest: +SKIP
        [0.546, 0.246, 0.091, 0.261, 0.001]
        >>> toy.spectrum_theory.round(3).tolist()  # doctest: +SKIP
        [0.5, 0.25, 0.1, 0.25, 0.002]
    """
    n = A_TOY.size
    u0 = np.full(n, 0.01)
    steps, lr = (1500, 0.02) if quick else (5000, 0.01)
    run = dc.sgd_train(np.diag(np.sqrt(u0)), A_TOY, SIGMA2_TOY, TAU_TOY,
                       batch_size=512, lr=lr, steps=steps, record_every=steps // 40, seed=seed)
    W = run.layers[0]
    u_sgd = (W**2).sum(axis=1)  # (T, n): column norms
    u_th = dc.annealed_modes(run.t, u0, A_TOY, SIGMA2_TOY, TAU_TOY)
    c = A_TOY + SIGMA2_TOY
    emb = u_sgd[-1] * c  # W diagonal in expectation: W C W^T has eigenvalues u_k c_k
    th = np.where(A_TOY > 0, TAU_TOY * A_TOY / c, u_th[-1] * c)
    return AugmentationToy(run.t, u_sgd, u_th, emb, th, dc.annealed_validity(A_TOY, SIGMA2_TOY))


@dataclass
class TwoLayerToy:
    """Singular values of the product over time: annealed flow and SGD, one and two layers.

    Attributes:
        t_ode: the flow's output times (101,).
        sv_ode: layers (1 or 2) -> the product's singular values on the flow, (101, 16).
        t_sgd: the SGD record times (51,).
        sv_sgd: layers (1 or 2) -> the product's singular values under SGD, (51, 16).
        collapsed_ode: layers -> collapsed singular values at the end of the flow
            (:func:`~dynamics.theories.dimensional_collapse.model.collapsed_count`).
        collapsed_sgd: layers -> collapsed singular values at the end of SGD.
        alignment: mean over the learned modes of max_j |(V2^T U1)_kj| (SGD, two layers).
    """

    t_ode: np.ndarray
    sv_ode: dict[int, np.ndarray]   # layers -> (T, 16)
    t_sgd: np.ndarray
    sv_sgd: dict[int, np.ndarray]
    collapsed_ode: dict[int, int]
    collapsed_sgd: dict[int, int]
    alignment: float                # mean over the learned modes of max_j |(V2^T U1)_kj|


def two_layer_toy(*, quick: bool = False, seed: int = 0) -> TwoLayerToy:
    """The case-2 toy of the module docstring.

    Args:
        quick: train to t = 30 instead of 100.
        seed: seed of the initial weights (SGD samples: ``seed + 1``).

    Returns:
        A :class:`TwoLayerToy` (several seconds even when quick).

    Example:
        >>> toy = two_layer_toy(quick=True)  # doctest: +SKIP
        >>> toy.collapsed_ode, toy.collapsed_sgd  # doctest: +SKIP
        ({1: 0, 2: 4}, {1: 0, 2: 6})
    """
    rng = np.random.default_rng(seed)
    W1, W2 = dc.spectral_init(16, 0.35, rng), dc.spectral_init(16, 0.35, rng)
    tau, noise2, lr = 0.1, 1e-6, 0.01
    t_end = 30.0 if quick else 100.0
    steps = round(t_end / lr)
    starts = {1: [W2 @ W1], 2: [W1, W2]}
    t_ode, sv_ode, t_sgd, sv_sgd, ws = None, {}, None, {}, {}
    for layers, start in starts.items():
        ode = dc.simulate_annealed(start, 1.0, 1.0 + noise2, tau, t_end=t_end, n_save=101)
        sgd = dc.sgd_train(start, 1.0, noise2, tau, batch_size=128, lr=lr, steps=steps,
                           record_every=steps // 50, seed=seed + 1)
        t_ode, sv_ode[layers] = ode.t, ode.sv
        t_sgd, sv_sgd[layers] = sgd.t, sgd.sv
        ws[layers] = [w[-1] for w in sgd.layers]
    u1, _, _ = np.linalg.svd(ws[2][0])
    _, s2, v2 = np.linalg.svd(ws[2][1])
    learned = int(16 - dc.collapsed_count(s2))
    align = float(np.abs(v2 @ u1).max(axis=1)[:learned].mean())
    return TwoLayerToy(t_ode, sv_ode, t_sgd, sv_sgd,
                       {k: int(dc.collapsed_count(v[-1])) for k, v in sv_ode.items()},
                       {k: int(dc.collapsed_count(v[-1])) for k, v in sv_sgd.items()}, align)


__all__ = ["A_TOY", "SIGMA2_TOY", "TAU_TOY", "AugmentationToy", "TwoLayerToy",
           "augmentation_toy", "two_layer_toy"]

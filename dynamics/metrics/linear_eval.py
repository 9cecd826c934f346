"""Linear-evaluation probe of a frozen representation (re-exported by
:mod:`dynamics.metrics.probes`).

:func:`linear_probe` follows the DirectPred paper's official code (Tian, Chen & Ganguli 2021;
luckmatters ``ssl/real-dataset/linear_feature_eval.py``): StandardScaler fitted on the train
features (:func:`standardize_features`), logistic regression ``Linear(d, C)`` trained with
cross-entropy and Adam (lr 3e-4, weight decay 1e-3), batch 128, 50 epochs, test accuracy after
every epoch. Returns a :class:`ProbeResult` with both the final-epoch and the best-over-epochs
accuracy. Input conventions as in :mod:`dynamics.metrics.probes`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from dynamics.errors import check_range
from dynamics.metrics._probe_inputs import _check_bool, _check_int, _prepare
from dynamics.threads import with_thread_policy


@dataclass(frozen=True)
class ProbeResult:
    """Outcome of :func:`linear_probe`.

    Attributes:
        final_accuracy: test accuracy after the last epoch. This is the honest number and,
            presumably, the protocol behind the paper's tables.
        best_accuracy: the MAXIMUM TEST accuracy over all epochs, i.e. the official code's
            ``best_acc``. It is optimistically biased, because it selects the epoch on the test
            set itself; ``best_accuracy >= final_accuracy`` always.
        best_epoch: 1-based epoch at which ``best_accuracy`` was first reached.
        train_accuracy: accuracy on the (standardised) train set after the last epoch.
        epochs: number of epochs trained.
        history: per-epoch series, each a tuple of length ``epochs``:
            ``"train_loss"`` (mean cross-entropy over the epoch's minibatches, without the
            weight-decay term) and ``"test_accuracy"``.
    """

    final_accuracy: float
    best_accuracy: float
    best_epoch: int
    train_accuracy: float
    epochs: int
    history: dict[str, tuple[float, ...]]


def standardize_features(
    train_features: torch.Tensor, test_features: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """sklearn ``StandardScaler().fit(train)`` applied to both splits.

    Mean and population standard deviation (``ddof=0``) of the TRAIN features only; features
    that are constant on the train set (or have a std below ``10 * eps``) get scale 1, as
    sklearn does. Statistics are computed in float64; outputs keep the input dtype.

    Args:
        train_features: (n_train, d) torch tensor; the mean and std are taken from it.
        test_features: (n_test, d) torch tensor on the same device, standardised alike.

    Returns:
        ``(train, test)``: the two standardised tensors, each in its input's dtype.

    Example:
        >>> train, test = torch.tensor([[0., 5.], [2., 5.]]), torch.tensor([[1., 6.]])
        >>> standardize_features(train, test)  # column 2 is constant on train: only centred
        (tensor([[-1.,  0.],
                [ 1.,  0.]]), tensor([[0., 1.]]))
    """
    xtr = train_features.double()
    mean = xtr.mean(dim=0)
    std = xtr.std(dim=0, unbiased=False)
    constant = (xtr.amax(dim=0) == xtr.amin(dim=0)) | (std < 10 * torch.finfo(torch.float64).eps)
    std = torch.where(constant, torch.ones_like(std), std)
    out_tr = ((xtr - mean) / std).to(train_features.dtype)
    out_te = ((test_features.double() - mean) / std).to(test_features.dtype)
    return out_tr, out_te


def probe_inputs(train_features, train_labels, test_features, test_labels, num_classes, device,
                 standardize, dtype: torch.dtype):
    """Checked features and labels of a probe (``_prepare``), standardised with the train
    statistics when ``standardize``, features in ``dtype``; returns (xtr, ytr, xte, yte, C).

    Args:
        train_features, train_labels, test_features, test_labels: as in :func:`linear_probe`
            (``test_labels`` may be None).
        num_classes: as in :func:`linear_probe` (None: ``max label + 1``).
        device: as in :func:`linear_probe` (None: the device of ``train_features``).
        standardize: True or False.
        dtype: torch dtype of the returned features.

    Returns:
        ``(xtr, ytr, xte, yte, C)``: features in ``dtype`` and int64 labels on one device
        (``yte`` None without ``test_labels``), C the number of classes.
    """
    do_standardize = _check_bool("standardize", standardize)
    xtr, ytr, xte, yte, c = _prepare(
        train_features, train_labels, test_features, test_labels, num_classes, device
    )
    if do_standardize:
        xtr, xte = standardize_features(xtr, xte)
    return xtr.to(dtype), ytr, xte.to(dtype), yte, c


def _accuracy(
    model: torch.nn.Linear, x: torch.Tensor, y: torch.Tensor, chunk: int = 65536
) -> float:
    correct = 0
    with torch.no_grad():
        for start in range(0, x.shape[0], chunk):
            pred = model(x[start : start + chunk]).argmax(dim=1)
            correct += int((pred == y[start : start + chunk]).sum())
    return correct / x.shape[0]


@with_thread_policy
def linear_probe(
    train_features: Any,
    train_labels: Any,
    test_features: Any,
    test_labels: Any,
    *,
    epochs: int = 50,
    lr: float = 3e-4,
    weight_decay: float = 1e-3,
    batch_size: int = 128,
    seed: int = 0,
    device: Any = None,
    standardize: bool = True,
    num_classes: int | None = None,
) -> ProbeResult:
    """Logistic-regression probe on frozen features, following the DirectPred official code.

    Protocol: standardise both splits with the TRAIN
    mean/std (sklearn StandardScaler semantics, see :func:`standardize_features`); train one
    ``nn.Linear(d, num_classes)`` (with bias) by cross-entropy and ``torch.optim.Adam(lr,
    weight_decay)`` (coupled L2, applied to weight and bias, like ``Adam(logreg.parameters())``)
    on shuffled minibatches of ``batch_size`` (last partial batch kept); after every epoch
    measure the test accuracy.

    Deterministic given ``seed``: a private ``torch.Generator`` draws the initialisation
    (PyTorch's default ``nn.Linear`` init, U(-1/sqrt(d), 1/sqrt(d))) and the per-epoch
    shuffles, so the global RNG is neither used nor advanced. Training runs in float32 on
    ``device`` (default: the device of ``train_features``, CPU for numpy input). Inputs are
    detached: no gradient reaches the encoder that produced them.

    Args:
        train_features, test_features: (n, d) tensors or arrays.
        train_labels, test_labels: (n,) integer class indices.
        epochs: >= 1 (default 50). lr: > 0 (3e-4). weight_decay: >= 0 (1e-3).
        batch_size: >= 1 (128). seed: integer (0). standardize: apply the StandardScaler step.
        num_classes: output units; defaults to ``max label + 1`` over both splits.
        device: where to train (a torch device or a string such as ``"cuda"``); default None:
            the device of ``train_features``.

    Returns:
        :class:`ProbeResult`; ``final_accuracy`` is after the last epoch, ``best_accuracy`` is
        the max test accuracy over epochs (the official ``best_acc``, optimistic).

    Example:
        >>> x = torch.tensor([[1., 0.], [0.9, 0.1], [0., 1.], [0.1, 0.9]])
        >>> res = linear_probe(x, [0, 0, 1, 1], x, [0, 0, 1, 1], epochs=5, lr=0.1)
        >>> res.final_accuracy, res.epochs, len(res.history["test_accuracy"])
        (1.0, 5, 5)
    """
    epochs = _check_int("epochs", epochs, low=1)
    check_range("lr", lr, low=0, low_open=True)
    check_range("weight_decay", weight_decay, low=0)
    batch_size = _check_int("batch_size", batch_size, low=1)
    seed = _check_int("seed", seed, low=0, high=2**63 - 1)
    xtr, ytr, xte, yte, c = probe_inputs(train_features, train_labels, test_features,
                                         test_labels, num_classes, device, standardize,
                                         torch.float32)
    dev = xtr.device

    gen = torch.Generator(device="cpu").manual_seed(seed)
    d = xtr.shape[1]
    bound = 1.0 / math.sqrt(d)
    # skip_init: the default initialisation would draw from (and advance) the global RNG
    model = torch.nn.utils.skip_init(torch.nn.Linear, d, c, device=dev)
    with torch.no_grad():
        model.weight.copy_((torch.rand(c, d, generator=gen) * 2 - 1) * bound)
        model.bias.copy_((torch.rand(c, generator=gen) * 2 - 1) * bound)
    optimizer = torch.optim.Adam(model.parameters(), lr=float(lr), weight_decay=float(weight_decay))

    n = xtr.shape[0]
    losses: list[float] = []
    test_acc: list[float] = []
    for _ in range(epochs):
        perm = torch.randperm(n, generator=gen).to(dev)
        total, batches = 0.0, 0
        for start in range(0, n, batch_size):
            idx = perm[start : start + batch_size]
            loss = F.cross_entropy(model(xtr[idx]), ytr[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += float(loss.detach())
            batches += 1
        losses.append(total / batches)
        test_acc.append(_accuracy(model, xte, yte))

    best_idx = int(np.argmax(test_acc))  # first epoch reaching the maximum
    return ProbeResult(
        final_accuracy=test_acc[-1],
        best_accuracy=test_acc[best_idx],
        best_epoch=best_idx + 1,
        train_accuracy=_accuracy(model, xtr, ytr),
        epochs=epochs,
        history={"train_loss": tuple(losses), "test_accuracy": tuple(test_acc)},
    )

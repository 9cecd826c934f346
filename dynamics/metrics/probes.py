"""Probe metrics of a frozen representation: weighted kNN and a linear probe.

Both take features already computed by a frozen encoder (torch tensors on any device, float32 or
float64, or numpy arrays / nested lists) plus integer class labels, and never propagate gradients
into whatever produced the features (everything is detached first).

- :func:`knn_accuracy` / :func:`knn_predict` — weighted cosine kNN of InstDisc (Wu et al. 2018),
  as used by DINO's ``eval_knn.py`` and solo-learn's ``WeightedKNNClassifier``: L2-normalise,
  take the ``k`` most cosine-similar training points of each test point, give each a vote
  ``exp(sim / temperature)`` for its class, predict the class with the largest summed vote.
  Defaults ``k=20``, ``temperature=0.07`` (DINO / solo-learn). The test x train similarity
  matrix is only ever formed ``chunk_size`` test rows at a time.
- :func:`linear_probe` — the linear evaluation of the DirectPred paper's official code
  (luckmatters ``ssl/real-dataset/linear_feature_eval.py``): StandardScaler fitted on the
  train features, logistic regression ``Linear(d, C)`` trained with cross-entropy and Adam
  (lr 3e-4, weight decay 1e-3), batch 128, 50 epochs, test accuracy after every epoch.
  Returns a :class:`ProbeResult` with both the final-epoch and the best-over-epochs accuracy.

Invalid input raises :class:`~dynamics.errors.ConfigError` (one line, naming the field) before
any work starts: non-numeric or NaN/Inf features, labels that are not whole-number class indices
>= 0 (strings, booleans, fractions, NaN; see :func:`dynamics.inputs.as_labels`) or whose length
differs from the feature rows. An all-zero feature row is allowed: the kNN keeps it as the zero
vector (cosine 0 to every row), as ``F.normalize`` in DINO / solo-learn does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from dynamics.errors import ConfigError, check_range
from dynamics.inputs import as_labels, to_tensor

__all__ = [
    "ProbeResult",
    "knn_accuracy",
    "knn_predict",
    "linear_probe",
    "standardize_features",
]


# --------------------------------------------------------------------------------------------
# input handling
# --------------------------------------------------------------------------------------------


def _check_int(field: str, value: Any, *, low: int, high: int | None = None) -> int:
    """A Python/numpy integer (not a bool) with ``low <= value <= high``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ConfigError(field, f"must be an integer, got {value!r}")
    check_range(field, int(value), low=low, high=high)
    return int(value)


def _check_bool(field: str, value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ConfigError(field, f"must be True or False, got {value!r}")
    return bool(value)


def _features(field: str, value: Any, device: torch.device | None) -> torch.Tensor:
    """A finite 2-D float tensor (float64 kept, every other dtype -> float32) with >= 1 row."""
    x, _ = to_tensor(field, value)
    if x.ndim != 2:
        raise ConfigError(
            field, f"must be a 2-D (n_samples, dim) array, got shape {tuple(x.shape)}"
        )
    if x.shape[0] < 1 or x.shape[1] < 1:
        raise ConfigError(field, f"must have at least one row and one column, got {tuple(x.shape)}")
    if x.is_complex() or x.dtype == torch.bool:
        raise ConfigError(field, f"must be real-valued, got dtype {x.dtype}")
    if device is not None:
        x = x.to(device)
    if x.dtype != torch.float64:
        x = x.to(torch.float32)
    if not bool(torch.isfinite(x).all()):
        raise ConfigError(field, "must be finite (got NaN or Inf)")
    return x


def _prepare(
    train_features: Any,
    train_labels: Any,
    test_features: Any,
    test_labels: Any,
    num_classes: int | None,
    device: Any = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None, int]:
    """Validate and convert both splits; everything ends up on one device.

    Without an explicit ``device`` that is the device of ``train_features`` (CPU for numpy).
    ``test_labels`` may be None (prediction only).
    """
    if device is not None:
        try:
            device = torch.device(device)
        except (RuntimeError, TypeError) as exc:
            raise ConfigError(
                "device", f"must be a torch device such as 'cpu' or 'cuda' ({exc})"
            ) from None
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ConfigError("device", "is 'cuda' but no CUDA device is available; use 'cpu'")
    xtr = _features("train_features", train_features, device)
    xte = _features("test_features", test_features, xtr.device)
    if xte.shape[1] != xtr.shape[1]:
        raise ConfigError(
            "test_features",
            f"must have the same dimension as train_features ({xtr.shape[1]}), got {xte.shape[1]}",
        )
    if xte.dtype != xtr.dtype:  # mixed precision input: compute in the wider type
        xtr, xte = xtr.double(), xte.double()
    ytr = as_labels("train_labels", train_labels, xtr.shape[0], xtr.device)
    yte = None
    if test_labels is not None:
        yte = as_labels("test_labels", test_labels, xte.shape[0], xtr.device)
    labelled = [("train_labels", ytr)] + ([] if yte is None else [("test_labels", yte)])
    if num_classes is None:
        num_classes = max(int(y.max()) for _, y in labelled) + 1
    else:
        num_classes = _check_int("num_classes", num_classes, low=1)
        for field, y in labelled:
            if int(y.max()) >= num_classes:
                raise ConfigError(
                    field,
                    f"must be in [0, {num_classes - 1}] (num_classes = {num_classes}), "
                    f"got {int(y.max())}",
                )
    return xtr, ytr, xte, yte, num_classes


# --------------------------------------------------------------------------------------------
# weighted kNN
# --------------------------------------------------------------------------------------------


def _knn_scores(
    xtr: torch.Tensor,
    ytr: torch.Tensor,
    xte: torch.Tensor,
    *,
    k: int,
    temperature: float,
    num_classes: int,
    chunk_size: int,
) -> torch.Tensor:
    """Summed vote weights per class, shape (n_test, num_classes)."""
    xtr = F.normalize(xtr, dim=1)
    xte = F.normalize(xte, dim=1)
    scores = torch.empty(xte.shape[0], num_classes, dtype=xtr.dtype, device=xtr.device)
    for start in range(0, xte.shape[0], chunk_size):
        sim = xte[start : start + chunk_size] @ xtr.T  # (chunk, n_train)
        top_sim, top_idx = sim.topk(k, dim=1)  # sorted descending
        # exp(sim / T), rescaled per row by exp(-max sim / T): the argmax (and the ranking) is
        # unchanged, and small temperatures cannot overflow.
        weights = torch.exp((top_sim - top_sim[:, :1]) / temperature)
        chunk_scores = torch.zeros(
            top_idx.shape[0], num_classes, dtype=xtr.dtype, device=xtr.device
        )
        chunk_scores.scatter_add_(1, ytr[top_idx], weights)
        scores[start : start + chunk_size] = chunk_scores
    return scores


def _knn_validate(k: Any, temperature: Any, chunk_size: Any, n_train: int) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise ConfigError("k", f"must be an integer, got {k!r}")
    check_range("k", int(k), low=1, high=n_train)  # message shows [1, n_train]
    check_range("temperature", temperature, low=0, low_open=True)
    _check_int("chunk_size", chunk_size, low=1)
    return int(k)


def knn_predict(
    train_features: Any,
    train_labels: Any,
    test_features: Any,
    *,
    k: int = 20,
    temperature: float = 0.07,
    num_classes: int | None = None,
    chunk_size: int = 256,
) -> torch.Tensor:
    """Weighted cosine-kNN class predictions for ``test_features`` (int64 tensor, n_test).

    See :func:`knn_accuracy` for the rule and the arguments. Ties in the summed votes go to the
    smallest class index. Returned on the device of ``train_features`` (CPU for numpy input).
    """
    xtr, ytr, xte, _, c = _prepare(train_features, train_labels, test_features, None, num_classes)
    k = _knn_validate(k, temperature, chunk_size, xtr.shape[0])
    scores = _knn_scores(
        xtr, ytr, xte, k=k, temperature=float(temperature), num_classes=c, chunk_size=chunk_size
    )
    return scores.argmax(dim=1)


def knn_accuracy(
    train_features: Any,
    train_labels: Any,
    test_features: Any,
    test_labels: Any,
    *,
    k: int = 20,
    temperature: float = 0.07,
    num_classes: int | None = None,
    chunk_size: int = 256,
    top5: bool = False,
) -> float | tuple[float, float]:
    """Top-1 accuracy of the temperature-weighted cosine kNN classifier (InstDisc / DINO /
    solo-learn ``WeightedKNNClassifier``).

    Features are L2-normalised; for each test row the ``k`` training rows with the largest
    cosine similarity ``s`` each add ``exp(s / temperature)`` to the score of their class, and the
    class with the largest score is predicted. ``temperature -> inf`` gives the unweighted
    majority vote; small temperatures approach 1-NN.

    Args:
        train_features, test_features: (n, d) torch tensors (any device; float32/float64) or
            numpy arrays. Computation happens on the device of ``train_features``, in float64 if
            either input is float64, else float32.
        train_labels, test_labels: (n,) integer class indices in ``[0, num_classes)``.
        k: neighbours, ``1 <= k <= n_train`` (default 20, solo-learn/DINO).
        temperature: ``> 0`` (default 0.07, DINO/solo-learn).
        num_classes: defaults to ``max label + 1`` over both splits.
        chunk_size: test rows per similarity block; peak memory is about
            ``chunk_size * n_train`` floats, the full test x train matrix is never formed.
        top5: also return the top-5 accuracy (top-``min(5, num_classes)``).

    Returns:
        Top-1 accuracy in [0, 1] as a Python float, or ``(top1, top5)`` if ``top5=True``.
    """
    xtr, ytr, xte, yte, c = _prepare(
        train_features, train_labels, test_features, test_labels, num_classes
    )
    k = _knn_validate(k, temperature, chunk_size, xtr.shape[0])
    top5 = _check_bool("top5", top5)
    scores = _knn_scores(
        xtr, ytr, xte, k=k, temperature=float(temperature), num_classes=c, chunk_size=chunk_size
    )
    top1 = float((scores.argmax(dim=1) == yte).double().mean())
    if not top5:
        return top1
    # stable descending sort, so ties break towards the smaller class index as in argmax
    ranked = torch.sort(scores, dim=1, descending=True, stable=True).indices[:, : min(5, c)]
    acc5 = float((ranked == yte[:, None]).any(dim=1).double().mean())
    return top1, acc5


# --------------------------------------------------------------------------------------------
# linear probe
# --------------------------------------------------------------------------------------------


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
    """
    xtr = train_features.double()
    mean = xtr.mean(dim=0)
    std = xtr.std(dim=0, unbiased=False)
    constant = (xtr.amax(dim=0) == xtr.amin(dim=0)) | (std < 10 * torch.finfo(torch.float64).eps)
    std = torch.where(constant, torch.ones_like(std), std)
    out_tr = ((xtr - mean) / std).to(train_features.dtype)
    out_te = ((test_features.double() - mean) / std).to(test_features.dtype)
    return out_tr, out_te


def _accuracy(
    model: torch.nn.Linear, x: torch.Tensor, y: torch.Tensor, chunk: int = 65536
) -> float:
    correct = 0
    with torch.no_grad():
        for start in range(0, x.shape[0], chunk):
            pred = model(x[start : start + chunk]).argmax(dim=1)
            correct += int((pred == y[start : start + chunk]).sum())
    return correct / x.shape[0]


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

    Returns:
        :class:`ProbeResult`; ``final_accuracy`` is after the last epoch, ``best_accuracy`` is
        the max test accuracy over epochs (the official ``best_acc``, optimistic).
    """
    epochs = _check_int("epochs", epochs, low=1)
    check_range("lr", lr, low=0, low_open=True)
    check_range("weight_decay", weight_decay, low=0)
    batch_size = _check_int("batch_size", batch_size, low=1)
    seed = _check_int("seed", seed, low=0, high=2**63 - 1)
    do_standardize = _check_bool("standardize", standardize)
    xtr, ytr, xte, yte, c = _prepare(
        train_features, train_labels, test_features, test_labels, num_classes, device
    )
    if do_standardize:
        xtr, xte = standardize_features(xtr, xte)
    xtr, xte = xtr.float(), xte.float()
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

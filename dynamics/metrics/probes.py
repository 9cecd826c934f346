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

Module layout: the kNN is defined here; :func:`linear_probe`, :class:`ProbeResult` and
:func:`standardize_features` live in :mod:`dynamics.metrics.linear_eval` (re-exported here), the
shared input checks in :mod:`dynamics.metrics._probe_inputs`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from dynamics.errors import ConfigError, check_range
from dynamics.metrics._probe_inputs import _check_bool, _check_int, _prepare
from dynamics.metrics.linear_eval import ProbeResult, linear_probe, standardize_features
from dynamics.threads import with_thread_policy

__all__ = [
    "ProbeResult",
    "knn_accuracy",
    "knn_predict",
    "linear_probe",
    "standardize_features",
]


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

    Args:
        train_features: (n_train, d) torch tensor (any device, any real dtype) or numpy array.
        train_labels: (n_train,) integer class indices >= 0 (tensor, array or list).
        test_features: (n_test, d) torch tensor or numpy array, same d.
        k: neighbours, ``1 <= k <= n_train`` (default 20).
        temperature: ``> 0`` (default 0.07).
        num_classes: defaults to ``max label + 1``.
        chunk_size: test rows per similarity block, an integer >= 1 (default 256).

    Returns:
        (n_test,) int64 torch tensor of predicted class indices, also for numpy input.

    Example:
        >>> xtr = torch.tensor([[1., 0.], [0.9, 0.1], [0., 1.], [0.1, 0.9]])
        >>> knn_predict(xtr, [0, 0, 1, 1], torch.tensor([[1., 0.2], [0.2, 1.]]), k=2)
        tensor([0, 1])
    """
    xtr, ytr, xte, _, c = _prepare(train_features, train_labels, test_features, None, num_classes)
    k = _knn_validate(k, temperature, chunk_size, xtr.shape[0])
    scores = _knn_scores(
        xtr, ytr, xte, k=k, temperature=float(temperature), num_classes=c, chunk_size=chunk_size
    )
    return scores.argmax(dim=1)


@with_thread_policy
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

    Example:
        >>> xtr = torch.tensor([[1., 0.], [0.9, 0.1], [0., 1.], [0.1, 0.9]])
        >>> xte = torch.tensor([[1., 0.2], [0.2, 1.]])
        >>> knn_accuracy(xtr, [0, 0, 1, 1], xte, [0, 1], k=2)
        1.0
        >>> knn_accuracy(xtr, [0, 0, 1, 1], xte, [1, 1], k=2, top5=True)  # top-5 = top-2 here
        (0.5, 1.0)
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

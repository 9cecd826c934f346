"""The linear probe solved exactly: L2-regularised multinomial logistic regression to its optimum.

:func:`linear_probe` (the DirectPred paper's protocol) runs ``eval.linear_epochs`` epochs of
minibatch Adam with coupled weight decay ``wd`` on the standardised features, i.e. it descends

    L(W, b) = (1/n) sum_i CE(W x_i + b, y_i) + (wd/2) (||W||_F^2 + ||b||^2)

(Adam's ``weight_decay`` adds ``wd * theta`` to the gradient, the gradient of the penalty) and
stops after a fixed budget. :func:`logistic_regression_probe` minimises the same L, full batch,
with L-BFGS (strong-Wolfe line search) from W = 0, b = 0 until the gradient's largest entry is
below ``tol``: L is strictly convex for wd > 0, so the answer is THE minimiser, independent of
seed, batch order and learning rate, and typically a few hundred iterations of one (n, d) x
(d, C) product each. Selected in a run by ``eval.linear_solver=lbfgs``; the paper's protocol
(``adam``) stays the default.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from dynamics.errors import check_range
from dynamics.metrics._probe_inputs import _check_int
from dynamics.metrics.linear_eval import ProbeResult, probe_inputs
from dynamics.threads import with_thread_policy

LINEAR_SOLVERS = ("adam", "lbfgs")
"""Solvers of the linear evaluation (``eval.linear_solver``): ``adam`` is
:func:`~dynamics.metrics.linear_eval.linear_probe` (the paper's protocol), ``lbfgs`` is
:func:`logistic_regression_probe` (the exact optimum of the same objective)."""


def _objective(x, y, w, b, wd: float) -> torch.Tensor:
    """L(W, b) of the module docstring."""
    return F.cross_entropy(F.linear(x, w, b), y) + 0.5 * wd * (w.square().sum()
                                                                 + b.square().sum())


@with_thread_policy
def logistic_regression_probe(
    train_features: Any,
    train_labels: Any,
    test_features: Any,
    test_labels: Any,
    *,
    weight_decay: float = 1e-3,
    max_iter: int = 1000,
    tol: float = 1e-6,
    device: Any = None,
    standardize: bool = True,
    num_classes: int | None = None,
) -> ProbeResult:
    """The minimiser of L(W, b) (module docstring) by full-batch L-BFGS, in float64.

    Args:
        train_features, test_features: (n, d) tensors or arrays (standardised with the TRAIN
            mean/std first, as :func:`~dynamics.metrics.linear_eval.linear_probe`, unless
            ``standardize`` is False).
        train_labels, test_labels: (n,) integer class indices.
        weight_decay: wd > 0 (default 1e-3, the paper's probe), so that the optimum is unique.
        max_iter: L-BFGS iterations at most (>= 1). tol: stop when max |grad L| <= tol.
        num_classes: output units; defaults to ``max label + 1`` over both splits.
        device: where to solve (a torch device or a string such as ``"cuda"``); default None:
            the device of ``train_features``.
        standardize: apply the StandardScaler step first (default True).

    Returns:
        :class:`~dynamics.metrics.linear_eval.ProbeResult` with ``final_accuracy`` =
        ``best_accuracy`` (no epochs to select from; ``best_epoch`` = ``epochs`` = 1) and
        ``history`` ``{"train_loss": (L at the optimum,), "test_accuracy": (accuracy,),
        "grad_max": (max |grad L|,), "iterations": (n,)}``.

    Example:
        >>> x = torch.tensor([[1., 0.], [0.9, 0.1], [0., 1.], [0.1, 0.9]])
        >>> res = logistic_regression_probe(x, [0, 0, 1, 1], x, [0, 0, 1, 1])
        >>> res.final_accuracy, res.history["grad_max"][0] <= 1e-6
        (1.0, True)
    """
    check_range("weight_decay", weight_decay, low=0, low_open=True)
    max_iter = _check_int("max_iter", max_iter, low=1)
    check_range("tol", tol, low=0, low_open=True)
    xtr, ytr, xte, yte, c = probe_inputs(train_features, train_labels, test_features,
                                         test_labels, num_classes, device, standardize,
                                         torch.float64)
    wd = float(weight_decay)
    w = torch.zeros(c, xtr.shape[1], dtype=torch.float64, device=xtr.device, requires_grad=True)
    b = torch.zeros(c, dtype=torch.float64, device=xtr.device, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=max_iter, tolerance_grad=float(tol),
                            tolerance_change=1e-15, history_size=20,
                            line_search_fn="strong_wolfe")
    evaluations = 0

    def closure() -> torch.Tensor:
        nonlocal evaluations
        evaluations += 1
        opt.zero_grad(set_to_none=True)
        loss = _objective(xtr, ytr, w, b, wd)
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
        loss = closure()
    grad_max = float(torch.cat([w.grad.abs().flatten(), b.grad.abs()]).max())
    iterations = int(opt.state[w]["n_iter"])
    with torch.no_grad():
        acc = float((F.linear(xte, w, b).argmax(1) == yte).double().mean())
        train_acc = float((F.linear(xtr, w, b).argmax(1) == ytr).double().mean())
    return ProbeResult(final_accuracy=acc, best_accuracy=acc, best_epoch=1,
                       train_accuracy=train_acc, epochs=1,
                       history={"train_loss": (float(loss.detach()),), "test_accuracy": (acc,),
                                "grad_max": (grad_max,), "iterations": (iterations,)})


__all__ = ["LINEAR_SOLVERS", "logistic_regression_probe"]

"""The exact linear probe (L-BFGS on the L2-regularised logistic regression) against an
independent scipy minimisation of the same objective, and its use in a training run."""

import json

import numpy as np
import pytest
import torch
from scipy.optimize import minimize
from scipy.special import logsumexp

from dynamics.errors import ConfigError
from dynamics.metrics.linear_eval import standardize_features
from dynamics.metrics.linear_exact import LINEAR_SOLVERS, logistic_regression_probe


def _data(n=300, d=6, c=3, seed=0):
    g = np.random.default_rng(seed)
    centers = g.normal(size=(c, d)) * 1.5
    y = g.integers(0, c, n)
    x = centers[y] + g.normal(size=(n, d))
    yt = g.integers(0, c, n)
    xt = centers[yt] + g.normal(size=(n, d))
    return x, y, xt, yt


def _scipy_optimum(x, y, c, wd):
    """argmin (1/n) sum CE + (wd/2)(|W|^2 + |b|^2), by scipy's BFGS on the numpy objective."""
    n, d = x.shape
    onehot = np.eye(c)[y]

    def f(theta):
        w, b = theta[: c * d].reshape(c, d), theta[c * d:]
        z = x @ w.T + b
        p = np.exp(z - logsumexp(z, axis=1, keepdims=True))
        loss = np.mean(logsumexp(z, axis=1) - np.sum(z * onehot, axis=1))
        loss += 0.5 * wd * np.sum(theta**2)
        g = (p - onehot) / n
        grad = np.concatenate([(g.T @ x).ravel(), g.sum(0)]) + wd * theta
        return loss, grad

    res = minimize(f, np.zeros(c * d + c), jac=True, method="BFGS", options={"gtol": 1e-10})
    return res.x[: c * d].reshape(c, d), res.x[c * d:], res.fun


@pytest.mark.parametrize("wd", [1e-3, 0.1])
def test_exact_probe_matches_scipy_minimiser(wd):
    x, y, xt, yt = _data()
    xs, xts = (t.numpy() for t in standardize_features(torch.tensor(x), torch.tensor(xt)))
    w, b, fun = _scipy_optimum(xs, y, 3, wd)
    res = logistic_regression_probe(x, y, xt, yt, weight_decay=wd, tol=1e-9)
    assert res.history["train_loss"][0] == pytest.approx(fun, rel=1e-9, abs=1e-12)
    assert res.history["grad_max"][0] <= 1e-7
    acc = float(np.mean(np.argmax(xts @ w.T + b, axis=1) == yt))
    assert res.final_accuracy == pytest.approx(acc) and res.best_accuracy == res.final_accuracy


def test_exact_probe_beats_or_matches_a_short_adam_on_its_own_objective():
    """The optimum has the lowest regularised training loss; the accuracy is that of a good
    classifier on separable-ish clusters."""
    x, y, xt, yt = _data(seed=1)
    res = logistic_regression_probe(x, y, xt, yt)
    assert res.final_accuracy > 0.8 and res.train_accuracy > 0.8
    assert res.history["iterations"][0] >= 1


@pytest.mark.parametrize("kwargs, field", [({"weight_decay": 0.0}, "weight_decay"),
                                           ({"max_iter": 0}, "max_iter"),
                                           ({"tol": -1.0}, "tol")])
def test_exact_probe_rejects_bad_options(kwargs, field):
    x, y, xt, yt = _data(n=20)
    with pytest.raises(ConfigError, match=field):
        logistic_regression_probe(x, y, xt, yt, **kwargs)


def test_run_with_lbfgs_solver_and_bad_solver(tmp_path, smoke_cfg):
    from dynamics.train import trainer

    with pytest.raises(ConfigError, match=r"eval.linear_solver.*adam.*lbfgs"):
        trainer.train(smoke_cfg(tmp_path, "eval.linear_solver=sgd", "name=bad"))
    assert not (tmp_path / "bad").exists()
    trainer.train(smoke_cfg(tmp_path, "optim.epochs=1", "eval.linear_solver=lbfgs", "name=x"))
    lin = json.loads((tmp_path / "x" / "summary.json").read_text())["linear_eval"]
    assert lin["solver"] == "lbfgs" and lin["grad_max"] <= 1e-6 and "L-BFGS" in lin["protocol"]
    assert 0.0 <= lin["final_accuracy"] <= 1.0 and lin["final_accuracy"] == lin["best_accuracy"]
    assert set(LINEAR_SOLVERS) == {"adam", "lbfgs"}

"""The derivation of :mod:`dynamics.theories.stepwise.model` in sympy (Simon et al., ICML 2023,
under the convention L = ||W Gamma W^T - I||_F^2, dW/dt = -grad L).

:func:`stepwise_identities` returns each step as an expression that must simplify to 0:

* ``gradient``: on a symbolic d x m matrix W and a symbolic symmetric Gamma, the entrywise
  derivative of L equals 4 (W Gamma W^T - I) W Gamma (the flow
  :func:`~dynamics.theories.stepwise.model.barlow_flow`, evaluated on the symbols, is minus it);
* ``aligned_modes``: for W = diag(s_1, s_2) on the eigenbasis of Gamma = diag(gamma_1, gamma_2)
  (d = m = 2) the flow stays diagonal and ds_j/dt = -4 gamma_j s_j (gamma_j s_j^2 - 1);
* ``logistic``: lambda_j = gamma_j s_j^2 then obeys d lambda_j/dt = RATE gamma_j lambda_j
  (1 - lambda_j) with RATE = 8;
* ``closed_form``: :func:`~dynamics.theories.stepwise.model.logistic_eigenvalue`'s formula solves
  that equation, with lambda(0) = lambda_0;
* ``step_time``: at :func:`~dynamics.theories.stepwise.model.step_time` the closed form equals
  the level.
"""

from __future__ import annotations

from functools import cache

import sympy as sp

from dynamics.theories.stepwise.model import RATE, barlow_flow


def _sym_matrix(name: str, rows: int, cols: int, symmetric: bool = False) -> sp.Matrix:
    def entry(i: int, j: int) -> sp.Symbol:
        a, b = (min(i, j), max(i, j)) if symmetric else (i, j)
        return sp.Symbol(f"{name}_{a}{b}", real=True)

    return sp.Matrix(rows, cols, entry)


@cache
def stepwise_identities(d: int = 2, m: int = 3) -> dict[str, sp.Expr]:
    """Residuals of each step of the derivation (module docstring); all must be 0.

    Args:
        d: rows of the symbolic W of the ``gradient`` check (the other checks use d = m = 2).
        m: columns of that W, and the size of the symbolic symmetric Gamma.

    Returns:
        A dict from the step's name (``gradient``, ``aligned_modes``, ``logistic``,
        ``closed_form``, ``step_time``) to a sympy expression, 0 when the step holds. Cached
        per (d, m).

    Example:
        >>> stepwise_identities(1, 2)
        {'gradient': 0, 'aligned_modes': 0, 'logistic': 0, 'closed_form': 0, 'step_time': 0}
    """
    W = _sym_matrix("w", d, m)
    G = _sym_matrix("g", m, m, symmetric=True)
    C = W * G * W.T - sp.eye(d)
    L = sum(c**2 for c in C)
    grad = sp.Matrix(d, m, lambda i, j: sp.diff(L, W[i, j]))
    flow = barlow_flow(W, G)  # the module's formula, evaluated on symbols
    out = {"gradient": sum(sp.Abs(sp.expand(e)) for e in grad + flow)}

    s1, s2, g1, g2 = sp.symbols("s1 s2 gamma1 gamma2", positive=True)
    Wa = sp.diag(s1, s2)
    Ga = sp.diag(g1, g2)
    fa = barlow_flow(Wa, Ga)
    out["aligned_modes"] = sp.simplify(fa[0, 1] ** 2 + fa[1, 0] ** 2
                                       + (fa[0, 0] + 4 * g1 * s1 * (g1 * s1**2 - 1)) ** 2
                                       + (fa[1, 1] + 4 * g2 * s2 * (g2 * s2**2 - 1)) ** 2)
    rate = sp.nsimplify(RATE)
    lam = g1 * s1**2
    dlam = sp.diff(lam, s1) * fa[0, 0]
    out["logistic"] = sp.simplify(dlam - rate * g1 * lam * (1 - lam))

    t, lam0, level = sp.symbols("t lambda0 level", positive=True)
    closed = 1 / (1 + (1 / lam0 - 1) * sp.exp(-rate * g1 * t))
    out["closed_form"] = sp.simplify(sp.diff(closed, t) - rate * g1 * closed * (1 - closed)) \
        + sp.simplify(closed.subs(t, 0) - lam0)
    t_step = (sp.log(1 / lam0 - 1) - sp.log(1 / level - 1)) / (rate * g1)
    out["step_time"] = sp.simplify(closed.subs(t, t_step) - level)
    return out


__all__ = ["stepwise_identities"]

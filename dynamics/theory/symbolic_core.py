"""Small sympy helpers of the symbolic derivations (:mod:`dynamics.theory.symbolic`) for the
linear BYOL/SimSiam theory (Tian, Chen & Ganguli 2021): exact rationals, identically-zero tests,
matrices of symbols, entry-wise gradients, numeric (lambdified) versions, readable eigenvalues,
and the symbols of the mode equations (Eqs. 11-13).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import sympy as sp


def exact(expr):
    """Replace every float in ``expr`` (expression or matrix) by the exact rational it stores.

    The numeric modules write 1/2 as ``0.5`` (e.g. ``loss_J``, ``theorem3_K``); turning those into
    ``Rational(1, 2)`` lets differences cancel to an exact symbolic zero.
    """
    if isinstance(expr, sp.MatrixBase):
        return expr.applyfunc(exact)
    expr = sp.sympify(expr)
    return expr.xreplace({f: sp.Rational(f) for f in expr.atoms(sp.Float)})


def is_zero(expr, *, simplify: bool = False) -> bool:
    """True if ``expr`` (expression or matrix) is identically zero.

    Uses :func:`sympy.expand` (fast, enough for polynomial identities); ``simplify=True`` falls
    back to :func:`sympy.simplify` for expressions with radicals or fractions.
    """
    expr = exact(sp.sympify(expr))
    if isinstance(expr, sp.MatrixBase):
        return all(is_zero(e, simplify=simplify) for e in expr)
    if sp.expand(expr) == 0:
        return True
    return bool(simplify and sp.simplify(expr) == 0)


def general_matrix(name: str, rows: int, cols: int) -> sp.Matrix:
    """``rows x cols`` matrix of independent real symbols ``name_i_j``."""
    return sp.Matrix(rows, cols, lambda i, j: sp.Symbol(f"{name}_{i}_{j}", real=True))


def symmetric_matrix(name: str, n: int) -> sp.Matrix:
    """Symmetric ``n x n`` matrix of real symbols ``name_i_j`` (i <= j), mirrored below."""
    return sp.Matrix(n, n, lambda i, j: sp.Symbol(f"{name}_{min(i, j)}_{max(i, j)}", real=True))


def matrix_gradient(J, M: sp.Matrix) -> sp.Matrix:
    """dJ/dM entry by entry (M must hold independent symbols, not a symmetric parameterisation)."""
    return M.applyfunc(lambda m: sp.diff(J, m))


def lambdify_expr(expr, symbols: Sequence[sp.Symbol]) -> Callable[..., Any]:
    """Numeric (numpy) version of a symbolic result, called by keyword with the symbols' names.

    Inputs broadcast element-wise. They are evaluated in complex arithmetic, so square roots of
    negative discriminants give complex numbers instead of NaN; the caller decides what a complex
    value means (e.g. a fixed point that does not exist).
    """
    symbols = tuple(symbols)
    f = sp.lambdify(symbols, expr, modules="numpy")

    def call(**values):
        missing = [s.name for s in symbols if s.name not in values]
        if missing:
            raise TypeError(f"missing values for {', '.join(missing)}")
        args = [np.asarray(values[s.name], dtype=complex) for s in symbols]
        shape = np.broadcast_shapes(*(np.shape(a) for a in args))
        out = f(*args)
        if isinstance(out, list | tuple):
            return np.stack([np.broadcast_to(np.asarray(o, dtype=complex), shape) for o in out])
        return np.broadcast_to(np.asarray(out, dtype=complex), shape)

    return call


def readable_eigenvalues(M: sp.Matrix) -> list:
    """Eigenvalues of a small symbolic matrix in a readable form."""
    n = M.shape[0]
    if M.is_upper or M.is_lower:
        return [sp.factor(M[i, i]) for i in range(n)]
    if n == 2:
        tr = sp.factor(sp.simplify(M.trace()))
        det = sp.factor(sp.simplify(M.det()))
        root = sp.sqrt(sp.factor(sp.expand(tr**2 / 4 - det)))
        return [tr / 2 - root, tr / 2 + root]
    return [sp.simplify(e) for e in M.eigenvals(multiple=True)]


def mode_symbols(*, eta_zero: bool = False) -> dict[str, sp.Symbol]:
    """Symbols of the mode equations: state p, s (real); tau, alpha_p > 0; sigma2 >= 0; eta > 0
    (``eta_zero=True``: eta >= 0, to be set to 0); beta > 0 (EMA rate)."""
    return {
        "p": sp.Symbol("p", real=True),
        "s": sp.Symbol("s", real=True),
        "tau": sp.Symbol("tau", positive=True),
        "alpha_p": sp.Symbol("alpha_p", positive=True),
        "eta": sp.Symbol("eta", nonnegative=True) if eta_zero else sp.Symbol("eta", positive=True),
        "sigma2": sp.Symbol("sigma2", nonnegative=True),
        "beta": sp.Symbol("beta", positive=True),
    }

"""Small sympy helpers shared by the symbolic derivations of every theory (the ``symbolic``
module of each package under :mod:`dynamics.theories`): exact rationals, identically-zero tests,
matrices of symbols, entry-wise gradients, numeric (lambdified) versions, readable eigenvalues.

>>> import sympy as sp
>>> is_zero(sp.Symbol("x") - sp.Symbol("x"))
True
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

    Args:
        expr: sympy expression, sympy matrix or anything :func:`sympy.sympify` accepts.

    Returns:
        The same expression (or matrix) with every ``Float`` replaced by ``Rational(f)``, the
        exact binary value (0.1 becomes 3602879701896397/36028797018963968, not 1/10).

    Example:
        >>> import sympy as sp
        >>> exact(0.5 * sp.Symbol("x") + 0.25)
        x/2 + 1/4
    """
    if isinstance(expr, sp.MatrixBase):
        return expr.applyfunc(exact)
    expr = sp.sympify(expr)
    return expr.xreplace({f: sp.Rational(f) for f in expr.atoms(sp.Float)})


def is_zero(expr, *, simplify: bool = False) -> bool:
    """True if ``expr`` (expression or matrix) is identically zero.

    Uses :func:`sympy.expand` (fast, enough for polynomial identities); ``simplify=True`` falls
    back to :func:`sympy.simplify` for expressions with radicals or fractions.

    Args:
        expr: sympy expression or matrix (floats are made exact first, :func:`exact`).
        simplify: also try :func:`sympy.simplify` when expanding does not give 0.

    Returns:
        bool: True if zero (every entry, for a matrix); False means "not shown to be zero".

    Example:
        >>> import sympy as sp
        >>> x = sp.Symbol("x")
        >>> is_zero(0.5 * x - x / 2), is_zero(sp.sin(x)**2 + sp.cos(x)**2 - 1)
        (True, False)
        >>> is_zero(sp.sin(x)**2 + sp.cos(x)**2 - 1, simplify=True)
        True
    """
    expr = exact(sp.sympify(expr))
    if isinstance(expr, sp.MatrixBase):
        return all(is_zero(e, simplify=simplify) for e in expr)
    if sp.expand(expr) == 0:
        return True
    return bool(simplify and sp.simplify(expr) == 0)


def general_matrix(name: str, rows: int, cols: int) -> sp.Matrix:
    """``rows x cols`` matrix of independent real symbols ``name_i_j``.

    Args:
        name: symbol prefix.
        rows: number of rows.
        cols: number of columns.

    Returns:
        sympy.Matrix: entry (i, j) is ``Symbol(f"{name}_{i}_{j}", real=True)`` (0-based).

    Example:
        >>> general_matrix("W", 2, 2)
        Matrix([
        [W_0_0, W_0_1],
        [W_1_0, W_1_1]])
    """
    return sp.Matrix(rows, cols, lambda i, j: sp.Symbol(f"{name}_{i}_{j}", real=True))


def symmetric_matrix(name: str, n: int) -> sp.Matrix:
    """Symmetric ``n x n`` matrix of real symbols ``name_i_j`` (i <= j), mirrored below.

    Args:
        name: symbol prefix.
        n: size.

    Returns:
        sympy.Matrix: n(n+1)/2 distinct real symbols; entries (i, j) and (j, i) are the same.

    Example:
        >>> symmetric_matrix("S", 2)
        Matrix([
        [S_0_0, S_0_1],
        [S_0_1, S_1_1]])
    """
    return sp.Matrix(n, n, lambda i, j: sp.Symbol(f"{name}_{min(i, j)}_{max(i, j)}", real=True))


def matrix_gradient(J, M: sp.Matrix) -> sp.Matrix:
    """dJ/dM entry by entry (M must hold independent symbols, not a symmetric parameterisation).

    Args:
        J: scalar sympy expression.
        M: matrix of symbols (e.g. :func:`general_matrix`).

    Returns:
        sympy.Matrix: same shape as ``M``, entry (i, j) = dJ/dM_ij.

    Example:
        >>> W = general_matrix("W", 1, 2)
        >>> matrix_gradient((W * W.T)[0, 0], W)
        Matrix([[2*W_0_0, 2*W_0_1]])
    """
    return M.applyfunc(lambda m: sp.diff(J, m))


def lambdify_expr(expr, symbols: Sequence[sp.Symbol]) -> Callable[..., Any]:
    """Numeric (numpy) version of a symbolic result, called by keyword with the symbols' names.

    Inputs broadcast element-wise. They are evaluated in complex arithmetic, so square roots of
    negative discriminants give complex numbers instead of NaN; the caller decides what a complex
    value means (e.g. a fixed point that does not exist).

    Args:
        expr: sympy expression, or a list/tuple of them.
        symbols: the free symbols of ``expr``, in any order; the function is called with one
            keyword per symbol name (TypeError naming any missing one; extra keywords are
            ignored).

    Returns:
        Callable[..., np.ndarray]: ``call(**values)`` returning a complex array of the
        broadcast shape of the inputs (for a list/tuple ``expr``, the results stacked along a
        new first axis).

    Example:
        >>> import sympy as sp
        >>> a, b = sp.symbols("a b")
        >>> f = lambdify_expr(sp.sqrt(a - b), [a, b])
        >>> f(a=[4.0, 1.0], b=0.0)
        array([2.+0.j, 1.+0.j])
        >>> print(f(a=1.0, b=2.0))
        1j
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
    """Eigenvalues of a small symbolic matrix in a readable form.

    Triangular matrices give their factored diagonal; a 2x2 gives tr/2 -+ sqrt(tr^2/4 - det)
    with factored trace and determinant; anything larger the simplified
    :meth:`sympy.Matrix.eigenvals` (with multiplicity).

    Args:
        M: square sympy matrix.

    Returns:
        list: sympy expressions, one per eigenvalue counted with multiplicity (2x2: the minus
        root first).

    Example:
        >>> import sympy as sp
        >>> readable_eigenvalues(sp.Matrix([[0, 1], [-1, 0]]))
        [-I, I]
    """
    n = M.shape[0]
    if M.is_upper or M.is_lower:
        return [sp.factor(M[i, i]) for i in range(n)]
    if n == 2:
        tr = sp.factor(sp.simplify(M.trace()))
        det = sp.factor(sp.simplify(M.det()))
        root = sp.sqrt(sp.factor(sp.expand(tr**2 / 4 - det)))
        return [tr / 2 - root, tr / 2 + root]
    return [sp.simplify(e) for e in M.eigenvals(multiple=True)]

"""The symbols of the decoupled mode equations (Tian, Chen & Ganguli 2021, Eqs. 11-13), shared by
the symbolic derivations of :mod:`dynamics.theories.directpred.symbolic`."""

from __future__ import annotations

import sympy as sp


def mode_symbols(*, eta_zero: bool = False) -> dict[str, sp.Symbol]:
    """Symbols of the mode equations: state p, s (real); tau, alpha_p > 0; sigma2 >= 0; eta > 0
    (``eta_zero=True``: eta >= 0, to be set to 0); beta > 0 (EMA rate).

    Args:
        eta_zero: declare eta non-negative instead of positive.

    Returns:
        dict of sympy Symbols keyed p, s, tau, alpha_p, eta, sigma2, beta.

    Example:
        >>> sym = mode_symbols()
        >>> sorted(sym), sym["eta"].is_positive
        (['alpha_p', 'beta', 'eta', 'p', 's', 'sigma2', 'tau'], True)
    """
    return {
        "p": sp.Symbol("p", real=True),
        "s": sp.Symbol("s", real=True),
        "tau": sp.Symbol("tau", positive=True),
        "alpha_p": sp.Symbol("alpha_p", positive=True),
        "eta": sp.Symbol("eta", nonnegative=True) if eta_zero else sp.Symbol("eta", positive=True),
        "sigma2": sp.Symbol("sigma2", nonnegative=True),
        "beta": sp.Symbol("beta", positive=True),
    }

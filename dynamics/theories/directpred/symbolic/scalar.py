"""Appendix D's scalar model in sympy (Tian, Chen & Ganguli 2021, Eqs. 104-106): the flow of
``nonisotropic.scalar_rhs`` on symbols, its fixed points with and without a predictor, and its
agreement with the decoupled mode equations (Eqs. 11-13)."""

from __future__ import annotations

from functools import lru_cache

import sympy as sp

from dynamics.theories.directpred import modes
from dynamics.theories.directpred.nonisotropic import scalar_rhs
from dynamics.theories.directpred.symbolic.fixed_points import FixedPointAnalysis, analyse
from dynamics.theories.directpred.symbolic.symbols import mode_symbols


def scalar_symbols() -> dict[str, sp.Symbol]:
    """State wp, w, wa (real) and parameters alpha_p, beta, lambda_s, lambda_d (> 0).

    Returns:
        dict of sympy Symbols keyed by those names.
    """
    return {
        "wp": sp.Symbol("wp", real=True),
        "w": sp.Symbol("w", real=True),
        "wa": sp.Symbol("wa", real=True),
        "alpha_p": sp.Symbol("alpha_p", positive=True),
        "beta": sp.Symbol("beta", positive=True),
        "lambda_s": sp.Symbol("lambda_s", positive=True),
        "lambda_d": sp.Symbol("lambda_d", positive=True),
    }


def _scalar_rhs_sym(sym, **overrides):
    """``nonisotropic.scalar_rhs`` (Eqs. 104-106, eta = 0) on the symbols, some overridden."""
    vals = {k: overrides.get(k, sym[k]) for k in sym}
    return scalar_rhs(vals["wp"], vals["w"], vals["wa"], alpha_p=vals["alpha_p"],
                      beta=vals["beta"], lambda_s=vals["lambda_s"], lambda_d=vals["lambda_d"],
                      eta=0)


@lru_cache(maxsize=1)
def scalar_model_fixed_points() -> FixedPointAnalysis:
    """Fixed points of the full 3-D scalar model (Eqs. 104-106) with Jacobians.

    The right-hand side is ``nonisotropic.scalar_rhs`` (eta = 0) evaluated on symbols.
    Labels: ``"collapsed"``: w = wa = 0 with wp *free* (a whole line through the origin, not only
    the origin); ``"noncollapsed"``: wp = lambda_d/lambda_s, w = wa free (Appendix D). Each has
    one zero eigenvalue along its line; on the collapsed line the other two have product
    beta wp (lambda_s wp - lambda_d), so it is normally a saddle for 0 < wp < lambda_d/lambda_s
    and normally stable outside that interval.

    Returns:
        :class:`~dynamics.theories.directpred.symbolic.fixed_points.FixedPointAnalysis` with
        state (wp, w, wa) and params (alpha_p, beta, lambda_s, lambda_d); cached.

    Example:
        >>> fa = scalar_model_fixed_points()
        >>> fa.labels, fa["noncollapsed"].coords
        (['collapsed', 'noncollapsed'], {w: wa, wp: lambda_d/lambda_s})
    """
    sym = scalar_symbols()
    state = (sym["wp"], sym["w"], sym["wa"])
    params = (sym["alpha_p"], sym["beta"], sym["lambda_s"], sym["lambda_d"])

    def label(sol):
        return "collapsed" if sol.get(sym["w"]) == 0 else "noncollapsed"

    return analyse(_scalar_rhs_sym(sym), state, params, label)


@lru_cache(maxsize=1)
def tied_scalar_model() -> FixedPointAnalysis:
    """Scalar model on the invariant set w = wp with alpha_p = 1 (Appendix D, Fig. 10 middle).

    ``checks["d(w - wp)/dt on w = wp"]`` is 0: with alpha_p = 1 Eq. 104 equals Eq. 105 when
    wp = w, so w = wp is invariant. On it the state is (w, wa) with dw/dt = w (wa lambda_d -
    w^2 lambda_s), dwa/dt = beta (w - wa). Labels: ``"origin"`` (eigenvalues 0 and -beta:
    non-hyperbolic; the centre direction w = wa has dw/dt ~ lambda_d w^2 > 0, so it is unstable
    from w > 0) and ``"nontrivial"``: w = wa = lambda_d/lambda_s (stable).

    Returns:
        ``FixedPointAnalysis`` with state (w, wa) and params (beta, lambda_s, lambda_d); cached.

    Example:
        >>> fa = tied_scalar_model()
        >>> fa.labels, fa.checks
        (['origin', 'nontrivial'], {'d(w - wp)/dt on w = wp': 0})
    """
    sym = scalar_symbols()
    w, wa = sym["w"], sym["wa"]
    dwp, dw, dwa = _scalar_rhs_sym(sym, wp=w, alpha_p=1)
    checks = {"d(w - wp)/dt on w = wp": sp.expand(dw - dwp)}
    params = (sym["beta"], sym["lambda_s"], sym["lambda_d"])

    def label(sol):
        return "origin" if sol.get(w) == 0 else "nontrivial"

    fa = analyse([dw, dwa], (w, wa), params, label)
    fa.checks.update(checks)
    return fa


@lru_cache(maxsize=2)
def no_predictor_scalar_model(*, equal_lambdas: bool = False) -> FixedPointAnalysis:
    """Scalar model without predictor, wp = 1 fixed (Appendix D, Fig. 10 right).

    (w, wa) with dw/dt = wa lambda_d - w lambda_s, dwa/dt = beta (w - wa). For lambda_d !=
    lambda_s the only fixed point is the ``"origin"``, with det J = beta (lambda_s - lambda_d):
    stable for lambda_d < lambda_s (additive noise: collapse). ``equal_lambdas=True`` sets
    lambda_d = lambda_s: then the line w = wa (``"line"``) is fixed.

    Args:
        equal_lambdas: substitute lambda_d = lambda_s.

    Returns:
        ``FixedPointAnalysis`` with state (w, wa) and params (beta, lambda_s, lambda_d); cached.

    Example:
        >>> no_predictor_scalar_model().labels, no_predictor_scalar_model(equal_lambdas=True).labels
        (['origin'], ['line'])
    """
    sym = scalar_symbols()
    over = {"wp": 1}
    if equal_lambdas:
        over["lambda_d"] = sym["lambda_s"]
    _, dw, dwa = _scalar_rhs_sym(sym, **over)
    params = (sym["beta"], sym["lambda_s"], sym["lambda_d"])

    def label(sol):
        return "origin" if sol.get(sym["w"]) == 0 and sol.get(sym["wa"]) == 0 else "line"

    return analyse([dw, dwa], (sym["w"], sym["wa"]), params, label)


def scalar_model_vs_modes() -> dict[str, sp.Expr]:
    """Appendix D's scalar model equals the mode equations (Eqs. 11-13, eta = 0) under
    s = w^2, p = wp, tau = wa/w, lambda_s = 1 + sigma2, lambda_d = 1.

    Returns the residuals (d(w^2)/dt - ds_dt, dwp/dt - dp_dt, d(wa/w)/dt - dtau_dt), each
    simplified to exactly 0.

    Returns:
        dict ``{"ds", "dp", "dtau"}`` of sympy expressions.

    Example:
        >>> scalar_model_vs_modes()
        {'ds': 0, 'dp': 0, 'dtau': 0}
    """
    sym = scalar_symbols()
    ms = mode_symbols()
    wp, w, wa, alpha_p, beta = (sym[k] for k in ("wp", "w", "wa", "alpha_p", "beta"))
    sigma2 = ms["sigma2"]
    dwp, dw, dwa = scalar_rhs(wp, w, wa, alpha_p=alpha_p, beta=beta, lambda_s=1 + sigma2,
                              lambda_d=1, eta=0)
    s, tau = w**2, wa / w
    return {
        "ds": sp.simplify(2 * w * dw - modes.ds_dt(wp, s, tau, 0, sigma2)),
        "dp": sp.simplify(dwp - modes.dp_dt(wp, s, tau, alpha_p, 0, sigma2)),
        "dtau": sp.simplify((dwa * w - wa * dw) / w**2 - modes.dtau_dt(wp, tau, beta, 0, sigma2)),
    }


__all__ = ["no_predictor_scalar_model", "scalar_model_fixed_points", "scalar_model_vs_modes",
           "scalar_symbols", "tied_scalar_model"]

"""The derivations of :mod:`dynamics.theories.deep_jepa.model` in sympy (Littwin et al. 2024, under
that module's convention). :func:`jepa_identities` returns residuals that must be 0:

* ``jepa_layers_L`` / ``mae_layers_L`` (L = 1, 2, 3): for one feature, symbolic layer weights
  a_1..a_L and head v, the expected losses 1/2 (v^2 W^2 sigma2 - 2 v W W_sg lambda + ...) (JEPA,
  W_sg the stop-gradient copy of W = a_1 ... a_L) and 1/2 (v^2 W^2 sigma2 - 2 v W lambda + ...)
  (MAE) give, at the balanced point a_l = v = a, the same da/dt for every layer and for the
  head, equal to :func:`~dynamics.theories.deep_jepa.model.layer_rate`;
* ``balance_L``: d(v^2 - a_l^2)/dt = 0 for unbalanced weights (both objectives), so the balanced
  start stays balanced;
* ``product_L``: L a^(L-1) layer_rate equals :func:`~dynamics.theories.deep_jepa.model.product_rate`
  at W = a^L;
* ``fixed_points_L``: layer_rate vanishes at a = W*^(1/L) of
  :func:`~dynamics.theories.deep_jepa.model.fixed_point`;
* ``antiderivative_L`` (L = 1..4): d/da of
  :func:`~dynamics.theories.deep_jepa.model.jepa_antiderivative` is 1 / (a^(2L) (rho - a)), the
  integrand of JEPA's critical time.
"""

from __future__ import annotations

from functools import cache

import sympy as sp

from dynamics.theories.deep_jepa.model import (
    fixed_point,
    jepa_antiderivative,
    layer_rate,
    product_rate,
)


def _z(expr) -> sp.Expr:
    return sp.Abs(sp.simplify(expr))


@cache
def jepa_identities() -> dict[str, sp.Expr]:
    """Residuals of each step (module docstring); all must be 0.

    Returns:
        A dict from the step's name (``jepa_layers_L``, ``mae_layers_L``, ``balance_L``,
        ``product_L``, ``fixed_points_L`` for L = 1, 2, 3 and ``antiderivative_L`` for L = 1..4)
        to a sympy expression, 0 when the step holds. Cached.

    Example:
        >>> res = jepa_identities()  # doctest: +SKIP
        >>> len(res), all(r == 0 for r in res.values())  # doctest: +SKIP
        (19, True)
    """
    lam, rho, a = sp.symbols("lambda rho a", positive=True)
    s2 = lam / rho
    out: dict[str, sp.Expr] = {}
    for L in (1, 2, 3):
        ws = sp.symbols(f"a1:{L + 1}", positive=True)
        v, wsg = sp.symbols("v W_sg", positive=True)
        W = sp.Mul(*ws)
        losses = {"jepa": (v**2 * W**2 * s2 - 2 * v * W * wsg * lam) / 2,
                  "mae": (v**2 * W**2 * s2 - 2 * v * W * lam) / 2}
        bal = 0
        for obj, loss in losses.items():
            flows = {p: -sp.diff(loss, p).subs(wsg, W) for p in (*ws, v)}
            at = {p: a for p in (*ws, v)}
            res = sum(_z(f.subs(at) - layer_rate(a, lam, rho, L, obj)) for f in flows.values())
            out[f"{obj}_layers_{L}"] = res
            bal += sum(_z(sp.expand(v * flows[v] - w * flows[w])) for w in ws)
        out[f"balance_{L}"] = bal
        Ls = sp.Integer(L)
        out[f"product_{L}"] = sum(
            _z(Ls * a ** (Ls - 1) * layer_rate(a, lam, rho, Ls, obj)
               - product_rate(a**Ls, lam, rho, Ls, obj))
            for obj in ("jepa", "mae"))
        out[f"fixed_points_{L}"] = (
            _z(layer_rate(rho, lam, rho, L, "jepa"))
            + _z(layer_rate(rho ** sp.Rational(1, L + 1), lam, rho, L, "mae"))
            + sp.Integer(int(abs(fixed_point(0.64, L, "jepa") - 0.64**L) > 1e-12))
            + sp.Integer(int(abs(fixed_point(0.64, L, "mae") - 0.64 ** (L / (L + 1))) > 1e-12)))
    for L in (1, 2, 3, 4):
        out[f"antiderivative_{L}"] = _z(sp.diff(jepa_antiderivative(a, rho, L), a)
                                        - 1 / (a ** (2 * L) * (rho - a)))
    return out


__all__ = ["jepa_identities"]

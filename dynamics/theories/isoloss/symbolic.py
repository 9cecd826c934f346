"""The derivations of :mod:`dynamics.theories.isoloss.model` in sympy (Halvagal, Laborieux & Zenke
2023, under that module's convention). :func:`isoloss_identities` returns residuals that must be 0:

* ``euclidean_gradient``: on a symbolic 2 x 2 W, a symbolic symmetric (constant) Wp and a
  stop-gradient copy of W, the gradient of 1/2 E||Wp W x1 - W_sg x2||^2 = 1/2 a tr(Wp W W^T Wp)
  - tr(Wp W W_sg^T) + const is Wp (a Wp - I) W once W_sg = W;
* ``euclidean_modes`` / ``isoloss_modes``: for W = diag(w1, w2) and Wp = C^alpha, C = a W W^T,
  the flows -Wp (a Wp - I) W and -(a Wp - I) W give d lambda/dt = 2 lambda^{1+alpha}
  (1 - a lambda^alpha) and 2 lambda (1 - a lambda^alpha) (:func:`~dynamics.theories.isoloss.model.
  mode_rhs`, evaluated on the symbols);
* ``isoloss_logistic``: v = lambda^alpha of the IsoLoss mode solves dv/dt = 2 alpha v (1 - a v),
  and :func:`~dynamics.theories.isoloss.model.isoloss_closed_form`'s formula solves that with v(0) =
  v0;
* ``cosine_trace``: the cosine modes' rates sum to 0 (tr C conserved) for three generic modes.
"""

from __future__ import annotations

from functools import cache

import sympy as sp

from dynamics.theories.isoloss.model import cosine_mode_rate, mode_rhs


@cache
def isoloss_identities() -> dict[str, sp.Expr]:
    """Residuals of each step (module docstring); all must be 0.

    Returns:
        A dict from the step's name (``euclidean_gradient``, ``euclidean_modes``,
        ``isoloss_modes``, ``isoloss_logistic``, ``isoloss_closed_form``, ``cosine_trace``) to a
        sympy expression, 0 when the step holds. Cached.

    Example:
        >>> all(r == 0 for r in isoloss_identities().values())
        True
    """
    a, alpha = sp.symbols("a alpha", positive=True)
    W = sp.Matrix(2, 2, sp.symbols("w0:4", real=True))
    Ws = sp.Matrix(2, 2, sp.symbols("s0:4", real=True))
    p0, p1, p2 = sp.symbols("p0:3", real=True)
    Wp = sp.Matrix([[p0, p1], [p1, p2]])
    L = sp.Rational(1, 2) * a * (Wp * W * W.T * Wp).trace() - (Wp * W * Ws.T).trace()
    grad = sp.Matrix(2, 2, lambda i, j: sp.diff(L, W[i, j])).subs(dict(zip(Ws, W, strict=True)))
    out = {"euclidean_gradient": sum(sp.Abs(sp.expand(e))
                                     for e in grad - Wp * (a * Wp - sp.eye(2)) * W)}

    w1, w2 = sp.symbols("w1 w2", positive=True)
    Wd = sp.diag(w1, w2)
    lam = [a * w1**2, a * w2**2]
    Wpd = sp.diag(lam[0] ** alpha, lam[1] ** alpha)
    for name, flow, loss in (("euclidean_modes", -Wpd * (a * Wpd - sp.eye(2)) * Wd, "euclidean"),
                             ("isoloss_modes", -(a * Wpd - sp.eye(2)) * Wd, "isoloss")):
        res = 0
        for i, w in enumerate((w1, w2)):
            dlam = 2 * a * w * flow[i, i]
            target = mode_rhs(lam[i], alpha=alpha, sigma2=a - 1, loss=loss)
            res += sp.Abs(sp.simplify(sp.powsimp(sp.expand(dlam - target), force=True)))
        out[name] = res + sp.Abs(flow[0, 1]) + sp.Abs(flow[1, 0])

    t, v0, lam_s = sp.symbols("t v0 lambda", positive=True)
    dv = alpha * lam_s ** (alpha - 1) * mode_rhs(lam_s, alpha=alpha, sigma2=a - 1,
                                                 loss="isoloss")
    v = lam_s**alpha
    out["isoloss_logistic"] = sp.simplify(sp.powsimp(sp.expand(dv - 2 * alpha * v * (1 - a * v)),
                                                     force=True))
    vs = 1 / a
    closed = vs / (1 + (vs / v0 - 1) * sp.exp(-2 * alpha * t))
    out["isoloss_closed_form"] = sp.simplify(sp.diff(closed, t)
                                             - 2 * alpha * closed * (1 - a * closed)) \
        + sp.simplify(closed.subs(t, 0) - v0)

    lams = sp.symbols("l1:4", positive=True)
    half = sp.Rational(1, 2)
    s1 = sum(x ** (1 + half) for x in lams)
    s2 = sum(x ** (1 + 2 * half) for x in lams)
    rates = [cosine_mode_rate(x, x**half, s1, s2, sum(lams)) for x in lams]
    out["cosine_trace"] = sp.simplify(sum(rates))
    return out


__all__ = ["isoloss_identities"]

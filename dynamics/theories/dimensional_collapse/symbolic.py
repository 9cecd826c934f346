"""The derivations of :mod:`dynamics.theories.dimensional_collapse.model` in sympy (Jing, Vincent,
LeCun & Tian 2022, under that module's convention). :func:`collapse_identities` returns residuals
that must be 0:

* ``gradient_identity``: for a batch of two pairs, symbolic 2 x 2 W and views, the gradient of
  the dot-product InfoNCE equals -(1/tau) W X with the X of
  :func:`~dynamics.theories.dimensional_collapse.model.x_matrix`;
* ``gaussian_mgf``: log E exp(k y) = k^2 c / 2 for y ~ N(0, c), the step that turns the log-sum
  over negatives into the quadratic term of the annealed loss;
* ``annealed_gradient``: grad_W of L(W^T W) (:func:`~dynamics.theories.dimensional_collapse.model.
  annealed_loss`, symbolic symmetric A, C) equals -(1/tau) W E[X];
* ``fixed_point``: E[X] vanishes at G* = tau C^-1 A C^-1 (symmetric 2 x 2 A, C);
* ``logistic`` / ``algebraic_decay``: :func:`~dynamics.theories.dimensional_collapse.model.
  annealed_modes` solves u' = (4u/tau)(a - c^2 u/tau) (a > 0) and u' = -4 c^2 u^2 / tau^2 (a = 0)
  (the symbolic solution, and the function's value at one point);
* ``two_layer_rate``: for W1 = W2 = diag(sqrt(sigma)) the two layers' flows give the product the
  rate of :func:`~dynamics.theories.dimensional_collapse.model.mode_rate` (layers = 2; one layer
  too);
* ``half_time_1`` / ``half_time_2``: d t / d sigma of
  :func:`~dynamics.theories.dimensional_collapse.model.half_time` (as a function of the end
  point) is 1 / mode_rate, and the
  function returns that closed form's value;
* ``balance``: W1 W1^T - W2^T W2 is constant under the flow of any loss of W2 W1.
"""

from __future__ import annotations

from functools import cache

import sympy as sp

from dynamics.theories.dimensional_collapse.model import (
    annealed_loss,
    annealed_modes,
    annealed_x,
    half_time,
    mode_rate,
)


def _zero(expr) -> sp.Expr:
    """Sum of |simplified entries| (0 when the identity holds)."""
    m = expr if isinstance(expr, sp.MatrixBase) else sp.Matrix([expr])
    return sum(sp.Abs(sp.simplify(e)) for e in m)


def _sym2(name: str) -> sp.Matrix:
    a, b, c = sp.symbols(f"{name}0:3", real=True)
    return sp.Matrix([[a, b], [b, c]])


@cache
def collapse_identities() -> dict[str, sp.Expr]:
    """Residuals of each step (module docstring); all must be 0.

    Returns:
        A dict from the step's name (``gradient_identity``, ``gaussian_mgf``,
        ``annealed_gradient``, ``fixed_point``, ``logistic``, ``algebraic_decay``,
        ``two_layer_rate``, ``half_time_1``, ``half_time_2``, ``balance``) to a sympy expression,
        0 when the step holds. Cached; the first call takes several seconds.

    Example:
        >>> all(r == 0 for r in collapse_identities().values())  # doctest: +SKIP
        True
    """
    tau = sp.symbols("tau", positive=True)
    out: dict[str, sp.Expr] = {}

    W = sp.Matrix(2, 2, sp.symbols("w0:4", real=True))
    x1 = [sp.Matrix(sp.symbols(f"x{i}a0:2", real=True)) for i in range(2)]
    x2 = [sp.Matrix(sp.symbols(f"x{i}b0:2", real=True)) for i in range(2)]
    s = [[((W * x1[i]).T * (W * x2[j]))[0] / tau for j in range(2)] for i in range(2)]
    loss = sum(-s[i][i] + sp.log(sum(sp.exp(s[i][j]) for j in range(2)))
               for i in range(2)) / 2
    grad = sp.Matrix(2, 2, lambda i, j: sp.diff(loss, W[i, j]))
    p = [[sp.exp(s[i][j]) / sum(sp.exp(s[i][k]) for k in range(2)) for j in range(2)]
         for i in range(2)]
    X = sp.zeros(2, 2)
    for i in range(2):
        for j in range(2):
            X += (int(i == j) - p[i][j]) * (x1[i] * x2[j].T + x2[j] * x1[i].T) / 2
    out["gradient_identity"] = _zero(grad + W * X / tau)

    k, y = sp.symbols("k y", real=True)
    c = sp.symbols("c", positive=True)
    mgf = sp.integrate(sp.exp(k * y) * sp.exp(-y**2 / (2 * c)) / sp.sqrt(2 * sp.pi * c),
                       (y, -sp.oo, sp.oo), conds="none")
    out["gaussian_mgf"] = _zero(sp.log(mgf) - k**2 * c / 2)

    A, C = _sym2("A"), _sym2("C")
    G = W.T * W
    L = annealed_loss(G, A, C, tau)
    grad = sp.Matrix(2, 2, lambda i, j: sp.diff(L, W[i, j]))
    out["annealed_gradient"] = _zero(sp.expand(grad + W * annealed_x(G, A, C, tau) / tau))
    Gs = tau * C.inv() * A * C.inv()
    out["fixed_point"] = _zero(annealed_x(Gs, A, C, tau))

    t, u0, a = sp.symbols("t u0 a", positive=True)
    us = a * tau / c**2
    u = us / (1 + (us / u0 - 1) * sp.exp(-4 * a * t / tau))
    vals = {t: 0.8, u0: 0.05, a: 0.7, c: 1.3, tau: 0.4}
    numeric = annealed_modes(0.8, 0.05, [0.7, 0.0], [0.6, 1.3], 0.4)
    out["logistic"] = (_zero(sp.diff(u, t) - 4 * u / tau * (a - c**2 * u / tau))
                       + sp.Abs(sp.nsimplify(round(float(u.subs(vals)) - numeric[0], 12))))
    u = u0 / (1 + 4 * c**2 * u0 * t / tau**2)
    out["algebraic_decay"] = (_zero(sp.diff(u, t) + 4 * c**2 * u**2 / tau**2)
                              + sp.Abs(sp.nsimplify(round(float(u.subs(vals)) - numeric[1], 12))))

    sig = sp.symbols("sigma", positive=True)
    # one aligned mode, scalar data: grad_w L = -(1/tau) w X, X = 2 (a - c^2 w^2 / tau)
    xs = 2 * (a - c**2 * sig**2 / tau)
    res = 0
    for layers in (1, 2):
        w = sp.sqrt(sig) if layers == 2 else sig
        gw = -(sig * xs) / tau  # grad of the product
        dprod = -(w * gw) * 2 * w if layers == 2 else -gw  # d(w1 w2)/dt = w2 w1' + w1 w2'
        res += sp.Abs(sp.simplify(dprod - mode_rate(sig, a, c, tau, layers)))
    out["two_layer_rate"] = res

    s0, q = sp.symbols("sigma0 q", positive=True)
    ss = sp.sqrt(a * tau) / c
    t1 = tau / (4 * a) * sp.log((sig / ss)**2 * (1 - (s0 / ss)**2)
                                / ((s0 / ss)**2 * (1 - (sig / ss)**2)))
    t2 = tau / (4 * a) * (1 / s0 - 1 / sig + (sp.atanh(sig / ss) - sp.atanh(s0 / ss)) / ss)
    vals = {a: 0.7, c: 1.3, tau: 0.4, s0: 0.01}
    sig_end = 0.5 * float(ss.subs(vals))
    for name, tt, layers in (("half_time_1", t1, 1), ("half_time_2", t2, 2)):
        # the closed form solves the mode ODE, and half_time evaluates that closed form
        numeric = float(half_time(0.01, 0.7, 1.3, 0.4, layers))
        out[name] = (_zero(sp.diff(tt, sig) * mode_rate(sig, a, c, tau, layers) - 1)
                     + sp.Abs(sp.nsimplify(round(float(tt.subs({**vals, sig: sig_end}))
                                                 - numeric, 12))))

    W1 = sp.Matrix(2, 2, sp.symbols("v0:4", real=True))
    W2 = sp.Matrix(2, 2, sp.symbols("q0:4", real=True))
    M = sp.Matrix(2, 2, sp.symbols("m0:4", real=True))  # grad_W L at W = W2 W1
    d1, d2 = -W2.T * M, -M * W1.T
    out["balance"] = _zero(sp.expand((d1 * W1.T + W1 * d1.T) - (d2.T * W2 + W2.T * d2)))
    return out


__all__ = ["collapse_identities"]

"""Identities of the linear BYOL/SimSiam theory (Tian, Chen & Ganguli 2021) proved in sympy on
the numeric code's own right-hand sides: the invariant parabola (Eq. 14), Theorem 3's commutator
identity under the reduced flow (Eq. 67), the eigenvalue of K on an aligned mode (Eq. 17), and
Eqs. 11-13 as the scalar case of Lemma 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from dynamics.numerics.symbolic import exact, symmetric_matrix
from dynamics.theories.directpred import closed_form, matrix_flow, modes, reduced
from dynamics.theories.directpred.symbolic.symbols import mode_symbols

# --------------------------------------------------------------------------------------------
# 1. The invariant parabola (Eq. 14)


def prove_invariant(*, ema: bool = False) -> tuple[sp.Expr, bool]:
    """Eq. 14: along Eqs. 11-12, c = s - p^2/alpha_p obeys dc/dt = -2 eta c exactly.

    Hence s(t) = p(t)^2/alpha_p + c(0) e^{-2 eta t} (with c(0) = s(0) - p(0)^2/alpha_p; the paper
    prints the opposite sign). p(t), s(t) are sympy functions of t, the chain rule is applied and
    dp/dt, ds/dt are replaced by ``modes.dp_dt``, ``modes.ds_dt``. With ``ema=True`` tau is an
    arbitrary function tau(t) (the EMA case, its derivative replaced by ``modes.dtau_dt``,
    Eq. 13), so the identity holds for any tau.

    Returns ``(residual, holds)``: residual = dc/dt + 2 eta c after substitution and
    simplification (exactly 0), holds = ``residual == 0``.

    Args:
        ema: let tau be a function tau(t) evolving by Eq. 13 (True) or a constant (False).

    Returns:
        Tuple ``(residual, holds)``: a sympy expression and a bool.

    Example:
        >>> prove_invariant(ema=True)
        (0, True)
    """
    sym = mode_symbols()
    t = sp.Symbol("t", real=True)
    alpha_p, eta, sigma2, beta = sym["alpha_p"], sym["eta"], sym["sigma2"], sym["beta"]
    p, s = sp.Function("p")(t), sp.Function("s")(t)
    tau = sp.Function("tau")(t) if ema else sym["tau"]
    c = s - p**2 / alpha_p
    rates = {
        sp.Derivative(p, t): modes.dp_dt(p, s, tau, alpha_p, eta, sigma2),
        sp.Derivative(s, t): modes.ds_dt(p, s, tau, eta, sigma2),
    }
    if ema:
        rates[sp.Derivative(tau, t)] = modes.dtau_dt(p, tau, beta, eta, sigma2)
    dc = sp.diff(c, t).subs(rates)
    residual = sp.simplify(sp.expand(dc + 2 * eta * c))
    return residual, residual == 0


# --------------------------------------------------------------------------------------------
# 2. Theorem 3: commutator identity


@dataclass
class CommutatorIdentity:
    """Theorem 3 for symbolic symmetric F, Wp (n x n) under the symmetrised flow Eq. 67.

    ``L = [F, Wp]``, ``dL = [dF, Wp] + [F, dWp]``, ``K = reduced.theorem3_K``;
    ``difference = dL + K L + L K`` (expanded, the zero matrix when ``holds``).
    ``K_symmetric`` confirms K = K^T.

    Attributes:
        n: matrix size.
        F, Wp: the symmetric symbolic matrices (n x n).
        L, dL, K: L = [F, Wp], its time derivative and Theorem 3's K (sympy matrices).
        difference: dL + K L + L K, expanded.
        holds: True when ``difference`` is the zero matrix.
        K_symmetric: True when K - K^T expands to zero.
    """

    n: int
    F: sp.Matrix
    Wp: sp.Matrix
    L: sp.Matrix
    dL: sp.Matrix
    K: sp.Matrix
    difference: sp.Matrix
    holds: bool
    K_symmetric: bool


def check_commutator_identity(n: int = 2) -> CommutatorIdentity:
    """Verify Theorem 3, dL/dt = -K L - L K with L = [F, Wp], symbolically.

    F and Wp are symmetric matrices of symbols; (dWp, dF) come from ``reduced.eq67_rhs`` (Eq. 67)
    and K from ``reduced.theorem3_K``:
    K = (1+sigma2)[(alpha_p/2) F + Wp^2 - tau/(1+sigma2) Wp] + (3/2) eta I. n = 2 takes well
    under a second, n = 3 a few seconds.

    Args:
        n: matrix size (a positive int).

    Returns:
        :class:`CommutatorIdentity`.

    Example:
        >>> ci = check_commutator_identity(2)
        >>> ci.holds, ci.K_symmetric
        (True, True)
    """
    F = symmetric_matrix("F", n)
    Wp = symmetric_matrix("Wp", n)
    sym = mode_symbols(eta_zero=True)
    kw = {k: sym[k] for k in ("alpha_p", "eta", "sigma2", "tau")}
    dWp, dF = reduced.eq67_rhs(Wp, F, **kw)
    K = exact(reduced.theorem3_K(Wp, F, **kw, eye=sp.eye(n))).applyfunc(sp.expand)
    L = reduced.commutator(F, Wp)
    dL = exact(reduced.commutator(dF, Wp) + reduced.commutator(F, dWp))
    diff = (dL + K @ L + L @ K).applyfunc(sp.expand)
    return CommutatorIdentity(n, F, Wp, L, dL.applyfunc(sp.expand), K, diff,
                              diff == sp.zeros(n, n), (K - K.T).applyfunc(sp.expand)
                              == sp.zeros(n, n))


def mode_k_eigenvalue() -> tuple[sp.Expr, sp.Expr]:
    """Eigenvalue of Theorem 3's K on an aligned mode, derived from ``reduced.theorem3_K``.

    With Wp = diag(p_1, p_2), F = diag(s_1, s_2) (the aligned state of Sec. 3.2) K is diagonal;
    its first diagonal entry is the mode-j eigenvalue. Returns ``(k_j, difference)`` where
    difference = k_j - ``closed_form.k_eigenvalue`` = k_j - [alpha_p(1+sigma2) s_j/2 - Delta_j
    + eta/2] (expanded, exactly 0). Positivity of k_j is Eq. 17.

    Returns:
        Tuple ``(k_j, difference)`` of sympy expressions in p, s, tau, alpha_p, eta, sigma2.

    Example:
        >>> k, diff = mode_k_eigenvalue()
        >>> diff
        0
    """
    sym = mode_symbols(eta_zero=True)
    p, s, tau, alpha_p, eta, sigma2 = (sym[k] for k in ("p", "s", "tau", "alpha_p", "eta",
                                                        "sigma2"))
    p2, s2 = sp.symbols("p_2 s_2", real=True)
    K = exact(reduced.theorem3_K(sp.diag(p, p2), sp.diag(s, s2), alpha_p=alpha_p, eta=eta,
                                 sigma2=sigma2, tau=tau, eye=sp.eye(2)))
    if not (K[0, 1] == 0 and K[1, 0] == 0):
        raise RuntimeError("theorem3_K is not diagonal in the aligned basis")
    k = sp.expand(K[0, 0])
    ref = exact(closed_form.k_eigenvalue(p, s, tau, alpha_p, eta, sigma2))
    return k, sp.expand(k - ref)


# --------------------------------------------------------------------------------------------
# 3. Eqs. 11-13 as the scalar case of Lemma 1


def modes_from_lemma1() -> tuple[dict[str, sp.Expr], bool]:
    """Eqs. 11-13 are the n1 = n2 = 1 case of Lemma 1 (Sec. 3.2).

    Evaluates ``matrix_flow.lemma1_rhs`` on 1x1 sympy matrices W = w, Wp = p, Wa = tau w,
    X = 1, X' = sigma2 and checks, with s = W^2:

        d(W^2)/dt = 2 W dW/dt     == modes.ds_dt    (Eq. 12)
        dWp/dt                    == modes.dp_dt    (Eq. 11)
        d(Wa/W)/dt = (dWa W - Wa dW)/W^2 == modes.dtau_dt  (Eq. 13 divided by s)

    Returns ``(residuals, holds)`` with the simplified residuals (all 0).

    Returns:
        Tuple ``(residuals, holds)``: dict ``{"ds", "dp", "dtau"}`` of sympy expressions, bool.

    Example:
        >>> modes_from_lemma1()
        ({'ds': 0, 'dp': 0, 'dtau': 0}, True)
    """
    sym = mode_symbols(eta_zero=True)
    p, tau, alpha_p, eta, sigma2, beta = (sym[k] for k in ("p", "tau", "alpha_p", "eta",
                                                           "sigma2", "beta"))
    w = sp.Symbol("w", real=True)
    W, Wp, Wa = sp.Matrix([[w]]), sp.Matrix([[p]]), sp.Matrix([[tau * w]])
    dW, dWp, dWa = matrix_flow.lemma1_rhs(W, Wp, Wa, sp.Matrix([[1]]), sp.Matrix([[sigma2]]),
                                          alpha_p=alpha_p, beta=beta, eta=eta)
    s = w**2
    res = {
        "ds": sp.simplify(2 * w * dW[0, 0] - modes.ds_dt(p, s, tau, eta, sigma2)),
        "dp": sp.simplify(dWp[0, 0] - modes.dp_dt(p, s, tau, alpha_p, eta, sigma2)),
        "dtau": sp.simplify((dWa[0, 0] * w - Wa[0, 0] * dW[0, 0]) / w**2
                            - modes.dtau_dt(p, tau, beta, eta, sigma2)),
    }
    return res, all(v == 0 for v in res.values())

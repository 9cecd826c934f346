"""Symbolic (sympy) derivations for the linear BYOL/SimSiam theory (Tian, Chen & Ganguli 2021).

Every result here is *derived* from the numeric code, not re-typed: the loss of Eq. 1
(:func:`dynamics.theory.matrix_flow.loss_J`), the mode equations 11-13
(:mod:`dynamics.theory.modes`), the reduced flow Eq. 67 and Theorem 3's K
(:mod:`dynamics.theory.reduced`) are written with plain arithmetic, so they are evaluated here on
sympy symbols and matrices. The derivations are then compared back to the numeric functions,
symbolically (the difference expands to exactly zero) and numerically (via :func:`sympy.lambdify`).

Contents (paper equation numbers):

* :func:`gradient_flow_from_loss` — differentiate J (Eq. 1) entry by entry; with stop-gradient the
  result is Lemma 1 (Eqs. 2-3), without it (Wa := W before differentiating) Theorem 2.
* :func:`mode_fixed_points`, :func:`parabola_fixed_points` — fixed points, Jacobians, eigenvalues
  and stability of Eqs. 11-12 (tau fixed) and of the 1-D flow Eq. 16 (Sec. 3.3, Figs. 3-4).
* :func:`prove_invariant` — Eq. 14: d/dt (s - p^2/alpha_p) = -2 eta (s - p^2/alpha_p), any tau(t).
* :func:`check_commutator_identity` — Theorem 3: dL/dt = -K L - L K for L = [F, Wp] under Eq. 67.
* :func:`scalar_model_fixed_points`, :func:`tied_scalar_model`, :func:`no_predictor_scalar_model`
  — Appendix D, Eqs. 104-106 (right-hand side ``nonisotropic.scalar_rhs``).
* :func:`modes_from_lemma1` — Eqs. 11-13 are the n1 = n2 = 1 case of Lemma 1.
* :class:`FixedPointAnalysis` / :func:`lambdify_expr` / :func:`mode_fixed_points_numeric` —
  numeric (numpy) versions of the symbolic results, for comparison with
  :mod:`dynamics.theory.closed_form` and simulations.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import sympy as sp

from dynamics.theory import closed_form, matrix_flow, modes, reduced
from dynamics.theory.stability import classify_eigenvalues  # noqa: F401 (re-exported)

# --------------------------------------------------------------------------------------------
# Small helpers


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


def _eigenvalues(M: sp.Matrix) -> list:
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


# --------------------------------------------------------------------------------------------
# 1. Lemma 1 / Theorem 2 from the loss


@dataclass
class GradientFlow:
    """Flow of the two-layer linear model derived by differentiating J (Eq. 1).

    ``dW = -dJ/dW - eta W`` and ``dWp = -alpha_p dJ/dWp - eta Wp`` (Lemma 1, Eqs. 2-3 with
    stop-gradient; Theorem 2 without). ``Wa`` is the target (``Wa is W`` when ``stop_grad`` is
    False). The EMA equation (Eq. 4) is not a gradient and is not part of this object.
    """

    n1: int
    n2: int
    stop_grad: bool
    W: sp.Matrix
    Wp: sp.Matrix
    Wa: sp.Matrix
    X: sp.Matrix
    Xp: sp.Matrix
    alpha_p: sp.Symbol
    eta: sp.Symbol
    J: sp.Expr
    dW: sp.Matrix
    dWp: sp.Matrix
    _numeric: Callable | None = field(default=None, repr=False)

    @property
    def arg_symbols(self) -> list[sp.Symbol]:
        """Free symbols in the order used by :meth:`numeric` (W, Wp, [Wa], X, Xp, alpha_p, eta)."""
        mats = [self.W, self.Wp] + ([self.Wa] if self.stop_grad else []) + [self.X, self.Xp]
        out: list[sp.Symbol] = []
        for M in mats:
            for e in M:
                if e not in out:
                    out.append(e)
        return out + [self.alpha_p, self.eta]

    def reference(self) -> tuple[sp.Matrix, sp.Matrix]:
        """(dW, dWp) of the numeric code evaluated on the same symbols: ``lemma1_rhs`` with
        stop-gradient, ``theorem2_dW`` (and lemma1's dWp with Wa = W) without."""
        beta = sp.Symbol("beta", positive=True)
        dW, dWp, _ = matrix_flow.lemma1_rhs(self.W, self.Wp, self.Wa, self.X, self.Xp,
                                            alpha_p=self.alpha_p, beta=beta, eta=self.eta)
        if not self.stop_grad:
            dW = matrix_flow.theorem2_dW(self.W, self.Wp, self.X, self.Xp, eta=self.eta,
                                         eye=sp.eye(self.n2))
        return exact(dW), exact(dWp)

    def residual(self) -> tuple[sp.Matrix, sp.Matrix]:
        """Derived flow minus :meth:`reference`, expanded: both are zero matrices."""
        rW, rWp = self.reference()
        return (self.dW - rW).applyfunc(sp.expand), (self.dWp - rWp).applyfunc(sp.expand)

    def numeric(self, W, Wp, Wa, X, Xp, *, alpha_p: float, eta: float):
        """Evaluate the derived flow on numbers: returns numpy ``(dW, dWp)``.

        ``X`` and ``Xp`` must be symmetric (their upper triangle is used). ``Wa`` is ignored
        without stop-gradient (then Wa = W).
        """
        if self._numeric is None:
            self._numeric = sp.lambdify(self.arg_symbols, [self.dW, self.dWp], modules="numpy")
        mats = {"W": np.asarray(W, float), "Wp": np.asarray(Wp, float),
                "Wa": np.asarray(Wa, float), "X": np.asarray(X, float),
                "Xp": np.asarray(Xp, float)}
        lookup: dict[sp.Symbol, float] = {}
        named = [("W", self.W), ("Wp", self.Wp)] + ([("Wa", self.Wa)] if self.stop_grad else [])
        for key, M in named + [("X", self.X), ("Xp", self.Xp)]:
            for i in range(M.shape[0]):
                for j in range(M.shape[1]):
                    lookup.setdefault(M[i, j], mats[key][i, j])
        lookup[self.alpha_p] = alpha_p
        lookup[self.eta] = eta
        dW, dWp = self._numeric(*(lookup[s] for s in self.arg_symbols))
        return np.asarray(dW, dtype=float), np.asarray(dWp, dtype=float)


def gradient_flow_from_loss(n1: int = 2, n2: int = 2, *, stop_grad: bool = True) -> GradientFlow:
    """Derive the gradient flow of J (Eq. 1) symbolically for an ``n2 x n1`` online network.

    Builds W (n2 x n1), Wp (n2 x n2), Wa (n2 x n1) and symmetric X, X' (n1 x n1) from symbols,
    evaluates ``matrix_flow.loss_J`` (the closed form of Eq. 1) on them and differentiates with
    respect to every entry of W and Wp:

        dW/dt = -dJ/dW - eta W,    dWp/dt = -alpha_p dJ/dWp - eta Wp.

    With ``stop_grad=True`` Wa is held constant (StopGrad): the result is Lemma 1 (Eqs. 2-3).
    With ``stop_grad=False`` Wa := W is substituted *before* differentiating, so the gradient also
    flows through the target branch: dW/dt is Theorem 2's
    -(Wp^T Wp + I) W X' - (Wp - I)^T (Wp - I) W X - eta W.
    """
    W = general_matrix("W", n2, n1)
    Wp = general_matrix("Wp", n2, n2)
    Wa = general_matrix("Wa", n2, n1) if stop_grad else W
    X = symmetric_matrix("X", n1)
    Xp = symmetric_matrix("Xp", n1)
    alpha_p = sp.Symbol("alpha_p", positive=True)
    eta = sp.Symbol("eta", nonnegative=True)
    J = sp.expand(exact(matrix_flow.loss_J(W, Wp, Wa, X, Xp)))
    dW = (-matrix_gradient(J, W) - eta * W).applyfunc(sp.expand)
    dWp = (-alpha_p * matrix_gradient(J, Wp) - eta * Wp).applyfunc(sp.expand)
    return GradientFlow(n1, n2, stop_grad, W, Wp, Wa, X, Xp, alpha_p, eta, J, dW, dWp)


# --------------------------------------------------------------------------------------------
# Fixed-point analysis (shared by the mode, parabola and scalar models)


@dataclass
class FixedPoint:
    """One fixed point, or a continuum of them.

    ``coords`` maps state symbols to their values; a state symbol missing from ``coords`` is free
    (listed in ``free``): the fixed points then form a line (plane, ...) parameterised by it.
    ``jacobian`` is the Jacobian of the right-hand side evaluated there, ``eigenvalues`` its
    eigenvalues (symbolic; they may still depend on the free coordinates).
    """

    label: str
    coords: dict
    free: tuple
    jacobian: sp.Matrix
    eigenvalues: list


@dataclass
class FixedPointAnalysis:
    """Fixed points of an autonomous ODE ``d state/dt = rhs`` with Jacobians and eigenvalues.

    ``checks`` holds named symbolic expressions that are identically zero (verified derivation
    steps). :meth:`evaluate` and :meth:`classify` are the numeric (lambdified) versions.
    """

    state: tuple
    params: tuple
    rhs: sp.Matrix
    jacobian: sp.Matrix
    points: list
    checks: dict = field(default_factory=dict)
    _compiled: dict = field(default_factory=dict, repr=False)

    @property
    def labels(self) -> list[str]:
        """The labels of the fixed points, in order."""
        return [pt.label for pt in self.points]

    def __getitem__(self, label: str) -> FixedPoint:
        for pt in self.points:
            if pt.label == label:
                return pt
        raise KeyError(f"no fixed point {label!r}; have {', '.join(self.labels)}")

    def _fun(self, label: str) -> Callable:
        if label not in self._compiled:
            pt = self[label]
            coords = [pt.coords.get(x, x) for x in self.state]
            self._compiled[label] = lambdify_expr([*coords, *pt.eigenvalues],
                                                  self.state + self.params)
        return self._compiled[label]

    def evaluate(self, label: str, **values) -> tuple[np.ndarray, np.ndarray]:
        """Numeric fixed point and eigenvalues for parameter values (broadcast element-wise).

        ``values`` are keyword arguments named like the parameter symbols (and, for a continuum,
        the free state coordinates). Returns ``(coords, eigenvalues)`` of shapes
        ``(len(state), *batch)`` (real; NaN where the point is complex, i.e. does not exist) and
        ``(len(state), *batch)`` (complex; NaN where the point does not exist).
        """
        vals = {x.name: values.get(x.name, 0.0) for x in self.state}
        vals.update({q.name: values[q.name] for q in self.params})
        out = self._fun(label)(**vals)
        n = len(self.state)
        coords, eig = out[:n], out[n:]
        scale = np.maximum(1.0, np.abs(coords))
        exists = np.all(np.abs(coords.imag) <= 1e-12 * scale, axis=0)
        coords = np.where(exists, coords.real, np.nan)
        eig = np.where(exists, eig, np.nan + 0j)
        return coords, eig

    def classify(self, label: str, *, tol: float = 1e-9, **values) -> str:
        """:func:`classify_eigenvalues` of one fixed point at scalar parameter values."""
        _, eig = self.evaluate(label, **values)
        return classify_eigenvalues(eig, tol=tol, n_neutral=len(self[label].free))


def _make_point(label, coords, state, J) -> FixedPoint:
    coords = {k: sp.sympify(v) for k, v in coords.items()}
    J_at = J.subs(coords)
    free = tuple(x for x in state if x not in coords)
    return FixedPoint(label, coords, free, J_at, _eigenvalues(J_at))


def _reference_order(exprs, ref: dict) -> list[int]:
    """Indices sorting symbolic values by their value at the reference parameters ``ref``."""
    return sorted(range(len(exprs)), key=lambda i: complex(sp.N(exprs[i].subs(ref))).real)


def analyse(rhs: Sequence, state: Sequence[sp.Symbol], params: Sequence[sp.Symbol],
            labeller: Callable[[dict], str] | None = None) -> FixedPointAnalysis:
    """Generic :func:`sympy.solve` based analysis: all solutions of rhs = 0 with Jacobians.

    ``labeller`` maps a solution dict to a label (default: ``fp0``, ``fp1``, ...).
    """
    rhs = sp.Matrix(list(rhs))
    state, params = tuple(state), tuple(params)
    J = rhs.jacobian(state)
    sols = sp.solve(list(rhs), list(state), dict=True)
    pts = []
    for k, sol in enumerate(sols):
        label = labeller(sol) if labeller else f"fp{k}"
        pts.append(_make_point(label, sol, state, J))
    return FixedPointAnalysis(state, params, rhs, J, pts)


# --------------------------------------------------------------------------------------------
# 2. Mode dynamics (Eqs. 11-12, tau fixed) and the parabola flow (Eq. 16)


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


# Parameter values used only to order symbolic roots (p*_- < p*_+); any eta in (0, eta_c) works.
_REF = {"tau": 1, "sigma2": 0, "eta": sp.Rational(1, 8), "alpha_p": 1}


def _ref_subs(sym: dict) -> dict:
    return {sym[k]: v for k, v in _REF.items()}


@lru_cache(maxsize=2)
def mode_fixed_points(*, eta_zero: bool = False) -> FixedPointAnalysis:
    """Fixed points of the decoupled mode flow (Eqs. 11-12 at fixed tau) with stability.

    The right-hand sides are ``modes.dp_dt`` and ``modes.ds_dt`` on sympy symbols. Since
    ds/dt = 2 s Delta(p) (Eq. 12), each factor of ds/dt is solved together with dp/dt = 0.

    * eta > 0 (default): labels ``"origin"`` (0, 0), ``"p_minus"`` and ``"p_plus"``:
      (p*_pm, p*_pm^2 / alpha_p), p*_pm = [tau +- sqrt(tau^2 - 4 eta (1+sigma2))] / (2(1+sigma2))
      (Sec. 3.3). For 0 < eta < tau^2/(4(1+sigma2)): origin stable (eigenvalues -eta, -2 eta),
      p_minus a saddle, p_plus stable; above the threshold p*_pm are complex (absent).
    * ``eta_zero=True``: two lines of fixed points (Sec. 3.2), ``"collapsed"`` s = 0 (p free) and
      ``"noncollapsed"`` p = tau/(1+sigma2) (s free); each has one zero eigenvalue along the line.

    ``checks`` holds ``s - p^2/alpha_p`` at p*_pm (zero: the points lie on the invariant parabola).
    The result is cached; do not mutate it.
    """
    sym = mode_symbols(eta_zero=eta_zero)
    p, s, tau, alpha_p, eta, sigma2 = (sym[k] for k in ("p", "s", "tau", "alpha_p", "eta",
                                                        "sigma2"))
    dp = modes.dp_dt(p, s, tau, alpha_p, eta, sigma2)
    ds = modes.ds_dt(p, s, tau, eta, sigma2)
    if eta_zero:
        dp, ds = dp.subs(eta, 0), ds.subs(eta, 0)
    rhs = sp.Matrix([dp, ds])
    J = rhs.jacobian([p, s])

    points, lines = _solve_factored(dp, ds, p, s)
    unique = _distinct_points(points, lines, p, s)

    checks: dict[str, sp.Expr] = {}
    labelled: list[tuple[str, dict]] = []
    nonzero = [pt for pt in unique if not (pt[p] == 0 and pt[s] == 0)]
    if len(nonzero) < len(unique):
        labelled.append(("origin", {p: 0, s: 0}))
    order = _reference_order([pt[p] for pt in nonzero], _ref_subs(sym))
    names = ["p_minus", "p_plus"] if len(nonzero) == 2 else [f"p_{k}" for k in order]
    for name, idx in zip(names, order, strict=True):
        pt = nonzero[idx]
        on_parabola = pt[p] ** 2 / alpha_p
        checks[f"{name}: s - p^2/alpha_p"] = sp.simplify(pt[s] - on_parabola)
        if checks[f"{name}: s - p^2/alpha_p"] == 0:
            pt = {p: pt[p], s: on_parabola}  # same value, readable form
        labelled.append((name, pt))
    for ln in lines:
        labelled.append(("collapsed" if s in ln else "noncollapsed", ln))

    pts = []
    for name, coords in labelled:
        pt = _make_point(name, coords, (p, s), J)
        if name.startswith("p_") and checks[f"{name}: s - p^2/alpha_p"] == 0:
            pt.eigenvalues = _eigenvalues_on_delta_root(J, sym, coords[p])
        pts.append(pt)
    return FixedPointAnalysis((p, s), (tau, alpha_p, eta, sigma2), rhs, J, pts, checks)


def _solve_factored(dp, ds, p, s) -> tuple[list[dict], list[dict]]:
    """Zeros of (dp, ds) found factor by factor of ds (Eq. 12: ds/dt = 2 s Delta(p)):
    isolated points ``{p: .., s: ..}`` and lines of fixed points ``{s: ..}`` / ``{p: ..}``."""
    points: list[dict] = []
    lines: list[dict] = []
    for factor, _ in sp.factor_list(sp.expand(ds), p, s)[1]:
        if factor.has(s):
            for s_val in sp.solve(factor, s):
                rest = sp.expand(dp.subs(s, s_val))
                if rest == 0:
                    lines.append({s: s_val})
                else:
                    points += [{p: p_val, s: s_val} for p_val in sp.solve(rest, p)]
        else:
            for p_val in sp.solve(factor, p):
                rest = sp.expand(dp.subs(p, p_val))
                if rest == 0:
                    lines.append({p: p_val})
                else:
                    points += [{p: p_val, s: sp.simplify(s_val)} for s_val in sp.solve(rest, s)]
    return points, lines


def _distinct_points(points: list[dict], lines: list[dict], p, s) -> list[dict]:
    """``points`` without duplicates and without those that lie on a line of fixed points."""
    unique: list[dict] = []
    for pt in points:
        on_line = any(all(sp.simplify(pt[k] - v) == 0 for k, v in ln.items()) for ln in lines)
        dup = any(all(sp.simplify(pt[k] - q[k]) == 0 for k in (p, s)) for q in unique)
        if not (on_line or dup):
            unique.append(pt)
    return unique


def _eigenvalues_on_delta_root(J: sp.Matrix, sym: dict, p_root) -> list:
    """Eigenvalues of the mode Jacobian at (p*, p*^2/alpha_p) with Delta(p*) = 0, readable.

    On Delta(p*) = 0 one has tau = [eta + (1+sigma2) p*^2] / p*; with tau eliminated the
    characteristic polynomial factors over the rationals in p*, giving the eigenvalues
    -2 eta (decay of s - p^2/alpha_p, Eq. 14) and eta - (1+sigma2) p*^2 (= d/dp of Eq. 16 at p*).
    """
    p, s, tau, alpha_p, eta, sigma2 = (sym[k] for k in ("p", "s", "tau", "alpha_p", "eta",
                                                        "sigma2"))
    P = sp.Symbol("P", positive=True)
    (tau_P,) = sp.solve(modes.delta(P, tau, sigma2, eta), tau)
    J_P = J.subs({p: P, s: P**2 / alpha_p}).subs(tau, tau_P)
    lam = sp.Symbol("lambda")
    roots = sp.roots(sp.factor(J_P.charpoly(lam).as_expr()), lam)
    eig = [r for r, mult in roots.items() for _ in range(mult)]
    if len(eig) != J.shape[0]:
        return _eigenvalues(J.subs({p: p_root, s: p_root**2 / alpha_p}))
    return [sp.factor(e).subs(P, p_root) for e in eig]


def mode_fixed_points_numeric(tau, sigma2, eta, alpha_p=1.0) -> dict[str, dict[str, np.ndarray]]:
    """Lambdified :func:`mode_fixed_points` (eta > 0 case) on numeric (broadcast) parameters.

    Returns ``{label: {"p", "s", "eigenvalues"}}`` for ``origin``, ``p_minus``, ``p_plus``;
    p, s are NaN (and eigenvalues NaN) where the point does not exist (eta above
    ``closed_form.collapse_threshold``), matching ``closed_form.fixed_points``.
    """
    fp = mode_fixed_points()
    out = {}
    for label in fp.labels:
        coords, eig = fp.evaluate(label, tau=tau, sigma2=sigma2, eta=eta, alpha_p=alpha_p)
        out[label] = {"p": coords[0], "s": coords[1], "eigenvalues": eig}
    return out


@lru_cache(maxsize=2)
def parabola_fixed_points(*, eta_zero: bool = False) -> FixedPointAnalysis:
    """Fixed points and stability of the 1-D flow on the invariant parabola (Eq. 16).

    The flow is ``closed_form.parabola_flow`` = p Delta(p) = p^2 [tau - (1+sigma2) p] - eta p; the
    check ``"Eq. 16 - Eq. 11 on parabola"`` confirms it equals ``modes.dp_dt`` at
    s = p^2/alpha_p. Labels: ``"origin"`` (derivative -eta: stable for eta > 0, a saddle-node
    with zero derivative at eta = 0), ``"p_minus"`` (unstable), ``"p_plus"`` (stable). With
    ``eta_zero=True`` p*_- = 0 merges with the origin and only ``"origin"``, ``"p_plus"`` remain
    (p_plus = tau/(1+sigma2)). The 1x1 Jacobian entry is df/dp at the point.
    """
    sym = mode_symbols(eta_zero=eta_zero)
    p, tau, alpha_p, eta, sigma2 = (sym[k] for k in ("p", "tau", "alpha_p", "eta", "sigma2"))
    f = closed_form.parabola_flow(p, tau, sigma2, eta)
    on_parabola = modes.dp_dt(p, p**2 / alpha_p, tau, alpha_p, eta, sigma2)
    if eta_zero:
        f, on_parabola = f.subs(eta, 0), on_parabola.subs(eta, 0)
    checks = {"Eq. 16 - Eq. 11 on parabola": sp.expand(f - on_parabola)}
    J = sp.Matrix([f]).jacobian([p])
    roots = sp.solve(f, p)
    nonzero = [r for r in roots if r != 0]
    pts = [_make_point("origin", {p: 0}, (p,), J)] if len(nonzero) < len(roots) else []
    order = _reference_order(nonzero, _ref_subs(sym))
    names = ["p_minus", "p_plus"] if len(nonzero) == 2 else ["p_plus"]
    for name, idx in zip(names, order, strict=True):
        pts.append(_make_point(name, {p: nonzero[idx]}, (p,), J))
    return FixedPointAnalysis((p,), (tau, alpha_p, eta, sigma2), sp.Matrix([f]), J, pts, checks)


# --------------------------------------------------------------------------------------------
# 3. The invariant parabola (Eq. 14)


def prove_invariant(*, ema: bool = False) -> tuple[sp.Expr, bool]:
    """Eq. 14: along Eqs. 11-12, c = s - p^2/alpha_p obeys dc/dt = -2 eta c exactly.

    Hence s(t) = p(t)^2/alpha_p + c(0) e^{-2 eta t} (with c(0) = s(0) - p(0)^2/alpha_p; the paper
    prints the opposite sign). p(t), s(t) are sympy functions of t, the chain rule is applied and
    dp/dt, ds/dt are replaced by ``modes.dp_dt``, ``modes.ds_dt``. With ``ema=True`` tau is an
    arbitrary function tau(t) (the EMA case, its derivative replaced by ``modes.dtau_dt``,
    Eq. 13), so the identity holds for any tau.

    Returns ``(residual, holds)``: residual = dc/dt + 2 eta c after substitution and
    simplification (exactly 0), holds = ``residual == 0``.
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
# 4. Theorem 3: commutator identity


@dataclass
class CommutatorIdentity:
    """Theorem 3 for symbolic symmetric F, Wp (n x n) under the symmetrised flow Eq. 67.

    ``L = [F, Wp]``, ``dL = [dF, Wp] + [F, dWp]``, ``K = reduced.theorem3_K``;
    ``difference = dL + K L + L K`` (expanded, the zero matrix when ``holds``).
    ``K_symmetric`` confirms K = K^T.
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
# 7. Eqs. 11-13 as the scalar case of Lemma 1


def modes_from_lemma1() -> tuple[dict[str, sp.Expr], bool]:
    """Eqs. 11-13 are the n1 = n2 = 1 case of Lemma 1 (Sec. 3.2).

    Evaluates ``matrix_flow.lemma1_rhs`` on 1x1 sympy matrices W = w, Wp = p, Wa = tau w,
    X = 1, X' = sigma2 and checks, with s = W^2:

        d(W^2)/dt = 2 W dW/dt     == modes.ds_dt    (Eq. 12)
        dWp/dt                    == modes.dp_dt    (Eq. 11)
        d(Wa/W)/dt = (dWa W - Wa dW)/W^2 == modes.dtau_dt  (Eq. 13 divided by s)

    Returns ``(residuals, holds)`` with the simplified residuals (all 0).
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

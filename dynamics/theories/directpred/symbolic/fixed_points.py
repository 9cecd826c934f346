"""Symbolic fixed-point analysis (sympy) of the linear BYOL/SimSiam theory (Tian, Chen & Ganguli
2021): fixed points, Jacobians, eigenvalues and stability of the decoupled mode flow
(Eqs. 11-12 at fixed tau, Sec. 3.2-3.3, Fig. 3) and of the 1-D flow on the invariant parabola
(Eq. 16, Fig. 4), derived from the numeric right-hand sides (``modes.dp_dt``, ``modes.ds_dt``,
``closed_form.parabola_flow``) evaluated on sympy symbols.

Every point is a :class:`dynamics.numerics.fixed_point.FixedPoint`, the type the numeric code
(:func:`dynamics.theories.directpred.phase.portrait.mode_fixed_points`,
:func:`dynamics.theories.directpred.phase.portrait.parabola_fixed_points`) returns too, with the
same labels; :meth:`FixedPointAnalysis.at` turns the symbolic result into those numeric points.

* :func:`mode_fixed_points_symbolic`, :func:`parabola_fixed_points_symbolic` — the analyses;
* :func:`mode_fixed_points_lambdified` — the mode analysis on numeric (broadcast) parameters;
* :class:`FixedPointAnalysis`, :func:`analyse` — the container and a generic
  :func:`sympy.solve` based analysis (used by Appendix D's scalar model,
  :mod:`dynamics.theories.directpred.symbolic.scalar`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import sympy as sp

from dynamics.numerics.fixed_point import FixedPoint
from dynamics.numerics.stability import classify_eigenvalues
from dynamics.numerics.symbolic import lambdify_expr, readable_eigenvalues
from dynamics.theories.directpred import closed_form, modes
from dynamics.theories.directpred.symbolic.symbols import mode_symbols


@dataclass
class FixedPointAnalysis:
    """Fixed points of an autonomous ODE ``d state/dt = rhs`` with Jacobians and eigenvalues.

    ``checks`` holds named symbolic expressions that are identically zero (verified derivation
    steps). :meth:`evaluate` and :meth:`classify` are the numeric (lambdified) versions.

    Attributes:
        state, params: tuples of the state and parameter symbols.
        rhs, jacobian: the right-hand side (column) and its Jacobian, sympy matrices.
        points: the symbolic :class:`FixedPoint` objects (also reached by label: ``fa["p_plus"]``).
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

        Args:
            label: a label of :attr:`labels`.
            **values: numbers or arrays by symbol name; every parameter is required.
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
        """:func:`classify_eigenvalues` of one fixed point at scalar parameter values.

        Args:
            label: a label of :attr:`labels`; tol: tolerance on zero real parts.
            **values: scalar values by symbol name (free coordinates of a line too).

        Returns:
            The stability label, e.g. "stable", "unstable" or "saddle".
        """
        _, eig = self.evaluate(label, **values)
        return classify_eigenvalues(eig, tol=tol, n_neutral=len(self[label].free))

    def _numeric_jacobian(self, coords: np.ndarray, values: dict) -> np.ndarray:
        """The Jacobian on numbers at state ``coords`` and scalar parameter ``values``."""
        if "__jacobian__" not in self._compiled:
            self._compiled["__jacobian__"] = lambdify_expr(list(self.jacobian),
                                                           self.state + self.params)
        vals = {x.name: c for x, c in zip(self.state, coords, strict=True)}
        vals.update({q.name: values[q.name] for q in self.params})
        return self._compiled["__jacobian__"](**vals).real.reshape(self.jacobian.shape)

    def at(self, *, tol: float = 1e-9, non_hyperbolic: str = "saddle-node",
           **values) -> list[FixedPoint]:
        """The fixed points on numbers at scalar parameter ``values``, as numeric
        :class:`FixedPoint` objects like those of
        :func:`dynamics.theories.directpred.phase.portrait.mode_fixed_points` (coordinates keyed by
        name, numpy Jacobian, eigenvalues sorted by real part).

        Points that do not exist there (complex coordinates) are left out. An isolated point is
        classified by :func:`classify_eigenvalues` of its numeric Jacobian, real parts within
        ``tol * max(1, |J|)`` of zero counting as zero (then ``non_hyperbolic``, default
        "saddle-node" as in the numeric code). A continuum keeps its free coordinates, kind
        "non-isolated" and no eigenvalues (its normal stability varies along it: see
        :meth:`classify`).

        Args:
            tol: relative tolerance on zero real parts; non_hyperbolic: label for that case.
            **values: scalar values of every parameter, by symbol name.

        Returns:
            list of numeric :class:`FixedPoint`, in the order of :attr:`points`.

        Example:
            >>> pts = parabola_fixed_points_symbolic().at(tau=1.0, alpha_p=1.0, eta=0.16,
            ...                                           sigma2=0.0)
            >>> [(pt.label, pt.kind, pt.coords["p"]) for pt in pts]
            [('origin', 'stable', 0.0), ('p_minus', 'unstable', 0.2), ('p_plus', 'stable', 0.8)]
        """
        out = []
        for pt in self.points:
            coords, _ = self.evaluate(pt.label, **values)
            if np.isnan(coords).any():
                continue
            known = {x.name: float(c) for x, c in zip(self.state, coords, strict=True)
                     if x not in pt.free}
            if pt.free:
                out.append(FixedPoint(pt.label, known, "non-isolated", np.empty(0, dtype=complex),
                                      free=tuple(x.name for x in pt.free), line=pt.line))
                continue
            J = self._numeric_jacobian(coords, values)
            ev = np.linalg.eigvals(J)
            ev = ev[np.argsort(ev.real)]
            kind = classify_eigenvalues(ev, tol=tol * max(1.0, np.abs(J).max()),
                                        non_hyperbolic=non_hyperbolic)
            out.append(FixedPoint(pt.label, known, kind, ev, jacobian=J))
        return out


def _make_point(label, coords, state, J) -> FixedPoint:
    """A symbolic :class:`FixedPoint`: kind "unclassified" (isolated; its stability depends on
    the parameters) or "non-isolated" (state symbols missing from ``coords`` are free)."""
    coords = {k: sp.sympify(v) for k, v in coords.items()}
    J_at = J.subs(coords)
    free = tuple(x for x in state if x not in coords)
    kind = "non-isolated" if free else "unclassified"
    line = ", ".join(f"{k} = {v}" for k, v in coords.items()) if free else None
    return FixedPoint(label, coords, kind, readable_eigenvalues(J_at), jacobian=J_at, free=free,
                      line=line)


def _reference_order(exprs, ref: dict) -> list[int]:
    """Indices sorting symbolic values by their value at the reference parameters ``ref``."""
    return sorted(range(len(exprs)), key=lambda i: complex(sp.N(exprs[i].subs(ref))).real)


def analyse(rhs: Sequence, state: Sequence[sp.Symbol], params: Sequence[sp.Symbol],
            labeller: Callable[[dict], str] | None = None) -> FixedPointAnalysis:
    """Generic :func:`sympy.solve` based analysis: all solutions of rhs = 0 with Jacobians.

    ``labeller`` maps a solution dict to a label (default: ``fp0``, ``fp1``, ...).

    Args:
        rhs: the right-hand sides, sympy expressions (one per state symbol).
        state, params: the state and parameter symbols; labeller: solution dict -> label, or None.

    Returns:
        :class:`FixedPointAnalysis`; a state symbol missing from a solution is free (a line).

    Example:
        >>> x, y, k = sp.Symbol("x", real=True), sp.Symbol("y", real=True), sp.Symbol("k")
        >>> fa = analyse([x - k, -y], (x, y), (k,))
        >>> fa["fp0"].coords, fa["fp0"].eigenvalues, fa.classify("fp0", k=2.0)
        ({x: k, y: 0}, [1, -1], 'saddle')
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

# Parameter values used only to order symbolic roots (p*_- < p*_+); any eta in (0, eta_c) works.
_REF = {"tau": 1, "sigma2": 0, "eta": sp.Rational(1, 8), "alpha_p": 1}


def _ref_subs(sym: dict) -> dict:
    return {sym[k]: v for k, v in _REF.items()}


@lru_cache(maxsize=2)
def mode_fixed_points_symbolic(*, eta_zero: bool = False) -> FixedPointAnalysis:
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
    The points are :class:`FixedPoint` objects (kind "unclassified", or "non-isolated" for the
    lines); ``.at(tau=..., alpha_p=..., eta=..., sigma2=...)`` gives the numeric points of
    :func:`dynamics.theories.directpred.phase.portrait.mode_fixed_points`, with the same labels
    (which merges p*_- = p*_+ into one ``"p_double"`` exactly at the threshold). The result is
    cached; do not mutate it.

    Args:
        eta_zero: False (eta > 0) or True (eta = 0, the lines of Sec. 3.2).

    Example:
        >>> fa = mode_fixed_points_symbolic(eta_zero=True)
        >>> fa.labels, fa["noncollapsed"].line
        (['collapsed', 'noncollapsed'], 'p = tau/(sigma2 + 1)')
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
        return readable_eigenvalues(J.subs({p: p_root, s: p_root**2 / alpha_p}))
    return [sp.factor(e).subs(P, p_root) for e in eig]


def mode_fixed_points_lambdified(tau, sigma2, eta, alpha_p=1.0) -> dict[str, dict[str, np.ndarray]]:
    """Lambdified :func:`mode_fixed_points_symbolic` (eta > 0) on numeric (broadcast) parameters.

    Returns ``{label: {"p", "s", "eigenvalues"}}`` for ``origin``, ``p_minus``, ``p_plus``;
    p, s are NaN (and eigenvalues NaN) where the point does not exist (eta above
    ``closed_form.collapse_threshold``), matching ``closed_form.fixed_points``.

    Args:
        tau, sigma2, eta, alpha_p: numbers or arrays, broadcast together (eta > 0).
    """
    fp = mode_fixed_points_symbolic()
    out = {}
    for label in fp.labels:
        coords, eig = fp.evaluate(label, tau=tau, sigma2=sigma2, eta=eta, alpha_p=alpha_p)
        out[label] = {"p": coords[0], "s": coords[1], "eigenvalues": eig}
    return out


@lru_cache(maxsize=2)
def parabola_fixed_points_symbolic(*, eta_zero: bool = False) -> FixedPointAnalysis:
    """Fixed points and stability of the 1-D flow on the invariant parabola (Eq. 16).

    The flow is ``closed_form.parabola_flow`` = p Delta(p) = p^2 [tau - (1+sigma2) p] - eta p; the
    check ``"Eq. 16 - Eq. 11 on parabola"`` confirms it equals ``modes.dp_dt`` at
    s = p^2/alpha_p. Labels: ``"origin"`` (derivative -eta: stable for eta > 0, a saddle-node
    with zero derivative at eta = 0), ``"p_minus"`` (unstable), ``"p_plus"`` (stable). With
    ``eta_zero=True`` p*_- = 0 merges with the origin and only ``"origin"``, ``"p_plus"`` remain
    (p_plus = tau/(1+sigma2)). The 1x1 Jacobian entry is df/dp at the point. Same labels and
    :class:`FixedPoint` type as
    :func:`dynamics.theories.directpred.phase.portrait.parabola_fixed_points`.

    Args:
        eta_zero: False (eta > 0) or True (eta = 0).

    Example:
        >>> parabola_fixed_points_symbolic(eta_zero=True).labels
        ['origin', 'p_plus']
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

"""Phase portrait of one decoupled eigenmode at fixed tau (data only, no plots): the flow of
Eqs. 11-12, its Jacobian, and the fixed points with their stability in the (p, s) plane (Fig. 3)
and on the invariant parabola (Eq. 16, Fig. 4). Tian, Chen & Ganguli (ICML 2021), Sec. 3.2-3.3.

Built on the single implementations of the paper's equations:

* Eqs. 11-13 (:mod:`dynamics.theories.directpred.modes`: ``dp_dt``, ``ds_dt``, ``mode_rhs``);
* Eqs. 14-16 and the fixed points p*_(+/-) (:mod:`dynamics.theories.directpred.closed_form`).

What this module adds:

* :func:`flow_field` — the (dp/dt, ds/dt) vector field of Eqs. 11-12 (Fig. 3's flow lines);
* :func:`jacobian` — its 2x2 Jacobian by complex-step differentiation of ``mode_rhs`` (exact to
  rounding, because Eqs. 11-12 are polynomials; no hand-derived derivative is typed anywhere);
* :func:`mode_fixed_points` / :func:`parabola_fixed_points` — numeric fixed points and their
  stability, as :class:`dynamics.numerics.fixed_point.FixedPoint` (the same type and labels as
  the sympy derivation
  :func:`dynamics.theories.directpred.symbolic.fixed_points.mode_fixed_points_symbolic`).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from dynamics.errors import ConfigError, check_range
from dynamics.numerics.fixed_point import FixedPoint
from dynamics.numerics.stability import classify_eigenvalues
from dynamics.theories.directpred.closed_form import collapse_threshold, fixed_points, parabola_flow
from dynamics.theories.directpred.modes import dp_dt, ds_dt, mode_rhs

_COMPLEX_STEP = 1e-30


def flow_field(p, s, *, tau=1.0, alpha_p=1.0, eta=0.0, sigma2=0.0):
    """Vector field (dp/dt, ds/dt) of Eqs. 11-12 at fixed tau (Fig. 3's flow lines).

    ``p`` and ``s`` broadcast together (e.g. a ``np.meshgrid``); lists become numpy arrays,
    numpy and torch tensors are passed through unchanged.

    Args:
        p: p_j values (float, list, numpy array or torch tensor).
        s: s_j values, broadcastable with ``p``.
        tau: fixed tau.
        alpha_p: relative predictor rate alpha_p > 0.
        eta: weight decay eta >= 0.
        sigma2: augmentation variance sigma2 >= 0.

    Returns:
        Tuple ``(dp/dt, ds/dt)`` of the broadcast shape (numpy, or torch for tensor input).

    Example:
        >>> dp, ds = flow_field([0.5, 1.0], [0.25, 1.0])
        >>> dp, ds  # (1, 1) is a fixed point at eta = 0
        (array([0.125, 0.   ]), array([0.125, 0.   ]))
    """
    if not isinstance(p, torch.Tensor):
        p = np.asarray(p, dtype=float)
    if not isinstance(s, torch.Tensor):
        s = np.asarray(s, dtype=float)
    return dp_dt(p, s, tau, alpha_p, eta, sigma2), ds_dt(p, s, tau, eta, sigma2)


def jacobian(p, s, *, tau=1.0, alpha_p=1.0, eta=0.0, sigma2=0.0) -> np.ndarray:
    """Jacobian d(dp/dt, ds/dt)/d(p, s) of Eqs. 11-12 at fixed tau, shape ``(*batch, 2, 2)``.

    Computed by complex-step differentiation of :func:`dynamics.theories.directpred.modes.mode_rhs`,
    J[:, k] = Im f(x + i h e_k) / h with h = 1e-30, which has no subtractive cancellation and no
    truncation error beyond O(h^2) for these polynomial right-hand sides.

    Args:
        p: p_j values (float or array).
        s: s_j values, broadcastable with ``p``.
        tau: fixed tau.
        alpha_p: relative predictor rate alpha_p > 0.
        eta: weight decay eta >= 0.
        sigma2: augmentation variance sigma2 >= 0.

    Returns:
        numpy array ``J`` of shape ``(*batch, 2, 2)``, rows (dp/dt, ds/dt), columns (p, s).

    Example:
        >>> jacobian(0.0, 0.0, eta=0.1)  # the origin: eigenvalues -eta, -2 eta
        array([[-0.1,  1. ],
               [ 0. , -0.2]])
    """
    p = np.asarray(p, dtype=float)
    s = np.asarray(s, dtype=float)
    p, s = np.broadcast_arrays(p, s)
    J = np.empty(p.shape + (2, 2))
    h = _COMPLEX_STEP
    for k, (dp, ds) in enumerate(((1j * h, 0.0), (0.0, 1j * h))):
        fp, fs, _ = mode_rhs(p + dp, s + ds, tau, alpha_p=alpha_p, eta=eta, sigma2=sigma2)
        J[..., 0, k] = np.imag(fp) / h
        J[..., 1, k] = np.imag(fs) / h
    return J


def _check_scalar_params(tau, alpha_p, eta, sigma2):
    check_range("tau", tau, low=0)
    if alpha_p is not None:
        check_range("alpha_p", alpha_p, low=0, low_open=True)
    check_range("eta", eta, low=0)
    check_range("sigma2", sigma2, low=0)
    for name, v in (("tau", tau), ("alpha_p", alpha_p), ("eta", eta), ("sigma2", sigma2)):
        if v is not None and np.ndim(v) != 0:
            raise ConfigError(name, f"must be a scalar here, got shape {np.shape(v)}")


def _nonzero_roots(tau, eta, sigma2, tol):
    """p*_- and p*_+ (closed_form.fixed_points), merging them at the threshold within ``tol``."""
    pm, pp = fixed_points(float(tau), float(sigma2), float(eta))
    eta_c = float(collapse_threshold(tau, sigma2))
    if np.isnan(pm) and eta <= eta_c * (1 + tol):
        # Rounding pushed the discriminant below 0 at eta = eta_c: the double root is
        # p*_+(eta=0)/2 = tau/(2(1+sigma2)).
        pm = pp = float(fixed_points(float(tau), float(sigma2), 0.0)[1]) / 2
    return float(pm), float(pp)


def _candidates(tau, eta, sigma2, tol) -> list[tuple[str, float]]:
    """Labelled locations 0, p*_-, p*_+, each dropped when within ``tol * max(1, |q|)`` of an
    earlier one q: p*_- = 0 merges into ``"origin"`` (eta = 0), p*_+ = p*_- gives one
    ``"p_double"`` (at the collapse threshold)."""
    pm, pp = _nonzero_roots(tau, eta, sigma2, tol)
    out = [("origin", 0.0)]
    for name, p in (("p_minus", pm), ("p_plus", pp)):
        if not np.isfinite(p):
            continue
        close = [i for i, (_, q) in enumerate(out) if abs(p - q) <= tol * max(1.0, abs(q))]
        if not close:
            out.append((name, p))
        elif out[close[0]][0] == "p_minus":
            out[close[0]] = ("p_double", out[close[0]][1])
    return out


def mode_fixed_points(*, tau, alpha_p, eta, sigma2, tol: float = 1e-9) -> list[FixedPoint]:
    """Fixed points of the 2-D (p, s) system of Eqs. 11-12 at fixed tau, with stability (Fig. 3).

    Locations come from :func:`dynamics.theories.directpred.closed_form.fixed_points` (every fixed
    point with s > 0 has Delta = 0 and then Eq. 11 forces s = p^2/alpha_p; with s = 0, Eq. 11 forces
    eta p = 0). Stability from the eigenvalues of :func:`jacobian`, with real parts within
    ``tol * max(1, |J|)`` of zero treated as zero. Labels as in the symbolic analysis
    (:func:`dynamics.theories.directpred.symbolic.fixed_points.mode_fixed_points_symbolic`).

    * eta > 0, eta < tau^2/(4(1+sigma2)): ``"origin"`` (0, 0) stable (eigenvalues -eta,
      -2 eta); ``"p_minus"`` (p*_-, p*_-^2/alpha_p) saddle; ``"p_plus"`` (p*_+, p*_+^2/alpha_p)
      stable.
    * eta equal to the threshold: origin stable and one saddle-node ``"p_double"`` at
      p = tau/(2(1+sigma2)).
    * eta above the threshold: only the origin (Obs. 5).
    * eta = 0: two lines of non-isolated fixed points (Sec. 3.2), ``"collapsed"`` s = 0
      (attracting for p < 0 and p > tau/(1+sigma2), repelling in between) and
      ``"noncollapsed"`` p = tau/(1+sigma2) (attracting for s > 0); see :class:`FixedPoint`.

    Args:
        tau: fixed tau >= 0 (scalar).
        alpha_p: relative predictor rate alpha_p > 0 (scalar).
        eta: weight decay eta >= 0 (scalar).
        sigma2: augmentation variance sigma2 >= 0 (scalar).
        tol: relative tolerance for merging roots and for zero real parts.

    Returns:
        list of :class:`FixedPoint` (isolated points in the order origin, p*_-, p*_+; at
        eta = 0 the two lines, each with its ``segments`` of transverse stability).

    Example:
        >>> [(fp.label, fp.kind, fp.coords["p"])
        ...  for fp in mode_fixed_points(tau=1.0, alpha_p=1.0, eta=0.16, sigma2=0.0)]
        [('origin', 'stable', 0.0), ('p_minus', 'saddle', 0.2), ('p_plus', 'stable', 0.8)]
    """
    _check_scalar_params(tau, alpha_p, eta, sigma2)
    kw = {"tau": tau, "alpha_p": alpha_p, "eta": eta, "sigma2": sigma2}
    if eta == 0:
        return _eta0_lines(kw, tol)
    out = []
    for label, p in _candidates(tau, eta, sigma2, tol):
        s = p**2 / alpha_p  # the invariant parabola of Eq. 14 with c = 0 (also holds at 0)
        J = jacobian(p, s, **kw)
        ev = np.linalg.eigvals(J)
        ev = ev[np.argsort(ev.real)]
        kind = classify_eigenvalues(ev, tol=tol * max(1.0, np.abs(J).max()),
                                    non_hyperbolic="saddle-node")
        out.append(FixedPoint(label, {"p": float(p), "s": float(s)}, kind, ev, jacobian=J))
    return out


def _segments(breaks, along: str, kw, tol, lo_bound=-math.inf):
    """Transverse stability along a fixed-point line, on the intervals between ``breaks``."""
    pts = sorted({float(b) for b in breaks if b > lo_bound})
    edges = [lo_bound] + pts + [math.inf]
    segs = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        if hi - lo <= 0:
            continue
        if math.isinf(lo) and math.isinf(hi):
            mid = 0.0
        elif math.isinf(lo):
            mid = hi - max(1.0, abs(hi))
        elif math.isinf(hi):
            mid = lo + max(1.0, abs(lo))
        else:
            mid = (lo + hi) / 2
        if along == "p":
            J = jacobian(mid, 0.0, **kw)
        else:
            J = jacobian(kw["tau"] / (1 + kw["sigma2"]), mid, **kw)
        ev = np.linalg.eigvals(J)
        trans = ev[np.argmax(np.abs(ev))]  # the other eigenvalue is 0 (along the line)
        scale = tol * max(1.0, np.abs(J).max())
        kind = "stable" if trans.real < -scale else "unstable" if trans.real > scale else (
            "saddle-node")
        segs.append((lo, hi, kind))
    return tuple(segs)


def _eta0_lines(kw, tol) -> list[FixedPoint]:
    """The two lines of fixed points at eta = 0 (Sec. 3.2), with transverse stability."""
    tau, sigma2 = kw["tau"], kw["sigma2"]
    p_line = float(fixed_points(float(tau), float(sigma2), 0.0)[1])  # tau / (1 + sigma2)
    empty = np.empty(0, dtype=complex)
    return [
        FixedPoint("collapsed", {"s": 0.0}, "non-isolated", empty, free=("p",), line="s = 0",
                   segments=_segments([0.0, p_line], "p", kw, tol)),
        FixedPoint("noncollapsed", {"p": p_line}, "non-isolated", empty, free=("s",),
                   line="p = tau/(1+sigma2)",
                   segments=_segments([], "s", kw, tol, lo_bound=0.0)),
    ]


def parabola_fixed_points(*, tau, eta, sigma2, tol: float = 1e-9) -> list[FixedPoint]:
    """Fixed points of the 1-D flow on the invariant parabola (Eq. 16, Fig. 4), sorted by p.

    Locations: 0 and p*_(+/-) from :func:`dynamics.theories.directpred.closed_form.fixed_points`
    (merged when they coincide: p*_- = 0 at eta = 0, p*_- = p*_+ at the threshold). Stability from
    the sign of d/dp of :func:`dynamics.theories.directpred.closed_form.parabola_flow`, by complex
    step; a derivative within ``tol * max(1, tau^2)`` of 0 gives "saddle-node" (the origin for eta =
    0, which the paper calls a saddle, attracting from p < 0 and repelling towards p > 0; or
    p*_- = p*_+ at the collapse threshold). Each point's 1x1 ``jacobian`` (and only eigenvalue)
    is that derivative, also available as :attr:`FixedPoint.derivative`; labels as in
    :func:`dynamics.theories.directpred.symbolic.fixed_points.parabola_fixed_points_symbolic`.

    (a) eta = 0: 0 (saddle-node) and tau/(1+sigma2) (stable); (b) 0 < eta < tau^2/(4(1+sigma2)):
    0 stable, p*_- unstable, p*_+ stable; (c) larger eta: only 0 (stable).

    Args:
        tau: fixed tau >= 0 (scalar).
        eta: weight decay eta >= 0 (scalar).
        sigma2: augmentation variance sigma2 >= 0 (scalar).
        tol: relative tolerance for merging roots and for a zero derivative.

    Returns:
        list of :class:`FixedPoint` with coordinate ``p``, sorted by p.

    Example:
        >>> [(fp.label, fp.kind) for fp in parabola_fixed_points(tau=1.0, eta=0.0, sigma2=0.0)]
        [('origin', 'saddle-node'), ('p_plus', 'stable')]
    """
    _check_scalar_params(tau, None, eta, sigma2)
    scale = tol * max(1.0, float(tau) ** 2)
    out = []
    for label, p in sorted(_candidates(tau, eta, sigma2, tol), key=lambda c: c[1]):
        d = float(np.imag(parabola_flow(p + 1j * _COMPLEX_STEP, tau, sigma2, eta)) / _COMPLEX_STEP)
        kind = "stable" if d < -scale else "unstable" if d > scale else "saddle-node"
        out.append(FixedPoint(label, {"p": float(p)}, kind, np.array([d]),
                              jacobian=np.array([[d]])))
    return out


__all__ = ["flow_field", "jacobian", "mode_fixed_points", "parabola_fixed_points"]

"""Phase portraits and phase diagrams of the decoupled eigenmode dynamics (data only, no plots).

Tian, Chen & Ganguli (ICML 2021), Sec. 3.2-3.3, Figs. 3, 4 and 5. Everything here is built on the
single implementations of the paper's equations:

* Eqs. 11-13 (:mod:`dynamics.theory.modes`: ``dp_dt``, ``ds_dt``, ``mode_rhs``, ``simulate_modes``);
* Eqs. 14-16 and the fixed points p*_(+/-) (:mod:`dynamics.theory.closed_form`).

What this module adds:

* :func:`flow_field` — the (dp/dt, ds/dt) vector field of Eqs. 11-12 (Fig. 3's flow lines);
* :func:`jacobian` — its 2x2 Jacobian by complex-step differentiation of ``mode_rhs`` (exact to
  rounding, because Eqs. 11-12 are polynomials; no hand-derived derivative is typed anywhere);
* :func:`mode_fixed_points` / :func:`parabola_fixed_points` — fixed points and their stability in
  the (p, s) plane (Fig. 3) and on the invariant parabola (Eq. 16, Fig. 4);
* :func:`predict_collapse` — what the theory *guarantees* about the fate of a mode, from
  rigorous invariant regions (see below), without integrating;
* :func:`basin_grid` — collapse basins on a (p0, s0) grid (batched ``simulate_modes`` calls of
  up to :data:`CHUNK` trajectories, with a ``progress`` callback);
* :func:`hyperparameter_diagram` — fraction of collapsed modes over a 2-D grid of any two of
  ``eta, alpha_p, beta, sigma2, tau`` (Fig. 5-like sweeps; batched the same way).

Collapse criterion (simulation)
-------------------------------
A mode is *collapsed* when its final ``s_j < s_tol`` (default ``S_TOL = 1e-6``); ``s_j`` is the
eigenvalue of F = W X W^T, so this is literally "the mode carries no variance". Near the collapsed
fixed point (0, 0) the linearisation of Eqs. 11-12 has eigenvalues -eta and -2 eta, so for
eta > 0 a collapsing s_j decays like e^{-2 eta t} (after a transient that can pump p_j up to
O(alpha_p tau s_0 / eta)). The automatic horizon :func:`default_t_end` is therefore

    t_end = 200 + 2 ln(max(s_ref, 1) / s_tol) / (2 eta_min)   (capped at 20000),

i.e. twice the time e^{-2 eta t} needs to shrink s_ref to s_tol, plus 200 time units for the O(1)
transients; plus 10/beta_min in the EMA case (tau relaxes on the 1/beta time scale). For eta = 0
there is no uniform rate (a mode below the parabola collapses at rate 2|Delta_j(p_inf)|, which
vanishes as c_j -> 0-; exactly on the parabola with p_j < 0 the decay is algebraic), and
``t_end = 2000`` is used. Every result also carries a ``settled`` mask: True where the final
state is collapsed or within 0.1 % of the non-collapsed attractor p = p*_+(tau_final) (which is
tau/(1+sigma2) for eta = 0). Cells near a basin boundary (the stable manifold of the saddle) may
be unsettled at any finite ``t_end``; pass a larger ``t_end`` if ``settled`` is not all True.

Theory certificates (used by :func:`predict_collapse`)
------------------------------------------------------
Let c = s - p^2/alpha_p. By Eq. 14, c(t) = c(0) e^{-2 eta t} keeps its sign. For fixed tau >= 0 and
0 < eta <= tau^2/(4(1+sigma2)), on the line p = p*_- one has dp/dt < 0 where c < 0 and dp/dt > 0
where c > 0 (Eq. 11 minus p*_- Delta(p*_-) = 0). Hence

* {c <= 0, p < p*_-} is forward invariant and its only attractor is (0, 0): certain collapse;
* {c >= 0, p > p*_-} is forward invariant and its only attractor is (p*_+, p*_+^2/alpha_p):
  certain survival.

The other two quadrants contain the stable manifold of the saddle (its tangent at the saddle has
negative slope, i.e. it runs from {c > 0, p < p*_-} to {c < 0, p > p*_-}) and are undecided.
For eta > tau^2/(4(1+sigma2)) every mode collapses (Obs. 5). For eta = 0 the outcome is exact from
Eq. 14: collapse iff s_inf = s(0) + ((tau/(1+sigma2))^2 - p(0)^2)/alpha_p <= 0 or
(p(0) <= 0 and c <= 0) (``closed_form.eta0_final_s``). s(0) = 0 always stays collapsed.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dynamics.errors import ConfigError, check_choice, check_range
from dynamics.io import load_arrays, save_arrays
from dynamics.theory.closed_form import (
    collapse_threshold,
    eta0_final_s,
    fixed_points,
    invariant_c,
    parabola_flow,
)
from dynamics.theory.modes import dp_dt, ds_dt, mode_rhs, simulate_modes
from dynamics.theory.phase_axes import (  # noqa: F401 - AXIS_NAMES, FIXED_NAMES: public here
    _DEFAULTS,
    AXIS_NAMES,
    FIXED_NAMES,
    _diagram_axes,
    _diagram_grid,
    _np,
)
from dynamics.theory.stability import classify_eigenvalues

S_TOL = 1e-6
"""Default collapse tolerance on the final s_j (eigenvalue of F)."""

SETTLE_RTOL = 1e-3
"""Relative distance to p*_+ below which a non-collapsed mode counts as settled."""

T_END_ETA0 = 2000.0
"""Default horizon when every eta is zero (no uniform collapse rate exists then)."""

T_END_MAX = 20000.0
"""Cap of :func:`default_t_end` (pass ``t_end`` explicitly for eta below about 1e-3)."""

_COMPLEX_STEP = 1e-30


# --------------------------------------------------------------------------------------------
# Flow field, Jacobian, fixed points


def flow_field(p, s, *, tau=1.0, alpha_p=1.0, eta=0.0, sigma2=0.0):
    """Vector field (dp/dt, ds/dt) of Eqs. 11-12 at fixed tau (Fig. 3's flow lines).

    ``p`` and ``s`` broadcast together (e.g. a ``np.meshgrid``); lists become numpy arrays,
    numpy and torch tensors are passed through unchanged.
    """
    if not isinstance(p, torch.Tensor):
        p = np.asarray(p, dtype=float)
    if not isinstance(s, torch.Tensor):
        s = np.asarray(s, dtype=float)
    return dp_dt(p, s, tau, alpha_p, eta, sigma2), ds_dt(p, s, tau, eta, sigma2)


def jacobian(p, s, *, tau=1.0, alpha_p=1.0, eta=0.0, sigma2=0.0) -> np.ndarray:
    """Jacobian d(dp/dt, ds/dt)/d(p, s) of Eqs. 11-12 at fixed tau, shape ``(*batch, 2, 2)``.

    Computed by complex-step differentiation of :func:`dynamics.theory.modes.mode_rhs`,
    J[:, k] = Im f(x + i h e_k) / h with h = 1e-30, which has no subtractive cancellation and no
    truncation error beyond O(h^2) for these polynomial right-hand sides.
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


@dataclass
class FixedPoint:
    """A fixed point (or a line of fixed points) of the (p, s) flow of Eqs. 11-12 at fixed tau.

    ``kind`` is one of

    * ``"stable"`` / ``"unstable"`` / ``"saddle"``: hyperbolic point, from the signs of the real
      parts of ``eigenvalues`` (the Jacobian's, see :func:`jacobian`);
    * ``"saddle-node"``: isolated but non-hyperbolic (an eigenvalue with zero real part), e.g.
      p*_- = p*_+ exactly at eta = tau^2/(4(1+sigma2));
    * ``"non-isolated"``: for eta = 0 the fixed points form two lines, ``line`` names it
      (``"s = 0"`` with ``p = nan``, or ``"p = tau/(1+sigma2)"`` with ``s = nan``). Along a line
      one eigenvalue is 0; ``segments`` lists ``(lo, hi, kind)`` intervals of the line parameter
      (``parameter``, "p" or "s") where the transverse eigenvalue is negative ("stable",
      attracting) or positive ("unstable"); ``eigenvalues`` is empty.
    """

    p: float
    s: float
    kind: str
    eigenvalues: np.ndarray
    line: str | None = None
    parameter: str | None = None
    segments: tuple[tuple[float, float, str], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (eigenvalues split into real and imaginary parts)."""
        ev = np.asarray(self.eigenvalues)
        return {"p": self.p, "s": self.s, "kind": self.kind,
                "eigenvalues_real": ev.real.tolist(), "eigenvalues_imag": ev.imag.tolist(),
                "line": self.line, "parameter": self.parameter,
                "segments": [list(seg) for seg in self.segments]}


@dataclass
class ParabolaFixedPoint:
    """A fixed point of the 1-D flow on the invariant parabola (Eq. 16, Fig. 4).

    ``derivative`` is d(dp/dt)/dp there; ``kind`` is "stable" (< 0), "unstable" (> 0) or
    "saddle-node" (zero: the origin for eta = 0, which the paper calls a saddle, attracting from
    p < 0 and repelling towards p > 0; or p*_- = p*_+ at the collapse threshold).
    """

    p: float
    kind: str
    derivative: float


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


def mode_fixed_points(*, tau, alpha_p, eta, sigma2, tol: float = 1e-9) -> list[FixedPoint]:
    """Fixed points of the 2-D (p, s) system of Eqs. 11-12 at fixed tau, with stability (Fig. 3).

    Locations come from :func:`dynamics.theory.closed_form.fixed_points` (every fixed point with
    s > 0 has Delta = 0 and then Eq. 11 forces s = p^2/alpha_p; with s = 0, Eq. 11 forces
    eta p = 0). Stability from the eigenvalues of :func:`jacobian`, with real parts within
    ``tol * max(1, |J|)`` of zero treated as zero.

    * eta > 0, eta < tau^2/(4(1+sigma2)): (0, 0) stable (eigenvalues -eta, -2 eta);
      (p*_-, p*_-^2/alpha_p) saddle; (p*_+, p*_+^2/alpha_p) stable.
    * eta equal to the threshold: (0, 0) stable and one saddle-node at p = tau/(2(1+sigma2)).
    * eta above the threshold: only (0, 0) (Obs. 5).
    * eta = 0: two lines of non-isolated fixed points (Sec. 3.2), ``s = 0`` (attracting for
      p < 0 and p > tau/(1+sigma2), repelling in between) and ``p = tau/(1+sigma2)``
      (attracting for s > 0); see :class:`FixedPoint`.
    """
    _check_scalar_params(tau, alpha_p, eta, sigma2)
    kw = {"tau": tau, "alpha_p": alpha_p, "eta": eta, "sigma2": sigma2}
    if eta == 0:
        return _eta0_lines(kw, tol)
    out = []
    candidates = [0.0]
    pm, pp = _nonzero_roots(tau, eta, sigma2, tol)
    for p in (pm, pp):
        if np.isfinite(p) and all(abs(p - q) > tol * max(1.0, abs(q)) for q in candidates):
            candidates.append(p)
    for p in candidates:
        s = p**2 / alpha_p  # the invariant parabola of Eq. 14 with c = 0 (also holds at 0)
        J = jacobian(p, s, **kw)
        ev = np.linalg.eigvals(J)
        ev = ev[np.argsort(ev.real)]
        kind = classify_eigenvalues(ev, tol=tol * max(1.0, np.abs(J).max()),
                                    non_hyperbolic="saddle-node")
        out.append(FixedPoint(float(p), float(s), kind, ev))
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
    tau, sigma2 = kw["tau"], kw["sigma2"]
    p_line = float(fixed_points(float(tau), float(sigma2), 0.0)[1])  # tau / (1 + sigma2)
    empty = np.empty(0, dtype=complex)
    return [
        FixedPoint(math.nan, 0.0, "non-isolated", empty, line="s = 0", parameter="p",
                   segments=_segments([0.0, p_line], "p", kw, tol)),
        FixedPoint(p_line, math.nan, "non-isolated", empty, line="p = tau/(1+sigma2)",
                   parameter="s", segments=_segments([], "s", kw, tol, lo_bound=0.0)),
    ]


def parabola_fixed_points(*, tau, eta, sigma2, tol: float = 1e-9) -> list[ParabolaFixedPoint]:
    """Fixed points of the 1-D flow on the invariant parabola (Eq. 16, Fig. 4), sorted by p.

    Locations: 0 and p*_(+/-) from :func:`dynamics.theory.closed_form.fixed_points` (merged
    when they coincide: p*_- = 0 at eta = 0, p*_- = p*_+ at the threshold). Stability from the
    sign of d/dp of :func:`dynamics.theory.closed_form.parabola_flow`, by complex step; a
    derivative within ``tol * max(1, tau^2)`` of 0 gives "saddle-node".

    (a) eta = 0: 0 (saddle-node) and tau/(1+sigma2) (stable); (b) 0 < eta < tau^2/(4(1+sigma2)):
    0 stable, p*_- unstable, p*_+ stable; (c) larger eta: only 0 (stable).
    """
    _check_scalar_params(tau, None, eta, sigma2)
    pm, pp = _nonzero_roots(tau, eta, sigma2, tol)
    cands: list[float] = [0.0]
    for p in (pm, pp):
        if np.isfinite(p) and all(abs(p - q) > tol * max(1.0, abs(q)) for q in cands):
            cands.append(p)
    scale = tol * max(1.0, float(tau) ** 2)
    out = []
    for p in sorted(cands):
        d = float(np.imag(parabola_flow(p + 1j * _COMPLEX_STEP, tau, sigma2, eta)) / _COMPLEX_STEP)
        kind = "stable" if d < -scale else "unstable" if d > scale else "saddle-node"
        out.append(ParabolaFixedPoint(float(p), kind, d))
    return out


# --------------------------------------------------------------------------------------------
# Theory prediction of collapse


def predict_collapse(p0, s0, *, tau=1.0, alpha_p=1.0, eta=0.0, sigma2=0.0) -> np.ndarray:
    """What the theory guarantees about mode j at fixed tau: 1.0 (collapses, s_j -> 0),
    0.0 (does not) or NaN (not decided without integrating). All inputs broadcast (numpy).

    * s0 = 0: 1 (s = 0 is invariant, Eq. 12).
    * eta > tau^2/(4(1+sigma2)): 1 (Obs. 5).
    * eta = 0: exact, from the integral Eq. 14 (see the module docstring).
    * 0 < eta <= threshold: 1 on {c <= 0, p < p*_-}, 0 on {c >= 0, p > p*_-} (rigorous forward-
      invariant regions, module docstring), NaN elsewhere. On the parabola (c = 0) this is
      :func:`dynamics.theory.closed_form.parabola_end_state` (NaN exactly at p = p*_-).
    """
    p0, s0, tau, alpha_p, eta, sigma2 = np.broadcast_arrays(
        *(np.asarray(v, dtype=float) for v in (p0, s0, tau, alpha_p, eta, sigma2)))
    check_range("tau", tau, low=0)
    check_range("s0", s0, low=0)
    c = invariant_c(p0, s0, alpha_p)
    pm, _ = fixed_points(tau, sigma2, eta)
    out = np.full(p0.shape, np.nan)
    pos = eta > 0
    with np.errstate(invalid="ignore"):
        out = np.where(pos & (c <= 0) & (p0 < pm), 1.0, out)
        out = np.where(pos & (c >= 0) & (p0 > pm), 0.0, out)
    out = np.where(pos & (eta > collapse_threshold(tau, sigma2)), 1.0, out)
    s_inf = eta0_final_s(p0, s0, tau, sigma2, alpha_p)
    eta0_collapse = (s_inf <= 0) | ((p0 <= 0) & (c <= 0))
    out = np.where(~pos, np.where(eta0_collapse, 1.0, 0.0), out)
    return np.where(s0 == 0, 1.0, out)


def default_t_end(eta, *, s_tol: float = S_TOL, s_ref: float = 1.0, beta=None) -> float:
    """Integration horizon long enough for collapsing modes to reach s < s_tol.

    ``t_end = 200 + 2 ln(max(s_ref, 1)/s_tol)/(2 eta_min)`` with eta_min the smallest positive
    eta (collapse decays like e^{-2 eta t}), plus ``10/beta_min`` with EMA, capped at
    :data:`T_END_MAX`; :data:`T_END_ETA0` (2000) when all eta are 0.
    """
    eta = np.asarray(eta, dtype=float)
    pos = eta[eta > 0]
    t = T_END_ETA0
    if pos.size:
        t_pos = 200.0 + 2.0 * math.log(max(float(s_ref), 1.0) / s_tol) / (2.0 * float(pos.min()))
        t = t_pos if pos.size == eta.size else max(t, t_pos)
    if beta is not None:
        t += 10.0 / float(np.min(beta))
    return float(min(t, T_END_MAX))


# --------------------------------------------------------------------------------------------
# Saving (through dynamics.io: temp file in the same folder + os.replace)


def atomic_save(arrays: dict[str, Any], meta: dict[str, Any], path) -> Path:
    """Write ``arrays`` and ``meta`` atomically as ``.npz`` or ``.json`` (chosen by suffix) with
    :func:`dynamics.io.save_arrays` (NaN/inf become ``null`` in JSON)."""
    path = Path(path)
    check_choice("path suffix", path.suffix.lower(), (".npz", ".json"))
    return save_arrays(path, arrays, meta)


# --------------------------------------------------------------------------------------------
# Basins of collapse on a (p0, s0) grid


@dataclass
class BasinDiagram:
    """Fate of every (p0, s0) on a grid under Eqs. 11-13 (Fig. 3 basins).

    Arrays of shape ``(ny, nx) = (len(s0), len(p0))`` (rows: s0, columns: p0): final ``p``,
    ``s``, ``tau``; ``collapsed`` (final s < ``s_tol``); ``settled`` (collapsed, or within 0.1 %
    of p*_+(tau_final)); ``predicted`` (:func:`predict_collapse` of the initial state: 1, 0 or
    NaN; all NaN in the EMA case); ``status`` (0 = reached t_end, see ``integrate.STATUS_NAMES``).
    ``params`` holds tau, alpha_p, eta, sigma2, beta, tau0, t_end, s_tol, rtol, atol.
    """

    p0: np.ndarray
    s0: np.ndarray
    p: np.ndarray
    s: np.ndarray
    tau: np.ndarray
    collapsed: np.ndarray
    settled: np.ndarray
    predicted: np.ndarray
    status: np.ndarray
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def fraction_collapsed(self) -> float:
        """Fraction of the grid's initial conditions that collapse."""
        return float(np.mean(self.collapsed))

    _ARRAYS = ("p0", "s0", "p", "s", "tau", "collapsed", "settled", "predicted", "status")

    def to_dict(self) -> dict[str, Any]:
        """Arrays by name plus ``params`` (a dict)."""
        out: dict[str, Any] = {k: getattr(self, k) for k in self._ARRAYS}
        out["params"] = dict(self.params)
        return out

    def save(self, path) -> Path:
        """Atomic ``.npz`` or ``.json`` (by suffix); read back with :meth:`load`."""
        return atomic_save({k: getattr(self, k) for k in self._ARRAYS}, dict(self.params), path)

    @classmethod
    def load(cls, path) -> BasinDiagram:
        """Read a diagram written by :meth:`save`."""
        arrays, meta = load_arrays(path)
        arrays = {k: np.asarray(arrays[k]) for k in cls._ARRAYS}
        arrays["collapsed"] = arrays["collapsed"].astype(bool)
        arrays["settled"] = arrays["settled"].astype(bool)
        arrays["status"] = arrays["status"].astype(np.int64)
        return cls(**arrays, params={k: _param_value(v) for k, v in meta.items()})


def _param_value(v):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    return v


def _settled(p, s, tau, eta, sigma2, collapsed, s_tol):
    with np.errstate(invalid="ignore"):
        p_target = fixed_points(tau, sigma2, eta)[1]
        near = np.abs(p - p_target) <= SETTLE_RTOL * np.abs(p_target)
        return collapsed | (near & (s >= s_tol))


def _final_state(traj):
    """Last finite state of every element (equals the state at t_end where status is 0)."""
    last = traj.last_valid()
    return last["p"], last["s"], last["tau"]


CHUNK = 1 << 16
"""Trajectories per ``simulate_modes`` call in :func:`basin_grid` and
:func:`hyperparameter_diagram`: bounds the integrator's working memory and sets how often
``progress`` is called (each element keeps its own step control, so chunking does not change
the result)."""


def _integrate(inputs: dict[str, Any], *, t_end, rtol, atol, device, progress):
    """Final (p, s, tau) and status of :func:`simulate_modes` over the broadcast shape of
    ``inputs`` (p0, s0, alpha_p, eta, sigma2, tau0, beta; None = absent), :data:`CHUNK`
    trajectories at a time. ``progress(done, total)`` is called before the first chunk and
    after every chunk."""
    given = {k: _np(v).astype(float) for k, v in inputs.items() if v is not None}
    shape = np.broadcast_shapes(*(a.shape for a in given.values()))
    total = math.prod(shape)
    if progress is not None:
        progress(0, total)
    if total <= CHUNK:
        chunks = [given]
    else:
        flat = {k: np.broadcast_to(a, shape).reshape(-1) for k, a in given.items()}
        chunks = ({k: a[i:i + CHUNK].copy() for k, a in flat.items()}
                  for i in range(0, total, CHUNK))
    parts, done = [], 0
    for chunk in chunks:
        p0, s0, beta = chunk.pop("p0"), chunk.pop("s0"), chunk.pop("beta", None)
        if device is not None:
            p0, s0 = (torch.as_tensor(a, dtype=torch.float64, device=device) for a in (p0, s0))
        traj = simulate_modes(p0, s0, **chunk, beta=beta, t_end=t_end, n_save=2, rtol=rtol,
                              atol=atol).to_numpy()
        parts.append((*_final_state(traj), _np(traj.status)))
        done += int(np.size(parts[-1][3]))
        if progress is not None:
            progress(done, total)
    if len(parts) == 1:
        return tuple(np.asarray(a).reshape(shape) for a in parts[0])
    return tuple(np.concatenate([part[i] for part in parts]).reshape(shape) for i in range(4))


def basin_grid(
    p0,
    s0,
    *,
    tau=1.0,
    alpha_p=1.0,
    eta=0.0,
    sigma2=0.0,
    beta=None,
    tau0=None,
    t_end: float | None = None,
    s_tol: float = S_TOL,
    rtol: float = 1e-8,
    atol: float = 1e-10,
    device=None,
    progress: Callable[[int, int], object] | None = None,
) -> BasinDiagram:
    """Collapse basin of Eqs. 11-13 on the grid ``p0 x s0`` (batched ``simulate_modes``).

    ``p0`` (nx,) and ``s0`` (ny,) are 1-D; all trajectories start at ``(p0[None, :],
    s0[:, None])`` and are integrated together to ``t_end`` (default :func:`default_t_end`,
    with ``s_ref = max(s0, p*_+^2/alpha_p)``). Hyper-parameters are scalars.

    ``beta=None``: tau fixed at ``tau`` (``tau0`` must then be left None). With ``beta``: tau
    evolves by Eq. 13 from ``tau0`` (default 0, i.e. Wa(0) = 0) and ``tau`` is not used.
    ``device`` (e.g. "cuda") runs the integration there; results are numpy. ``progress(done,
    total)`` is called with the number of finished trajectories (every :data:`CHUNK`).
    """
    p0a, s0a = _np(p0).astype(float), _np(s0).astype(float)
    for name, a in (("p0", p0a), ("s0", s0a)):
        if a.ndim != 1 or a.size == 0:
            raise ConfigError(name, f"must be a non-empty 1-D array, got shape {a.shape}")
    params = {"tau": tau, "alpha_p": alpha_p, "eta": eta, "sigma2": sigma2}
    if beta is not None:
        params["beta"] = beta
    for name, v in params.items():
        if np.ndim(_np(v)) != 0:
            raise ConfigError(name, "must be a scalar in basin_grid (use "
                                    "hyperparameter_diagram to sweep it)")
    tau, alpha_p, eta, sigma2 = (float(_np(v)) for v in (tau, alpha_p, eta, sigma2))
    check_range("tau", tau, low=0)
    check_range("s_tol", s_tol, low=0, low_open=True)
    if beta is None:
        if tau0 is not None:
            raise ConfigError("tau0", "is the initial EMA ratio and needs beta; without beta "
                                      "set tau (held fixed)")
        tau_start = tau
    else:
        beta = float(_np(beta))
        tau_start = 0.0 if tau0 is None else float(_np(tau0))
    if t_end is None:
        _, pp = fixed_points(1.0 if beta is not None else tau, sigma2, eta)
        s_ref = max(float(np.max(s0a)), float(np.nan_to_num(pp) ** 2 / alpha_p))
        t_end = default_t_end(eta, s_tol=s_tol, s_ref=s_ref, beta=beta)
    p, s, tau_f, status = _integrate(
        {"p0": p0a[None, :], "s0": s0a[:, None], "alpha_p": alpha_p, "eta": eta,
         "sigma2": sigma2, "tau0": tau_start, "beta": beta},
        t_end=t_end, rtol=rtol, atol=atol, device=device, progress=progress)
    with np.errstate(invalid="ignore"):
        collapsed = s < s_tol
    settled = _settled(p, s, tau_f, eta, sigma2, collapsed, s_tol)
    if beta is None:
        predicted = predict_collapse(p0a[None, :], s0a[:, None], tau=tau, alpha_p=alpha_p,
                                     eta=eta, sigma2=sigma2)
    else:
        predicted = np.where(s0a[:, None] + 0 * p0a[None, :] == 0, 1.0, np.nan)
    out_params = {"tau": tau if beta is None else None, "alpha_p": alpha_p, "eta": eta,
                  "sigma2": sigma2, "beta": beta, "tau0": tau_start, "t_end": float(t_end),
                  "s_tol": s_tol, "rtol": rtol, "atol": atol}
    return BasinDiagram(p0=p0a, s0=s0a, p=p, s=s, tau=tau_f, collapsed=collapsed,
                        settled=settled, predicted=predicted, status=np.array(status),
                        params=out_params)


# --------------------------------------------------------------------------------------------
# Hyper-parameter phase diagrams


@dataclass
class PhaseDiagram:
    """Fraction of collapsed modes over a 2-D hyper-parameter grid (Fig. 5-like sweeps).

    ``x_name``/``x_values`` (nx,) label columns, ``y_name``/``y_values`` (ny,) rows. Per cell
    (shape ``(ny, nx)``): ``fraction_collapsed``, ``mean_final_s`` (over modes, last finite
    state), ``fraction_settled``, and the theory: ``predicted_fraction`` (NaN where any mode is
    undecided, see :func:`predict_collapse`) with the rigorous bounds ``predicted_lower`` (share
    of modes certain to collapse) and ``predicted_upper`` (1 - share certain to survive). In the
    EMA case (beta set) only s0 = 0 is certain. Per mode (shape ``(ny, nx, n_modes)``):
    ``p_final``, ``s_final``, ``collapsed``, ``status``. ``fixed`` holds the other parameters,
    ``p0``/``s0`` the initial modes.
    """

    x_name: str
    x_values: np.ndarray
    y_name: str
    y_values: np.ndarray
    fraction_collapsed: np.ndarray
    mean_final_s: np.ndarray
    fraction_settled: np.ndarray
    predicted_fraction: np.ndarray
    predicted_lower: np.ndarray
    predicted_upper: np.ndarray
    p_final: np.ndarray
    s_final: np.ndarray
    collapsed: np.ndarray
    status: np.ndarray
    p0: np.ndarray
    s0: np.ndarray
    fixed: dict[str, Any] = field(default_factory=dict)
    t_end: float = math.nan
    s_tol: float = S_TOL

    _ARRAYS = ("x_values", "y_values", "fraction_collapsed", "mean_final_s", "fraction_settled",
               "predicted_fraction", "predicted_lower", "predicted_upper", "p_final", "s_final",
               "collapsed", "status", "p0", "s0")

    def _meta(self) -> dict[str, Any]:
        return {"x_name": self.x_name, "y_name": self.y_name, "t_end": self.t_end,
                "s_tol": self.s_tol, "fixed": dict(self.fixed)}

    def to_dict(self) -> dict[str, Any]:
        """Arrays by name plus names, ``t_end``, ``s_tol`` and ``fixed`` (a dict)."""
        out = self._meta()
        out.update({k: getattr(self, k) for k in self._ARRAYS})
        return out

    def save(self, path) -> Path:
        """Atomic ``.npz`` or ``.json`` (by suffix); read back with :meth:`load`."""
        return atomic_save({k: getattr(self, k) for k in self._ARRAYS}, self._meta(), path)

    @classmethod
    def load(cls, path) -> PhaseDiagram:
        """Read a diagram written by :meth:`save`."""
        arrays, meta = load_arrays(path)
        arrays = {k: np.asarray(arrays[k]) for k in cls._ARRAYS}
        arrays["collapsed"] = arrays["collapsed"].astype(bool)
        arrays["status"] = arrays["status"].astype(np.int64)
        fixed = {k: _param_value(v) for k, v in meta["fixed"].items()}
        return cls(x_name=meta["x_name"], y_name=meta["y_name"], fixed=fixed,
                   t_end=float(meta["t_end"]), s_tol=float(meta["s_tol"]), **arrays)


def hyperparameter_diagram(
    x: tuple[str, Any],
    y: tuple[str, Any],
    *,
    p0,
    s0,
    fixed: dict[str, Any] | None = None,
    t_end: float | None = None,
    s_tol: float = S_TOL,
    rtol: float = 1e-8,
    atol: float = 1e-10,
    device=None,
    progress: Callable[[int, int], object] | None = None,
) -> PhaseDiagram:
    """Fraction of a set of modes that collapse, over a grid of two hyper-parameters.

    ``x = ("eta", values)``, ``y = ("tau", values)``: names from :data:`AXIS_NAMES`
    (``eta, alpha_p, beta, sigma2, tau``); x labels columns, y rows. ``p0``, ``s0`` (same length
    n_modes, or broadcastable to it) are the initial eigenvalues of Wp and F of the modes (e.g.
    small random values as in Fig. 5). ``fixed`` sets the other parameters (defaults tau = 1,
    alpha_p = 1, eta = 0, sigma2 = 0, no EMA).

    If ``beta`` is on an axis or in ``fixed`` the target is an EMA: tau_j evolves by Eq. 13
    from ``fixed["tau0"]`` (default 0, Wa(0) = 0) and ``tau`` may not be given. Otherwise tau is
    held at its value (``tau0`` may not be given).

    All ``ny * nx * n_modes`` trajectories of the broadcast shape ``(ny, nx, n_modes)`` run in
    batched ``simulate_modes`` calls of :data:`CHUNK` trajectories (``progress(done, total)``
    after each). Collapse: final s < ``s_tol``; ``t_end`` defaults to
    :func:`default_t_end` over the grid's eta and beta.
    """
    fixed = dict(fixed or {})
    xn, xv, yn, yv, ema = _diagram_axes(x, y, fixed)
    p0a, s0a = np.broadcast_arrays(_np(p0).astype(float), _np(s0).astype(float))
    if p0a.ndim != 1 or p0a.size == 0:
        raise ConfigError("p0", f"p0 and s0 must be non-empty 1-D arrays of modes, got shape "
                                f"{p0a.shape}")
    ny, nx, nm = yv.size, xv.size, p0a.size
    grid = _diagram_grid(fixed, xn, xv, yn, yv, ema)
    check_range("s_tol", s_tol, low=0, low_open=True)
    tau0 = grid.get("tau0", np.asarray(0.0)) if ema else grid["tau"]
    beta = grid.get("beta") if ema else None
    if t_end is None:
        tau_ref = 1.0 if ema else float(np.max(grid["tau"]))
        alpha_min = float(np.min(grid["alpha_p"]))
        _, pp = fixed_points(tau_ref, float(np.min(grid["sigma2"])), 0.0)
        s_ref = max(float(np.max(s0a)), float(pp) ** 2 / alpha_min)
        t_end = default_t_end(grid["eta"], s_tol=s_tol, s_ref=s_ref, beta=beta)
    inputs = {"p0": p0a[None, None, :], "s0": s0a[None, None, :], "alpha_p": grid["alpha_p"],
              "eta": grid["eta"], "sigma2": grid["sigma2"], "tau0": tau0, "beta": beta}
    shape = (ny, nx, nm)
    p, s, tau_f, status = (np.broadcast_to(a, shape) for a in _integrate(
        inputs, t_end=t_end, rtol=rtol, atol=atol, device=device, progress=progress))
    with np.errstate(invalid="ignore"):
        collapsed = s < s_tol
    eta_b = np.broadcast_to(grid["eta"], shape)
    sigma2_b = np.broadcast_to(grid["sigma2"], shape)
    settled = _settled(p, s, tau_f, eta_b, sigma2_b, collapsed, s_tol)
    if ema:
        pred = np.where(np.broadcast_to(s0a[None, None, :], shape) == 0, 1.0, np.nan)
    else:
        pred = predict_collapse(p0a[None, None, :], s0a[None, None, :], tau=grid["tau"],
                                alpha_p=grid["alpha_p"], eta=grid["eta"], sigma2=grid["sigma2"])
        pred = np.broadcast_to(pred, shape)
    lower = np.mean(pred == 1.0, axis=-1)
    upper = 1.0 - np.mean(pred == 0.0, axis=-1)
    exact = pred.mean(-1)  # NaN wherever one mode is undecided
    fixed_out = {k: (None if v is None else float(v)) for k, v in fixed.items()}
    for k, v in _DEFAULTS.items():
        if k not in fixed_out and k not in (xn, yn) and not (ema and k == "tau"):
            fixed_out[k] = v
    if ema and "tau0" not in fixed_out:
        fixed_out["tau0"] = 0.0
    return PhaseDiagram(
        x_name=xn, x_values=xv, y_name=yn, y_values=yv,
        fraction_collapsed=collapsed.mean(-1), mean_final_s=np.mean(s, axis=-1),
        fraction_settled=settled.mean(-1), predicted_fraction=exact, predicted_lower=lower,
        predicted_upper=upper, p_final=np.array(p), s_final=np.array(s),
        collapsed=np.array(collapsed), status=np.array(status),
        p0=p0a.copy(), s0=s0a.copy(), fixed=fixed_out, t_end=float(t_end), s_tol=s_tol)

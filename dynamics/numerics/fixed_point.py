"""The one fixed-point type of the package, shared by the numeric phase-portrait code
(:mod:`dynamics.theories.directpred.phase.portrait`) and the sympy analysis
(:mod:`dynamics.theories.directpred.symbolic.fixed_points`).

Tian, Chen & Ganguli (ICML 2021), Sec. 3.2-3.3: the decoupled mode flow Eqs. 11-12 at fixed tau
has the isolated fixed points (0, 0) and (p*_(+/-), p*_(+/-)^2/alpha_p) for eta > 0, and two lines
of fixed points for eta = 0; the 1-D flow on the invariant parabola (Eq. 16, Fig. 4) has the
points 0 and p*_(+/-). Appendix D's scalar model (Eqs. 104-106) has lines of fixed points too.
A :class:`FixedPoint` describes any of them, numerically (floats, numpy arrays) or symbolically
(sympy expressions); this module needs neither sympy nor the flow code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

KINDS = ("stable", "unstable", "saddle", "saddle-node", "non-isolated", "unclassified")
"""Values of :attr:`FixedPoint.kind`."""


@dataclass
class FixedPoint:
    """A fixed point, or a line (plane, ...) of fixed points, of an autonomous ODE.

    A plain container: the constructor checks nothing (``kind`` is not validated against
    :data:`KINDS`).

    Attributes:
        label: its name within one analysis, shared by the numeric and the symbolic code:
            ``"origin"``, ``"p_minus"``, ``"p_plus"`` (``"p_double"`` where p*_- = p*_+ at the
            collapse threshold) for the isolated points of Eqs. 11-12 / Eq. 16; ``"collapsed"``
            (s = 0) and ``"noncollapsed"`` (p = tau/(1+sigma2)) for the lines at eta = 0
            (Sec. 3.2).
        coords: the determined state coordinates and their values. Keys are coordinate names
            (``"p"``, ``"s"``) in numeric results and the sympy state symbols in symbolic ones.
        kind: the stability classification (one of :data:`KINDS`): ``"stable"``,
            ``"unstable"``, ``"saddle"`` for hyperbolic points (signs of the eigenvalues' real
            parts), ``"saddle-node"`` for isolated non-hyperbolic ones (an eigenvalue with zero
            real part, e.g. p*_- = p*_+ at eta = tau^2/(4(1+sigma2)), or the parabola's origin
            at eta = 0); ``"non-isolated"`` for a line, whose transverse stability is in
            ``segments``; ``"unclassified"`` for a symbolic point, whose stability depends on
            the parameters (see ``FixedPointAnalysis.classify`` and ``FixedPointAnalysis.at``).
        eigenvalues: the Jacobian's eigenvalues (numpy array sorted by real part, or a list of
            sympy expressions; empty for a numeric line).
        jacobian: the Jacobian of the right-hand side at the point (numpy array or sympy
            matrix; ``None`` for a numeric line, where it varies along the line).
        free: the state coordinates missing from ``coords`` (names or symbols, like the keys).
            Non-empty for a continuum of fixed points, parameterised by them; ``()`` for an
            isolated point (:attr:`isolated`).
        line: a readable description of a line (``"s = 0"``, ``"p = tau/(1+sigma2)"``), or None.
        segments: ``(lo, hi, kind)`` intervals of the line parameter (:attr:`parameter`) where
            the transverse eigenvalue is negative (``"stable"``, attracting) or positive
            (``"unstable"``).

    Example:
        >>> import numpy as np
        >>> J = np.diag([-2.0, -1.0])
        >>> fp = FixedPoint("origin", {"p": 0.0, "s": 0.0}, "stable", np.diag(J), J)
        >>> fp.isolated, fp.p, fp.parameter
        (True, 0.0, None)
        >>> line = FixedPoint("collapsed", {"s": 0.0}, "non-isolated", np.array([]),
        ...                   free=("p",), line="s = 0", segments=((0.0, 1.0, "stable"),))
        >>> line.isolated, line.parameter, line.p
        (False, 'p', nan)
    """

    label: str
    coords: dict
    kind: str
    eigenvalues: Any
    jacobian: Any = None
    free: tuple = ()
    line: str | None = None
    segments: tuple[tuple[float, float, str], ...] = ()

    @property
    def isolated(self) -> bool:
        """True for an isolated point, False for a continuum (some coordinate is free)."""
        return not self.free

    def coord(self, name: str):
        """Value of the state coordinate called ``name`` (NaN if it is free along a line).

        Args:
            name: coordinate name, compared with ``str()`` of the keys of ``coords`` and of
                ``free`` (so ``"p"`` also finds the sympy symbol p).

        Returns:
            The value stored in ``coords`` (float or sympy expression), or ``math.nan`` when
            the coordinate is free.

        Raises:
            KeyError: the point has no coordinate ``name``.

        Example:
            >>> FixedPoint("collapsed", {"s": 0.0}, "non-isolated", [], free=("p",)).coord("p")
            nan
        """
        for key, value in self.coords.items():
            if str(key) == name:
                return value
        if any(str(key) == name for key in self.free):
            return math.nan
        raise KeyError(f"fixed point {self.label!r} has no coordinate {name!r}")

    @property
    def p(self):
        """Coordinate p (eigenvalue of Wp; NaN along the line s = 0 at eta = 0)."""
        return self.coord("p")

    @property
    def s(self):
        """Coordinate s (eigenvalue of F; NaN along the line p = tau/(1+sigma2) at eta = 0)."""
        return self.coord("s")

    @property
    def parameter(self) -> str | None:
        """Name of the coordinate parameterising a line of fixed points (None if isolated)."""
        return str(self.free[0]) if self.free else None

    @property
    def derivative(self):
        """For a 1-D flow (Eq. 16): d(dp/dt)/dp at the point, the 1x1 Jacobian's entry.

        A float for a numpy Jacobian, else the sympy entry; AttributeError when the Jacobian
        is missing or not 1x1.
        """
        if self.jacobian is None or np.shape(self.jacobian) != (1, 1):
            raise AttributeError(f"fixed point {self.label!r} is not one of a 1-D flow")
        value = self.jacobian[0, 0]
        return float(value) if isinstance(self.jacobian, np.ndarray) else value

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: coordinates by name (NaN where free), ``kind``, ``label``, eigenvalues
        split into real and imaginary parts (or as strings when symbolic), ``line``,
        ``parameter`` and ``segments``.

        Returns:
            dict[str, Any]: coordinate values as floats (sympy strings when not numeric), then
            ``"label"``, ``"kind"``, either ``"eigenvalues_real"`` and ``"eigenvalues_imag"``
            (lists of floats) or ``"eigenvalues"`` (list of strings, for sympy eigenvalues),
            ``"line"``, ``"parameter"`` and ``"segments"`` (list of ``[lo, hi, kind]``).

        Example:
            >>> import numpy as np
            >>> FixedPoint("p_plus", {"p": 1.0}, "stable", np.array([-0.5])).to_dict()
            ... # doctest: +NORMALIZE_WHITESPACE
            {'p': 1.0, 'label': 'p_plus', 'kind': 'stable', 'eigenvalues_real': [-0.5],
             'eigenvalues_imag': [0.0], 'line': None, 'parameter': None, 'segments': []}
        """
        out: dict[str, Any] = {str(k): _jsonable(v) for k, v in self.coords.items()}
        out.update({str(k): math.nan for k in self.free})
        out.update({"label": self.label, "kind": self.kind})
        ev = np.asarray(self.eigenvalues)
        if ev.dtype == object:
            out["eigenvalues"] = [str(e) for e in self.eigenvalues]
        else:
            out["eigenvalues_real"] = ev.real.tolist()
            out["eigenvalues_imag"] = ev.imag.tolist()
        out.update({"line": self.line, "parameter": self.parameter,
                    "segments": [list(seg) for seg in self.segments]})
        return out


def _jsonable(value):
    """A coordinate for JSON: a float when it is a number, else its sympy string."""
    try:
        return float(value)
    except TypeError:
        return str(value)


__all__ = ["KINDS", "FixedPoint"]

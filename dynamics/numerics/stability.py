"""Linear stability of fixed points from Jacobian eigenvalues (shared by the phase-portrait,
symbolic and figure code)."""

from __future__ import annotations

import numpy as np


def classify_eigenvalues(eigenvalues, *, tol: float = 1e-9, n_neutral: int = 0,
                         non_hyperbolic: str = "non-hyperbolic") -> str:
    """Linear stability of a fixed point from its Jacobian eigenvalues.

    Returns "stable" (all real parts < -tol), "unstable" (all > tol), "saddle" (both signs, none
    within tol of zero) or ``non_hyperbolic`` (some real part within tol of zero; linearisation
    undecided). For a continuum of fixed points (a line, dimension ``n_neutral``) the
    ``n_neutral`` eigenvalues closest to zero are the directions along the continuum; they are
    dropped and the rest classify the *normal* stability. NaN eigenvalues (fixed point absent)
    give "absent".

    Args:
        eigenvalues: real or complex array-like of any shape (flattened).
        tol: real parts with ``|Re| <= tol`` count as zero (default 1e-9).
        n_neutral: number of eigenvalues (smallest ``|lambda|``) to drop first, the
            dimension of a continuum of fixed points (default 0).
        non_hyperbolic: the string returned in the non-hyperbolic case.

    Returns:
        str: ``"stable"``, ``"unstable"``, ``"saddle"``, ``"absent"`` (any NaN or Inf
        eigenvalue) or ``non_hyperbolic``.

    Example:
        >>> classify_eigenvalues([-1.0, -2.0]), classify_eigenvalues([-1.0, 2.0])
        ('stable', 'saddle')
        >>> classify_eigenvalues([1j, -1j]), classify_eigenvalues([0.0, -1.0], n_neutral=1)
        ('non-hyperbolic', 'stable')
    """
    ev = np.asarray(eigenvalues, dtype=complex).ravel()
    if np.any(~np.isfinite(ev)):
        return "absent"
    if n_neutral:
        ev = ev[np.argsort(np.abs(ev))][n_neutral:]
    re = ev.real
    if np.any(np.abs(re) <= tol):
        return non_hyperbolic
    if np.all(re < 0):
        return "stable"
    if np.all(re > 0):
        return "unstable"
    return "saddle"

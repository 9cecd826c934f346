"""The typed result of a matrix-flow or SGD run of the two-layer linear BYOL/SimSiam model
(Tian, Chen & Ganguli, "Understanding self-supervised learning dynamics without contrastive
pairs", ICML 2021).

:class:`MatrixTrajectory` stores the states W(t), Wp(t), Wa(t) of Eq. 1's model with the data
statistics X, X' and the :class:`~dynamics.theories.directpred.matrix_flow.MatrixFlowConfig` of
the run, and derives on demand the series the paper studies: F = W X W^T and its eigenvalues,
the commutator [F, Wp] of Theorem 3, the invariant of Theorem 1 and the A1 correlation of
Fig. 7. :mod:`~dynamics.theories.directpred.matrix_flow` (which imports this module and
re-exports the class) produces it, as do the SGD simulations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from dynamics.predictors.update_rules import UPDATE_RULES
from dynamics.theories.directpred.matrix_config import MatrixFlowConfig


def _theorem1_applies(cfg: MatrixFlowConfig) -> bool:
    return UPDATE_RULES[cfg.predictor].theorem1 and cfg.stop_grad


@dataclass
class MatrixTrajectory:
    """A simulated (or SGD-trained) trajectory of the linear model.

    ``t`` (T,), ``W`` and ``Wa`` (T, n2, n1), ``Wp`` (T, n2, n2). ``status`` is "completed" or a
    message saying why integration stopped early (the arrays then hold what was computed).
    Derived series are computed on demand from the stored states.

    Attributes:
        X, Xp: the data statistics X and X' of the run, shape (n1, n1).
        config: the :class:`MatrixFlowConfig` of the run.
        meta: solver (method, rtol, atol, nfev) or SGD details, or None.

    Example:
        >>> from dynamics.theories.directpred.matrix_flow import simulate_matrix
        >>> I = np.eye(2)
        >>> tr = simulate_matrix(0.5 * I, I, 0.1 * I, t_end=1.0, n_save=3)
        >>> tr.ok, tr.W_norm().round(4).tolist(), tr.F_eigvals()[-1].round(4).tolist()
        (True, [0.7071, 0.4789, 0.4011], [0.0804, 0.0804])
    """

    t: np.ndarray
    W: np.ndarray
    Wp: np.ndarray
    Wa: np.ndarray
    X: np.ndarray
    Xp: np.ndarray
    config: MatrixFlowConfig
    status: str = "completed"
    meta: dict | None = None

    @property
    def ok(self) -> bool:
        """True when the integration reached the end time."""
        return self.status == "completed"

    @property
    def F(self) -> np.ndarray:
        """F = W X W^T, the correlation of the online outputs (Sec. 3)."""
        return self.W @ self.X @ np.swapaxes(self.W, -1, -2)

    def F_eigvals(self) -> np.ndarray:
        """Eigenvalues of the symmetric F, ascending, shape (T, n2).

        Returns:
            The eigenvalues s_j(t) of (F + F^T)/2, a float array (T, n2).
        """
        F = self.F
        return np.linalg.eigvalsh((F + np.swapaxes(F, -1, -2)) / 2)

    def Wp_eigvals(self) -> np.ndarray:
        """Eigenvalues of Wp (complex in general; sorted by real part), shape (T, n2).

        Returns:
            The eigenvalues p_j(t), a complex array (T, n2).
        """
        ev = np.linalg.eigvals(self.Wp)
        return np.take_along_axis(ev, np.argsort(ev.real, axis=-1), -1)

    def commutator_norm(self) -> np.ndarray:
        """||[F, Wp]||_F over time (Theorem 3).

        Returns:
            ||F Wp - Wp F||_F, a float array (T,).
        """
        F, Wp = self.F, self.Wp
        return np.linalg.norm(F @ Wp - Wp @ F, axis=(-2, -1))

    def W_norm(self) -> np.ndarray:
        """Frobenius norm ||W(t)||_F.

        Returns:
            A float array (T,).
        """
        return np.linalg.norm(self.W, axis=(-2, -1))

    def invariant_C0(self) -> np.ndarray:
        """C of Theorem 1 from the initial state: W W^T - Wp^T Wp / alpha_p at t = 0.

        Returns:
            C, a float array (n2, n2).
        """
        W0, Wp0 = self.W[0], self.Wp[0]
        return W0 @ W0.T - Wp0.T @ Wp0 / self.config.alpha_p

    def invariant_residual(self) -> np.ndarray:
        """Relative residual of Theorem 1, ||W W^T - Wp^T Wp/alpha_p - e^{-2 eta t} C||_F divided
        by max(||W W^T||_F, ||Wp^T Wp||_F / alpha_p, ||C||_F). Zero up to integrator error for
        the learned predictor (any target); the theorem does not cover the other variants, for
        which NaN is returned.

        Returns:
            The relative residual, a float array (T,) (all NaN outside Theorem 1).
        """
        cfg = self.config
        if not _theorem1_applies(cfg):
            return np.full(self.t.shape, np.nan)
        WWt = self.W @ np.swapaxes(self.W, -1, -2)
        PtP = np.swapaxes(self.Wp, -1, -2) @ self.Wp / cfg.alpha_p
        C = np.exp(-2 * cfg.eta * self.t)[:, None, None] * self.invariant_C0()
        res = np.linalg.norm(WWt - PtP - C, axis=(-2, -1))
        scale = np.maximum.reduce([
            np.linalg.norm(WWt, axis=(-2, -1)),
            np.linalg.norm(PtP, axis=(-2, -1)),
            np.linalg.norm(C, axis=(-2, -1)),
            np.full(self.t.shape, 1e-300),
        ])
        return res / scale

    def target_correlation(self) -> np.ndarray:
        """Normalised correlation <Wa, W>_F / (||Wa||_F ||W||_F) (the A1 check of Fig. 7).

        Returns:
            A float array (T,), 1 where A1 holds exactly; NaN where Wa or W is 0.
        """
        num = np.sum(self.Wa * self.W, axis=(-2, -1))
        den = np.linalg.norm(self.Wa, axis=(-2, -1)) * self.W_norm()
        with np.errstate(invalid="ignore", divide="ignore"):
            return num / den

    def summary(self) -> dict[str, Any]:
        """Final state in a few numbers (used by the CLI's one-line summary).

        Returns:
            A dict with t_final, status, W_norm, F_eigvals (a list), collapsed (max s_j <
            1e-6), invariant_residual_max (None outside Theorem 1) and commutator_norm.
        """
        s = self.F_eigvals()[-1]
        return {
            "t_final": float(self.t[-1]),
            "status": self.status,
            "W_norm": float(self.W_norm()[-1]),
            "F_eigvals": s.tolist(),
            "collapsed": bool(s.max() < 1e-6),
            "invariant_residual_max": float(np.nanmax(self.invariant_residual()))
            if _theorem1_applies(self.config) else None,
            "commutator_norm": float(self.commutator_norm()[-1]),
        }

    def to_dict(self) -> dict[str, Any]:
        """Plain arrays for saving: t, W, Wp, Wa, X and Xp.

        Returns:
            A dict of those numpy arrays, keyed by their names.
        """
        return {"t": self.t, "W": self.W, "Wp": self.Wp, "Wa": self.Wa, "X": self.X,
                "Xp": self.Xp}


__all__ = ["MatrixTrajectory"]

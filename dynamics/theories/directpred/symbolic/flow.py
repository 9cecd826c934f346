"""Lemma 1 (Eqs. 2-3) and Theorem 2 of Tian, Chen & Ganguli (2021) derived in sympy by
differentiating the loss J of Eq. 1 (``matrix_flow.loss_J``) entry by entry, and compared with
the numeric right-hand sides ``matrix_flow.lemma1_rhs`` / ``matrix_flow.theorem2_dW``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import sympy as sp

from dynamics.numerics.symbolic import exact, general_matrix, matrix_gradient, symmetric_matrix
from dynamics.theories.directpred import matrix_flow


@dataclass
class GradientFlow:
    """Flow of the two-layer linear model derived by differentiating J (Eq. 1).

    ``dW = -dJ/dW - eta W`` and ``dWp = -alpha_p dJ/dWp - eta Wp`` (Lemma 1, Eqs. 2-3 with
    stop-gradient; Theorem 2 without). ``Wa`` is the target (``Wa is W`` when ``stop_grad`` is
    False). The EMA equation (Eq. 4) is not a gradient and is not part of this object.

    Attributes:
        n1, n2: input and output dimensions.
        stop_grad: whether the target branch was held constant.
        W, Wp, Wa: symbolic weight matrices (n2 x n1, n2 x n2, n2 x n1).
        X, Xp: symmetric symbolic X and X' (n1 x n1).
        alpha_p, eta: the parameter symbols.
        J: the expanded loss of Eq. 1.
        dW, dWp: the derived flows (sympy matrices shaped like W and Wp).
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
        """Free symbols in the order used by :meth:`numeric` (W, Wp, [Wa], X, Xp, alpha_p, eta).

        Returns:
            list of sympy Symbols, each once (the shared entries of X and X' appear once).
        """
        mats = [self.W, self.Wp] + ([self.Wa] if self.stop_grad else []) + [self.X, self.Xp]
        out: list[sp.Symbol] = []
        for M in mats:
            for e in M:
                if e not in out:
                    out.append(e)
        return out + [self.alpha_p, self.eta]

    def reference(self) -> tuple[sp.Matrix, sp.Matrix]:
        """(dW, dWp) of the numeric code evaluated on the same symbols: ``lemma1_rhs`` with
        stop-gradient, ``theorem2_dW`` (and lemma1's dWp with Wa = W) without.

        Returns:
            Tuple ``(dW, dWp)`` of sympy matrices.
        """
        beta = sp.Symbol("beta", positive=True)
        dW, dWp, _ = matrix_flow.lemma1_rhs(self.W, self.Wp, self.Wa, self.X, self.Xp,
                                            alpha_p=self.alpha_p, beta=beta, eta=self.eta)
        if not self.stop_grad:
            dW = matrix_flow.theorem2_dW(self.W, self.Wp, self.X, self.Xp, eta=self.eta,
                                         eye=sp.eye(self.n2))
        return exact(dW), exact(dWp)

    def residual(self) -> tuple[sp.Matrix, sp.Matrix]:
        """Derived flow minus :meth:`reference`, expanded: both are zero matrices.

        Returns:
            Tuple ``(dW residual, dWp residual)`` of sympy matrices.

        Example:
            >>> gradient_flow_from_loss(1, 1).residual()
            (Matrix([[0]]), Matrix([[0]]))
        """
        rW, rWp = self.reference()
        return (self.dW - rW).applyfunc(sp.expand), (self.dWp - rWp).applyfunc(sp.expand)

    def numeric(self, W, Wp, Wa, X, Xp, *, alpha_p: float, eta: float):
        """Evaluate the derived flow on numbers: returns numpy ``(dW, dWp)``.

        ``X`` and ``Xp`` must be symmetric (their upper triangle is used). ``Wa`` is ignored
        without stop-gradient (then Wa = W).

        Args:
            W: online weights (n2, n1).
            Wp: predictor (n2, n2).
            Wa: target (n2, n1).
            X: data correlation (n1, n1).
            Xp: augmentation covariance (n1, n1).
            alpha_p: relative predictor rate.
            eta: weight decay.

        Example:
            >>> gf = gradient_flow_from_loss(1, 1)
            >>> gf.numeric(np.eye(1), np.eye(1), np.zeros((1, 1)), np.eye(1), 0.1 * np.eye(1),
            ...            alpha_p=1.0, eta=0.0)
            (array([[-1.1]]), array([[-1.1]]))
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

    Args:
        n1: input dimension (a positive int).
        n2: output dimension (a positive int).
        stop_grad: hold Wa constant (Lemma 1) or substitute Wa := W (Theorem 2).

    Returns:
        :class:`GradientFlow`.

    Example:
        >>> gf = gradient_flow_from_loss(1, 1, stop_grad=False)  # Theorem 2
        >>> gf.dW.shape, gf.residual()
        ((1, 1), (Matrix([[0]]), Matrix([[0]])))
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

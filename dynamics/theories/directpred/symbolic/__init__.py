"""Symbolic (sympy) derivations for the linear BYOL/SimSiam theory (Tian, Chen & Ganguli 2021).

Every result is *derived* from the numeric code, not re-typed: the loss of Eq. 1
(:func:`dynamics.theories.directpred.matrix_flow.loss_J`), the mode equations 11-13
(:mod:`dynamics.theories.directpred.modes`), the reduced flow Eq. 67 and Theorem 3's K
(:mod:`dynamics.theories.directpred.reduced`) are written with plain arithmetic, so they are
evaluated on sympy symbols and matrices. The derivations are then compared back to the numeric
functions, symbolically (the difference expands to exactly zero) and numerically (via
:func:`sympy.lambdify`).

This module gathers the public names of its parts (import from here or from the part):

* :mod:`dynamics.numerics.symbolic` — helpers: :func:`exact`, :func:`is_zero`,
  :func:`general_matrix`, :func:`symmetric_matrix`, :func:`matrix_gradient`,
  :func:`lambdify_expr`, :func:`readable_eigenvalues` (:func:`mode_symbols`, the symbols of
  Eqs. 11-13, is in :mod:`dynamics.theories.directpred.symbolic.symbols`);
* :mod:`dynamics.theories.directpred.symbolic.flow` — :func:`gradient_flow_from_loss` /
  :class:`GradientFlow`: differentiate J (Eq. 1) entry by entry; with stop-gradient the result is
  Lemma 1 (Eqs. 2-3), without it (Wa := W before differentiating) Theorem 2;
* :mod:`dynamics.theories.directpred.symbolic.fixed_points` — :func:`mode_fixed_points_symbolic`,
  :func:`parabola_fixed_points_symbolic`: fixed points, Jacobians, eigenvalues and stability of
  Eqs. 11-12 (tau fixed) and of the 1-D flow Eq. 16 (Sec. 3.3, Figs. 3-4), as
  :class:`FixedPoint` objects (the type of the numeric
  :func:`dynamics.theories.directpred.phase.mode_fixed_points` too) in a
  :class:`FixedPointAnalysis`; :func:`mode_fixed_points_lambdified` (numeric, broadcast) and
  :func:`analyse` (generic);
* :mod:`dynamics.theories.directpred.symbolic.identities` — :func:`prove_invariant` (Eq. 14:
  d/dt (s - p^2/alpha_p) = -2 eta (s - p^2/alpha_p), any tau(t)), :func:`check_commutator_identity`
  (Theorem 3: dL/dt = -K L - L K for L = [F, Wp] under Eq. 67), :func:`mode_k_eigenvalue`
  (Eq. 17), :func:`modes_from_lemma1` (Eqs. 11-13 are the n1 = n2 = 1 case of Lemma 1).

Appendix D's scalar model (Eqs. 104-106: ``scalar_model_fixed_points``, ``tied_scalar_model``,
``no_predictor_scalar_model``) is in :mod:`dynamics.theories.directpred.symbolic.scalar`.
"""

from __future__ import annotations

from dynamics.numerics.fixed_point import FixedPoint
from dynamics.numerics.stability import classify_eigenvalues
from dynamics.numerics.symbolic import (
    exact,
    general_matrix,
    is_zero,
    lambdify_expr,
    matrix_gradient,
    readable_eigenvalues,
    symmetric_matrix,
)
from dynamics.theories.directpred.symbolic.fixed_points import (
    FixedPointAnalysis,
    analyse,
    mode_fixed_points_lambdified,
    mode_fixed_points_symbolic,
    parabola_fixed_points_symbolic,
)
from dynamics.theories.directpred.symbolic.flow import GradientFlow, gradient_flow_from_loss
from dynamics.theories.directpred.symbolic.identities import (
    CommutatorIdentity,
    check_commutator_identity,
    mode_k_eigenvalue,
    modes_from_lemma1,
    prove_invariant,
)
from dynamics.theories.directpred.symbolic.symbols import mode_symbols

__all__ = [
    "CommutatorIdentity",
    "FixedPoint",
    "FixedPointAnalysis",
    "GradientFlow",
    "analyse",
    "check_commutator_identity",
    "classify_eigenvalues",
    "exact",
    "general_matrix",
    "gradient_flow_from_loss",
    "is_zero",
    "lambdify_expr",
    "matrix_gradient",
    "mode_fixed_points_lambdified",
    "mode_fixed_points_symbolic",
    "mode_k_eigenvalue",
    "mode_symbols",
    "modes_from_lemma1",
    "parabola_fixed_points_symbolic",
    "prove_invariant",
    "readable_eigenvalues",
    "symmetric_matrix",
]

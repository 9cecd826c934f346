"""DirectPred family measurements (Tian, Chen & Ganguli, ICML 2021, arXiv 2102.06810).

Notation as in the paper: f = predictor input (online projector output), F = E[f f^T] its
**uncentred** correlation (Sec. 3, Eq. 19), Wp the linear predictor, F = U diag(s_j) U^T with
s_1 >= s_2 >= ... (descending throughout this module), p_j = u_j^T Wp u_j.

- :class:`CorrelationEstimator` the running estimate F <- rho F + (1 - rho) E_B[f f^T] (Eq. 19,
  as the official code runs it).
- :func:`predictor_eigenspace_alignment`, :func:`mean_alignment` Fig. 2 / Theorem 3: how far the
  eigenvectors of F are eigenvectors of Wp (cos_j = u_j^T Wp u_j / ||Wp u_j||).
- :func:`relative_commutator` the basis-free companion, ||[F, Wp]||_F / (||F||_F ||Wp||_F).
- :func:`predictor_asymmetry`, :func:`predictor_min_sym_eigenvalue` Fig. 2 / Fig. 8: symmetry
  and positivity of the learned predictor.
- :func:`eigenvalue_slope` the invariant-parabola prediction p_j ~ sqrt(s_j) (slope 1/2 on a
  log-log plot), from Theorem 1 + alignment.
- :func:`directpred_summary` all of the above from one eigendecomposition (for logging).

Matrices are small (n = 128 or 256 in the paper), so eigendecompositions are done in float64
(``torch.linalg.eigh`` of the explicitly symmetrised F) on the input's device; array results
come back in Wp's dtype (numpy in, numpy out), scalars as Python floats.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from dynamics.errors import ConfigError
from dynamics.metrics._common import (
    as_matrix,
    as_square,
    check_int,
    check_positive,
    out,
    sym_eigh,
    sym_eigvalsh,
)

# --------------------------------------------------------------------------------------------
# Running correlation estimate (Eq. 19)


class CorrelationEstimator:
    """Running estimate of F = E[f f^T] (DirectPred, Eq. 19; official ``byol_trainer.py``):

        first update:  F = F_B ;   afterwards:  F <- rho F + (1 - rho) F_B ,
        F_B = (1/B) sum_{b=1}^B f_b f_b^T        (the minibatch mean of outer products).

    ``rho`` in [0, 1] (paper default 0.3; the official yaml default ``dyn_lambda`` is 0.8).
    ``centered=True`` subtracts the **batch** mean before the outer products
    (F_B = (1/B) sum (f_b - fbar)(f_b - fbar)^T, the code's ``dyn_zero_mean``; the paper
    reports that centring hurts); it needs B >= 2. The official code stacks both views' online
    outputs into one batch: pass ``torch.cat([f1, f2])`` for that.

    State is kept in ``dtype`` (float64 by default) on the device of the first ``update``
    (later batches are moved there). ``F`` and :meth:`eigh` return numpy arrays if the first
    update was a numpy array, torch tensors otherwise. ``state_dict`` / ``load_state_dict``
    round-trip the state (e.g. into a training checkpoint).
    Args:
        dim: n, the number of columns of f (an integer >= 1).
        rho: decay in [0, 1] (default 0.3); 0 keeps the last F_B only, 1 the first.
        centered: subtract the batch mean before the outer products (default False).
        dtype: ``torch.float64`` (default) or ``torch.float32``, the dtype of the state.
        all_reduce: None (default) or a callable applied to each F_B (see the attribute).
    Example:
        >>> CorrelationEstimator(1, rho=0.5).update([[2.]]).update([[0.]]).F  # 0.5*4 + 0.5*0
        array([[2.]])
    """

    def __init__(self, dim: int, rho: float = 0.3, centered: bool = False, *,
                 dtype: torch.dtype = torch.float64, all_reduce: Any = None):
        self.dim = check_int("dim", dim, low=1)
        rho_f = check_positive("rho", rho, allow_zero=True)
        if rho_f > 1:
            raise ConfigError("rho", f"must be in [0, 1], got {rho!r}")
        self.rho = rho_f
        if not isinstance(centered, bool):
            raise ConfigError("centered", f"must be true or false, got {centered!r}")
        self.centered = centered
        if dtype not in (torch.float32, torch.float64):
            raise ConfigError("dtype", f"must be torch.float32 or torch.float64, got {dtype}")
        self.dtype = dtype
        if all_reduce is not None and not callable(all_reduce):
            raise ConfigError("all_reduce", f"must be a callable or None, got {all_reduce!r}")
        #: Optional collective applied to each batch's F_B before it is folded in (DDP: average
        #: F_B across processes so every replica holds the same F). It may reduce in place and
        #: return None, or return the reduced tensor.
        self.all_reduce = all_reduce
        self._F: torch.Tensor | None = None
        self.n_updates = 0
        self._numpy = False

    def batch_correlation(self, f: Any) -> torch.Tensor:
        """F_B of one batch (B, dim), in the estimator's dtype (no state change).
        Args:
            f: (B, dim) batch, torch tensor or numpy array / list; B >= 2 when ``centered``.
        Returns:
            (dim, dim) torch tensor (also for numpy input), on the state's device once set.
        """
        ft, was_numpy = as_matrix("f", f, min_rows=2 if self.centered else 1)
        if ft.shape[1] != self.dim:
            raise ConfigError("f", f"must have {self.dim} columns (dim), got shape "
                                   f"{tuple(ft.shape)}")
        if self._F is None:
            self._numpy = was_numpy
            device = ft.device
        else:
            device = self._F.device
        ft = ft.to(device=device, dtype=self.dtype)
        if self.centered:
            ft = ft - ft.mean(dim=0)
        return ft.T @ ft / ft.shape[0]

    def update(self, f: Any) -> CorrelationEstimator:
        """Fold in one batch f (B, dim) (through ``all_reduce`` when set). Returns self.
        Args:
            f: (B, dim) batch, torch tensor or numpy array / list (the first fixes device, type).
        Returns:
            This estimator (calls chain).
        """
        fb = self.batch_correlation(f)
        if self.all_reduce is not None:
            reduced = self.all_reduce(fb)
            if isinstance(reduced, torch.Tensor):
                if reduced.shape != fb.shape:
                    raise ConfigError("all_reduce", f"must return a tensor of shape "
                                                    f"{tuple(fb.shape)}, got "
                                                    f"{tuple(reduced.shape)}")
                fb = reduced.to(device=fb.device, dtype=fb.dtype)
        if self._F is None:
            self._F = fb
        else:
            self._F = self.rho * self._F + (1 - self.rho) * fb
        self.n_updates += 1
        return self

    def _require(self) -> torch.Tensor:
        if self._F is None:
            raise ConfigError("F", "is undefined before the first update(f)")
        return self._F

    @property
    def F(self) -> Any:
        """The current estimate (dim x dim), as accumulated (not symmetrised)."""
        return out(self._require().clone(), self._numpy)

    def eigh(self) -> tuple[Any, Any]:
        """``(s, U)`` of the symmetrised (F + F^T)/2: eigenvalues **descending**, eigenvectors
        as the columns of U (``torch.linalg.eigh``; the official code's ``torch.eig`` is gone
        from PyTorch).
        Returns:
            s (dim,) and U (dim, dim) in the estimator's dtype; numpy if the first update was.
        """
        s, u = sym_eigh(self._require())
        return out(s, self._numpy), out(u, self._numpy)

    def state_dict(self) -> dict[str, Any]:
        """Settings, update count and the current F, for checkpoints.
        Returns:
            dict with dim, rho, centered, n_updates, F (a tensor copy or None) and numpy.
        """
        return {"dim": self.dim, "rho": self.rho, "centered": self.centered,
                "n_updates": self.n_updates,
                "F": None if self._F is None else self._F.detach().clone(),
                "numpy": self._numpy}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict`; the settings (dim, rho, centered) must match.
        Args:
            state: a dict from :meth:`state_dict` (its F a tensor, an array or None).
        """
        for key in ("dim", "rho", "centered"):
            if state[key] != getattr(self, key):
                raise ConfigError(key, f"state has {key}={state[key]!r}, this estimator "
                                       f"{getattr(self, key)!r}")
        F = state["F"]
        if F is not None:
            F = torch.as_tensor(F).to(self.dtype)
            if tuple(F.shape) != (self.dim, self.dim):
                raise ConfigError("F", f"must be {self.dim}x{self.dim}, got {tuple(F.shape)}")
        self._F = F
        self.n_updates = int(state["n_updates"])
        self._numpy = bool(state.get("numpy", False))


# --------------------------------------------------------------------------------------------
# Alignment between the predictor and F


def _pair(Wp: Any, F: Any) -> tuple[torch.Tensor, torch.Tensor, torch.dtype, bool]:
    wp, was_numpy = as_square("Wp", Wp)
    f, _ = as_square("F", F, wp.shape[0])
    dtype = wp.dtype
    return (wp.to(torch.float64), f.to(device=wp.device, dtype=torch.float64), dtype,
            was_numpy)


def _modes(wp: torch.Tensor, f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor,
                                                        torch.Tensor]:
    """(s descending, cos_j, p_j) in float64."""
    s, u = sym_eigh(f)
    wu = wp @ u
    p = (u * wu).sum(dim=0)
    norm = torch.linalg.vector_norm(wu, dim=0)
    cos = torch.where(norm > 0, p / torch.where(norm > 0, norm, 1.0), torch.zeros_like(p))
    return s, cos, p


def _non_null(s: torch.Tensor, rel_tol: float) -> torch.Tensor:
    smax = s[0]
    if not bool(smax > 0):
        return torch.zeros_like(s, dtype=torch.bool)
    return s > rel_tol * smax


def predictor_eigenspace_alignment(Wp: Any, F: Any) -> Any:
    """Per-mode alignment of the predictor with the eigenvectors of F (Fig. 2, Theorem 3):

        cos_j = u_j^T Wp u_j / ||Wp u_j||_2 ,   F = U diag(s) U^T,  s descending,

    i.e. the cosine between u_j and its image Wp u_j. cos_j = 1 iff u_j is an eigenvector of Wp
    with a positive eigenvalue (-1: negative eigenvalue); cos_j is defined as 0 where
    Wp u_j = 0. Returned in the order of **descending s_j** (same length as F).

    Caveat: where F has (near-)degenerate eigenvalues its eigenvectors are not unique, and cos_j
    depends on the basis eigh returns; use :func:`relative_commutator` (basis-free) there.
    Args:
        Wp, F: (n, n) predictor and correlation; torch tensors or numpy arrays / lists.
    Returns:
        (n,) cos_j in [-1, 1] by descending s_j, Wp's dtype and device (numpy for numpy Wp).
    Example:
        >>> predictor_eigenspace_alignment(torch.ones(2, 2).triu(), torch.tensor([2., 1.]).diag())
        tensor([1.0000, 0.7071])
    """
    wp, f, dtype, was_numpy = _pair(Wp, F)
    _, cos, _ = _modes(wp, f)
    return out(cos.to(dtype), was_numpy)


def mean_alignment(Wp: Any, F: Any, rel_tol: float = 1e-3, *, weighted: bool = False) -> float:
    """Mean eigenspace alignment over the **non-null modes** of F, s_j > rel_tol * s_max
    (prediction 13 of the DirectPred theory: it rises towards 1 during training):

        weighted=False:  (1/|J|) sum_{j in J} cos_j
        weighted=True:   sum_{j in J} s_j cos_j / sum_{j in J} s_j

    with cos_j from :func:`predictor_eigenspace_alignment`. The unweighted mean treats every
    surviving direction alike (the paper's "mean over non-null modes"); the weighted mean
    follows where the variance is and is insensitive to the choice of rel_tol. Both are 1 when
    Wp is symmetric PSD and commutes with F. NaN if F has no positive eigenvalue.
    Args:
        Wp, F: (n, n) predictor and correlation; torch tensors or numpy arrays / lists.
        rel_tol: >= 0; modes with s_j <= rel_tol * s_max are null (default 1e-3).
        weighted: weight cos_j by s_j (default False).
    Returns:
        Python float in [-1, 1]; NaN if F has no positive eigenvalue.
    Example:
        >>> mean_alignment(2 * torch.eye(2), torch.tensor([2., 1.]).diag())  # aligned
        1.0
    """
    rel_tol = check_positive("rel_tol", rel_tol, allow_zero=True)
    wp, f, _, _ = _pair(Wp, F)
    s, cos, _ = _modes(wp, f)
    keep = _non_null(s, rel_tol)
    if not bool(keep.any()):
        return math.nan
    if weighted:
        return float((s[keep] * cos[keep]).sum() / s[keep].sum())
    return float(cos[keep].mean())


def relative_commutator(Wp: Any, F: Any) -> float:
    """||F Wp - Wp F||_F / (||F||_F ||Wp||_F): Theorem 3's commutator [F, Wp], made scale-free.

    0 iff Wp and F commute (then, for symmetric Wp, they share eigenvectors); at most sqrt(2)
    (Boettcher-Wenzel). Basis-free, so well defined for degenerate F too. 0 if F or Wp is 0.
    Args:
        Wp, F: (n, n) predictor and correlation; torch tensors or numpy arrays / lists.
    Returns:
        Python float in [0, sqrt(2)].
    """
    wp, f, _, _ = _pair(Wp, F)
    den = torch.linalg.matrix_norm(f) * torch.linalg.matrix_norm(wp)
    if not bool(den > 0):
        return 0.0
    return float(torch.linalg.matrix_norm(f @ wp - wp @ f) / den)


def predictor_asymmetry(Wp: Any) -> float:
    """Asymmetry ratio of the predictor (Fig. 2 / Fig. 8, prediction 14):

        ||Wp - Wp^T||_F / ||Wp + Wp^T||_F   (= ||skew part|| / ||symmetric part||).

    0 for a symmetric Wp, 1 when both parts have equal norm, ``inf`` for a (non-zero) skew
    matrix (symmetric part exactly 0). The zero matrix counts as symmetric: 0.
    Args:
        Wp: (n, n) predictor; torch tensor or numpy array / list.
    Returns:
        Python float in [0, inf].
    """
    wp, _ = as_square("Wp", Wp)
    wp = wp.to(torch.float64)
    num = torch.linalg.matrix_norm(wp - wp.T)
    den = torch.linalg.matrix_norm(wp + wp.T)
    if bool(den == 0):
        return 0.0 if bool(num == 0) else math.inf
    return float(num / den)


def predictor_min_sym_eigenvalue(Wp: Any) -> float:
    """lambda_min((Wp + Wp^T)/2): >= 0 iff the quadratic form of Wp is PSD (prediction 14: a
    freely trained linear predictor drifts to symmetric PSD).
    Args:
        Wp: (n, n) predictor; torch tensor or numpy array / list.
    Returns:
        Python float, the smallest eigenvalue of the symmetric part.
    """
    wp, _ = as_square("Wp", Wp)
    return float(sym_eigvalsh(wp.to(torch.float64), descending=False)[0])


def eigenvalue_slope(Wp: Any, F: Any, rel_tol: float = 1e-3, *, min_cos: float = 0.0) -> float:
    """Least-squares slope b of  log p_j = b log s_j + a  over the aligned modes (prediction 16).

    p_j = u_j^T Wp u_j (the Rayleigh quotient of Wp on the j-th eigenvector of F; equal to the
    eigenvalue of Wp once aligned). Modes used: non-null (s_j > rel_tol * s_max), p_j > 0 and
    cos_j >= ``min_cos`` (default 0, i.e. just p_j > 0; raise it to keep well-aligned modes
    only).

    Theory: with weight decay, Theorem 1 gives W W^T - Wp^T Wp / alpha_p = e^{-2 eta t} C -> 0,
    and with X = I, F = W W^T; once Wp is symmetric and aligned with F, Wp^2 = alpha_p F, so
    p_j = sqrt(alpha_p s_j) and the slope is exactly 1/2 (DirectPred sets p_j = sqrt(s_j)
    by hand for the same reason). Reference: Wp = U diag(c sqrt(s)) U^T gives 0.5 for any c > 0.

    NaN if fewer than two modes qualify or their s_j span less than a factor 1 + 1e-9 (the
    slope is then undefined, e.g. at the fixed point where all surviving modes coincide).
    Args:
        Wp, F: (n, n) predictor and correlation; torch tensors or numpy arrays / lists.
        rel_tol: >= 0; modes with s_j <= rel_tol * s_max are null (default 1e-3).
        min_cos: in [-1, 1], the smallest cos_j of a mode used (default 0).
    Returns:
        Python float (the slope b); NaN as above.
    Example:
        >>> eigenvalue_slope(torch.tensor([2., 1., .5]).diag(), torch.tensor([4., 1., .25]).diag())
        0.5
    """
    rel_tol = check_positive("rel_tol", rel_tol, allow_zero=True)
    try:
        min_cos = float(min_cos)
    except (TypeError, ValueError):
        raise ConfigError("min_cos", f"must be a number in [-1, 1], got {min_cos!r}") from None
    if not -1 <= min_cos <= 1:
        raise ConfigError("min_cos", f"must be in [-1, 1], got {min_cos!r}")
    wp, f, _, _ = _pair(Wp, F)
    s, cos, p = _modes(wp, f)
    return _slope(s, cos, p, rel_tol, min_cos)


def _slope(s, cos, p, rel_tol, min_cos) -> float:
    keep = _non_null(s, rel_tol) & (p > 0) & (cos >= min_cos)
    if int(keep.sum()) < 2:
        return math.nan
    ls, lp = torch.log(s[keep]), torch.log(p[keep])
    if float(ls.max() - ls.min()) < 1e-9:
        return math.nan
    ls_c = ls - ls.mean()
    return float((ls_c * (lp - lp.mean())).sum() / (ls_c * ls_c).sum())


def directpred_summary(Wp: Any, F: Any, rel_tol: float = 1e-3) -> dict[str, float]:
    """All predictor-vs-F measurements from one eigendecomposition, for logging:
    ``mean_alignment``, ``weighted_alignment``, ``relative_commutator``, ``asymmetry``,
    ``min_sym_eigenvalue``, ``slope`` (``min_cos`` = 0), ``n_modes`` (non-null modes of F),
    ``s_max``. Same definitions as the individual functions.
    Args:
        Wp, F: (n, n) predictor and correlation; torch tensors or numpy arrays / lists.
        rel_tol: >= 0, the null-mode threshold of :func:`mean_alignment` (default 1e-3).
    Returns:
        dict of those keys: Python floats (NaN where undefined), ``n_modes`` an int.
    """
    rel_tol = check_positive("rel_tol", rel_tol, allow_zero=True)
    wp, f, _, _ = _pair(Wp, F)
    s, cos, p = _modes(wp, f)
    keep = _non_null(s, rel_tol)
    any_mode = bool(keep.any())
    return {
        "mean_alignment": float(cos[keep].mean()) if any_mode else math.nan,
        "weighted_alignment": float((s[keep] * cos[keep]).sum() / s[keep].sum())
        if any_mode else math.nan,
        "relative_commutator": relative_commutator(wp, f),
        "asymmetry": predictor_asymmetry(wp),
        "min_sym_eigenvalue": predictor_min_sym_eigenvalue(wp),
        "slope": _slope(s, cos, p, rel_tol, 0.0),
        "n_modes": int(keep.sum()),
        "s_max": float(s[0]),
    }


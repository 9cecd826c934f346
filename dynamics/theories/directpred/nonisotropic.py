"""Appendix D of Tian, Chen & Ganguli (ICML 2021): non-isotropic data and the scalar model.

Notation of Appendix D: Sigma_s = X + X' (= E[x1 x1^T]) and Sigma_d = X (= E[x1 x2^T]), so the
flow of Lemma 1 without weight decay reads

    dW/dt  = Wp^T (-Wp W Sigma_s + Wa Sigma_d),
    dWp/dt = alpha_p (-Wp W Sigma_s + Wa Sigma_d) W^T,
    dWa/dt = beta (W - Wa)

(simulated by :func:`dynamics.theories.directpred.matrix_flow.simulate_matrix` with ``X = Sigma_d``,
``Xp = Sigma_s - Sigma_d``). Its fixed points (BYOL and SimSiam) satisfy W = Wa and

    Wp W = W Sigma_d Sigma_s^{-1},

because -Wp W Sigma_s + W Sigma_d = (W Sigma_d Sigma_s^{-1} - Wp W) Sigma_s. The matrix
M = Sigma_d Sigma_s^{-1} (:func:`predictor_target_matrix`) is similar to the symmetric PSD
Sigma_s^{-1/2} Sigma_d Sigma_s^{-1/2}, so its eigenvalues are real and >= 0 and its left
eigenvectors v (v M = lambda v) solve the symmetric-definite problem Sigma_d v^T =
lambda Sigma_s v^T. Special fixed points (:func:`special_fixed_point`): rows of W = left
eigenvectors, Wp = diag(eigenvalues); any W -> S W, Wp -> S Wp S^{-1} (S invertible) is again a
fixed point, so the scale of the rows is free. W = Wp = Wa = 0 (collapse) is always one.

Without a predictor (Wp = I) the condition becomes W = W M: a non-zero W needs M to have the
eigenvalue 1 exactly (:func:`no_predictor_noncollapsed_possible`), generically false for
additive noise, so collapse is the only fixed point there.

Data models (exact statistics from :mod:`dynamics.numerics.data_models`, never re-derived here):
additive noise gives Sigma_s = Sigma_x + Sigma_n, Sigma_d = Sigma_x; multiplicative scrambling
gives Sigma_d = P^c Sigma_x P^c and Sigma_s = Sigma_d + b_std^2 tr(U^T Sigma_x U) U U^T. (The
paper writes Sigma_s = Sigma_x; that holds only when P^c commutes with Sigma_x and
U^T Sigma_x U = b_std^2 tr(U^T Sigma_x U) I. Either way, if P^c commutes with Sigma_x,
M = P^c: the network learns the preserved subspace, independent of its variance.)

Scalar model (Eqs. 104-106; n1 = n2 = 1, Sigma_s = lambda_s, Sigma_d = lambda_d): its right-hand
side is written once, as :func:`dynamics.theories.directpred.modes.scalar_rhs` (re-exported here;
Lemma 1 with n1 = n2 = 1, optional weight decay), and used by :func:`simulate_scalar` and by
``simulate_modes`` itself; :func:`scalar_fixed_points` describes its fixed points. It is the
mode system of Eqs. 11-13 under s = w^2, p = wp, tau = wa/w (:func:`scalar_to_modes`) with
lambda_s = 1 + sigma2, lambda_d = 1; for general lambda_d, time is rescaled by lambda_d
(:func:`mode_parameters`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import scipy.linalg
import torch

from dynamics.errors import ConfigError, check_psd, check_range, check_shape
from dynamics.numerics.data_models import AdditiveGaussian, MultiplicativeScrambling
from dynamics.numerics.integrate import STATUS_NAMES, STATUS_OK, integrate_batched
from dynamics.theories.directpred.modes import scalar_rhs

__all__ = [
    "DataStatistics",
    "ScalarFixedPoints",
    "ScalarTrajectory",
    "additive_noise_statistics",
    "fixed_point_residual",
    "generalized_eigh",
    "mode_parameters",
    "no_predictor_noncollapsed_possible",
    "predictor_target_matrix",
    "scalar_fixed_points",
    "scalar_rhs",
    "scalar_to_modes",
    "scrambling_statistics",
    "simulate_scalar",
    "special_fixed_point",
]


class DataStatistics(NamedTuple):
    """(Sigma_s, Sigma_d) = (X + X', X) of Appendix D."""

    Sigma_s: np.ndarray
    Sigma_d: np.ndarray


# --------------------------------------------------------------------------------------------
# Matrix fixed points


def _check_pair(Sigma_d, Sigma_s) -> tuple[np.ndarray, np.ndarray]:
    Sigma_d = check_psd("Sigma_d", Sigma_d)
    Sigma_s = check_psd("Sigma_s", Sigma_s, Sigma_d.shape[0])
    lam = np.linalg.eigvalsh((Sigma_s + Sigma_s.T) / 2)
    if lam[0] <= 1e-12 * max(1.0, lam[-1]):
        raise ConfigError("Sigma_s", f"must be positive definite (invertible); smallest "
                                     f"eigenvalue is {lam[0]:.3g}")
    return Sigma_d, Sigma_s


def predictor_target_matrix(Sigma_d, Sigma_s) -> np.ndarray:
    """M = Sigma_d Sigma_s^{-1}, the matrix the predictor must reproduce: Wp W = W M (App. D).

    Args:
        Sigma_d, Sigma_s: (n1, n1), symmetric PSD; Sigma_s positive definite (else ConfigError).
    Returns:
        M, numpy (n1, n1); e.g. diag(0.5, 0.25) for Sigma_d = diag(1, 0.5), Sigma_s = 2 I."""
    Sigma_d, Sigma_s = _check_pair(Sigma_d, Sigma_s)
    # M = Sigma_d Sigma_s^{-1}  <=>  Sigma_s M^T = Sigma_d^T (Sigma_s symmetric).
    return np.linalg.solve(Sigma_s, Sigma_d.T).T


def generalized_eigh(Sigma_d, Sigma_s) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (descending) and left eigenvectors (as rows, unit Euclidean norm) of
    M = Sigma_d Sigma_s^{-1}, from the symmetric-definite problem Sigma_d v = lambda Sigma_s v.

    Args:
        Sigma_d, Sigma_s: as in :func:`predictor_target_matrix`; n1 eigenpairs are returned."""
    Sigma_d, Sigma_s = _check_pair(Sigma_d, Sigma_s)
    lam, V = scipy.linalg.eigh((Sigma_d + Sigma_d.T) / 2, (Sigma_s + Sigma_s.T) / 2)
    order = np.argsort(lam)[::-1]
    rows = V[:, order].T
    rows = rows / np.linalg.norm(rows, axis=1, keepdims=True)
    return lam[order], rows


def special_fixed_point(Sigma_d, Sigma_s, n2: int) -> tuple[np.ndarray, np.ndarray]:
    """Special fixed point of Appendix D: ``(W, Wp)`` with the rows of W (n2 x n1) the left
    eigenvectors of Sigma_d Sigma_s^{-1} for its ``n2`` largest eigenvalues (unit norm; the
    scale is free) and Wp = diag(those eigenvalues). Wa = W there.

    Args:
        Sigma_d, Sigma_s: as in :func:`predictor_target_matrix` (n1 x n1).
        n2: number of rows of W, an integer in [1, n1].
    Returns:
        ``(W, Wp)``, numpy arrays of shapes (n2, n1) and (n2, n2).
    Example:
        >>> special_fixed_point(np.diag([1.0, 0.5]), 2 * np.eye(2), 1)
        (array([[1., 0.]]), array([[0.5]]))
    """
    lam, rows = generalized_eigh(Sigma_d, Sigma_s)
    if not isinstance(n2, int | np.integer) or not 1 <= n2 <= lam.size:
        raise ConfigError("n2", f"must be an integer in [1, {lam.size}], got {n2!r}")
    return rows[:n2].copy(), np.diag(lam[:n2])


def fixed_point_residual(W, Wp, Sigma_d, Sigma_s) -> float:
    """Relative residual ||Wp W - W Sigma_d Sigma_s^{-1}||_F / max(||Wp W||_F,
    ||W Sigma_d Sigma_s^{-1}||_F) of the fixed-point condition of Appendix D (0 for W = 0).

    Args:
        W, Wp: candidate online weights (n2, n1) and predictor (n2, n2).
        Sigma_d, Sigma_s: as in :func:`predictor_target_matrix`."""
    M = predictor_target_matrix(Sigma_d, Sigma_s)
    W = np.asarray(W, dtype=float)
    if W.ndim != 2 or W.shape[1] != M.shape[0]:
        raise ConfigError("W", f"must be an n2 x {M.shape[0]} matrix, got shape {W.shape}")
    Wp = check_shape("Wp", Wp, (W.shape[0], W.shape[0]))
    A, B = Wp @ W, W @ M
    scale = max(np.linalg.norm(A), np.linalg.norm(B))
    return 0.0 if scale == 0 else float(np.linalg.norm(A - B) / scale)


def additive_noise_statistics(Sigma_x, Sigma_n) -> DataStatistics:
    """(Sigma_s, Sigma_d) for additive noise x' = x + n, n ~ N(0, Sigma_n) (App. D):
    from :class:`~dynamics.numerics.data_models.AdditiveGaussian` (X = Sigma_x, X' = Sigma_n).

    Args:
        Sigma_x, Sigma_n: data and noise covariances, symmetric PSD (n1, n1)."""
    model = AdditiveGaussian(Sigma_x, Sigma_n)
    return DataStatistics(model.X + model.Xprime, model.X)


def scrambling_statistics(Sigma_x, U, b_std: float = 1.0) -> DataStatistics:
    """(Sigma_s, Sigma_d) for the multiplicative scrambling A = P^c + U B U^T of App. D, from
    :class:`~dynamics.numerics.data_models.MultiplicativeScrambling` (exact X and X').

    Args:
        Sigma_x: data covariance, symmetric PSD (d, d).
        U: (d, k) with orthonormal columns (k <= d), the scrambled subspace.
        b_std: standard deviation of the entries of B, > 0."""
    model = MultiplicativeScrambling(Sigma_x, U, b_std)
    return DataStatistics(model.X + model.Xprime, model.X)


def no_predictor_noncollapsed_possible(Sigma_d, Sigma_s, tol: float = 1e-8) -> bool:
    """True iff Sigma_d Sigma_s^{-1} has an eigenvalue within ``tol`` of 1: only then does the
    flow without predictor (Wp = I) have a fixed point W = W Sigma_d Sigma_s^{-1} other than 0.

    Args:
        Sigma_d, Sigma_s: as in :func:`predictor_target_matrix`; tol: tolerance >= 0."""
    check_range("tol", tol, low=0)
    lam, _ = generalized_eigh(Sigma_d, Sigma_s)
    return bool(np.any(np.abs(lam - 1.0) <= tol))


# --------------------------------------------------------------------------------------------
# Scalar model, Eqs. 104-106


@dataclass(frozen=True)
class ScalarFixedPoints:
    """Fixed-point sets of Eqs. 104-106 (eta = 0, alpha_p > 0, beta > 0).

    * collapsed line ``w = wa = 0`` with any ``wp`` (the appendix speaks of "the origin"; Eq. 104
      and 105 vanish at w = wa = 0 whatever wp is);
    * non-collapsed line ``wp = lambda_d / lambda_s``, ``w = wa`` arbitrary.

    Without a predictor (wp = 1 held fixed) the flow is linear in (w, wa) and only the origin is
    fixed unless lambda_d = lambda_s; it is stable when lambda_d < lambda_s.
    """

    lambda_s: float
    lambda_d: float

    @property
    def origin(self) -> tuple[float, float, float]:
        """The collapsed point (wp, w, wa) = (0, 0, 0), on the line w = wa = 0."""
        return (0.0, 0.0, 0.0)

    @property
    def branch_wp(self) -> float:
        """wp = lambda_d / lambda_s on the non-collapsed fixed-point line."""
        return self.lambda_d / self.lambda_s

    def point(self, w: float) -> tuple[float, float, float]:
        """The non-collapsed fixed point (wp, w, wa) = (lambda_d/lambda_s, w, w)."""
        return (self.branch_wp, w, w)

    @property
    def tied_attractor(self) -> tuple[float, float, float]:
        """Stable point on the invariant set w = wp (alpha_p = 1): w = wa = lambda_d/lambda_s."""
        b = self.branch_wp
        return (b, b, b)

    def no_predictor_origin_stable(self) -> bool:
        """Without predictor, (w, wa) = 0 is stable iff lambda_d < lambda_s (and it is the only
        fixed point iff lambda_d != lambda_s)."""
        return self.lambda_d < self.lambda_s


def scalar_fixed_points(lambda_s, lambda_d) -> ScalarFixedPoints:
    """Fixed points of the scalar model Eqs. 104-106, see :class:`ScalarFixedPoints`.

    Args:
        lambda_s: Sigma_s > 0; lambda_d: Sigma_d >= 0.
    Returns:
        :class:`ScalarFixedPoints`, e.g. ``branch_wp`` 0.5 for (lambda_s, lambda_d) = (1, 0.5)."""
    check_range("lambda_s", lambda_s, low=0, low_open=True)
    check_range("lambda_d", lambda_d, low=0)
    return ScalarFixedPoints(float(lambda_s), float(lambda_d))


def scalar_to_modes(wp, w, wa) -> tuple[Any, Any, Any]:
    """Map to the mode variables of Eqs. 11-13: (p, s, tau) = (wp, w^2, wa / w).

    Args:
        wp, w, wa: scalar-model weights (floats, arrays, tensors or sympy); tau needs w != 0.
    Returns:
        ``(p, s, tau)``, e.g. ``(0.5, 4.0, 0.5)`` for ``(wp, w, wa) = (0.5, 2.0, 1.0)``."""
    return wp, w * w, wa / w


def mode_parameters(*, lambda_s, lambda_d, beta=None, eta=0.0) -> dict[str, Any]:
    """Mode-system parameters equivalent to the scalar model with (lambda_s, lambda_d).

    Dividing Eqs. 104-106 by lambda_d shows they are Eqs. 11-13 in the time t' = lambda_d t with
    sigma2 = lambda_s/lambda_d - 1, beta' = beta/lambda_d, eta' = eta/lambda_d. For
    lambda_d = 1 this is the paper's lambda_s = 1 + sigma2 with unchanged time.
    Returns ``sigma2``, ``beta``, ``eta`` and ``time_scale`` (= lambda_d).

    Args:
        lambda_s, lambda_d: Sigma_s, Sigma_d (lambda_d > 0); beta: EMA rate or None; eta: decay.
    """
    check_range("lambda_d", lambda_d, low=0, low_open=True)
    return {"sigma2": lambda_s / lambda_d - 1, "beta": None if beta is None else beta / lambda_d,
            "eta": eta / lambda_d, "time_scale": lambda_d}


@dataclass
class ScalarTrajectory:
    """Solution of Eqs. 104-106 for a batch: ``t`` (T,), ``wp``, ``w``, ``wa`` of shape
    ``(T, *batch)`` (numpy, or torch if an input was a tensor); ``status`` (batch) is 0 where the
    element reached t_end (:data:`dynamics.numerics.integrate.STATUS_NAMES`). ``predictor`` is
    False when wp was held at 1; ``params`` the hyper-parameters passed, with ``t_end``."""

    t: Any
    wp: Any
    w: Any
    wa: Any
    status: Any
    predictor: bool = True
    params: dict | None = None

    @property
    def ok(self) -> bool:
        """True when every element reached ``t_end``."""
        st = self.status.cpu().numpy() if isinstance(self.status, torch.Tensor) else self.status
        return bool(np.all(np.asarray(st) == STATUS_OK))

    def status_text(self) -> str:
        """How many elements ended with each status, e.g. ``"8 completed"``."""
        st = np.asarray(self.status.cpu() if isinstance(self.status, torch.Tensor)
                        else self.status)
        return ", ".join(f"{int((st == k).sum())} {STATUS_NAMES[int(k)]}" for k in np.unique(st))

    def to_modes(self) -> tuple[Any, Any, Any]:
        """(p, s, tau) along the trajectory (:func:`scalar_to_modes`)."""
        return scalar_to_modes(self.wp, self.w, self.wa)


def _scalar_stacked(y: torch.Tensor, aux: dict[str, torch.Tensor]) -> torch.Tensor:
    wp, w, wa = y[:, 0], y[:, 1], y[:, 2]
    dwp, dw, dwa = scalar_rhs(wp, w, wa, alpha_p=aux["alpha_p"], beta=aux["beta"],
                              lambda_s=aux["lambda_s"], lambda_d=aux["lambda_d"], eta=aux["eta"])
    if "frozen_wp" in aux:
        dwp = dwp * (1 - aux["frozen_wp"])
    return torch.stack((dwp, dw, dwa), dim=-1)


def simulate_scalar(
    wp0,
    w0,
    wa0,
    *,
    alpha_p=1.0,
    beta=1.0,
    lambda_s=1.0,
    lambda_d=0.5,
    eta=0.0,
    t_end: float = 50.0,
    n_save: int = 201,
    predictor: bool = True,
    rtol: float = 1e-9,
    atol: float = 1e-12,
    device=None,
) -> ScalarTrajectory:
    """Integrate Eqs. 104-106 for a batch of initial conditions (all inputs broadcast).

    One call of :func:`dynamics.numerics.integrate.integrate_batched` (per-element adaptive
    Dormand-Prince). ``predictor=False`` removes the predictor: wp is held at 1 (``wp0`` is
    ignored). Defaults follow Fig. 10 (lambda_s = 1, lambda_d = 1/2, alpha_p = beta = 1).
    numpy in -> numpy out; any torch tensor in -> torch out on its device.

    Args:
        wp0, w0, wa0: initial predictor, online and target weights (finite).
        alpha_p: relative predictor rate > 0; beta: EMA rate > 0; eta: weight decay >= 0.
        lambda_s, lambda_d: Sigma_s > 0 and Sigma_d >= 0.
        t_end: final time > 0; n_save: evenly spaced output times, an integer >= 2.
        predictor: bool, see above; device: torch device (default: a tensor input's, or cpu).
        rtol, atol: tolerances of the adaptive steps.
    Returns:
        :class:`ScalarTrajectory` with ``wp``, ``w``, ``wa`` of shape (n_save, *batch).
    Example:
        >>> tr = simulate_scalar(1.0, [0.5, 1.0], 0.0, t_end=1.0, n_save=3)
        >>> tr.w.shape, tr.ok
        ((3, 2), True)
    """
    if not isinstance(predictor, bool):
        raise ConfigError("predictor", f"must be true or false, got {predictor!r}")
    if not isinstance(n_save, int) or n_save < 2:
        raise ConfigError("n_save", f"must be an integer >= 2, got {n_save!r}")
    check_range("alpha_p", alpha_p, low=0, low_open=True)
    check_range("beta", beta, low=0, low_open=True)
    check_range("lambda_s", lambda_s, low=0, low_open=True)
    check_range("lambda_d", lambda_d, low=0)
    check_range("eta", eta, low=0)
    check_range("t_end", t_end, low=0, low_open=True)
    inputs = {"wp0": wp0, "w0": w0, "wa0": wa0, "alpha_p": alpha_p, "beta": beta,
              "lambda_s": lambda_s, "lambda_d": lambda_d, "eta": eta}
    use_torch = any(isinstance(v, torch.Tensor) for v in inputs.values())
    if device is None:
        device = next((v.device for v in inputs.values() if isinstance(v, torch.Tensor)), "cpu")
    for k, v in inputs.items():
        if not isinstance(v, torch.Tensor):
            arr = np.asarray(v, dtype=float)
            if not np.all(np.isfinite(arr)):
                raise ConfigError(k, "must be finite (got NaN or Inf)")
    tens = {k: torch.as_tensor(v if isinstance(v, torch.Tensor) else np.asarray(v, dtype=float),
                               dtype=torch.float64).to(device) for k, v in inputs.items()}
    if not predictor:
        tens["wp0"] = torch.ones_like(tens["wp0"])
    bshape = torch.broadcast_shapes(*(v.shape for v in tens.values()))
    flat = {k: v.broadcast_to(bshape).reshape(-1) for k, v in tens.items()}
    y0 = torch.stack((flat["wp0"], flat["w0"], flat["wa0"]), dim=-1)
    aux = {k: flat[k] for k in ("alpha_p", "beta", "lambda_s", "lambda_d", "eta")}
    if not predictor:
        aux["frozen_wp"] = torch.ones_like(flat["alpha_p"])
    t_eval = torch.linspace(0.0, float(t_end), n_save, dtype=torch.float64, device=device)
    sol = integrate_batched(_scalar_stacked, y0, t_eval, aux, rtol=rtol, atol=atol)
    shape_t = (n_save,) + tuple(bshape)
    conv = (lambda x: x) if use_torch else (lambda x: x.cpu().numpy())
    params = {"alpha_p": alpha_p, "beta": beta, "lambda_s": lambda_s, "lambda_d": lambda_d,
              "eta": eta, "t_end": float(t_end)}
    return ScalarTrajectory(
        t=conv(t_eval),
        wp=conv(sol.y[..., 0].reshape(shape_t)),
        w=conv(sol.y[..., 1].reshape(shape_t)),
        wa=conv(sol.y[..., 2].reshape(shape_t)),
        status=conv(sol.status.reshape(tuple(bshape))),
        predictor=predictor,
        params=params,
    )

"""Reduced flows in (Wp, F) under assumptions A1-A2 (Tian, Chen & Ganguli 2021, Sec. 3 / App. B).

With Wa = tau W (A1), X = I and X' = sigma2 I (A2) and F := W W^T, Lemma 1 closes on (Wp, F):

* :func:`eq62_rhs` — the non-symmetrised flow (Appendix Eq. 62);
* :func:`eq67_rhs` — the symmetrised flow (Eq. 7 / Appendix Eq. 67), predictor kept symmetric;
* :func:`theorem3_K` — the matrix K(t) of Theorem 3, with which the commutator L = [F, Wp] of the
  symmetrised flow obeys dL/dt = -K L - L K exactly.

tau is held constant here (as in Figs. 8 and 9). The functions use only matrix products, sums and
scalar multiples, so they run on numpy arrays and sympy matrices alike.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from dynamics.errors import ConfigError, check_range, check_shape
from dynamics.numerics.integrate import solve_ivp_guarded


def anticommutator(A, B):
    """{A, B} = A B + B A.

    Args:
        A: square matrix (numpy array or sympy matrix).
        B: matrix of the same shape and type.

    Returns:
        A B + B A, of the same shape and type.
    """
    return A @ B + B @ A


def commutator(A, B):
    """[A, B] = A B - B A.

    Args:
        A: square matrix (numpy array or sympy matrix).
        B: matrix of the same shape and type.

    Returns:
        A B - B A, of the same shape and type.
    """
    return A @ B - B @ A


def eq62_rhs(Wp, F, *, alpha_p, eta, sigma2, tau):
    """Appendix Eq. 62 (non-symmetrised reduced flow), returns ``(dWp, dF)``:

        dWp/dt = -alpha_p (1+sigma2) Wp F + alpha_p tau F - eta Wp
        dF/dt  = -(1+sigma2)(Wp^T Wp F + F Wp^T Wp) + tau (Wp^T F + F Wp) - 2 eta F

    Args:
        Wp: predictor matrix (n, n) (numpy array or sympy matrix).
        F: F = W W^T (n, n), of the same type.
        alpha_p: relative predictor rate alpha_p > 0.
        eta: weight decay eta >= 0.
        sigma2: augmentation variance sigma2 >= 0.
        tau: the constant Wa/W ratio tau (A1).

    Returns:
        Tuple ``(dWp, dF)`` of (n, n) matrices of the input type.

    Example:
        >>> I = np.eye(2)
        >>> dWp, dF = eq62_rhs(I, I, alpha_p=1.0, eta=0.0, sigma2=0.0, tau=1.0)
        >>> float(abs(dWp).max()), float(abs(dF).max())  # Wp = F = I is a fixed point
        (0.0, 0.0)
    """
    dWp = -alpha_p * (1 + sigma2) * Wp @ F + alpha_p * tau * F - eta * Wp
    PtP = Wp.T @ Wp
    dF = -(1 + sigma2) * anticommutator(PtP, F) + tau * (Wp.T @ F + F @ Wp) - 2 * eta * F
    return dWp, dF


def eq67_rhs(Wp, F, *, alpha_p, eta, sigma2, tau):
    """Eq. 7 / Appendix Eq. 67 (symmetrised reduced flow), returns ``(dWp, dF)``:

        dWp/dt = -(alpha_p/2)(1+sigma2) {Wp, F} + alpha_p tau F - eta Wp
        dF/dt  = -(1+sigma2) {Wp^2, F} + tau {Wp, F} - 2 eta F

    Args:
        Wp: symmetric predictor matrix (n, n) (numpy array or sympy matrix).
        F: F = W W^T, symmetric (n, n), of the same type.
        alpha_p: relative predictor rate alpha_p > 0.
        eta: weight decay eta >= 0.
        sigma2: augmentation variance sigma2 >= 0.
        tau: the constant Wa/W ratio tau (A1).

    Returns:
        Tuple ``(dWp, dF)`` of (n, n) matrices of the input type.

    Example:
        >>> dWp, dF = eq67_rhs(0.5 * np.eye(2), np.eye(2), alpha_p=1.0, eta=0.0, sigma2=0.0,
        ...                    tau=1.0)
        >>> np.diag(dWp), np.diag(dF)
        (array([0.5, 0.5]), array([0.5, 0.5]))
    """
    dWp = -(alpha_p / 2) * (1 + sigma2) * anticommutator(Wp, F) + alpha_p * tau * F - eta * Wp
    dF = -(1 + sigma2) * anticommutator(Wp @ Wp, F) + tau * anticommutator(Wp, F) - 2 * eta * F
    return dWp, dF


def theorem3_K(Wp, F, *, alpha_p, eta, sigma2, tau, eye=None):
    """Theorem 3: K = (1+sigma2)[(alpha_p/2) F + Wp^2 - tau/(1+sigma2) Wp] + (3/2) eta I.

    Along the symmetrised flow (Eq. 67) the commutator L = [F, Wp] satisfies
    dL/dt = -K L - L K, so ||L(t)||_F <= exp(-2 lambda_0 t) ||L(0)||_F whenever
    lambda_min(K) >= lambda_0 > 0.

    Args:
        Wp: predictor matrix (n, n) (numpy array or sympy matrix).
        F: F = W W^T (n, n), of the same type.
        alpha_p: relative predictor rate alpha_p > 0.
        eta: weight decay eta >= 0.
        sigma2: augmentation variance sigma2 >= 0.
        tau: the constant Wa/W ratio tau (A1).
        eye: the n x n identity in the input type (default ``np.eye(n)``; pass ``sp.eye(n)``
            for sympy matrices).

    Returns:
        K, an (n, n) matrix of the input type (symmetric when Wp and F are).

    Example:
        >>> I = np.eye(2)
        >>> np.diag(theorem3_K(I, I, alpha_p=1.0, eta=0.0, sigma2=0.0, tau=1.0))
        array([0.5, 0.5])
    """
    if eye is None:
        eye = np.eye(Wp.shape[0])
    return (1 + sigma2) * ((alpha_p / 2) * F + Wp @ Wp) - tau * Wp + 1.5 * eta * eye


def balanced_eq62_dWp(Wp, *, alpha_p, eta, sigma2, tau):
    """Eq. 62's predictor flow on Theorem 1's balanced manifold F = Wp^T Wp / alpha_p (C = 0),
    the setting of Fig. 8: a closed flow in Wp alone.

    Args:
        Wp: predictor matrix (n, n), not necessarily symmetric.
        alpha_p: relative predictor rate alpha_p > 0.
        eta: weight decay eta >= 0.
        sigma2: augmentation variance sigma2 >= 0.
        tau: the constant Wa/W ratio tau.

    Returns:
        dWp/dt, an (n, n) matrix of the input type.
    """
    F = Wp.T @ Wp / alpha_p
    return eq62_rhs(Wp, F, alpha_p=alpha_p, eta=eta, sigma2=sigma2, tau=tau)[0]


@dataclass
class ReducedTrajectory:
    """(Wp, F) over time for a reduced flow; ``F`` is None for the balanced (Fig. 8) flow.

    Attributes:
        t: stored times, shape (T,).
        Wp: predictor over time, shape (T, n, n).
        F: F over time, shape (T, n, n); :func:`simulate_reduced` fills it with
            Wp^T Wp / alpha_p for ``kind="balanced"`` too (so it is not None there).
        params: ``alpha_p``, ``eta``, ``sigma2`` and ``tau`` of the run.
        kind: "eq62", "eq67" or "balanced".
        status: "completed", or why the integration stopped early (the arrays then hold what
            was computed).
    """

    t: np.ndarray
    Wp: np.ndarray
    F: np.ndarray
    params: dict
    kind: str
    status: str = "completed"

    def commutator_norm(self) -> np.ndarray:
        """||[F, Wp]||_F over time (Fig. 9).

        Returns:
            numpy array of shape (T,).
        """
        return np.linalg.norm(self.F @ self.Wp - self.Wp @ self.F, axis=(-2, -1))

    def sym_skew_norms(self) -> tuple[np.ndarray, np.ndarray]:
        """(||A||_F, ||B||_F) with A = (Wp + Wp^T)/2 and B = (Wp - Wp^T)/2 (Fig. 8).

        Returns:
            Tuple of two numpy arrays of shape (T,).
        """
        WpT = np.swapaxes(self.Wp, -1, -2)
        return (np.linalg.norm((self.Wp + WpT) / 2, axis=(-2, -1)),
                np.linalg.norm((self.Wp - WpT) / 2, axis=(-2, -1)))

    def K_eigs(self) -> np.ndarray:
        """Eigenvalues of the symmetric part of Theorem 3's K(t), ascending, shape (T, n)."""
        out = np.empty(self.t.shape + self.Wp.shape[-1:])
        for i in range(self.t.size):
            K = theorem3_K(self.Wp[i], self.F[i], **self.params)
            out[i] = np.linalg.eigvalsh((K + K.T) / 2)
        return out

    def K_min_eig(self) -> np.ndarray:
        """lambda_min(K(t)) of Theorem 3 along the trajectory.

        Returns:
            numpy array of shape (T,) (of the symmetric part of K, as in :meth:`K_eigs`).
        """
        return self.K_eigs()[:, 0]

    def K_pair_rate(self) -> np.ndarray:
        """lambda_1 + lambda_2 of K(t): the slowest decay rate of an antisymmetric L = [F, Wp]
        under dL/dt = -K L - L K (in K's eigenbasis L_ij decays at k_i + k_j, i != j).

        Returns:
            numpy array of shape (T,); needs n >= 2.
        """
        k = self.K_eigs()
        return k[:, 0] + k[:, 1]


_KINDS = ("eq62", "eq67", "balanced")


def simulate_reduced(
    Wp0,
    F0=None,
    *,
    kind: str = "eq67",
    alpha_p: float = 1.0,
    eta: float = 0.0,
    sigma2: float = 0.0,
    tau: float = 1.0,
    t_end: float = 50.0,
    n_save: int = 201,
    method: str = "DOP853",
    rtol: float = 1e-10,
    atol: float = 1e-12,
    blowup: float = 1e8,
) -> ReducedTrajectory:
    """Integrate a reduced flow at constant tau.

    ``kind``: "eq62" (non-symmetrised, needs F0), "eq67" (symmetrised, needs F0; Wp0 and F0
    are symmetrised first) or "balanced" (Fig. 8: Eq. 62 on F = Wp^T Wp/alpha_p).

    Args:
        Wp0: initial predictor, a square (n, n) array.
        F0: initial F (n, n), required unless ``kind="balanced"`` (then ignored); it is
            symmetrised for "eq62" as well.
        kind: "eq62", "eq67" or "balanced", see above.
        alpha_p: relative predictor rate alpha_p > 0.
        eta: weight decay eta >= 0.
        sigma2: augmentation variance sigma2 >= 0.
        tau: the constant Wa/W ratio tau (not range-checked).
        t_end: final time > 0.
        n_save: number of stored, evenly spaced times.
        method: ``scipy.integrate.solve_ivp`` method.
        rtol: relative tolerance of solve_ivp.
        atol: absolute tolerance of solve_ivp.
        blowup: integration stops early (``status`` says so) when an entry exceeds it in
            magnitude or becomes non-finite.

    Returns:
        :class:`ReducedTrajectory` (for "balanced", F = Wp^T Wp / alpha_p at every time).

    Example:
        >>> Wp0, F0 = random_symmetric_state(n=3)
        >>> tr = simulate_reduced(Wp0, F0, t_end=1.0, n_save=3)
        >>> tr.Wp.shape, tr.status
        ((3, 3, 3), 'completed')
    """
    if kind not in _KINDS:
        raise ConfigError("kind", f"must be one of {', '.join(_KINDS)}; got {kind!r}")
    check_range("alpha_p", alpha_p, low=0, low_open=True)
    check_range("eta", eta, low=0)
    check_range("sigma2", sigma2, low=0)
    check_range("t_end", t_end, low=0, low_open=True)
    Wp0 = np.asarray(Wp0, dtype=float)
    n = Wp0.shape[0]
    check_shape("Wp0", Wp0, (n, n))
    params = {"alpha_p": alpha_p, "eta": eta, "sigma2": sigma2, "tau": tau}
    if kind != "balanced":
        if F0 is None:
            raise ConfigError("F0", f"is required for kind={kind}")
        F0 = check_shape("F0", F0, (n, n))
        F0 = (F0 + F0.T) / 2
        if kind == "eq67":
            Wp0 = (Wp0 + Wp0.T) / 2
    rhs_mat = eq62_rhs if kind == "eq62" else eq67_rhs
    nn = n * n

    def rhs(_t, y):
        Wp = y[:nn].reshape(n, n)
        if kind == "balanced":
            return balanced_eq62_dWp(Wp, **params).ravel()
        dWp, dF = rhs_mat(Wp, y[nn:].reshape(n, n), **params)
        return np.concatenate([dWp.ravel(), dF.ravel()])

    y0 = Wp0.ravel() if kind == "balanced" else np.concatenate([Wp0.ravel(), F0.ravel()])
    times, ys, status, _ = solve_ivp_guarded(rhs, y0, t_end, n_save, method=method, rtol=rtol,
                                             atol=atol, blowup=blowup)
    T = ys.shape[0]
    Wp = ys[:, :nn].reshape(T, n, n)
    if kind == "balanced":
        F = np.swapaxes(Wp, -1, -2) @ Wp / alpha_p
    else:
        F = ys[:, nn:].reshape(T, n, n)
    return ReducedTrajectory(times, Wp, F, params, kind, status)


def simulate_reduced_until(Wp0, F0=None, *, resolved: Callable[[ReducedTrajectory], bool],
                   t_first: float, t_max: float, n_chunk: int,
                   start: ReducedTrajectory | None = None, **kw) -> ReducedTrajectory:
    """:func:`simulate_reduced` on [0, t_first], then on [T, 2T] chunk after chunk, each
    continuing from the last state, until ``resolved(trajectory so far)`` or T >= t_max.
    ``start``: a trajectory to continue instead (Wp0 and F0 are then ignored). Returns the
    joined trajectory; raises if a chunk does not complete or t_max is reached unresolved.

    Args:
        Wp0: initial predictor (n, n) (ignored with ``start``).
        F0: initial F (n, n), or None for ``kind="balanced"`` (ignored with ``start``).
        resolved: predicate on the joined :class:`ReducedTrajectory`; True stops.
        t_first: end time T of the first chunk (> 0); each later chunk doubles T.
        t_max: give up (RuntimeError) once T >= t_max without ``resolved``.
        n_chunk: stored times per chunk (the first stored time of later chunks is dropped).
        start: a trajectory to continue, or None.
        **kw: further keywords of :func:`simulate_reduced` (kind, alpha_p, eta, ...).

    Returns:
        The joined :class:`ReducedTrajectory` (``start`` itself if it is already resolved).

    Example:
        >>> Wp0, F0 = random_symmetric_state(n=3)
        >>> tr = simulate_reduced_until(Wp0, F0, resolved=lambda tr: tr.t[-1] >= 4,
        ...                             t_first=1.0, t_max=8.0, n_chunk=3)
        >>> tr.t
        array([0. , 0.5, 1. , 1.5, 2. , 3. , 4. ])
    """
    parts: list[ReducedTrajectory] = []
    t0, t1 = 0.0, t_first
    if start is not None:
        if resolved(start):
            return start
        parts = [start]
        t0, t1 = float(start.t[-1]), 2 * float(start.t[-1])
        Wp0, F0 = start.Wp[-1], (None if start.kind == "balanced" else start.F[-1])
    while True:
        tr = simulate_reduced(Wp0, F0, t_end=t1 - t0, n_save=n_chunk, **kw)
        if tr.status != "completed":
            raise RuntimeError(f"reduced flow {kw}: {tr.status}")
        tr.t = tr.t + t0
        parts.append(tr if not parts else ReducedTrajectory(tr.t[1:], tr.Wp[1:], tr.F[1:],
                                                            tr.params, tr.kind))
        whole = ReducedTrajectory(np.concatenate([p.t for p in parts]),
                                  np.concatenate([p.Wp for p in parts]),
                                  np.concatenate([p.F for p in parts]), tr.params, tr.kind)
        if resolved(whole):
            return whole
        if t1 >= t_max:
            raise RuntimeError(f"reduced flow {kw} not resolved by t = {t_max:g}")
        Wp0, F0 = tr.Wp[-1], (None if tr.kind == "balanced" else tr.F[-1])
        t0, t1 = t1, 2 * t1


def settled(t: np.ndarray, x: np.ndarray, rel: float) -> bool:
    """|x(T) - x(T/2)| <= rel |x(T)| (the series no longer moves over the last doubling).

    Args:
        t: increasing times, shape (T,), ending at T.
        x: the series at those times, shape (T,); x(T/2) is the first sample at or after T/2.
        rel: relative tolerance >= 0.

    Returns:
        bool.
    """
    half = x[np.searchsorted(t, t[-1] / 2)]
    return bool(abs(x[-1] - half) <= rel * abs(x[-1]))


def random_symmetric_state(n: int = 6, f_scale: float = 1e-3, seed: int = 0
                           ) -> tuple[np.ndarray, np.ndarray]:
    """A random, non-aligned symmetric start (Wp0, F0) of the reduced flows: Wp(0) =
    (G1 + G1^T)/2 and F(0) = f_scale G2 G2^T with G1, G2 i.i.d. N(0, 1/n) (Fig. 9's start; a
    small F(0) makes K indefinite early on).

    Args:
        n: matrix size.
        f_scale: scale of F(0), > 0 for a positive semi-definite start.
        seed: seed of ``numpy.random.default_rng``.

    Returns:
        Tuple ``(Wp0, F0)`` of symmetric numpy (n, n) arrays.
    """
    rng = np.random.default_rng(seed)
    G = rng.standard_normal((n, n)) / np.sqrt(n)
    F0 = f_scale * G @ G.T
    P = rng.standard_normal((n, n)) / np.sqrt(n)
    return (P + P.T) / 2, F0

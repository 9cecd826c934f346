"""Matrix gradient flow of the two-layer linear BYOL/SimSiam model (Tian, Chen & Ganguli 2021).

Model (Eq. 1): online ``W`` (n2 x n1), predictor ``Wp`` (n2 x n2), target ``Wa`` (n2 x n1),

    J(W, Wp) = 1/2 E_{x1, x2} || Wp W x1 - StopGrad(Wa x2) ||^2,

with data statistics ``X = E[xbar xbar^T]`` (augmentation-averaged data correlation) and
``Xp = X' = E[Var[x'|x]]`` (augmentation covariance), so E[x1 x1^T] = X + X', E[x1 x2^T] = X.

The flow of Lemma 1 (Eqs. 2-4), for general PSD X and X', is implemented once in
:func:`lemma1_rhs`; Theorem 2's flow without stop-gradient in :func:`theorem2_dW`. The switches
of :class:`MatrixFlowConfig` select the variants the paper analyses (predictor learned / fixed
identity / symmetrised (A3); target EMA or SimSiam; stop-gradient on/off). The result of
:func:`simulate_matrix`, :class:`MatrixTrajectory`, is defined in
:mod:`dynamics.theories.directpred.matrix_trajectory` and imported here. The functions use only
``@``, ``.T``, ``+`` and scalar products, so they also run on sympy matrices (see
:mod:`dynamics.theories.directpred.symbolic`).
"""

from __future__ import annotations

import numpy as np

from dynamics.errors import ConfigError, check_choice, check_psd, check_range, check_shape
from dynamics.numerics.integrate import solve_ivp_guarded
from dynamics.predictors.update_rules import UPDATE_RULES, flow_rules
from dynamics.theories.directpred.matrix_config import TARGETS, MatrixFlowConfig  # noqa: F401
from dynamics.theories.directpred.matrix_trajectory import MatrixTrajectory
from dynamics.threads import with_thread_policy

METHODS = ("RK45", "DOP853", "Radau", "BDF", "LSODA", "RK23")


# --------------------------------------------------------------------------------------------
# Equations


def loss_J(W, Wp, Wa, X, Xp):
    """Eq. 1 in closed form: J = 1/2 E||Wp W x1 - Wa x2||^2
    = 1/2 tr(Wp W (X+X') W^T Wp^T) - tr(Wp W X Wa^T) + 1/2 tr(Wa (X+X') Wa^T).

    Args:
        W, Wp, Wa: online (n2, n1), predictor (n2, n2) and target (n2, n1) weights.
        X, Xp: the data correlation X and augmentation covariance X', (n1, n1) each.

    Returns:
        The scalar J (a numpy scalar, or a sympy expression).

    Example:
        >>> I = np.eye(2)
        >>> float(loss_J(0.5 * I, I, 0 * I, I, 0.1 * I))
        0.275
    """
    A = Wp @ W
    S = X + Xp
    return 0.5 * (A @ S @ A.T).trace() - (A @ X @ Wa.T).trace() + 0.5 * (Wa @ S @ Wa.T).trace()


def residual_G(W, Wp, Wa, X, Xp):
    """The common factor of Lemma 1: G = -Wp W (X + X') + Wa X  (= -dJ/d(Wp W)).

    Args:
        W, Wp, Wa: online (n2, n1), predictor (n2, n2) and target (n2, n1) weights.
        X, Xp: the data correlation X and augmentation covariance X', (n1, n1) each.

    Returns:
        G, shape (n2, n1), in the inputs' array type.

    Example:
        >>> I = np.eye(2)
        >>> residual_G(0.5 * I, I, 0 * I, I, 0.1 * I).tolist()
        [[-0.55, 0.0], [0.0, -0.55]]
    """
    return -Wp @ W @ (X + Xp) + Wa @ X


def lemma1_rhs(W, Wp, Wa, X, Xp, *, alpha_p, beta, eta):
    """Lemma 1 (Eqs. 2-4), gradient flow with stop-gradient on the target branch:

        dWp/dt = alpha_p (-Wp W (X+X') + Wa X) W^T - eta Wp          (Eq. 2)
        dW/dt  = Wp^T (-Wp W (X+X') + Wa X) - eta W                  (Eq. 3)
        dWa/dt = beta (-Wa + W)                                      (Eq. 4)

    Returns ``(dW, dWp, dWa)``.

    Args:
        W, Wp, Wa: online (n2, n1), predictor (n2, n2) and target (n2, n1) weights.
        X, Xp: the data correlation X and augmentation covariance X', (n1, n1) each.
        alpha_p: relative predictor rate alpha_p > 0.
        beta: EMA rate beta > 0 of the target.
        eta: weight decay eta >= 0.

    Returns:
        ``(dW, dWp, dWa)``, shaped like ``(W, Wp, Wa)``, in the inputs' array type.

    Example:
        >>> I = np.eye(2)
        >>> rates = lemma1_rhs(0.5 * I, I, 0 * I, I, 0.1 * I, alpha_p=1.0, beta=1.0, eta=0.0)
        >>> [float(d[0, 0]) for d in rates]  # dW, dWp, dWa
        [-0.55, -0.275, 0.5]
    """
    G = residual_G(W, Wp, Wa, X, Xp)
    dWp = alpha_p * G @ W.T - eta * Wp
    dW = Wp.T @ G - eta * W
    dWa = beta * (W - Wa)
    return dW, dWp, dWa


def theorem2_dW(W, Wp, X, Xp, *, eta, eye):
    """Theorem 2: online flow *without* stop-gradient and with Wa = W,

        dW/dt = -(Wp^T Wp + I) W X' - Wt^T Wt W X - eta W,   Wt := Wp - I,

    i.e. d vec(W)/dt = -H vec(W) with H PSD (see :func:`theorem2_H`), hence collapse.
    ``eye`` is the n2 x n2 identity in the caller's array type.

    Args:
        W, Wp: online weights (n2, n1) and predictor (n2, n2).
        X, Xp: the data correlation X and augmentation covariance X', (n1, n1) each.
        eta: weight decay eta >= 0.
        eye: the n2 x n2 identity (numpy or sympy, matching the other inputs).

    Returns:
        dW/dt, shape (n2, n1), in the inputs' array type.

    Example:
        >>> I = np.eye(2)
        >>> theorem2_dW(0.5 * I, I, I, 0.1 * I, eta=0.0, eye=I).tolist()
        [[-0.1, 0.0], [0.0, -0.1]]
    """
    Wt = Wp - eye
    return -(Wp.T @ Wp + eye) @ W @ Xp - Wt.T @ Wt @ W @ X - eta * W


def theorem2_H(Wp, X, Xp, eta):
    """H = X' (x) (Wp^T Wp + I) + X (x) Wt^T Wt + eta I (Theorem 2), acting on the column-major
    vec(W).

    Args:
        Wp: predictor (n2, n2), numpy.
        X, Xp: the data correlation X and augmentation covariance X', (n1, n1) numpy each.
        eta: weight decay eta >= 0.

    Returns:
        H, a numpy array (n1 n2, n1 n2); PSD when X and X' are.

    Example:
        >>> I = np.eye(2)
        >>> np.linalg.eigvalsh(theorem2_H(I, I, 0.1 * I, 0.0)).round(3).tolist()
        [0.2, 0.2, 0.2, 0.2]
    """
    n2 = Wp.shape[0]
    eye = np.eye(n2)
    Wt = Wp - eye
    H = np.kron(Xp, Wp.T @ Wp + eye) + np.kron(X, Wt.T @ Wt)
    return H + eta * np.eye(H.shape[0])


# --------------------------------------------------------------------------------------------
# Configuration


def flow_rule(cfg: MatrixFlowConfig):
    """The update rule of ``cfg.predictor``; ConfigError if it has no continuous-time flow.

    Args:
        cfg: the configuration whose ``predictor`` names the rule.

    Returns:
        The rule object of :data:`~dynamics.predictors.update_rules.UPDATE_RULES`.

    Raises:
        ConfigError: if the rule has no continuous-time flow (e.g. "spectral", SGD only).

    Example:
        >>> type(flow_rule(MatrixFlowConfig())).__name__
        'LearnedRule'
    """
    allowed = flow_rules()  # live: rules registered at run time count
    if cfg.predictor not in allowed:
        raise ConfigError("predictor", f"must be one of {', '.join(allowed)} for the "
                                       f"continuous-time flow, got {cfg.predictor!r} (the "
                                       "SGD simulation takes it)")
    return UPDATE_RULES[cfg.predictor]


def flow_rhs(W, Wp, Wa, X, Xp, cfg: MatrixFlowConfig, eye=None):
    """(dW, dWp, dWa) for the variant selected by ``cfg``.

    SimSiam: Wa is tied to W, so dWa = dW. Identity predictor: Wp = I and dWp = 0.
    Symmetric predictor (A3): dWp is replaced by its symmetric part. ``eye`` is the n2 x n2
    identity in the caller's array type (default numpy); ConfigError for a rule without a flow.
    """
    if eye is None:
        eye = np.eye(Wp.shape[0])
    rule = flow_rule(cfg)
    Wp = rule.used(Wp, eye)
    if cfg.target == "simsiam":
        Wa = W
    dW, dWp, dWa = lemma1_rhs(W, Wp, Wa, X, Xp, alpha_p=cfg.alpha_p, beta=cfg.beta, eta=cfg.eta)
    if not cfg.stop_grad:
        dW = theorem2_dW(W, Wp, X, Xp, eta=cfg.eta, eye=eye)
    dWp = rule.flow(dWp)
    if cfg.target == "simsiam":
        dWa = dW
    return dW, dWp, dWa


# --------------------------------------------------------------------------------------------
# Trajectories


def validate_matrix_inputs(W0, Wp0, Wa0, X, Xp) -> tuple[np.ndarray, ...]:
    """Shapes and PSD checks; returns float64 arrays. One-line ConfigError on bad input.

    Returns ``(W0, Wp0, Wa0, X, Xp)`` with Wp0 = I and Wa0 = 0 where None was passed."""
    W0 = np.asarray(W0, dtype=float)
    if W0.ndim != 2:
        raise ConfigError("W0", f"must be a 2-D (n2 x n1) matrix, got shape {W0.shape}")
    n2, n1 = W0.shape
    check_shape("W0", W0, (n2, n1))
    X = check_psd("X", X, n1)
    Xp = check_psd("Xprime", Xp, n1)
    Wp0 = check_shape("Wp0", np.eye(n2) if Wp0 is None else Wp0, (n2, n2))
    Wa0 = check_shape("Wa0", np.zeros((n2, n1)) if Wa0 is None else Wa0, (n2, n1))
    return W0, np.asarray(Wp0, float), np.asarray(Wa0, float), X, Xp


def _initial_state(W0, Wp0, Wa0, cfg, rule=None):
    """The start of a simulation: the rule's initial Wp; Wa = W for SimSiam."""
    Wp0 = (rule or UPDATE_RULES[cfg.predictor]).start(Wp0)
    if cfg.target == "simsiam":
        Wa0 = W0.copy()
    return W0, Wp0, Wa0


@with_thread_policy
def simulate_matrix(
    W0,
    X,
    Xp,
    config: MatrixFlowConfig | None = None,
    *,
    Wp0=None,
    Wa0=None,
    t_end: float = 10.0,
    n_save: int = 201,
    method: str = "DOP853",
    rtol: float = 1e-10,
    atol: float = 1e-12,
    blowup: float = 1e8,
) -> MatrixTrajectory:
    """Integrate the matrix flow selected by ``config`` with ``scipy.integrate.solve_ivp``.

    Args:
        W0: initial online weights W(0), shape (n2, n1).
        X: data correlation X, symmetric PSD (n1, n1).
        Xp: augmentation covariance X', symmetric PSD (n1, n1).
        config: variant and hyper-parameters (default ``MatrixFlowConfig()``).
        Wp0: initial predictor (n2, n2); defaults to I (the config's rule may replace it).
        Wa0: initial target; defaults to 0 (the Wa(0) = 0 of Eq. 15; ignored for SimSiam, Wa = W).
        t_end: final time > 0.
        n_save: number of stored, evenly spaced times, an integer >= 2.
        method: any solve_ivp method of :data:`METHODS` ("Radau"/"BDF"/"LSODA" for stiff ones).
        rtol: relative tolerance of solve_ivp.
        atol: absolute tolerance of solve_ivp.
        blowup: integration stops early, keeping the computed part, if any entry exceeds it in
            magnitude or becomes non-finite; ``status`` then says so.

    Returns:
        :class:`MatrixTrajectory`; ``meta`` holds method, rtol, atol and nfev.

    Example:
        >>> tr = simulate_matrix(0.5 * np.eye(2), np.eye(2), 0.1 * np.eye(2), t_end=1.0, n_save=3)
        >>> tr.W.shape, tr.ok
        ((3, 2, 2), True)
    """
    cfg = config or MatrixFlowConfig()
    check_choice("method", method, METHODS)
    check_range("t_end", t_end, low=0, low_open=True)
    if not isinstance(n_save, int) or n_save < 2:
        raise ConfigError("n_save", f"must be an integer >= 2, got {n_save!r}")
    W0, Wp0, Wa0, X, Xp = validate_matrix_inputs(W0, Wp0, Wa0, X, Xp)
    W0, Wp0, Wa0 = _initial_state(W0, Wp0, Wa0, cfg, flow_rule(cfg))
    n2, n1 = W0.shape
    eye = np.eye(n2)
    sizes = (n2 * n1, n2 * n2, n2 * n1)

    def unpack(y):
        a, b = sizes[0], sizes[0] + sizes[1]
        return y[:a].reshape(n2, n1), y[a:b].reshape(n2, n2), y[b:].reshape(n2, n1)

    def rhs(_t, y):
        W, Wp, Wa = unpack(y)
        dW, dWp, dWa = flow_rhs(W, Wp, Wa, X, Xp, cfg, eye)
        return np.concatenate([dW.ravel(), np.asarray(dWp).ravel(), dWa.ravel()])

    y0 = np.concatenate([W0.ravel(), Wp0.ravel(), Wa0.ravel()])
    times, ys, status, nfev = solve_ivp_guarded(rhs, y0, t_end, n_save, method=method,
                                                rtol=rtol, atol=atol, blowup=blowup)
    T = ys.shape[0]
    W = ys[:, : sizes[0]].reshape(T, n2, n1)
    Wp = ys[:, sizes[0] : sizes[0] + sizes[1]].reshape(T, n2, n2)
    Wa = ys[:, sizes[0] + sizes[1] :].reshape(T, n2, n1)
    return MatrixTrajectory(times, W, Wp, Wa, X, Xp, cfg, status,
                            meta={"method": method, "rtol": rtol, "atol": atol,
                                  "nfev": nfev})


def lemma2_bound(traj: MatrixTrajectory) -> tuple[np.ndarray, np.ndarray]:
    """Lemma 2 bounds on ||W(t)||_F for the collapsing flows of Theorem 2 / the no-predictor
    remark (d vec(W)/dt = -H(t) vec(W)).

    Returns ``(gronwall, lemma2)``: ``exp(-int_0^t lambda_min(H)) ||W(0)||`` (trapezoid rule over
    the stored times) and the paper's ``exp(-lambda_0 t) ||W(0)||`` with lambda_0 the minimum of
    lambda_min(H) over the stored times. With stop-gradient and Wp = I, Wa = W,
    H = X' (x) I + eta I.

    Args:
        traj: a run without stop-gradient, or with predictor="identity" and target="simsiam".

    Returns:
        ``(gronwall, lemma2)``, two numpy arrays of shape (T,).

    Raises:
        ConfigError: for a configuration the lemma does not cover.

    Example:
        >>> cfg = MatrixFlowConfig(predictor="identity", target="simsiam")
        >>> I = np.eye(2)
        >>> tr = simulate_matrix(0.5 * I, I, 0.1 * I, cfg, t_end=1.0, n_save=3)
        >>> gronwall, lemma2 = lemma2_bound(tr)
        >>> lemma2.round(4).tolist(), tr.W_norm().round(4).tolist()  # tight: H is constant
        ([0.7071, 0.6726, 0.6398], [0.7071, 0.6726, 0.6398])
    """
    cfg = traj.config
    lam = np.empty(traj.t.shape)
    for i in range(traj.t.size):
        Wp = np.eye(traj.Wp.shape[-1]) if cfg.predictor == "identity" else traj.Wp[i]
        if cfg.stop_grad:
            if cfg.target != "simsiam" or cfg.predictor != "identity":
                raise ConfigError("config", "Lemma 2 bound applies to no stop-gradient or "
                                            "(predictor=identity, target=simsiam)")
            H = np.kron(traj.Xp, np.eye(Wp.shape[0])) + cfg.eta * np.eye(traj.W[0].size)
        else:
            H = theorem2_H(Wp, traj.X, traj.Xp, cfg.eta)
        lam[i] = np.linalg.eigvalsh((H + H.T) / 2)[0]
    from scipy.integrate import cumulative_trapezoid

    w0 = traj.W_norm()[0]
    gronwall = np.exp(-cumulative_trapezoid(lam, traj.t, initial=0.0)) * w0
    lemma2 = np.exp(-lam.min() * traj.t) * w0
    return gronwall, lemma2

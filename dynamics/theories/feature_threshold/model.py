"""Weight decay as a feature threshold (Wang, Chen, Du & Tian 2021, DirectSet(alpha) /
DirectCopy; the same family as Ziyin et al., ICLR 2023), in the decoupled mode dynamics of
Tian, Chen & Ganguli (Eqs. 11-12) with a per-mode augmentation variance sigma2_j.

Augmentation that is anisotropic in the eigenbasis of the data (X = I, X' = diag(sigma2_j))
keeps the modes decoupled, each with its own sigma2_j in Eqs. 11-12. Mode j has non-zero fixed
points iff the discriminant of Delta_j(p) = p (tau - (1 + sigma2_j) p) - eta vanishes or is
positive, tau^2 >= 4 eta (1 + sigma2_j)
(:func:`~dynamics.theories.directpred.closed_form.collapse_threshold` read the other way round):
weight decay eta keeps exactly the features whose augmentation variance is below

    sigma2_c(eta) = tau^2 / (4 eta) - 1                       (:func:`survival_bound`)

and collapses the others, whatever their start; a mode below the bound survives when it starts
in the basin of p*_+ (checked by
:func:`~dynamics.theories.directpred.phase.mode_collapse.predict_collapse`). Raising eta lowers the
bound, so the number of surviving features falls in steps, one at each eta_c,j = tau^2 / (4 (1 +
sigma2_j)). :func:`survivors_by_modes` counts survivors in the mode ODE, :func:`survivors_by_sgd` in
minibatch SGD of the linear network on data with per-feature augmentation noise
(:class:`~dynamics.numerics.data_models.AdditiveGaussian`), both against
:func:`predicted_survivors`; the sympy check is :func:`threshold_identities`.
"""

from __future__ import annotations

import numpy as np

from dynamics.errors import ConfigError, check_range
from dynamics.theories.directpred.closed_form import collapse_threshold
from dynamics.theories.directpred.modes import simulate_modes
from dynamics.threads import with_thread_policy

FLOOR = 1e-3
"""A mode whose s_j (mode ODE) or eigenvalue of W W^T (SGD) ends below this has collapsed."""


def survival_bound(eta, tau=1.0):
    """sigma2_c = tau^2/(4 eta) - 1: the largest augmentation variance a mode can have and keep
    non-zero fixed points (+inf at eta = 0; broadcasts; sympy-safe).

    Args:
        eta: weight decay: a number or numpy array (also +inf where eta < 0), or a sympy
            expression.
        tau: the (fixed) tau of the mode dynamics.

    Returns:
        sigma2_c: a float numpy array of the shape of ``eta`` (0-d for a number), or a sympy
        expression for sympy input.

    Example:
        >>> survival_bound(np.array([0.0, 0.125, 0.25])).tolist()
        [inf, 1.0, 0.0]
    """
    if isinstance(eta, np.ndarray) or np.isscalar(eta):
        eta = np.asarray(eta, dtype=float)
        with np.errstate(divide="ignore"):
            return np.where(eta > 0, tau**2 / (4 * np.where(eta > 0, eta, 1.0)) - 1.0, np.inf)
    return tau**2 / (4 * eta) - 1


def _check(sigma2, etas) -> tuple[np.ndarray, np.ndarray]:
    sigma2 = np.asarray(sigma2, dtype=float)
    etas = np.atleast_1d(np.asarray(etas, dtype=float))
    if sigma2.ndim != 1 or sigma2.size < 1 or (sigma2 < 0).any() or not np.isfinite(sigma2).all():
        raise ConfigError("sigma2", "must be a 1-D array of finite non-negative variances")
    if (etas < 0).any() or not np.isfinite(etas).all():
        raise ConfigError("eta", "must be finite and >= 0")
    return sigma2, etas


def predicted_survivors(sigma2, etas, tau: float = 1.0) -> np.ndarray:
    """Number of modes with sigma2_j below :func:`survival_bound` for each eta (the modes that
    can survive; those starting in the basin of p*_+ do).

    Args:
        sigma2: per-mode augmentation variances, 1-D, finite, >= 0.
        etas: weight decays, a number or 1-D array, finite, >= 0.
        tau: the (fixed) tau of the mode dynamics.

    Returns:
        An integer array (len(etas),): the number of modes with sigma2_j < sigma2_c(eta).

    Example:
        >>> predicted_survivors([0.0, 0.5, 1.0], [0.1, 0.2, 0.3]).tolist()
        [3, 1, 0]
    """
    sigma2, etas = _check(sigma2, etas)
    return (sigma2[None, :] < survival_bound(etas, tau)[:, None]).sum(1)


@with_thread_policy
def survivors_by_modes(sigma2, etas, *, p0: float = 0.9, s0: float = 0.81, tau: float = 1.0,
                       t_end: float = 600.0) -> np.ndarray:
    """Survivors of the mode ODE (Eqs. 11-12, fixed tau) for every eta at once: all modes start
    at (p0, s0); survivors have s_j(t_end) >= :data:`FLOOR`.

    Args:
        sigma2: per-mode augmentation variances, 1-D, finite, >= 0.
        etas: weight decays, a number or 1-D array, finite, >= 0.
        p0: the start of every mode's predictor eigenvalue p_j.
        s0: the start of every mode's s_j.
        tau: the fixed tau (``tau0`` of the mode ODE).
        t_end: integration time.

    Returns:
        An integer array (len(etas),): the survivors per eta.

    Example:
        >>> survivors_by_modes([0.0, 0.5, 1.0], [0.1, 0.2, 0.3]).tolist()
        [3, 1, 0]
    """
    sigma2, etas = _check(sigma2, etas)
    tr = simulate_modes(np.full(sigma2.size, p0), np.full(sigma2.size, s0), eta=etas[:, None],
                        sigma2=sigma2[None, :], tau0=tau, t_end=t_end, n_save=2)
    return (np.asarray(tr.s)[-1] >= FLOOR).sum(-1)


@with_thread_policy
def survivors_by_sgd(sigma2, etas, *, w0: float = 0.9, lr: float = 0.02, batch_size: int = 512,
                     t_end: float = 300.0, seed: int = 0) -> np.ndarray:
    """Survivors of minibatch SGD of the linear network (SimSiam target, symmetric predictor,
    weight decay eta) on x ~ N(0, I), views x + N(0, diag(sigma2)), from W(0) = Wp(0) = w0 I:
    the number of eigenvalues of W W^T at or above :data:`FLOOR` at t_end.

    Args:
        sigma2: per-feature augmentation variances (d,), finite, >= 0.
        etas: weight decays, a number or 1-D array, finite, >= 0; one SGD run each.
        w0: the scale of the start W(0) = Wp(0) = w0 I.
        lr: learning rate.
        batch_size: samples per SGD step.
        t_end: training time (in units of lr x steps).
        seed: seed of the samples (the same for every eta).

    Returns:
        An integer array (len(etas),): the survivors per eta.

    Example:
        >>> survivors_by_sgd([0.0, 0.5, 1.0], [0.1, 0.2, 0.3], lr=0.1, batch_size=64,
        ...                  t_end=60.0).tolist()
        [3, 1, 0]
    """
    from dynamics.numerics.data_models import AdditiveGaussian
    from dynamics.theories.directpred.matrix_flow import MatrixFlowConfig
    from dynamics.theories.directpred.sgd import simulate_sgd

    sigma2, etas = _check(sigma2, etas)
    d = sigma2.size
    data = AdditiveGaussian(np.eye(d), np.diag(sigma2))
    out = []
    for eta in etas:
        cfg = MatrixFlowConfig(eta=float(eta), predictor="symmetric", target="simsiam")
        tr = simulate_sgd(w0 * np.eye(d), data, cfg, Wp0=w0 * np.eye(d), lr=lr,
                          batch_size=batch_size, t_end=t_end, n_save=2, seed=seed)
        W = tr.W[-1]
        out.append(int((np.linalg.eigvalsh(W @ W.T) >= FLOOR).sum()))
    return np.array(out)


def threshold_etas(sigma2, tau: float = 1.0) -> np.ndarray:
    """eta_c,j = tau^2/(4(1 + sigma2_j)): the weight decay at which mode j stops surviving.

    Args:
        sigma2: per-mode augmentation variances, 1-D, finite, >= 0.
        tau: the fixed tau, > 0.

    Returns:
        A float array of the shape of ``sigma2``.

    Example:
        >>> threshold_etas([0.0, 1.0, 3.0]).tolist()
        [0.25, 0.125, 0.0625]
    """
    sigma2, _ = _check(sigma2, [0.0])
    check_range("tau", tau, low=0, low_open=True)
    return collapse_threshold(tau, sigma2)


def threshold_identities() -> dict:
    """Residuals (all must be 0) of the derivation in sympy: the discriminant of Delta(p) = 0 in
    p is tau^2 - 4 eta (1 + sigma2); it vanishes at sigma2 = :func:`survival_bound`; and
    :func:`~dynamics.theories.directpred.closed_form.collapse_threshold` at that sigma2 is eta
    again.

    Returns:
        A dict ``{"discriminant", "bound", "inverse"}`` of sympy expressions, each 0 when the
        step holds (recomputed on every call).

    Example:
        >>> threshold_identities()
        {'discriminant': 0, 'bound': 0, 'inverse': 0}
    """
    import sympy as sp

    from dynamics.theories.directpred.modes import delta

    p = sp.Symbol("p", real=True)
    tau, eta, sigma2 = sp.symbols("tau eta sigma2", positive=True)
    disc = sp.discriminant(sp.expand(delta(p, tau, sigma2, eta)), p)
    bound = survival_bound(eta, tau)
    return {"discriminant": sp.simplify(disc - (tau**2 - 4 * eta * (1 + sigma2))),
            "bound": sp.simplify(disc.subs(sigma2, bound)),
            "inverse": sp.simplify(collapse_threshold(tau, bound) - eta)}


__all__ = ["FLOOR", "predicted_survivors", "survival_bound", "survivors_by_modes",
           "survivors_by_sgd", "threshold_etas", "threshold_identities"]

"""Assumption A1 (Wa = tau W) in full-matrix BYOL dynamics (Tian, Chen & Ganguli 2021, Appendix B,
Fig. 7): the settings and the runs shared by the figure
(:mod:`dynamics.theories.directpred.figures.fig07_a1_validity`) and the prediction
``directpred.a1_validity``.

Lemma 1 (Eqs. 2-4: learned, non-symmetric predictor, EMA target dWa/dt = beta (W - Wa),
stop-gradient) is integrated with :func:`~dynamics.theories.directpred.matrix_flow.simulate_matrix`
and the normalised correlation c(t) = <Wa, W>_F / (||Wa||_F ||W||_F) recorded
(:meth:`MatrixTrajectory.target_correlation`); A1 holds exactly when c = 1. Paper settings: X = I,
X' = sigma^2 I with sigma = 0.03, eta in {0, 0.01, 0.1}, several EMA momenta gamma_a, 10 random
initialisations. Our choices: n1 = n2 = 10; alpha_p = 1; SGD rate alpha = 0.01, so
beta = (1 - gamma_a)/alpha with gamma_a in {0.9, 0.99, 0.996}; W(0), Wp(0), Wa(0) with i.i.d.
N(0, 0.3^2/n) entries; solve_ivp DOP853 with rtol 1e-7.

>>> t, corr, live = correlation_runs(0.0, 0.4, range(2), 10.0, random_target=True)  # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np

from dynamics.theories.directpred.matrix_flow import (
    MatrixFlowConfig,
    MatrixTrajectory,
    simulate_matrix,
)
from dynamics.threads import with_thread_policy

N = 10


SIGMA = 0.03


ETAS = (0.0, 0.01, 0.1)


GAMMAS = (0.9, 0.99, 0.996)


ALPHA_SGD = 0.01


ALPHA_P = 1.0


INIT_SCALE = 0.3


LEVEL = 0.9  # the correlation level the paper reports


T_FINE, COARSE = 2.0, 5  # saved every SGD step up to t = T_FINE, then every COARSE steps


@with_thread_policy
def simulate(W0, Wp0, Wa0, cfg: MatrixFlowConfig, t_end: float) -> MatrixTrajectory:
    """Lemma 1 from (W0, Wp0, Wa0): saved every SGD step up to ``T_FINE``, then, continuing
    from that state, every ``COARSE`` steps up to ``t_end`` (the learned predictor starts from
    the given Wp0, so the continuation is the same trajectory).

    Args:
        W0: initial online weights (N, N).
        Wp0: initial predictor (N, N).
        Wa0: initial target (N, N).
        cfg: the flow's :class:`~dynamics.theories.directpred.matrix_flow.MatrixFlowConfig`.
        t_end: final time, > ``T_FINE``.

    Returns:
        The joined :class:`~dynamics.theories.directpred.matrix_flow.MatrixTrajectory` with
        X = I, X' = SIGMA^2 I; RuntimeError if a segment does not complete.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> W0, Wp0 = (INIT_SCALE * rng.standard_normal((N, N)) / np.sqrt(N) for _ in range(2))
        >>> tr = simulate(W0, Wp0, np.zeros((N, N)), MatrixFlowConfig(beta=1.0), 2.1)
        >>> tr.t.shape, round(float(tr.target_correlation()[-1]), 3)
        ((203,), 0.994)
    """
    X, Xp = np.eye(N), SIGMA**2 * np.eye(N)
    parts = []
    for t0, t1, every in ((0.0, T_FINE, 1), (T_FINE, t_end, COARSE)):
        n_save = int(round((t1 - t0) / (every * ALPHA_SGD))) + 1
        tr = simulate_matrix(W0, X, Xp, cfg, Wp0=Wp0, Wa0=Wa0, t_end=t1 - t0, n_save=n_save,
                             rtol=1e-7, atol=1e-10)
        if not tr.ok:
            raise RuntimeError(f"fig7 run ({cfg.to_dict()}): {tr.status}")
        parts.append((tr.t + t0, tr.W, tr.Wp, tr.Wa) if not parts else
                     (tr.t[1:] + t0, tr.W[1:], tr.Wp[1:], tr.Wa[1:]))
        W0, Wp0, Wa0 = tr.W[-1], tr.Wp[-1], tr.Wa[-1]
    t, W, Wp, Wa = (np.concatenate(a) for a in zip(*parts, strict=True))
    return MatrixTrajectory(t, W, Wp, Wa, X, Xp, cfg)


def correlation_runs(eta: float, beta: float, seeds: range, t_end: float, random_target: bool):
    """Times, correlation c(t) (seeds x times) and the number of live modes of F at the end
    (eigenvalues above 1e-6) for one (eta, beta).

    Args:
        eta: weight decay eta >= 0.
        beta: EMA rate beta > 0.
        seeds: the random initialisations (an iterable of ints; ``range(10)`` in the paper).
        t_end: final time, > ``T_FINE``.
        random_target: Wa(0) random like W(0) (True) or 0 (False).

    Returns:
        ``(t, corr, live)``: times (T,), c(t) of shape (len(seeds), T) and the mean number
        of live modes (float).

    Example:
        >>> t, corr, live = correlation_runs(0.0, 1.0, range(1), 2.1, random_target=False)
        >>> corr.shape, live
        ((1, 203), 10.0)
    """
    cfg = MatrixFlowConfig(alpha_p=ALPHA_P, beta=beta, eta=eta, predictor="learned",
                           target="ema")
    corr, live = [], []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        W0, Wp0, Wa0 = (INIT_SCALE * rng.standard_normal((N, N)) / np.sqrt(N)
                        for _ in range(3))
        tr = simulate(W0, Wp0, Wa0 if random_target else np.zeros((N, N)), cfg, t_end)
        corr.append(tr.target_correlation())
        live.append(float(np.sum(np.linalg.eigvalsh(tr.F[-1]) > 1e-6)))
    return tr.t, np.array(corr), float(np.mean(live))


def first_reach(t: np.ndarray, c: np.ndarray, level: float) -> int:
    """Index of the first time c(t) >= level (len(t) if never).

    Args:
        t: times, shape (T,).
        c: correlation c(t), shape (T,).
        level: threshold, e.g. :data:`LEVEL`.

    Returns:
        int index into ``t``.

    Example:
        >>> first_reach(np.array([0.0, 1.0, 2.0]), np.array([0.5, 0.95, 0.99]), LEVEL)
        1
    """
    hit = np.flatnonzero(c >= level)
    return int(hit[0]) if hit.size else t.size

"""DirectPred on the linear BYOL model: the theory link of the predictor package.

The discrete minibatch SGD of :func:`dynamics.theories.directpred.sgd.simulate_sgd` (the same loop:
same data models, same sampling stream for a given seed, same update of W and of the EMA target)
with the ``spectral`` update rule (:class:`~dynamics.predictors.update_rules.SpectralRule`): the
predictor is not trained but *set* every ``freq`` steps from the running estimate of F = E[f f^T] of
the online outputs f = W x1, through the very
:class:`~dynamics.predictors.estimators.SpectralPredictorState` a trainer uses, in the official
order (accumulate F from this batch -> forward/backward with the current Wp -> SGD step on W ->
``maybe_update`` rewrites Wp -> EMA target update).

Scale matters here. The linear model's loss is the Euclidean J = 1/2 E||Wp W x1 - Wa x2||^2,
so, unlike the cosine loss of the real runs, the overall scale of Wp enters the dynamics. On an
aligned mode (X = I, X' = sigma2 I, tau = Wa/W) Eq. 12 reads
ds_j/dt = 2 p_j s_j [tau - (1+sigma2) p_j] - 2 eta s_j, so a mode survives only if
p_j < tau/(1+sigma2). The paper form p_j = sqrt(s_j) + eps s_max (rule ``"directpred_paper"``,
the default here) puts the predictor on Theorem 1's invariant parabola Wp^2 = alpha_p F (up to
F's augmentation factor) and has the non-collapsed fixed point sqrt((1+sigma2) s_j) = p*_+ of
Eq. 16. The scale-free code form (rule ``"directpred"``) pins the top eigenvalue at 1 + eps >
tau/(1+sigma2) whatever the scale of F, so the top mode always shrinks in this model: use it
with a normalised loss, not here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from dynamics.predictors.update_rules import SpectralRule
from dynamics.theories.directpred.matrix_flow import MatrixFlowConfig, MatrixTrajectory
from dynamics.theories.directpred.sgd import simulate_sgd
from dynamics.threads import with_thread_policy


@with_thread_policy
def simulate_directpred_linear(
    W0,
    data,
    config: MatrixFlowConfig | None = None,
    *,
    rule: str = "directpred_paper",
    rule_kwargs: Mapping[str, Any] | None = None,
    rho: float = 0.3,
    freq: int = 1,
    centered: bool = False,
    train_predictor: bool = False,
    Wp0=None,
    Wa0=None,
    lr: float = 0.01,
    batch_size: int = 256,
    t_end: float = 10.0,
    n_save: int = 101,
    seed: int = 0,
    blowup: float = 1e8,
) -> MatrixTrajectory:
    """Minibatch SGD of the linear model with a DirectPred-family predictor set from the
    running F of f = W x1 (``rule``/``rule_kwargs``/``rho``/``freq``/``centered`` as in
    :class:`~dynamics.predictors.estimators.SpectralPredictorState`; the ridge rule pairs f with
    f_a = Wa x2).

    ``config`` supplies alpha_p, beta, eta, target and stop_grad exactly as for
    :func:`~dynamics.theories.directpred.sgd.simulate_sgd`; its ``predictor`` is set to
    ``"spectral"``. Between rewrites (``freq`` > 1) Wp stays fixed unless ``train_predictor=True``,
    which applies the SGD step of sgd.py to Wp (lr * alpha_p, weight decay eta) as the official code
    does. ``Wp0`` (default I) is used by the first step only; ``Wa0`` defaults to 0.

    Returns a :class:`~dynamics.theories.directpred.matrix_flow.MatrixTrajectory` (Theorem 1 does
    not apply, so its residual is NaN). ``meta["F_hat"]`` (T, n2, n2) holds the running estimate at
    each saved time (NaN before the first batch); with ``freq=1`` the saved Wp was built from
    exactly that estimate.

    Args:
        W0: initial online weights W(0), shape (n2, n1).
        data: data model with ``X``, ``Xprime`` and ``sample(B, rng)`` (as for ``simulate_sgd``).
        config: alpha_p, beta, eta, target, stop_grad (default ``MatrixFlowConfig()``).
        rule: name of a DirectPred-family rule of the predictor package (see above).
        rule_kwargs: extra keywords of that rule, or None.
        rho: running-average weight rho of F (Eq. 19).
        freq: rewrite Wp every ``freq`` steps, an integer >= 1.
        centered: subtract batch means when estimating F.
        train_predictor: also take SGD steps on Wp between rewrites.
        Wp0: initial predictor (n2, n2), default I.
        Wa0: initial target (n2, n1), default 0.
        lr: learning rate > 0 (one step = continuous time lr).
        batch_size: minibatch size, a positive integer.
        t_end: continuous end time > 0.
        n_save: number of stored states, an integer >= 2.
        seed: seed of the minibatch stream.
        blowup: stop when an entry of W or Wp exceeds it in magnitude or is non-finite.

    Returns:
        :class:`~dynamics.theories.directpred.matrix_flow.MatrixTrajectory` with
        ``config.predictor == "spectral"`` and ``meta["F_hat"]`` (see above).

    Example:
        >>> import numpy as np
        >>> from dynamics.numerics.data_models import AdditiveGaussian
        >>> data = AdditiveGaussian.isotropic(2, 0.1)
        >>> tr = simulate_directpred_linear(0.5 * np.eye(2), data, lr=0.01, batch_size=16,
        ...                                 t_end=0.1, n_save=3)
        >>> tr.meta["F_hat"].shape, tr.status
        ((3, 2, 2), 'completed')
    """
    cfg = replace(config or MatrixFlowConfig(), predictor="spectral")
    n2 = len(W0)
    spectral = SpectralRule(n2, rule, rho=rho, freq=freq, centered=centered,
                            rule_kwargs=rule_kwargs, train_predictor=train_predictor)
    return simulate_sgd(W0, data, cfg, Wp0=Wp0, Wa0=Wa0, lr=lr, batch_size=batch_size,
                        t_end=t_end, n_save=n_save, seed=seed, blowup=blowup, rule=spectral)

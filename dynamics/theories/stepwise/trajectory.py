"""The recorded results of stepwise learning in linear Barlow Twins (Simon, Knutins, Ziyin,
Geisz, Fetterman & Albrecht, ICML 2023, "On the stepwise nature of self-supervised learning").

:class:`StepwiseTrajectory` is what :func:`~dynamics.theories.stepwise.model.simulate_flow` and
:func:`~dynamics.theories.stepwise.model.sgd_train` return: the weights W(t) and the
eigenvalues lambda_j(t) of W Gamma W^T over time. :func:`crossing_times` reads the step times
t_j off such a record (the first time lambda_j reaches a level, 1/2 for the paper's steps) and
:func:`staircase` sums up how a recorded spectrum rose (a :class:`Staircase`: the onsets of the
steps and whether they came one at a time). :mod:`~dynamics.theories.stepwise.model` imports
this module and re-exports all four names.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class StepwiseTrajectory:
    """Output of :func:`simulate_flow` / :func:`sgd_train`: times ``t`` (T,), weights ``W``
    (T, N, d, m), eigenvalues ``eig`` of W Gamma W^T (T, N, d), descending, the loss ``loss``
    (T, N) and per-trajectory ``status`` (0 = ok).
    Example:
        >>> from dynamics.theories.stepwise.model import simulate_flow
        >>> tr = simulate_flow(0.01 * np.eye(2, 3), np.diag([1.0, 0.5, 0.1]), t_end=3.0)
        >>> tr.W.shape, tr.eig.shape, tr.eig[-1].round(2).tolist()
        ((401, 1, 2, 3), (401, 1, 2), [[1.0, 0.89]])
        >>> tr.crossing_times().round(2).tolist()
        [[1.15, 2.48]]"""

    t: np.ndarray
    W: np.ndarray
    eig: np.ndarray
    loss: np.ndarray
    status: np.ndarray

    def crossing_times(self, level: float = 0.5) -> np.ndarray:
        """(N, d): the first output time the j-th eigenvalue reaches ``level`` (linear
        interpolation between outputs; NaN if never).
        Args:
            level: the level the eigenvalues must reach (1/2: the paper's step times).
        Returns:
            A float array (N, d): :func:`crossing_times` of ``t`` and ``eig``."""
        return crossing_times(self.t, self.eig, level)


def crossing_times(t, eig, level: float = 0.5) -> np.ndarray:
    """First time each series ``eig[:, ...]`` reaches ``level`` (linear interpolation between
    the two outputs around it; NaN where it never does). ``eig`` has time first.
    Args:
        t: times (T,); eig: series (T, ...); level: the level to reach.
    Returns:
        A float array of shape ``eig.shape[1:]`` (``t[0]`` where already there at t[0])."""
    t, eig = np.asarray(t, dtype=float), np.asarray(eig, dtype=float)
    above = eig >= level
    k = np.argmax(above, axis=0)
    ok = above.any(axis=0)
    k0 = np.clip(k - 1, 0, None)
    e0 = np.take_along_axis(eig, k0[None], 0)[0]
    e1 = np.take_along_axis(eig, k[None], 0)[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(e1 > e0, (level - e0) / (e1 - e0), 0.0)
    out = t[k0] + np.clip(frac, 0.0, 1.0) * (t[k] - t[k0])
    return np.where(ok, np.where(k == 0, t[0], out), np.nan)


@dataclass
class Staircase:
    """How a recorded spectrum rose (:func:`staircase`): ``onsets[k-1]`` is the first time k
    eigenvalues are at or above ``level`` (NaN if never), ``next_at_onset[k-1]`` the (k+1)-th
    largest eigenvalue at that time, ``stepwise`` whether the first ``n_steps`` onsets come one
    at a time: strictly increasing, at least ``min_gap`` records apart, the next eigenvalue
    still below ``quiet`` at each onset.
    Attributes:
        onsets: onset times (d,); next_at_onset: the next eigenvalue at each onset (d,).
        n_steps: how many onsets were reached; stepwise: whether they came one at a time.
    Example:
        >>> sc = staircase([0.0, 1.0, 2.0, 3.0], [[0.0, 0.0], [0.9, 0.0], [1.0, 0.05], [1.0, 0.9]])
        >>> sc.onsets.tolist(), sc.n_steps, sc.stepwise
        ([1.0, 3.0], 2, True)"""

    onsets: np.ndarray
    next_at_onset: np.ndarray
    n_steps: int
    stepwise: bool


def staircase(t, eig, *, level: float = 0.5, quiet: float = 0.1, min_gap: int = 2
              ) -> Staircase:
    """The staircase of a spectrum recorded over time: ``eig`` (T, d), each row sorted or not
    (sorted descending here), ``t`` (T,). Used on the flow (:class:`StepwiseTrajectory`) and on
    the embedding spectrum of a training run alike.
    Args:
        t: record times (T,); eig: eigenvalues (T, d).
        level: an eigenvalue at or above it counts as learned.
        quiet: the next eigenvalue must be below it at each onset for ``stepwise``.
        min_gap: the least number of records between consecutive onsets for ``stepwise``.
    Returns:
        A :class:`Staircase`."""
    t = np.asarray(t, dtype=float)
    e = -np.sort(-np.asarray(eig, dtype=float), axis=1)
    count = (e >= level).sum(axis=1)
    d = e.shape[1]
    onsets = np.full(d, np.nan)
    nxt = np.full(d, np.nan)
    rows = np.full(d, -1)
    for k in range(1, d + 1):
        hit = np.nonzero(count >= k)[0]
        if hit.size:
            rows[k - 1] = hit[0]
            onsets[k - 1] = t[hit[0]]
            nxt[k - 1] = e[hit[0], k] if k < d else 0.0
    n = int(np.sum(rows >= 0))
    r = rows[:n]
    ok = n >= 1 and bool(np.all(np.diff(r) >= min_gap)) and bool(np.all(nxt[:n] < quiet))
    return Staircase(onsets, nxt, n, ok)


__all__ = ["Staircase", "StepwiseTrajectory", "crossing_times", "staircase"]

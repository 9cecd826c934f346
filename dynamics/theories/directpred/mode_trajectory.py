"""The typed result of the decoupled eigenmode simulation and the Eq. 14 invariant it conserves
(Tian, Chen & Ganguli, "Understanding self-supervised learning dynamics without contrastive
pairs", ICML 2021).

:class:`ModeTrajectory` is what :func:`~dynamics.theories.directpred.modes.simulate_modes`
returns: the modes (p_j, s_j, tau_j) of Eqs. 11-13 over time for a whole batch, with the
parameters of the run. Its invariant check uses Eq. 14 -- the constant c_j (:func:`invariant_c`)
and the curve s_j(t) = p_j(t)^2 / alpha_p + c_j e^{-2 eta t} (:func:`parabola_s`) -- so those two
equations live here too. :mod:`~dynamics.theories.directpred.modes` imports this module and
re-exports every public name of it, so ``dynamics.theories.directpred.modes.ModeTrajectory``,
``modes.invariant_c`` and ``modes.parabola_s`` keep working.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from dynamics.numerics.integrate import STATUS_NAMES, STATUS_OK
from dynamics.theories.directpred.mode_equations import invariant_c, parabola_s


@dataclass
class ModeTrajectory:
    """Solution of Eqs. 11-13 for a batch of modes.

    ``t`` has shape ``(T,)``; ``p``, ``s`` and ``tau`` have shape ``(T, *batch)`` where ``batch``
    is the broadcast shape of all inputs. Arrays are numpy unless the inputs were torch tensors.
    ``status`` (shape ``batch``) is 0 where the element reached ``t_end``; see
    :data:`dynamics.numerics.integrate.STATUS_NAMES`. Parameters are stored broadcast to ``batch``.

    Attributes:
        beta: EMA rates (``batch``), or None when tau was held fixed.
        n_steps: accepted integrator steps of each element (``batch``).
        meta: ``rtol``, ``atol``, ``n_iterations`` and ``path`` ("eager" or "fused") of the run.

    Example:
        >>> from dynamics.theories.directpred.modes import simulate_modes
        >>> tr = simulate_modes([0.5, -0.5], 0.25, eta=0.1, t_end=1.0, n_save=3)
        >>> tr.batch_shape, tr.ema, tr.final()["p"].round(4).tolist()
        ((2,), False, [0.5797, -0.2742])
    """

    t: Any
    p: Any
    s: Any
    tau: Any
    alpha_p: Any
    eta: Any
    sigma2: Any
    beta: Any | None
    status: Any
    n_steps: Any = None
    meta: dict = field(default_factory=dict)

    @property
    def ema(self) -> bool:
        """True when tau evolved by Eq. 13 (EMA target), False for fixed tau."""
        return self.beta is not None

    @property
    def batch_shape(self) -> tuple[int, ...]:
        """The broadcast shape of the inputs (``p.shape[1:]``)."""
        return tuple(self.p.shape[1:])

    def final(self) -> dict[str, Any]:
        """Last stored state (NaN where an element stopped early): ``{"p", "s", "tau"}``,
        each of shape ``batch``.

        Returns:
            ``{"p": p_j(t_end), "s": s_j(t_end), "tau": tau_j(t_end)}``, numpy or torch as stored.
        """
        return {"p": self.p[-1], "s": self.s[-1], "tau": self.tau[-1]}

    def last_valid(self) -> dict[str, Any]:
        """Last finite state of each element (what was computed before a blow-up): numpy
        ``{"t", "p", "s", "tau"}``, each of shape ``batch``.

        Returns:
            ``{"t", "p", "s", "tau"}`` numpy arrays; ``t`` is the time of that state (the first
            stored time for an element with no finite state).
        """
        p = _to_numpy(self.p)
        ok = np.isfinite(p)
        last = np.where(ok.any(0), ok.shape[0] - 1 - np.argmax(ok[::-1], axis=0), 0)
        pick = lambda a: np.take_along_axis(_to_numpy(a), last[None], 0)[0]  # noqa: E731
        return {"t": _to_numpy(self.t)[last], "p": pick(self.p), "s": pick(self.s),
                "tau": pick(self.tau)}

    def collapsed(self, s_tol: float = 1e-6) -> Any:
        """True where the mode's final s_j is below ``s_tol`` (the collapsed branch s = 0).
        Boolean array (a tensor for torch trajectories) of shape ``batch``.

        Args:
            s_tol: threshold on the final s_j.

        Returns:
            ``s[-1] < s_tol``, boolean of shape ``batch``.
        """
        return self.s[-1] < s_tol

    def invariant_c0(self) -> Any:
        """c_j = s_j(0) - p_j(0)^2 / alpha_p (Eq. 14 with the corrected sign).

        Returns:
            c_j of each element (:func:`invariant_c` of the first stored state), shape ``batch``.
        """
        return invariant_c(self.p[0], self.s[0], self.alpha_p)

    def invariant_residual(self) -> Any:
        """|s_j(t) - p_j(t)^2/alpha_p - c_j e^{-2 eta t}| relative to max(|s_j|, p_j^2/alpha_p).

        Zero up to integrator error by Eq. 14 (any tau(t), so also in the EMA case).

        Returns:
            The relative residual, shape ``(T, *batch)``, numpy or torch as stored.
        """
        t = self.t.reshape((-1,) + (1,) * len(self.batch_shape))
        pred = parabola_s(self.p, self.alpha_p, c=self.invariant_c0(), eta=self.eta, t=t)
        scale = _maximum(abs(self.s), self.p**2 / self.alpha_p)
        scale = _maximum(scale, 1e-300 + 0 * scale)
        return abs(self.s - pred) / scale

    def status_text(self) -> str:
        """How many elements ended with each status, e.g. ``"12 completed, 1 blow-up or NaN"``.

        Returns:
            One line, the counts by name of :data:`~dynamics.numerics.integrate.STATUS_NAMES`.
        """
        st = _to_numpy(self.status)
        counts = {STATUS_NAMES[int(k)]: int((st == k).sum()) for k in np.unique(st)}
        return ", ".join(f"{v} {k}" for k, v in counts.items())

    @property
    def ok(self) -> bool:
        """True when every element reached ``t_end``."""
        return bool(np.all(_to_numpy(self.status) == STATUS_OK))

    def to_numpy(self) -> ModeTrajectory:
        """A copy with every array converted to numpy.

        Returns:
            A new :class:`ModeTrajectory` of numpy arrays (``meta`` copied).
        """
        conv = {k: _to_numpy(getattr(self, k)) for k in
                ("t", "p", "s", "tau", "alpha_p", "eta", "sigma2", "status", "n_steps")}
        conv["beta"] = None if self.beta is None else _to_numpy(self.beta)
        return ModeTrajectory(**conv, meta=dict(self.meta))

    def to_dict(self) -> dict[str, Any]:
        """Plain arrays for saving (numpy): t, p, s, tau, alpha_p, eta, sigma2, status (and
        beta with EMA).

        Returns:
            A dict of numpy arrays keyed by those names.
        """
        tr = self.to_numpy()
        out = {k: getattr(tr, k) for k in ("t", "p", "s", "tau", "alpha_p", "eta", "sigma2",
                                            "status")}
        if tr.beta is not None:
            out["beta"] = tr.beta
        return out


def _to_numpy(x: Any) -> Any:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return None if x is None else np.asarray(x)


def _maximum(a, b):
    if isinstance(a, torch.Tensor):
        return torch.maximum(a, torch.as_tensor(b, dtype=a.dtype, device=a.device))
    return np.maximum(a, b)


__all__ = ["ModeTrajectory", "invariant_c", "parabola_s"]

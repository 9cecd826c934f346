"""Typed configs of the theory commands (``simulate modes``, ``simulate matrix``, ``simulate
phase``), loaded by :func:`dynamics.config.load_typed` with the toolkit's one grammar (YAML /
JSON file, ``key=value`` overrides, the familiar ``--flags``).

Field names are the paper's (``alpha_p``, ``beta``, ``eta``, ``sigma2``, ``tau``); each field's
help and default are written once here, and the command-line flags and their ``--help`` are
derived from them. ``validate()`` holds the checks of the settings themselves; the model
parameters (alpha_p, eta, sigma2, beta, t_end, n_save) are range-checked once, by the
simulation functions, and the commands add only their upper limits
(:data:`dynamics.resources.PARAM_LIMIT`, :data:`~dynamics.resources.T_END_LIMIT`). The
resolved config is saved beside every result (:func:`dynamics.config.write_config`).
"""

from __future__ import annotations

from dataclasses import dataclass

from dynamics.config import option
from dynamics.errors import ConfigError, check_range
from dynamics.predictors.update_rules import flow_rules
from dynamics.resources import PARAM_LIMIT
from dynamics.theories.directpred.parameters import PARAMETERS as P

_SOLVERS = ("RK45", "DOP853", "Radau", "BDF", "LSODA", "RK23")


def _check_tolerances(cfg) -> None:
    """rtol in (0, 0.1], atol in (0, 1] (looser ones let the solvers diverge), blowup > 0."""
    check_range("rtol", cfg.rtol, low=0, low_open=True, high=0.1)
    check_range("atol", cfg.atol, low=0, low_open=True, high=1)
    check_range("blowup", cfg.blowup, low=0, low_open=True)


@dataclass
class ModesRun:
    """``simulate modes``: the decoupled eigenmode ODEs (Eqs. 11-13).

    Attributes:
        The fields below, one per setting; each ``option(...)`` holds its default and its help
        text (meaning and allowed values), which is also the ``--help`` of its flag.

    Example:
        >>> cfg = ModesRun(p0=[0.5, -0.5], s0=[0.25], beta=0.5)
        >>> cfg.validate(), cfg.tau0_value()
        (None, 0.0)
    """

    p0: list[float] = option(help="initial predictor eigenvalue(s) p_j(0)",
                             factory=lambda: [0.5])
    s0: list[float] = option(help="initial F eigenvalue(s) s_j(0) >= 0", factory=lambda: [0.5])
    alpha_p: float = option(1.0, P["alpha_p"].help)
    eta: float = option(0.0, P["eta"].help)
    sigma2: float = option(0.0, P["sigma2"].help)
    beta: float | None = option(None, P["beta"].help + "; unset for a fixed tau (SimSiam: "
                                                        "tau = 1)")
    tau0: float | None = option(None, "fixed tau, or tau(0) with beta (unset: 1 without beta, "
                                      "0 = Wa(0) = 0 with beta)")
    t_end: float = option(100.0, P["t_end"].help)
    n_save: int = option(201, "number of stored time points >= 2")
    rtol: float = option(1e-8, "relative tolerance in (0, 0.1]")
    atol: float = option(1e-10, "absolute tolerance in (0, 1]")
    blowup: float = option(1e8, "stop (keeping what was computed) when |p| or sqrt(s) "
                                "exceeds this")
    s_tol: float = option(1e-6, "a mode counts as collapsed when its final s_j < s_tol")
    device: str = option("cpu", "cpu or cuda", choices=("cpu", "cuda"))
    out: str | None = option(None, "trajectory file: .json, .csv or .npz")

    def tau0_value(self) -> float:
        """tau0, or its default (1 without beta, 0 with beta).

        Returns:
            float: the fixed tau, or tau(0) of the EMA ratio.

        Example:
            >>> ModesRun().tau0_value(), ModesRun(beta=0.5).tau0_value()
            (1.0, 0.0)
        """
        if self.tau0 is not None:
            return self.tau0
        return 0.0 if self.beta is not None else 1.0

    def validate(self) -> None:
        """Sizes, tolerances, initial values within the blow-up bound, s_tol, n_save.

        Returns None; raises :class:`~dynamics.errors.ConfigError` (one line) on the first bad
        setting, e.g. ``s0`` with neither 1 value nor as many as ``p0``.
        """
        from dynamics.resources import check_parameter

        if len(self.p0) != len(self.s0) and 1 not in (len(self.p0), len(self.s0)):
            raise ConfigError("s0", f"needs 1 value or as many as p0 ({len(self.p0)}), got "
                                    f"{len(self.s0)}")
        _check_tolerances(self)
        check_range("p0", self.p0, low=-self.blowup, high=self.blowup)
        check_range("s0", self.s0, low=0, high=self.blowup * self.blowup)
        if self.tau0 is not None:
            check_parameter("tau0", self.tau0, low=-PARAM_LIMIT)
        check_range("s_tol", self.s_tol, low=0, low_open=True)


@dataclass
class MatrixRun:
    """``simulate matrix``: the matrix flow of Lemma 1 (Eqs. 2-4) / Theorem 2.

    Attributes:
        The fields below, one per setting; each ``option(...)`` holds its default and its help
        text (meaning and allowed values), which is also the ``--help`` of its flag.

    Example:
        >>> cfg = MatrixRun(n1=4, predictor="symmetric", target="simsiam")
        >>> cfg.validate(), cfg.n2, cfg.stop_grad
        (None, None, True)
    """

    n1: int = option(8, "input dimension (ignored with X)")
    n2: int | None = option(None, "output dimension (unset: n1)")
    X: str | None = option(None, "data correlation X (file .npy/.json/.csv); unset: identity")
    Xprime: str | None = option(None, "augmentation covariance X' (file); unset: sigma2 * I")
    sigma2: float = option(0.1, P["sigma2"].help + ": X' = sigma2 I when Xprime is not given")
    alpha_p: float = option(1.0, P["alpha_p"].help)
    beta: float = option(0.5, P["beta"].help)
    eta: float = option(0.01, P["eta"].help)
    predictor: str = option("learned", "how Wp evolves (an update rule with a flow)",
                            choices=flow_rules)
    target: str = option("ema", "ema (Eq. 4) or simsiam (Wa = W)", choices=("ema", "simsiam"))
    stop_grad: bool = option(True, "let the gradient flow through the target with "
                                   "--no-stop-grad (Theorem 2; needs target simsiam)",
                             negate="--no-stop-grad")
    predictor_init: str = option("random", "Wp(0): random or identity",
                                 choices=("random", "identity"))
    wa_init: str = option("zero", "Wa(0) = 0 (as in Eq. 15) or a copy of W(0)",
                          choices=("zero", "copy"))
    init_scale: float = option(0.5, "entries of W(0) ~ N(0, init_scale^2 / n1)")
    seed: int = option(0, "random seed >= 0")
    method: str = option("DOP853", "solve_ivp method (Radau/BDF/LSODA for stiff settings)",
                         choices=_SOLVERS)
    t_end: float = option(20.0, P["t_end"].help)
    n_save: int = option(201, "number of stored time points >= 2")
    rtol: float = option(1e-10, "relative tolerance in (0, 0.1]")
    atol: float = option(1e-12, "absolute tolerance in (0, 1]")
    blowup: float = option(1e8, "stop (keeping what was computed) when a |W| entry exceeds "
                                "this")
    out: str | None = option(None, "trajectory file: .json, .csv or .npz")

    def validate(self) -> None:
        """Tolerances, seed, init scale, sigma2 (X' = sigma2 I), sizes.

        Returns None; raises :class:`~dynamics.errors.ConfigError` (one line) on the first bad
        setting, e.g. ``n1 < 1`` without an ``X`` file.
        """
        from dynamics.resources import check_parameter, check_seed

        _check_tolerances(self)
        check_seed("seed", self.seed)
        check_parameter("init_scale", self.init_scale, low_open=True)
        if self.Xprime is None:
            check_range("sigma2", self.sigma2, low=0)
        if self.X is None and self.n1 < 1:
            raise ConfigError("n1", f"must be a positive integer, got {self.n1!r}")
        if self.n2 is not None and self.n2 < 1:
            raise ConfigError("n2", f"must be a positive integer, got {self.n2}")


@dataclass
class PhaseRun:
    """``simulate phase``: basins of collapse or hyper-parameter phase diagrams.

    Attributes:
        The fields below, one per setting; each ``option(...)`` holds its default and its help
        text (meaning and allowed values), which is also the ``--help`` of its flag.

    Example:
        >>> cfg = PhaseRun(kind="hyper", x=["eta", "0", "0.2", "5"], y=["sigma2", "0", "1", "3"])
        >>> cfg.validate(), cfg.n_modes
        (None, 32)
    """

    kind: str = option("basin", "basin: (p0, s0) grid; hyper: two hyper-parameters",
                       choices=("basin", "hyper"))
    alpha_p: float = option(1.0, P["alpha_p"].help)
    eta: float = option(0.01, P["eta"].help)
    sigma2: float = option(0.0, P["sigma2"].help)
    tau: float = option(1.0, P["tau"].help + " (without beta)")
    beta: float | None = option(None, P["beta"].help + ": tau evolves by Eq. 13 from tau0")
    tau0: float | None = option(None, "tau(0) with an EMA target (beta or a beta axis; "
                                      "unset: 0)")
    p0_range: list[float] = option(help="kind basin: p0 grid range MIN MAX",
                                   factory=lambda: [-1.0, 2.0])
    s0_range: list[float] = option(help="kind basin: s0 grid range MIN MAX (0 <= MIN)",
                                   factory=lambda: [0.0, 2.0])
    grid: int = option(201, "kind basin: grid points per axis >= 2 (memory grows as grid^2)")
    x: list[str] = option(help="kind hyper: x axis NAME MIN MAX N",
                          factory=lambda: ["eta", "0", "0.4", "41"])
    y: list[str] = option(help="kind hyper: y axis NAME MIN MAX N",
                          factory=lambda: ["alpha_p", "0.25", "4", "31"])
    n_modes: int = option(32, "kind hyper: modes per grid cell >= 1")
    init_scale: float = option(0.5, "kind hyper: modes start at p0 ~ U(-a, a), "
                                    "s0 = p0^2 + U(0, a^2)")
    seed: int = option(0, "random seed >= 0 of the modes")
    t_end: float | None = option(None, P["t_end"].help + " (unset: long enough for the "
                                                          "slowest collapse, at most 20000)")
    s_tol: float = option(1e-6, "collapsed when the final s < s_tol")
    rtol: float = option(1e-8, "relative tolerance in (0, 0.1]")
    atol: float = option(1e-10, "absolute tolerance in (0, 1]")
    device: str = option("cpu", "cpu or cuda", choices=("cpu", "cuda"))
    out: str = option("phase.npz", "data file .npz or .json; the PNG/PDF go next to it")
    quiet: bool = option(False, "no progress on stderr")

    def validate(self) -> None:
        """Two-value ranges and four-value axes (their contents are checked by the command).

        Returns None; raises :class:`~dynamics.errors.ConfigError` when ``p0_range`` or
        ``s0_range`` is not MIN MAX, or ``x`` / ``y`` is not NAME MIN MAX N.
        """
        for name in ("p0_range", "s0_range"):
            if len(getattr(self, name)) != 2:
                raise ConfigError(name, f"needs MIN MAX, got {getattr(self, name)}")
        for name in ("x", "y"):
            if len(getattr(self, name)) != 4:
                raise ConfigError(name, "needs NAME MIN MAX N, e.g. eta 0 0.4 41")


__all__ = ["MatrixRun", "ModesRun", "PhaseRun"]

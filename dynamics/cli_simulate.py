"""``ssl-dynamics simulate modes`` and ``simulate matrix``: the theory's ODEs from the command
line (the eigenmode equations, Eqs. 11-13, and the matrix flow of Lemma 1 / Theorem 2). Every
value is checked (one line, exit code 2) before anything is integrated or written."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from dynamics.cli_common import (
    PROG,
    _accept_negative_numbers,
    _fmt,
    _jsonable_args,
    _opt,
    _OptionNames,
    _time_major,
)
from dynamics.errors import ConfigError


def _add_mode_params(p: argparse.ArgumentParser, *, ema_default_tau0: bool = True) -> None:
    g = p.add_argument_group("model (Eqs. 11-13)")
    g.add_argument("--alpha-p", dest="alpha_p", type=float, default=1.0,
                   help="relative predictor learning rate alpha_p in [1e-6, 1e6] (default 1)")
    g.add_argument("--eta", type=float, default=0.0, help="weight decay eta >= 0 (default 0)")
    g.add_argument("--sigma2", type=float, default=0.0,
                   help="augmentation variance sigma^2 >= 0 (default 0)")
    g.add_argument("--beta", type=float, default=None,
                   help="EMA rate beta > 0; omit for a fixed tau (SimSiam: tau = 1)")
    g.add_argument("--tau0", type=float, default=None,
                   help="fixed tau, or tau(0) with --beta (default 1 without --beta, "
                        "0 = Wa(0) = 0 with --beta)")


def _add_time(p: argparse.ArgumentParser, t_end: float, n_save: int) -> None:
    from dynamics.resources import T_END_LIMIT

    g = p.add_argument_group("integration")
    g.add_argument("--t-end", dest="t_end", type=float, default=t_end,
                   help=f"final time in (0, {T_END_LIMIT:g}] (default {t_end:g})")
    g.add_argument("--n-save", dest="n_save", type=int, default=n_save,
                   help=f"number of stored time points >= 2 (default {n_save})")
    g.add_argument("--rtol", type=float, default=1e-8,
                   help="relative tolerance in (0, 0.1] (default 1e-8)")
    g.add_argument("--atol", type=float, default=1e-10,
                   help="absolute tolerance in (0, 1] (default 1e-10)")
    g.add_argument("--blowup", type=float, default=1e8,
                   help="stop (keeping what was computed) when a weight (|p|, sqrt(s), "
                        "|W| entries) exceeds this (default 1e8)")


def _check_tolerances(args) -> None:
    """rtol in (0, 0.1], atol in (0, 1] (looser ones let the solvers diverge), blowup > 0."""
    from dynamics.errors import check_range

    check_range("rtol", args.rtol, low=0, low_open=True, high=0.1)
    check_range("atol", args.atol, low=0, low_open=True, high=1)
    check_range("blowup", args.blowup, low=0, low_open=True)


def _tau0(args) -> float:
    if args.tau0 is not None:
        return args.tau0
    return 0.0 if args.beta is not None else 1.0


def _check_model(args, *, sigma2: bool = True) -> None:
    """alpha_p > 0, eta >= 0, sigma2 >= 0 (when ``sigma2``), beta > 0 (when set), all finite
    and at most PARAM_LIMIT; t_end in (0, T_END_LIMIT]; n_save an integer >= 2."""
    from dynamics.resources import check_parameter, check_rate, check_t_end

    check_rate("alpha_p", args.alpha_p)
    check_parameter("eta", args.eta)
    if sigma2:
        check_parameter("sigma2", args.sigma2)
    if args.beta is not None:
        check_parameter("beta", args.beta, low_open=True)
    check_t_end("t_end", args.t_end)
    if args.n_save < 2:
        raise ConfigError("n_save", f"must be an integer >= 2, got {args.n_save}")


def _check_device(args) -> None:
    """--device is cpu, or cuda with a CUDA device present."""
    if args.device not in ("cpu", "cuda"):
        raise ConfigError("device", f"must be cpu or cuda, got {args.device!r}")
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise ConfigError("device", "cuda requested but no CUDA device is available")


def _cmd_modes(args) -> int:
    """Checks every input (values, sizes, memory, output place) before integrating."""
    from dynamics.errors import check_range
    from dynamics.io import check_output_path, save_arrays
    from dynamics.resources import (
        PARAM_LIMIT,
        check_memory,
        check_parameter,
        fits,
        mode_batch_bytes,
    )
    from dynamics.theory.modes import simulate_modes, validate_mode_inputs

    p0, s0 = np.asarray(args.p0, float), np.asarray(args.s0, float)
    if p0.size != s0.size and 1 not in (p0.size, s0.size):
        raise ConfigError("s0", f"needs 1 value or as many as p0 ({p0.size}), got {s0.size}")
    _check_tolerances(args)
    # Initial values beyond the blow-up limit would stop at once.
    check_range("p0", p0, low=-args.blowup, high=args.blowup)
    check_range("s0", s0, low=0, high=args.blowup * args.blowup)
    if args.tau0 is not None:
        check_parameter("tau0", args.tau0, low=-PARAM_LIMIT)
    _check_model(args)
    validate_mode_inputs(p0=p0, s0=s0, alpha_p=args.alpha_p, eta=args.eta, sigma2=args.sigma2,
                         beta=args.beta, t_end=args.t_end, tau0=_tau0(args))
    check_range("s_tol", args.s_tol, low=0, low_open=True)
    _check_device(args)
    n = max(p0.size, s0.size)
    field = "n_save" if fits(mode_batch_bytes(n, 2)) else "p0"
    check_memory(field, mode_batch_bytes(n, args.n_save),
                 f"{n} mode(s) x {args.n_save} saved points",
                 f"use a smaller {_opt(args, 'n_save')}" if field == "n_save" else
                 f"use fewer {_opt(args, 'p0')} values")
    out = check_output_path("out", args.out) if args.out else None
    if args.device == "cuda":
        import torch

        p0, s0 = torch.as_tensor(p0, device="cuda"), torch.as_tensor(s0, device="cuda")
    traj = simulate_modes(p0, s0, alpha_p=args.alpha_p, eta=args.eta, sigma2=args.sigma2,
                          tau0=_tau0(args), beta=args.beta, t_end=args.t_end,
                          n_save=args.n_save, rtol=args.rtol, atol=args.atol,
                          blowup=args.blowup).to_numpy()
    inv = traj.invariant_residual()
    collapsed = traj.collapsed(args.s_tol)
    last = traj.last_valid()
    n = traj.p.shape[1]
    line = (f"modes: {n} mode(s), t_end={args.t_end:g}: final p={_fmt(last['p'])} "
            f"s={_fmt(last['s'])}" + (f" tau={_fmt(last['tau'])}" if args.beta is not None
                                      else "")
            + f"; collapsed (s < {args.s_tol:g}): {int(np.sum(collapsed))}/{n}; "
            f"invariant error max {np.nanmax(inv):.2e}; status: {traj.status_text()}")
    if out:
        arrays = traj.to_dict()
        series = {k: arrays[k] for k in ("t", "p", "s", "tau")}
        series["invariant_residual"] = inv
        if out.suffix != ".csv":  # per-mode parameters and status (CSV keeps time series only)
            series.update({k: v for k, v in arrays.items() if k not in series})
        save_arrays(out, series, meta={**_jsonable_args(args), "command": "simulate modes"})
        line += f"; wrote {out}"
    print(line)
    if not traj.ok:
        print(f"{PROG}: warning: integration stopped early for some modes (blow-up or NaN); "
              f"their values up to that time are kept (NaN after)", file=sys.stderr)
        return 1
    return 0


def _read_matrix(field: str, path: str) -> np.ndarray:
    p = Path(path)
    if not p.is_file():
        raise ConfigError(field, f"file not found: {path}")
    try:
        if p.suffix == ".npy":
            return np.load(p)
        if p.suffix == ".json":
            return np.asarray(json.loads(p.read_text()), dtype=float)
        if p.suffix in (".csv", ".txt"):
            return np.loadtxt(p, delimiter="," if p.suffix == ".csv" else None, ndmin=2)
    except (ValueError, OSError) as exc:
        raise ConfigError(field, f"could not read a matrix from {path}: {exc}") from None
    raise ConfigError(field, f"must be a .npy, .json, .csv or .txt file, got {path!r}")


def _cmd_matrix(args) -> int:
    """Checks every input (values, matrices, memory, output place) before integrating."""
    from dynamics.errors import check_psd
    from dynamics.io import check_output_path, save_arrays
    from dynamics.resources import check_parameter, check_seed
    from dynamics.theory.matrix_flow import MatrixFlowConfig, simulate_matrix

    _check_tolerances(args)
    _check_model(args, sigma2=args.Xprime is None)
    check_seed("seed", args.seed)
    check_parameter("init_scale", args.init_scale, low_open=True)
    cfg = MatrixFlowConfig(alpha_p=args.alpha_p, beta=args.beta,
                           eta=args.eta, predictor=args.predictor, target=args.target,
                           stop_grad=not args.no_stop_grad)
    X = _read_matrix("X", args.X) if args.X is not None else None
    if X is not None:
        X = check_psd("X", X)
        n1 = X.shape[0]
    elif args.n1 is None or args.n1 < 1:
        raise ConfigError("n1", f"must be a positive integer, got {args.n1!r}")
    else:
        n1 = args.n1
    Xp = None
    if args.Xprime is not None:
        Xp = check_psd("Xprime", _read_matrix("Xprime", args.Xprime), n1)
    n2 = args.n2 if args.n2 is not None else n1
    if n2 < 1:
        raise ConfigError("n2", f"must be a positive integer, got {n2}")
    _check_matrix_memory(args, n1, n2)
    out = check_output_path("out", args.out) if args.out else None
    if X is None:
        X = np.eye(n1)
    if Xp is None:
        Xp = args.sigma2 * np.eye(max(n1, 1))
    rng = np.random.default_rng(args.seed)
    scale = args.init_scale / np.sqrt(max(n1, 1))
    W0 = scale * rng.standard_normal((n2, n1))
    Wp0 = (np.eye(n2) if args.predictor_init == "identity"
           else args.init_scale / np.sqrt(n2) * rng.standard_normal((n2, n2)))
    Wa0 = np.zeros((n2, n1)) if args.wa_init == "zero" else W0.copy()
    traj = simulate_matrix(W0, X, Xp, cfg, Wp0=Wp0, Wa0=Wa0, t_end=args.t_end,
                           n_save=args.n_save, method=args.method, rtol=args.rtol,
                           atol=args.atol, blowup=args.blowup)
    summ = traj.summary()
    inv = summ["invariant_residual_max"]
    line = (f"matrix: n1={n1} n2={n2} predictor={cfg.predictor} target={cfg.target} "
            f"stop_grad={cfg.stop_grad}: t={summ['t_final']:.4g} ||W||={summ['W_norm']:.4g} "
            f"eig(F)={_fmt(summ['F_eigvals'], 3)} collapsed={summ['collapsed']} "
            f"||[F,Wp]||={summ['commutator_norm']:.2e} invariant error max="
            + ("n/a" if inv is None else f"{inv:.2e}") + f"; status: {traj.status}")
    if out:
        arrays = traj.to_dict()
        arrays.update(F_eigvals=traj.F_eigvals(), W_norm=traj.W_norm(),
                      commutator_norm=traj.commutator_norm(),
                      target_correlation=traj.target_correlation())
        if inv is not None:
            arrays["invariant_residual"] = traj.invariant_residual()
        save_arrays(out, _time_major(arrays, traj.t.size) if out.suffix == ".csv" else arrays,
                    meta={**_jsonable_args(args), "command": "simulate matrix",
                          "config": cfg.to_dict()})
        line += f"; wrote {out}"
    print(line)
    if not traj.ok:
        print(f"{PROG}: warning: {traj.status}; the {traj.t.size} points computed before "
              "that are kept", file=sys.stderr)
        return 1
    return 0


def _check_matrix_memory(args, n1: int, n2: int) -> None:
    """Refuse (one line) a matrix flow whose arrays would not fit in memory; the field is the
    option that contributes most (n_save, method or the sizes)."""
    from dynamics.resources import available_memory, check_memory, fits, matrix_flow_bytes

    implicit = args.method in ("Radau", "BDF", "LSODA")
    avail = available_memory()
    need = matrix_flow_bytes(n1, n2, args.n_save, implicit=implicit)
    size = "X" if args.X is not None else "n2" if n2 > n1 else "n1"
    if not fits(matrix_flow_bytes(n1, n2, 2), avail):
        field, hint = size, ("use a smaller X" if size == "X" else
                             f"use a smaller {_opt(args, 'n1')} or {_opt(args, 'n2')}")
    elif not fits(matrix_flow_bytes(n1, n2, 2, implicit=implicit), avail):
        field = "method"
        hint = (f"the implicit {_opt(args, 'method')} {args.method} stores dense Jacobians; "
                f"use {_opt(args, 'method')} DOP853 or smaller sizes")
    else:
        field, hint = "n_save", f"use a smaller {_opt(args, 'n_save')}"
    check_memory(field, need, f"n1={n1}, n2={n2} with {args.n_save} saved points"
                 + (f" and {args.method}" if implicit else ""), hint, avail)


def add_modes_arguments(m: argparse.ArgumentParser) -> None:
    """Options of ``simulate modes``."""
    m.add_argument("--config", help="YAML/JSON file with option values")
    m.add_argument("--p0", type=float, nargs="+", default=[0.5],
                   help="initial predictor eigenvalue(s) p_j(0) (default 0.5)")
    m.add_argument("--s0", type=float, nargs="+", default=[0.5],
                   help="initial F eigenvalue(s) s_j(0) >= 0 (default 0.5)")
    _add_mode_params(m)
    _add_time(m, 100.0, 201)
    m.add_argument("--s-tol", dest="s_tol", type=float, default=1e-6,
                   help="a mode counts as collapsed when its final s_j < s_tol (default 1e-6)")
    m.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    m.add_argument("--out", help="trajectory file: .json, .csv or .npz")
    m.set_defaults(func=_cmd_modes, opt=_OptionNames(m))
    _accept_negative_numbers(m)


def add_matrix_arguments(x: argparse.ArgumentParser) -> None:
    """Options of ``simulate matrix``."""
    x.add_argument("--config", help="YAML/JSON file with option values")
    x.add_argument("--n1", type=int, default=8, help="input dimension (default 8; ignored "
                                                     "with --X)")
    x.add_argument("--n2", type=int, default=None, help="output dimension (default n1)")
    x.add_argument("--X", default=None, help="data correlation X (file .npy/.json/.csv); "
                                             "default identity")
    x.add_argument("--Xprime", default=None,
                   help="augmentation covariance X' (file); default sigma2 * I")
    x.add_argument("--sigma2", type=float, default=0.1,
                   help="X' = sigma2 I when --Xprime is not given (default 0.1)")
    x.add_argument("--alpha-p", dest="alpha_p", type=float, default=1.0,
                   help="relative predictor rate (default 1)")
    x.add_argument("--beta", type=float, default=0.5, help="EMA rate (default 0.5)")
    x.add_argument("--eta", type=float, default=0.01, help="weight decay (default 0.01)")
    x.add_argument("--predictor", default="learned", choices=("learned", "identity",
                                                              "symmetric"))
    x.add_argument("--target", default="ema", choices=("ema", "simsiam"))
    x.add_argument("--no-stop-grad", dest="no_stop_grad", action="store_true",
                   help="let the gradient flow through the target (Theorem 2; needs "
                        "--target simsiam)")
    x.add_argument("--predictor-init", dest="predictor_init", default="random",
                   choices=("random", "identity"))
    x.add_argument("--wa-init", dest="wa_init", default="zero", choices=("zero", "copy"),
                   help="Wa(0) = 0 (default, as in Eq. 15) or a copy of W(0)")
    x.add_argument("--init-scale", dest="init_scale", type=float, default=0.5,
                   help="entries of W(0) ~ N(0, init_scale^2 / n1) (default 0.5)")
    x.add_argument("--seed", type=int, default=0, help="random seed >= 0 (default 0)")
    x.add_argument("--method", default="DOP853",
                   choices=("RK45", "DOP853", "Radau", "BDF", "LSODA", "RK23"),
                   help="solve_ivp method (Radau/BDF/LSODA for stiff settings)")
    _add_time(x, 20.0, 201)
    x.add_argument("--out", help="trajectory file: .json, .csv or .npz")
    x.set_defaults(func=_cmd_matrix, rtol=1e-10, atol=1e-12, opt=_OptionNames(x))
    _accept_negative_numbers(x)

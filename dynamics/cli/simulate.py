"""``ssl-dynamics simulate modes`` and ``simulate matrix``: the theory's ODEs from the command
line (the eigenmode equations, Eqs. 11-13, and the matrix flow of Lemma 1 / Theorem 2). Every
value is checked (one line, exit code 2) before anything is integrated or written."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from dynamics.cli.common import (
    PROG,
    _accept_negative_numbers,
    _fmt,
    _jsonable_args,
    _opt,
    _OptionNames,
    _time_major,
    resolve_config,
)
from dynamics.config import add_schema_arguments, write_config
from dynamics.errors import ConfigError


def _check_limits(run, *, sigma2: bool = True) -> None:
    """The model parameters against their contracts, with the commands' upper limits
    (:mod:`dynamics.theories.directpred.parameters`)."""
    from dynamics.theories.directpred.parameters import check_parameters

    values = dict(alpha_p=run.alpha_p, t_end=run.t_end, eta=run.eta,
                  sigma2=run.sigma2 if sigma2 else None, beta=run.beta)
    check_parameters(**values)
    check_parameters(**values, limits=True)


def _check_device(device: str) -> None:
    """--device is cpu, or cuda with a CUDA device present."""
    if device not in ("cpu", "cuda"):
        raise ConfigError("device", f"must be cpu or cuda, got {device!r}")
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise ConfigError("device", "cuda requested but no CUDA device is available")


def _cmd_modes(args) -> int:
    """Checks every input (values, sizes, memory, output place) before integrating."""
    from dynamics.io import check_output_path, save_arrays
    from dynamics.resources import check_memory, fits, mode_batch_bytes
    from dynamics.theories.directpred.modes import simulate_modes, validate_mode_inputs
    from dynamics.theories.directpred.run_configs import ModesRun

    cfg = resolve_config(ModesRun, args)  # typed; sizes, tolerances, initial values checked
    p0, s0 = np.asarray(cfg.p0, float), np.asarray(cfg.s0, float)
    # the model parameters: checked once, here (the simulation below is told not to repeat it)
    validate_mode_inputs(p0=p0, s0=s0, alpha_p=cfg.alpha_p, eta=cfg.eta, sigma2=cfg.sigma2,
                         beta=cfg.beta, t_end=cfg.t_end, tau0=cfg.tau0_value(),
                         n_save=cfg.n_save, limits=True)
    _check_device(cfg.device)
    n = max(p0.size, s0.size)
    field = "n_save" if fits(mode_batch_bytes(n, 2)) else "p0"
    check_memory(field, mode_batch_bytes(n, cfg.n_save),
                 f"{n} mode(s) x {cfg.n_save} saved points",
                 f"use a smaller {_opt(args, 'n_save')}" if field == "n_save" else
                 f"use fewer {_opt(args, 'p0')} values")
    out = check_output_path("out", cfg.out) if cfg.out else None
    if cfg.device == "cuda":
        import torch

        p0, s0 = torch.as_tensor(p0, device="cuda"), torch.as_tensor(s0, device="cuda")
    traj = simulate_modes(p0, s0, alpha_p=cfg.alpha_p, eta=cfg.eta, sigma2=cfg.sigma2,
                          tau0=cfg.tau0_value(), beta=cfg.beta, t_end=cfg.t_end,
                          n_save=cfg.n_save, rtol=cfg.rtol, atol=cfg.atol,
                          blowup=cfg.blowup, check=False).to_numpy()
    inv = traj.invariant_residual()
    collapsed = traj.collapsed(cfg.s_tol)
    last = traj.last_valid()
    n = traj.p.shape[1]
    line = (f"modes: {n} mode(s), t_end={cfg.t_end:g}: final p={_fmt(last['p'])} "
            f"s={_fmt(last['s'])}" + (f" tau={_fmt(last['tau'])}" if cfg.beta is not None
                                      else "")
            + f"; collapsed (s < {cfg.s_tol:g}): {int(np.sum(collapsed))}/{n}; "
            f"invariant error max {np.nanmax(inv):.2e}; status: {traj.status_text()}")
    if out:
        arrays = traj.to_dict()
        series = {k: arrays[k] for k in ("t", "p", "s", "tau")}
        series["invariant_residual"] = inv
        if out.suffix != ".csv":  # per-mode parameters and status (CSV keeps time series only)
            series.update({k: v for k, v in arrays.items() if k not in series})
        save_arrays(out, series, meta={**_jsonable_args(args, cfg), "command": "simulate modes"})
        line += f"; wrote {out} and {write_config(cfg, out, command='simulate modes')}"
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
    from dynamics.theories.directpred.matrix_flow import MatrixFlowConfig, simulate_matrix
    from dynamics.theories.directpred.run_configs import MatrixRun

    run = resolve_config(MatrixRun, args)  # typed; tolerances, seed, scale, sizes checked
    _check_limits(run, sigma2=run.Xprime is None)
    cfg = MatrixFlowConfig(alpha_p=run.alpha_p, beta=run.beta,
                           eta=run.eta, predictor=run.predictor, target=run.target,
                           stop_grad=run.stop_grad)
    X = _read_matrix("X", run.X) if run.X is not None else None
    if X is not None:
        X = check_psd("X", X)
        n1 = X.shape[0]
    else:
        n1 = run.n1
    Xp = None
    if run.Xprime is not None:
        Xp = check_psd("Xprime", _read_matrix("Xprime", run.Xprime), n1)
    n2 = run.n2 if run.n2 is not None else n1
    _check_matrix_memory(run, args, n1, n2)
    out = check_output_path("out", run.out) if run.out else None
    if X is None:
        X = np.eye(n1)
    if Xp is None:
        Xp = run.sigma2 * np.eye(max(n1, 1))
    rng = np.random.default_rng(run.seed)
    scale = run.init_scale / np.sqrt(max(n1, 1))
    W0 = scale * rng.standard_normal((n2, n1))
    Wp0 = (np.eye(n2) if run.predictor_init == "identity"
           else run.init_scale / np.sqrt(n2) * rng.standard_normal((n2, n2)))
    Wa0 = np.zeros((n2, n1)) if run.wa_init == "zero" else W0.copy()
    traj = simulate_matrix(W0, X, Xp, cfg, Wp0=Wp0, Wa0=Wa0, t_end=run.t_end,
                           n_save=run.n_save, method=run.method, rtol=run.rtol,
                           atol=run.atol, blowup=run.blowup)
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
                    meta={**_jsonable_args(args, run), "command": "simulate matrix",
                          "config": cfg.to_dict()})
        line += f"; wrote {out} and {write_config(run, out, command='simulate matrix')}"
    print(line)
    if not traj.ok:
        print(f"{PROG}: warning: {traj.status}; the {traj.t.size} points computed before "
              "that are kept", file=sys.stderr)
        return 1
    return 0


def _check_matrix_memory(run, args, n1: int, n2: int) -> None:
    """Refuse (one line) a matrix flow whose arrays would not fit in memory; the field is the
    option that contributes most (n_save, method or the sizes)."""
    from dynamics.resources import available_memory, check_memory, fits, matrix_flow_bytes

    implicit = run.method in ("Radau", "BDF", "LSODA")
    avail = available_memory()
    need = matrix_flow_bytes(n1, n2, run.n_save, implicit=implicit)
    size = "X" if run.X is not None else "n2" if n2 > n1 else "n1"
    if not fits(matrix_flow_bytes(n1, n2, 2), avail):
        field, hint = size, ("use a smaller X" if size == "X" else
                             f"use a smaller {_opt(args, 'n1')} or {_opt(args, 'n2')}")
    elif not fits(matrix_flow_bytes(n1, n2, 2, implicit=implicit), avail):
        field = "method"
        hint = (f"the implicit {_opt(args, 'method')} {run.method} stores dense Jacobians; "
                f"use {_opt(args, 'method')} DOP853 or smaller sizes")
    else:
        field, hint = "n_save", f"use a smaller {_opt(args, 'n_save')}"
    check_memory(field, need, f"n1={n1}, n2={n2} with {run.n_save} saved points"
                 + (f" and {run.method}" if implicit else ""), hint, avail)


def add_modes_arguments(m: argparse.ArgumentParser) -> None:
    """Options of ``simulate modes``: the fields of
    :class:`~dynamics.theories.directpred.run_configs.ModesRun` (``--flag`` or ``key=value``, or a
    ``--config`` file)."""
    from dynamics.theories.directpred.run_configs import ModesRun

    add_schema_arguments(m, ModesRun)
    m.set_defaults(func=_cmd_modes, opt=_OptionNames(m))
    _accept_negative_numbers(m)


def add_matrix_arguments(x: argparse.ArgumentParser) -> None:
    """Options of ``simulate matrix``: the fields of
    :class:`~dynamics.theories.directpred.run_configs.MatrixRun`."""
    from dynamics.theories.directpred.run_configs import MatrixRun

    add_schema_arguments(x, MatrixRun)
    x.set_defaults(func=_cmd_matrix, opt=_OptionNames(x))
    _accept_negative_numbers(x)

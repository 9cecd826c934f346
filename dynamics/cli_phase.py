"""``ssl-dynamics simulate phase``: phase diagrams from the command line.

Two kinds:

* ``--kind basin``: the fate (collapse or not) of every initial condition on a (p0, s0) grid at
  fixed hyper-parameters (Fig. 3's basins of collapse);
* ``--kind hyper``: the fraction of a set of modes that collapse over a grid of two
  hyper-parameters (any two of eta, alpha_p, beta, sigma2, tau).

Both run as one batched integration (:mod:`dynamics.theory.phase`) and write the data (``--out``,
.npz or .json) and a PNG/PDF picture next to it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from dynamics.errors import ConfigError, check_range

KINDS = ("basin", "hyper")


def _axis_spec(text: list[str], field: str) -> tuple[str, np.ndarray]:
    from dynamics.theory.phase import AXIS_NAMES

    if len(text) != 4:
        raise ConfigError(field, "needs NAME MIN MAX N, e.g. eta 0 0.4 41")
    name = text[0]
    if name not in AXIS_NAMES:
        raise ConfigError(field, f"name must be one of {', '.join(AXIS_NAMES)}; got {name!r}")
    try:
        lo, hi, n = float(text[1]), float(text[2]), int(text[3])
    except ValueError:
        raise ConfigError(field, f"MIN MAX N must be numbers, got {' '.join(text[1:])}") from None
    if n < 2 or not hi > lo:
        raise ConfigError(field, f"needs MAX > MIN and N >= 2, got {lo:g} {hi:g} {n}")
    return name, np.linspace(lo, hi, n)


def add_phase_arguments(p: argparse.ArgumentParser) -> None:
    p.description = __doc__.split("\n\n")[0]
    p.add_argument("--config", help="YAML/JSON file with option values")
    p.add_argument("--kind", default="basin", choices=KINDS,
                   help="basin: (p0, s0) grid; hyper: two hyper-parameters (default basin)")
    g = p.add_argument_group("model (fixed values; an axis of --kind hyper overrides them)")
    g.add_argument("--alpha-p", dest="alpha_p", type=float, default=1.0)
    g.add_argument("--eta", type=float, default=0.01)
    g.add_argument("--sigma2", type=float, default=0.0)
    g.add_argument("--tau", type=float, default=1.0, help="fixed tau (without --beta)")
    g.add_argument("--beta", type=float, default=None,
                   help="EMA rate: tau evolves by Eq. 13 from --tau0 (default 0)")
    g.add_argument("--tau0", type=float, default=None, help="tau(0) with --beta (default 0)")
    b = p.add_argument_group("--kind basin")
    b.add_argument("--p0-range", dest="p0_range", type=float, nargs=2, default=[-1.0, 2.0],
                   metavar=("MIN", "MAX"), help="p0 grid range (default -1 2)")
    b.add_argument("--s0-range", dest="s0_range", type=float, nargs=2, default=[0.0, 2.0],
                   metavar=("MIN", "MAX"), help="s0 grid range, MIN >= 0 (default 0 2)")
    b.add_argument("--grid", type=int, default=201, help="grid points per axis (default 201)")
    h = p.add_argument_group("--kind hyper")
    h.add_argument("--x", nargs=4, default=["eta", "0", "0.4", "41"],
                   metavar=("NAME", "MIN", "MAX", "N"), help="x axis (default eta 0 0.4 41)")
    h.add_argument("--y", nargs=4, default=["alpha_p", "0.25", "4", "31"],
                   metavar=("NAME", "MIN", "MAX", "N"), help="y axis (default alpha_p 0.25 4 31)")
    h.add_argument("--n-modes", dest="n_modes", type=int, default=32,
                   help="modes per grid cell (default 32)")
    h.add_argument("--init-scale", dest="init_scale", type=float, default=0.5,
                   help="modes start at p0 ~ U(-a, a), s0 = p0^2 + U(0, a^2) (default a=0.5)")
    h.add_argument("--seed", type=int, default=0)
    c = p.add_argument_group("integration")
    c.add_argument("--t-end", dest="t_end", type=float, default=None,
                   help="final time (default: long enough for the slowest collapse)")
    c.add_argument("--s-tol", dest="s_tol", type=float, default=1e-6,
                   help="collapsed when the final s < s_tol (default 1e-6)")
    c.add_argument("--rtol", type=float, default=1e-8)
    c.add_argument("--atol", type=float, default=1e-10)
    c.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--out", default="phase.npz", help="data file .npz or .json (default "
                                                      "phase.npz); the PNG/PDF go next to it")


def _validate(args) -> Path:
    out = Path(args.out)
    if out.suffix not in (".npz", ".json"):
        raise ConfigError("out", f"must end in .npz or .json, got {args.out!r}")
    check_range("alpha_p", args.alpha_p, low=0, low_open=True)
    check_range("eta", args.eta, low=0)
    check_range("sigma2", args.sigma2, low=0)
    check_range("tau", args.tau, low=0)
    if args.beta is not None:
        check_range("beta", args.beta, low=0, low_open=True)
    if args.t_end is not None:
        check_range("t_end", args.t_end, low=0, low_open=True)
    check_range("s_tol", args.s_tol, low=0, low_open=True)
    check_range("rtol", args.rtol, low=0, low_open=True, high=1)
    check_range("atol", args.atol, low=0, low_open=True)
    if args.device not in ("cpu", "cuda"):
        raise ConfigError("device", f"must be cpu or cuda, got {args.device!r}")
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise ConfigError("device", "cuda requested but no CUDA device is available")
    return out


def run_phase(args) -> int:
    from dynamics.plots.diagrams import plot_basin, plot_hyperparameter_diagram
    from dynamics.theory import phase

    out = _validate(args)
    device = None if args.device == "cpu" else args.device
    if args.kind == "basin":
        if args.grid < 2:
            raise ConfigError("grid", f"must be an integer >= 2, got {args.grid}")
        (plo, phi), (slo, shi) = args.p0_range, args.s0_range
        if not phi > plo:
            raise ConfigError("p0_range", f"needs MAX > MIN, got {plo:g} {phi:g}")
        if not shi > slo or slo < 0:
            raise ConfigError("s0_range", f"needs 0 <= MIN < MAX, got {slo:g} {shi:g}")
        diagram = phase.basin_grid(
            np.linspace(plo, phi, args.grid), np.linspace(slo, shi, args.grid),
            tau=args.tau, alpha_p=args.alpha_p, eta=args.eta, sigma2=args.sigma2,
            beta=args.beta, tau0=args.tau0, t_end=args.t_end, s_tol=args.s_tol,
            rtol=args.rtol, atol=args.atol, device=device)
        diagram.save(out)
        pics = plot_basin(diagram, out.with_suffix(".png"))
        unsettled = int(np.sum(~diagram.settled))
        print(f"phase basin: {args.grid}x{args.grid} grid, t_end={diagram.params['t_end']:g}: "
              f"{100 * diagram.fraction_collapsed:.1f}% collapsed, {unsettled} cell(s) not "
              f"settled; wrote {out}, {pics[0]}")
        return 0
    xname, xv = _axis_spec(args.x, "x")
    yname, yv = _axis_spec(args.y, "y")
    if args.n_modes < 1:
        raise ConfigError("n_modes", f"must be a positive integer, got {args.n_modes}")
    check_range("init_scale", args.init_scale, low=0, low_open=True)
    rng = np.random.default_rng(args.seed)
    a = args.init_scale
    p0 = rng.uniform(-a, a, args.n_modes)
    s0 = p0**2 + rng.uniform(0, a * a, args.n_modes)
    ema = args.beta is not None or "beta" in (xname, yname)
    fixed = {"alpha_p": args.alpha_p, "eta": args.eta, "sigma2": args.sigma2}
    if ema:
        fixed["tau0"] = 0.0 if args.tau0 is None else args.tau0
        if args.beta is not None:
            fixed["beta"] = args.beta
    else:
        fixed["tau"] = args.tau
    fixed = {k: v for k, v in fixed.items() if k not in (xname, yname)}
    diagram = phase.hyperparameter_diagram((xname, xv), (yname, yv), p0=p0, s0=s0, fixed=fixed,
                                           t_end=args.t_end, s_tol=args.s_tol, rtol=args.rtol,
                                           atol=args.atol, device=device)
    diagram.save(out)
    pics = plot_hyperparameter_diagram(diagram, out.with_suffix(".png"))
    print(f"phase hyper: {yname} x {xname} = {yv.size}x{xv.size} cells, {args.n_modes} modes "
          f"each, t_end={diagram.t_end:g}: mean fraction collapsed "
          f"{float(np.mean(diagram.fraction_collapsed)):.3f}; wrote {out}, {pics[0]}")
    return 0

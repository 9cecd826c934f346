"""``ssl-dynamics simulate phase``: phase diagrams from the command line.

Two kinds:

* ``--kind basin``: the fate (collapse or not) of every initial condition on a (p0, s0) grid at
  fixed hyper-parameters (Fig. 3's basins of collapse);
* ``--kind hyper``: the fraction of a set of modes that collapse over a grid of two
  hyper-parameters (any two of eta, alpha_p, beta, sigma2, tau).

Both run as batched integrations (:mod:`dynamics.theories.directpred.phase`) and write the data
(``--out``, .npz or .json) and a PNG/PDF picture next to it. Every input, the memory the grid needs
and the output place are checked before the integration starts; progress goes to stderr (a bar on a
terminal, else a line every :attr:`Progress.line_every_s` seconds) unless ``--quiet``.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

from dynamics.cli.common import _opt, _plain
from dynamics.config import write_config
from dynamics.errors import ConfigError, check_range
from dynamics.resources import (
    check_memory,
    check_parameter,
    check_seed,
    mode_batch_bytes,
)
from dynamics.theories.directpred.parameters import PARAMETERS, check_parameters

KINDS = ("basin", "hyper")

P0_LIMIT = 1e8
"""|p0| and sqrt(s0) above this leave the integrator's blow-up bound (1e8) at once."""

# Allowed values of a hyper-parameter axis: (low, low_open).


def _axis_spec(text: list[str], field: str) -> tuple[str, float, float, int]:
    """``NAME MIN MAX N`` of a hyper-parameter axis: a known name, finite MIN < MAX inside the
    parameter's allowed values (at most :data:`PARAM_LIMIT`), N >= 2."""
    from dynamics.theories.directpred.phase import AXIS_NAMES

    if len(text) != 4:
        raise ConfigError(field, "needs NAME MIN MAX N, e.g. eta 0 0.4 41")
    name = text[0]
    if name not in AXIS_NAMES:
        raise ConfigError(field, f"name must be one of {', '.join(AXIS_NAMES)}; got {name!r}")
    try:
        lo, hi, n = float(text[1]), float(text[2]), int(text[3])
    except ValueError:
        raise ConfigError(field, f"MIN MAX N must be numbers (N an integer), got "
                                 f"{' '.join(text[1:])}") from None
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ConfigError(field, f"MIN and MAX must be finite, got {lo:g} {hi:g}")
    if n < 2 or not hi > lo:
        raise ConfigError(field, f"needs MAX > MIN and N >= 2, got {lo:g} {hi:g} {n}")
    param = PARAMETERS[name]
    low, low_open = param.command_low
    if lo < low or (low_open and lo == low) or hi > param.limit:
        raise ConfigError(field, f"{name} values must be in {param.interval}, got MIN {lo:g} "
                                 f"MAX {hi:g}")
    return name, lo, hi, n


def _range(run, field: str, low: float, high: float) -> tuple[float, float]:
    """A ``MIN MAX`` grid range: finite, low <= MIN < MAX <= high."""
    lo, hi = getattr(run, field)
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo < low or hi > high or not hi > lo:
        raise ConfigError(field, f"needs {low:g} <= MIN < MAX <= {high:g} (finite), got "
                                 f"{lo:g} {hi:g}")
    return lo, hi


def add_phase_arguments(p: argparse.ArgumentParser) -> None:
    """Add the ``simulate phase`` options (the fields of
    :class:`~dynamics.theories.directpred.run_configs.PhaseRun`) to the sub-parser ``p``."""
    from dynamics.config import add_schema_arguments
    from dynamics.theories.directpred.run_configs import PhaseRun

    p.description = _plain(__doc__.split("\n\n")[0])
    add_schema_arguments(p, PhaseRun)


def _validate_model(run, args, axes: tuple[str, ...]) -> bool:
    """The fixed hyper-parameters, tau0 and the integration settings; returns whether the
    target is an EMA (``--beta`` or a beta axis)."""
    check_parameters(alpha_p=run.alpha_p, eta=run.eta, sigma2=run.sigma2, tau=run.tau,
                     beta=run.beta, limits=True)
    ema = run.beta is not None or "beta" in axes
    if run.tau0 is not None:
        if not ema:
            raise ConfigError("tau0", f"is tau(0) of an EMA target and needs {_opt(args, 'beta')}"
                                      f" (or a beta axis); without it set {_opt(args, 'tau')}")
        check_parameters(tau0=run.tau0, limits=True)
    if ema and "tau" in axes:
        field = "x" if run.x[0] == "tau" else "y"
        raise ConfigError(field, f"tau cannot be an axis with an EMA target ({_opt(args, 'beta')}"
                                 f" or a beta axis): tau then evolves by Eq. 13 from "
                                 f"{_opt(args, 'tau0')}")
    check_parameters(t_end=run.t_end, limits=True)
    check_range("s_tol", run.s_tol, low=0, low_open=True)
    check_range("rtol", run.rtol, low=0, low_open=True, high=0.1)
    check_range("atol", run.atol, low=0, low_open=True, high=1)
    if run.device not in ("cpu", "cuda"):
        raise ConfigError("device", f"must be cpu or cuda, got {run.device!r}")
    if run.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise ConfigError("device", "cuda requested but no CUDA device is available")
    return ema


def _check_out(run, args) -> Path:
    """The data file (.npz/.json) and the PNG/PDF next to it can be written (folder created)."""
    from dynamics.io import check_output_file

    out = Path(run.out)
    if out.suffix not in (".npz", ".json"):
        raise ConfigError("out", f"must end in .npz or .json, got {run.out!r}")
    for path in (out, out.with_suffix(".png"), out.with_suffix(".pdf")):
        check_output_file("out", path)
    return out


def _phase_bytes(n: int) -> float:
    """Peak bytes of a diagram of ``n`` trajectories: the integrator's chunk plus two saved
    states per trajectory, which also covers the diagram's arrays, the saved copy and the
    picture (measured 0.5x-0.7x of this)."""
    from dynamics.theories.directpred.phase.mode_collapse import CHUNK

    return mode_batch_bytes(n, 2, working=CHUNK)


class Progress:
    """Progress of a phase diagram on stderr, called as ``progress(done, total)`` with finished
    trajectories: a tqdm bar when stderr is a terminal, else a line (percent done, elapsed,
    estimated time left) at most every :attr:`line_every_s` seconds; nothing when ``quiet``."""

    line_every_s = 15.0

    def __init__(self, label: str, quiet: bool = False):
        self.label, self.quiet = label, quiet
        self.bar = None
        self.t0 = self.last = time.monotonic()

    def __call__(self, done: int, total: int) -> None:
        """Report ``done`` of ``total`` trajectories finished (``done == 0`` starts the clock)."""
        if self.quiet:
            return
        if done == 0:
            self.t0 = self.last = time.monotonic()
            if sys.stderr.isatty():
                from tqdm.auto import tqdm

                self.bar = tqdm(total=total, unit="traj", unit_scale=True, desc=self.label,
                                file=sys.stderr, dynamic_ncols=True, leave=False)
            return
        if self.bar is not None:
            self.bar.update(done - self.bar.n)
            return
        now = time.monotonic()
        if now - self.last < self.line_every_s:
            return
        self.last = now
        elapsed = now - self.t0
        left = elapsed * (total - done) / done
        print(f"{self.label}: {100 * done / total:.0f}% of {total} trajectories, "
              f"{elapsed:.0f} s elapsed, about {left:.0f} s left", file=sys.stderr, flush=True)

    def close(self) -> None:
        """Close the tqdm bar, if one is open."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def run_phase(args) -> int:
    """Check everything (inputs, memory, output place), then integrate, save and plot."""
    from dynamics.cli.common import resolve_config
    from dynamics.theories.directpred import phase
    from dynamics.theories.directpred.figures.diagrams import (
        plot_basin,
        plot_hyperparameter_diagram,
    )
    from dynamics.theories.directpred.run_configs import PhaseRun

    run = resolve_config(PhaseRun, args)
    # Every option is checked, also those the other --kind does not use.
    xname, xlo, xhi, nx = _axis_spec(run.x, "x")
    yname, ylo, yhi, ny = _axis_spec(run.y, "y")
    hyper = run.kind == "hyper"
    if hyper and xname == yname:
        raise ConfigError("y", f"must name another parameter than x (both are {xname!r})")
    ema = _validate_model(run, args, (xname, yname) if hyper else ())
    if run.grid < 2:
        raise ConfigError("grid", f"must be an integer >= 2, got {run.grid}")
    plo, phi = _range(run, "p0_range", -P0_LIMIT, P0_LIMIT)
    slo, shi = _range(run, "s0_range", 0.0, P0_LIMIT**2)
    if run.n_modes < 1:
        raise ConfigError("n_modes", f"must be a positive integer, got {run.n_modes}")
    check_parameter("init_scale", run.init_scale, low_open=True, limit=P0_LIMIT / 10,
                    why="larger starts leave the blow-up bound 1e8 at once")
    check_seed("seed", run.seed)
    n = run.grid
    if not hyper:
        check_memory("grid", _phase_bytes(n * n), f"{n} x {n} points",
                     f"use a smaller {_opt(args, 'grid')}")
    else:
        sizes = {"x": nx, "y": ny, "n_modes": run.n_modes}
        check_memory(max(sizes, key=sizes.get), _phase_bytes(nx * ny * run.n_modes),
                     f"{ny} x {nx} cells x {run.n_modes} modes",
                     f"use fewer points N in {_opt(args, 'x')}/{_opt(args, 'y')} or a smaller "
                     f"{_opt(args, 'n_modes')}")
    out = _check_out(run, args)
    device = None if run.device == "cpu" else run.device
    progress = Progress(f"phase {run.kind}", quiet=run.quiet)
    try:
        if run.kind == "basin":
            diagram = phase.basin_grid(
                np.linspace(plo, phi, n), np.linspace(slo, shi, n),
                tau=run.tau, alpha_p=run.alpha_p, eta=run.eta, sigma2=run.sigma2,
                beta=run.beta, tau0=run.tau0, t_end=run.t_end, s_tol=run.s_tol,
                rtol=run.rtol, atol=run.atol, device=device, progress=progress)
        else:
            diagram = _hyper(run, args, phase, (xname, np.linspace(xlo, xhi, nx)),
                             (yname, np.linspace(ylo, yhi, ny)), ema, device, progress)
    finally:
        progress.close()
    diagram.save(out)
    saved = write_config(run, out, command="simulate phase")
    if run.kind == "basin":
        pics = plot_basin(diagram, out.with_suffix(".png"))
        unsettled = int(np.sum(~diagram.settled))
        print(f"phase basin: {n}x{n} grid, t_end={diagram.params['t_end']:g}: "
              f"{100 * diagram.fraction_collapsed:.1f}% collapsed, {unsettled} cell(s) not "
              f"settled{_settle_hint(run, args, diagram, unsettled)}; wrote {out}, {pics[0]}, "
              f"{saved}")
        return 0
    pics = plot_hyperparameter_diagram(diagram, out.with_suffix(".png"))
    print(f"phase hyper: {yname} x {xname} = {ny}x{nx} cells, {run.n_modes} modes "
          f"each, t_end={diagram.t_end:g}: mean fraction collapsed "
          f"{float(np.mean(diagram.fraction_collapsed)):.3f}; wrote {out}, {pics[0]}, {saved}")
    return 0


def _settle_hint(run, args, diagram, unsettled: int) -> str:
    """How to let unsettled cells settle: collapsing modes decay like e^{-2 eta t}, so a
    ``--t-end`` below the default horizon
    (:func:`~dynamics.theories.directpred.phase.basin.basin_t_end`) can stop them before s <
    s_tol."""
    from dynamics.theories.directpred.phase.basin import basin_t_end

    prm = diagram.params
    horizon = basin_t_end(diagram.s0, **{k: prm[k] for k in
                                         ("tau", "alpha_p", "eta", "sigma2", "beta", "s_tol")})
    if not unsettled or diagram.params["t_end"] >= horizon:
        return ""
    return f" (leave out {_opt(args, 't_end')} for the default horizon t_end={horizon:.0f})"


def _hyper(run, args, phase, x, y, ema: bool, device, progress):
    """The hyper-parameter diagram of the checked ``args`` (modes drawn from ``--seed``)."""
    rng = np.random.default_rng(run.seed)
    a = run.init_scale
    p0 = rng.uniform(-a, a, run.n_modes)
    s0 = p0**2 + rng.uniform(0, a * a, run.n_modes)
    fixed = {"alpha_p": run.alpha_p, "eta": run.eta, "sigma2": run.sigma2}
    if ema:
        fixed["tau0"] = 0.0 if run.tau0 is None else run.tau0
        if run.beta is not None:
            fixed["beta"] = run.beta
    else:
        fixed["tau"] = run.tau
    fixed = {k: v for k, v in fixed.items() if k not in (x[0], y[0])}
    return phase.hyperparameter_diagram(x, y, p0=p0, s0=s0, fixed=fixed, t_end=run.t_end,
                                        s_tol=run.s_tol, rtol=run.rtol, atol=run.atol,
                                        device=device, progress=progress)

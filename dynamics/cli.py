"""The ``ssl-dynamics`` command line.

    ssl-dynamics simulate modes  ...   decoupled eigenmode ODEs (Eqs. 11-13)
    ssl-dynamics simulate matrix ...   matrix gradient flow (Lemma 1 / Theorem 2)
    ssl-dynamics simulate phase  ...   phase diagram (basin of collapse / hyper-parameter grid)
    ssl-dynamics hltm ...              hierarchical latent tree model grid (table + figure)
    ssl-dynamics train CONFIG [k=v]    instrumented SSL training run (runs/<name>/)
    ssl-dynamics eval RUN_DIR          linear evaluation and kNN of a run
    ssl-dynamics compare RUN_DIR ...   one table of runs (accuracy and collapse signals)
    ssl-dynamics figures [NAME ...]    paper figures (PNG + PDF)
    ssl-dynamics reproduce             all theory figures and checks, with a summary

Every flag can also come from ``--config FILE`` (YAML or JSON, keys = flag names with
underscores); flags given on the command line win. Bad input gets one line,
``ssl-dynamics: error: <field>: <what is allowed>``, and exit code 2, before any work starts.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from dynamics.cli_common import (  # noqa: F401 - _apply_config/_jsonable_args: public to tests
    PROG,
    _accept_negative_numbers,
    _apply_config,
    _jsonable_args,
    _OptionNames,
    _Parser,
    add_threads_argument,
)
from dynamics.cli_simulate import add_matrix_arguments, add_modes_arguments
from dynamics.errors import ConfigError

# --------------------------------------------------------------------------------------------
# Config files


# --------------------------------------------------------------------------------------------
# simulate modes


# --------------------------------------------------------------------------------------------
# simulate matrix


# --------------------------------------------------------------------------------------------
# simulate phase


def _cmd_phase(args) -> int:
    from dynamics.cli_phase import run_phase

    return run_phase(args)


# --------------------------------------------------------------------------------------------
# figures / reproduce


def _cmd_figures(args) -> int:
    """Checks the names and the output folder (created; no file in the way, writable) first."""
    from dynamics.io import check_output_dir
    from dynamics.plots import FIGURES, make_figures

    names = args.names or list(FIGURES)
    unknown = [n for n in names if n not in FIGURES]
    if unknown:
        raise ConfigError("names", f"unknown figure {unknown[0]!r}; allowed: "
                                   f"{', '.join(FIGURES)}")
    out = check_output_dir("out", args.out)
    results = make_figures(names, out, quick=args.quick)
    for name, res in results.items():
        print(f"{name}: " + ", ".join(str(p) for p in res.paths))
    return 0


def _cmd_reproduce(args) -> int:
    """The output folder is checked and locked (one ``reproduce`` per folder) before any work
    (see :func:`dynamics.reproduce.run_reproduce`)."""
    from dynamics.reproduce import run_reproduce

    summary = run_reproduce(Path(args.out), quick=args.quick)
    failed = [c for c in summary.get("checks", []) if not c.get("passed", False)]
    print(f"reproduce: wrote {Path(args.out) / 'summary.md'} and "
          f"{len(summary.get('figures', {}))} figures under {Path(args.out) / 'figures'}; "
          f"{len(summary.get('checks', [])) - len(failed)}/{len(summary.get('checks', []))} "
          "checks passed")
    return 1 if failed else 0


# --------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The ``ssl-dynamics`` argument parser with every sub-command and its flags."""
    parser = _Parser(prog=PROG, description="Theory, simulation and measurement of SSL dynamics.")
    parser.add_argument("--version", action="version",
                        version=f"%(prog)s {__import__('dynamics').__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser,
                                metavar="{simulate,hltm,train,eval,compare,figures,reproduce}")

    sim = sub.add_parser("simulate", help="run a theory simulation")
    simsub = sim.add_subparsers(dest="what", required=True, parser_class=_Parser,
                                metavar="{modes,matrix,phase}")

    m = simsub.add_parser("modes", help="decoupled eigenmode dynamics (Eqs. 11-13)",
                          description="Integrate Eqs. 11-13 for one or more modes.")
    add_modes_arguments(m)

    x = simsub.add_parser("matrix", help="matrix gradient flow (Lemma 1, Theorem 2)",
                          description="Integrate the matrix flow of the linear BYOL/SimSiam "
                                      "model from a seeded random initialisation.")
    add_matrix_arguments(x)

    ph = simsub.add_parser("phase", help="phase diagram: basin of collapse or "
                                         "hyper-parameter grid (data + PNG)")
    from dynamics.cli_phase import add_phase_arguments

    add_phase_arguments(ph)
    ph.set_defaults(func=_cmd_phase, opt=_OptionNames(ph))
    _accept_negative_numbers(ph)

    from dynamics.cli_hltm import add_hltm_arguments, run_hltm
    from dynamics.cli_train import (
        add_compare_arguments,
        add_eval_arguments,
        add_train_arguments,
        run_compare,
        run_eval,
        run_train,
    )

    tr = sub.add_parser("train", help="train an SSL model (BYOL, SimSiam, SimCLR, DirectPred...)")
    add_train_arguments(tr)
    tr.set_defaults(func=run_train, threads_applied_by_command=True)
    ev = sub.add_parser("eval", help="linear evaluation and kNN of a finished run")
    add_eval_arguments(ev)
    ev.set_defaults(func=run_eval)
    cmp = sub.add_parser("compare", help="one table of finished runs (accuracy, collapse)")
    add_compare_arguments(cmp)
    cmp.set_defaults(func=run_compare)

    hl = sub.add_parser("hltm", help="hierarchical latent tree model grid (table + figure)")
    add_hltm_arguments(hl)
    hl.set_defaults(func=run_hltm)

    f = sub.add_parser("figures", help="make the paper figures (PNG + PDF)")
    f.add_argument("names", nargs="*", help="figure names (default: all)")
    f.add_argument("--out", default="results/figures", help="output folder")
    f.add_argument("--quick", action="store_true", help="fewer/shorter trajectories")
    f.set_defaults(func=_cmd_figures)

    r = sub.add_parser("reproduce", help="all theory figures + checks, with a summary")
    r.add_argument("--out", default="results", help="output folder (default results/)")
    r.add_argument("--quick", action="store_true", help="smaller, faster version")
    r.set_defaults(func=_cmd_reproduce)
    for leaf in _leaf_parsers(parser):
        add_threads_argument(leaf)
    return parser


def _subparser_for(parser: argparse.ArgumentParser, args) -> argparse.ArgumentParser:
    """The leaf sub-parser that produced ``args`` (for config-file re-parsing)."""
    node = parser
    for dest in ("command", "what"):
        name = getattr(args, dest, None)
        if name is None:
            break
        sub = next(a for a in node._actions if isinstance(a, argparse._SubParsersAction))
        node = sub.choices[name]
        if not any(isinstance(a, argparse._SubParsersAction) for a in node._actions):
            break
    return node


class Terminated(KeyboardInterrupt):
    """SIGTERM, turned into an exception so that ``finally`` blocks run: temporary files are
    removed and run folders record the interruption (a bare SIGTERM would kill the process
    with no message and leave half-written files)."""

    signum = signal.SIGTERM


def _raise_terminated(signum, frame) -> None:
    raise Terminated()


def _leaf_parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        return [parser]
    return [leaf for p in subs[0].choices.values() for leaf in _leaf_parsers(p)]


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``ssl-dynamics`` on ``argv``; the command's exit code (2 bad input, 130/143 signal)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        if getattr(args, "config", None):
            leaf = _subparser_for(parser, args)
            depth = 2 if getattr(args, "what", None) else 1
            args = _apply_config(leaf, leaf.parse_args(argv[depth:]), argv[depth:])
            args.func = func
        if not getattr(args, "threads_applied_by_command", False):
            from dynamics.threads import apply_threads

            args.thread_choice = apply_threads(getattr(args, "threads", None))
        return int(func(args) or 0)
    except ConfigError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        if isinstance(exc, Terminated):
            print(f"{PROG}: interrupted by SIGTERM; nothing half-written was kept",
                  file=sys.stderr)
            return 143
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

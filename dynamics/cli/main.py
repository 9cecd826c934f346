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
    ssl-dynamics verify [--tier T]     every prediction, theory vs measurement, one report
    ssl-dynamics sweep TABLE.yaml      a paper table's cells x seeds (local or SLURM)
    ssl-dynamics table --table 6       the table from finished runs, beside the paper's

One grammar for every command (:mod:`dynamics.config`): a typed config from ``--config FILE``
(YAML or JSON; ``train`` takes it as its first argument), ``key=value`` overrides and the
``--flags`` (keys = flag names with underscores); later layers win, and each command saves the
resolved config beside its results. One module per command group in this package:
:mod:`~dynamics.cli.simulate`, :mod:`~dynamics.cli.phase`, :mod:`~dynamics.cli.hltm`,
:mod:`~dynamics.cli.train` (train, eval, compare), :mod:`~dynamics.cli.figures` (figures,
reproduce); :mod:`~dynamics.cli.common` holds what they share. Bad input gets one line,
``ssl-dynamics: error: <field>: <what is allowed>``, and exit code 2, before any work starts.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable, Sequence

from dynamics.cli.common import (  # noqa: F401 - _jsonable_args: public to tests
    PROG,
    _accept_negative_numbers,
    _jsonable_args,
    _OptionNames,
    _Parser,
    add_threads_argument,
    resolve_config,
)
from dynamics.cli.simulate import add_matrix_arguments, add_modes_arguments
from dynamics.errors import ConfigError


def _cmd_phase(args) -> int:
    from dynamics.cli.phase import run_phase

    return run_phase(args)


# --------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The ``ssl-dynamics`` argument parser with every sub-command and its flags."""
    parser = _Parser(prog=PROG, description="Theory, simulation and measurement of SSL dynamics.")
    parser.add_argument("--version", action="version",
                        version=f"%(prog)s {__import__('dynamics').__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser,
                                metavar="{simulate,hltm,train,eval,compare,figures,reproduce,"
                                        "verify,sweep,table}")

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
    from dynamics.cli.phase import add_phase_arguments

    add_phase_arguments(ph)
    ph.set_defaults(func=_cmd_phase, opt=_OptionNames(ph))
    _accept_negative_numbers(ph)

    from dynamics.cli.hltm import add_hltm_arguments, run_hltm
    from dynamics.cli.train import (
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

    from dynamics.cli.figures import add_figures_arguments, add_reproduce_arguments
    from dynamics.cli.sweep import add_sweep_arguments, add_table_arguments
    from dynamics.cli.verify import add_verify_arguments

    add_sweep_arguments(sub.add_parser("sweep", help="run a paper table's cells over seeds "
                                                     "(local processes or SLURM)"))
    add_table_arguments(sub.add_parser("table", help="a paper table from finished runs, "
                                                     "beside the published numbers"))

    add_verify_arguments(sub.add_parser("verify", help="every prediction of the theory at a "
                                                       "tier, judged in one report"))

    add_figures_arguments(sub.add_parser("figures", help="make the paper figures (PNG + PDF)"))

    add_reproduce_arguments(sub.add_parser("reproduce",
                                           help="all theory figures + checks, with a summary"))
    for leaf in _leaf_parsers(parser):
        add_threads_argument(leaf)
    return parser


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
    """Run ``ssl-dynamics`` on ``argv``; the command's exit code (2 bad input, 130/143 signal).

    SIGTERM ends the command cleanly (temporary files removed, run folders marked); the
    caller's SIGTERM handler is restored on return and, when ``main`` is called from Python with
    an ``argv``, the signal is then passed on to it, so a script or test runner that was told
    to stop does stop."""
    in_process = argv is not None  # the console script passes none
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    previous, terminated = None, False
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
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
            terminated = True
            return 143
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
            if terminated and in_process and previous is not signal.SIG_IGN:
                # called from Python (a script, a notebook, a test runner): after the clean-up,
                # the SIGTERM goes on to the caller's own handler (the default one ends the
                # process), so that the caller stops as it was asked to
                signal.raise_signal(signal.SIGTERM)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""Shared pieces of the command line: the one-line-error parser, typed command configs
(:func:`resolve_config`, the grammar of :mod:`dynamics.config`), option names for error hints,
``--threads`` and the ``meta`` written next to results."""

from __future__ import annotations

import argparse
from typing import Any, NoReturn

import numpy as np

PROG = "ssl-dynamics"


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error message (no usage dump) and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{PROG}: error: {message} (see '{self.prog} --help')\n")


def _fmt(values: Any, digits: int = 4) -> str:
    arr = np.atleast_1d(np.asarray(values, dtype=float))
    return "[" + ", ".join(f"{v:.{digits}g}" for v in arr.ravel()) + "]"


def _plain(text: str) -> str:
    """A docstring paragraph for ``--help``: reST markup (``code``, :mod:`x`) removed."""
    import re

    text = re.sub(r":(?:mod|func|class|data|attr):`~?([^`]+)`", r"\1", text)
    return " ".join(text.replace("``", "").split())


def resolve_config(schema: type, args: argparse.Namespace) -> Any:
    """The typed config of a command (:func:`dynamics.config.config_from_args`: ``--config``
    file <- ``key=value`` overrides <- given flags), checked. The command reads its settings
    from this object only (``args`` keeps what the parser gave, for option names in hints)."""
    from dynamics.config import config_from_args

    return config_from_args(schema, args)


def _accept_negative_numbers(p: argparse.ArgumentParser) -> None:
    """Let option values like ``-1e3``, ``-.5`` and ``-inf`` through (argparse alone takes only
    ``-1`` and ``-1.5`` for numbers and reads the others as unknown options)."""
    import re

    p._negative_number_matcher = re.compile(r"^-(\.?\d|inf(inity)?$|nan$)", re.IGNORECASE)


class _OptionNames:
    """``dest -> option`` of one parser (``"n_save"`` -> ``"--n-save"``), so that the hints of
    error messages only name options that exist; ``args.opt`` of the theory commands. Being
    callable keeps it out of the ``meta`` of outputs (see ``_jsonable_args``)."""

    def __init__(self, parser: argparse.ArgumentParser):
        self._parser = parser

    def __call__(self, dest: str) -> str:
        for action in self._parser._actions:
            if action.dest == dest and action.option_strings:
                return max(action.option_strings, key=len)
        return dest


def _opt(args, dest: str) -> str:
    """The option that sets ``dest`` in the parser that produced ``args`` (``--grid``)."""
    namer = getattr(args, "opt", None)
    return namer(dest) if namer is not None else "--" + dest.replace("_", "-")


def _time_major(arrays: dict[str, np.ndarray], T: int) -> dict[str, np.ndarray]:
    """Keep only the arrays with a leading time axis (for CSV)."""
    return {k: v for k, v in arrays.items() if np.ndim(v) >= 1 and np.shape(v)[0] == T}


def _jsonable_args(args, run: Any = None) -> dict[str, Any]:
    """The options of a command for the ``meta`` of its output: the resolved typed config
    ``run`` (every field), over what the parser gave, with the thread choice."""
    import dataclasses

    out = {k: v for k, v in vars(args).items()
           if not callable(v) and k not in ("func", "threads_applied_by_command", "config",
                                            "overrides")}
    if run is not None:
        out.update(dataclasses.asdict(run))
    if "thread_choice" in out:
        out["thread_choice"] = out["thread_choice"].to_dict()
    return out


def add_threads_argument(p: argparse.ArgumentParser) -> None:
    """``--threads auto|N`` on a command (see :mod:`dynamics.threads`)."""
    if any("--threads" in a.option_strings for a in p._actions):
        return
    p.add_argument("--threads", default=None,
                   help="CPU threads for torch and BLAS: auto (default: the idle cores, at "
                        "least 1) or a positive integer")

"""Shared pieces of the command line: the one-line-error parser, ``--config`` files, option
names for error hints, ``--threads`` and the ``meta`` written next to results."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from dynamics.errors import ConfigError

PROG = "ssl-dynamics"


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error message (no usage dump) and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{PROG}: error: {message} (see '{self.prog} --help')\n")


def _fmt(values: Any, digits: int = 4) -> str:
    arr = np.atleast_1d(np.asarray(values, dtype=float))
    return "[" + ", ".join(f"{v:.{digits}g}" for v in arr.ravel()) + "]"


def _load_config(path: str) -> dict[str, Any]:
    p = Path(path)
    if not p.is_file():
        raise ConfigError("config", f"file not found: {path}")
    text = p.read_text()
    try:
        if p.suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        elif p.suffix == ".json":
            data = json.loads(text)
        else:
            raise ConfigError("config", f"must be a .yaml, .yml or .json file, got {path!r}")
    except (ValueError, ImportError) as exc:  # yaml.YAMLError subclasses ValueError? not always
        raise ConfigError("config", f"could not parse {path}: {exc}") from None
    except Exception as exc:  # yaml.YAMLError
        raise ConfigError("config", f"could not parse {path}: {str(exc).splitlines()[0]}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError("config", f"{path} must hold a mapping of option: value")
    return data


def _apply_config(parser: argparse.ArgumentParser, args: argparse.Namespace,
                  argv: Sequence[str]) -> argparse.Namespace:
    """Re-parse with the config file's values as defaults (command-line flags still win)."""
    if not getattr(args, "config", None):
        return args
    data = _load_config(args.config)
    actions = {a.dest: a for a in parser._actions if a.dest not in ("help", "config")}
    defaults: dict[str, Any] = {}
    for key, value in data.items():
        dest = str(key).replace("-", "_")
        if dest not in actions:
            allowed = ", ".join(sorted(actions))
            raise ConfigError(f"config.{key}", f"unknown option; allowed: {allowed}")
        act = actions[dest]
        try:
            if act.nargs in ("+", "*") or isinstance(act.nargs, int):
                items = value if isinstance(value, list) else [value]
                value = [act.type(v) if act.type else v for v in items]
            elif act.type is not None and value is not None:
                value = act.type(value)
        except (TypeError, ValueError):
            raise ConfigError(f"config.{key}", f"invalid value {value!r}") from None
        if act.choices is not None and value not in act.choices and not isinstance(value, list):
            raise ConfigError(f"config.{key}",
                              f"must be one of {', '.join(map(str, act.choices))}; got {value!r}")
        defaults[dest] = value
    parser.set_defaults(**defaults)
    return parser.parse_args(argv)


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


def _jsonable_args(args) -> dict[str, Any]:
    """The options of a command for the ``meta`` of its output (the thread choice included)."""
    out = {k: v for k, v in vars(args).items()
           if not callable(v) and k not in ("func", "threads_applied_by_command")}
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

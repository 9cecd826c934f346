"""The ``ssl-dynamics`` command line (see :mod:`dynamics.cli.main`); no library module
imports this package."""

from dynamics.cli.common import _jsonable_args
from dynamics.cli.main import Terminated, build_parser, main

__all__ = ["Terminated", "_jsonable_args", "build_parser", "main"]

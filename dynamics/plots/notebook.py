"""The size switch and set-up shared by the paper notebooks (``paper_notebooks/``).

Every notebook reads ``SSL_NOTEBOOK_SIZE`` (``smoke``: seconds per section, what the test suite
runs; ``full``, the default: the sizes of the figures) through :func:`notebook_setup`, which also
makes the notebook's own temporary output folder and applies a compact inline plot style.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SIZES = ("smoke", "full")
ENV = "SSL_NOTEBOOK_SIZE"


@dataclass(frozen=True)
class NotebookSize:
    """The notebook's size: ``name`` is ``smoke`` or ``full``."""

    name: str

    @property
    def smoke(self) -> bool:
        """True at the smoke size."""
        return self.name == "smoke"

    def pick(self, smoke: Any, full: Any) -> Any:
        """The smoke-size or the full-size value of a setting."""
        return smoke if self.smoke else full


def notebook_size() -> NotebookSize:
    """``SSL_NOTEBOOK_SIZE`` (default ``full``); any other value is a one-line error."""
    from dynamics.errors import ConfigError

    name = os.environ.get(ENV, "full")
    if name not in SIZES:
        raise ConfigError(ENV, f"must be one of {', '.join(SIZES)}, got {name!r}")
    return NotebookSize(name)


def notebook_setup(prefix: str) -> tuple[NotebookSize, Path]:
    """(size, output folder): the size from the environment, a fresh temporary folder for the
    notebook's files (``<prefix>_*``) and matplotlib's inline style (dpi 70 at smoke, 100 at
    full; no top/right spines; 9-pt font)."""
    import matplotlib.pyplot as plt

    size = notebook_size()
    out = Path(tempfile.mkdtemp(prefix=f"{prefix}_"))
    plt.rcParams.update({"figure.dpi": size.pick(70, 100), "axes.spines.top": False,
                         "axes.spines.right": False, "font.size": 9})
    print(f"size: {size.name}; files go to {out}")
    return size, out


__all__ = ["ENV", "SIZES", "NotebookSize", "notebook_setup", "notebook_size"]

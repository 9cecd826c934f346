"""The measurements logged during training, one registry :data:`TRAIN_METRICS` of metric
groups.

A group is a function ``group(ctx) -> (row_part, spectra_part)`` of a :class:`RowContext`
(the current F, its spectrum, the predictor matrix Wp, and the buffer of recent projector and
backbone outputs, each computed once per row and shared by all groups); ``row_part`` are scalar
or short-list columns of metrics.jsonl, ``spectra_part`` full spectra for spectra.jsonl.
Groups run in registration order on every rank (the context's DDP reductions are collective).
Each is registered with the ``keys`` it writes (docs and report columns read them)::

    @TRAIN_METRICS.register("my_group", keys=("my/value",), doc="...")
    def my_group(ctx): return {"my/value": ...}, {}

The metric functions themselves live in :mod:`dynamics.metrics` (with their known values);
this package only decides what a training row contains. The built-in groups (F, predictor,
collapse, views) are in :mod:`.builtin`; every module of this package is imported, so a new
group is one new file here with one decorated function. Values that are undefined (no linear
predictor, non-finite input, a failed eigensolver) are None (``null``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import cached_property
from typing import Any

import torch

from dynamics.errors import ConfigError
from dynamics.registry import Registry

#: Eigenvalues listed at each end of a spectrum in a metrics row.
SPECTRUM_HEAD = 5
#: Modes with s_j <= NULL_TOL * s_max count as null.
NULL_TOL = 1e-3
PREDICTOR_KEYS = ("mean_alignment", "weighted_alignment", "relative_commutator", "asymmetry",
                  "min_sym_eigenvalue", "slope")

#: Metric groups of a training row by name (see the module docstring).
TRAIN_METRICS = Registry("training metric group", field="metrics")


def safe(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """A metric value, or None where it is undefined (non-finite input, failed eigensolver)."""
    try:
        value = fn(*args, **kwargs)
    except (ConfigError, torch.linalg.LinAlgError, RuntimeError):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def finite(t: torch.Tensor | None) -> bool:
    """True for a tensor with only finite entries (False for None)."""
    return t is not None and bool(torch.isfinite(t).all())


def head_tail(values: torch.Tensor | None) -> tuple[list | None, list | None]:
    """The first and last :data:`SPECTRUM_HEAD` values as lists (None, None if empty)."""
    if values is None or values.numel() == 0:
        return None, None
    vals = values.tolist()
    return vals[:SPECTRUM_HEAD], vals[-SPECTRUM_HEAD:]


class RowContext:
    """What the groups of one row share, each piece computed on first use.

    ``correlation()`` returns ``(F, source)`` (F float64 or None); ``predictor_matrix()`` Wp
    or None; ``buffers()`` ``(z1, z2, h)`` gathered over ranks, or None.
    """

    def __init__(self, correlation: Callable[[], tuple[torch.Tensor | None, str]],
                 predictor_matrix: Callable[[], Any],
                 buffers: Callable[[], tuple[torch.Tensor, ...] | None]):
        self._correlation, self._wp, self._buffers = correlation, predictor_matrix, buffers

    @cached_property
    def F_and_source(self) -> tuple[torch.Tensor | None, str]:
        """(F, "method" | "instrument")."""
        return self._correlation()

    @property
    def F(self) -> torch.Tensor | None:
        """The running correlation F = E[f f^T] (Eq. 19), float64."""
        return self.F_and_source[0]

    @cached_property
    def s(self) -> torch.Tensor | None:
        """Eigenvalues of F, descending (None if F is missing or not finite)."""
        F = self.F
        if not finite(F):
            return None
        return safe(lambda: torch.linalg.eigvalsh((F + F.T) / 2).flip(0))

    @cached_property
    def Wp(self) -> torch.Tensor | None:
        """The linear predictor's matrix (float64), or None."""
        wp = self._wp()
        return None if wp is None else torch.as_tensor(wp).detach().double()

    @cached_property
    def Wp_eigs(self) -> torch.Tensor | None:
        """Eigenvalues of Wp sorted by real part, descending (complex), or None."""
        eig = safe(torch.linalg.eigvals, self.Wp) if finite(self.Wp) else None
        return None if eig is None else eig[torch.argsort(eig.real, descending=True)]

    @cached_property
    def buffers(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None:
        """(z1, z2, h): recent projector outputs of both views and backbone outputs."""
        return self._buffers()

    @cached_property
    def z(self) -> torch.Tensor | None:
        """The recent projector outputs of both views, stacked (None without buffers)."""
        bufs = self.buffers
        return None if bufs is None else torch.cat(bufs[:2])

    @cached_property
    def z_singular_values(self) -> torch.Tensor | None:
        """Singular values of :attr:`z` (:func:`dynamics.metrics.singular_values`), computed
        once for every group that needs them (None where undefined)."""
        from dynamics.metrics.rank import singular_values

        return None if self.z is None else safe(singular_values, self.z)


def metrics_table() -> str:
    """A Markdown table of the metric groups and the columns they write (for docs)."""
    rows = ["| group | what | columns |", "| --- | --- | --- |"]
    for e in TRAIN_METRICS.entries():
        rows.append(f"| `{e.name}` | {e.doc} | "
                    f"{', '.join(f'`{k}`' for k in e.tags.get('keys', ()))} |")
    return "\n".join(rows) + "\n"


def _load_groups() -> None:
    """Import every module of this package (each registers its groups; built-ins first)."""
    import importlib
    import pkgutil

    names = sorted(m.name for m in pkgutil.iter_modules(__path__))
    for name in ["builtin", *(n for n in names if n != "builtin")]:
        importlib.import_module(f"{__name__}.{name}")


_load_groups()

"""Figures of Tian, Chen & Ganguli (ICML 2021), each a function that consumes simulation results.

Every figure lives in its own module with ``make(out_dir, *, quick=False) -> FigureResult``; the
registry :data:`FIGURES` maps the paper's figure names to them (modules are imported only when a
figure is made). ``quick=True`` runs fewer and shorter trajectories (seconds per figure; used by
the tests); the full versions take well under a minute each on two CPU cores.

>>> from dynamics.plots import make_figures
>>> results = make_figures(["fig3"], "out/figures", quick=True)   # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from dynamics.errors import ConfigError
from dynamics.plots.base import FigureResult, FigureSpec
from dynamics.registry import Registry

#: The paper figures by name (a :class:`~dynamics.registry.Registry` of :class:`FigureSpec`;
#: the CLI, ``reproduce`` and the docs read it).
FIGURES = Registry("figure", field="figure")
for _spec in (
        FigureSpec("fig3", "Phase portrait of the decoupled mode dynamics (Eqs. 11-12)",
                   "dynamics.plots.fig03_phase_portrait", paper_ref="Fig. 3",
                   script="figures/fig03_phase_portrait.py"),
        FigureSpec("fig4", "1-D flow on the invariant parabola (Eq. 16)",
                   "dynamics.plots.fig04_parabola_flow", paper_ref="Fig. 4",
                   script="figures/fig04_parabola_flow.py"),
        FigureSpec("fig5", "Synthetic decoupled dynamics with EMA: effect of weight decay and "
                   "EMA rate (Eqs. 11-13)", "dynamics.plots.fig05_ema_sweeps",
                   paper_ref="Fig. 5", script="figures/fig05_ema_sweeps.py"),
        FigureSpec("fig7", "Validity of assumption A1: correlation of Wa and W in full-matrix "
                   "BYOL dynamics", "dynamics.plots.fig07_a1_validity", paper_ref="Fig. 7",
                   script="figures/fig07_a1_validity.py"),
        FigureSpec("fig8", "Non-symmetrised Eq. 62 on the balanced manifold: the skew part "
                   "of Wp vanishes", "dynamics.plots.fig08_skew_decay", paper_ref="Fig. 8",
                   script="figures/fig08_skew_decay.py"),
        FigureSpec("fig9", "Commutator ||[F, Wp]|| and lambda_min(K) for the symmetrised Eq. 67",
                   "dynamics.plots.fig09_commutator", paper_ref="Fig. 9",
                   script="figures/fig09_commutator.py"),
        FigureSpec("fig10", "Appendix D scalar model: flows with and without predictor",
                   "dynamics.plots.fig10_scalar_model", paper_ref="Fig. 10",
                   script="figures/fig10_scalar_model.py"),
):
    FIGURES.register(_spec.name, _spec, doc=_spec.title, source=_spec.paper_ref)


def resolve_names(names: Iterable[str] | str | None) -> list[str]:
    """Figure names in registry order; ``None``, ``"all"`` or ``[]`` mean every figure.

    Accepts ``fig3``, ``3`` or ``fig03``. Unknown names raise :class:`ConfigError`.
    """
    if names is None or names == "all":
        return list(FIGURES)
    if isinstance(names, str):
        names = [names]
    names = list(names)
    if not names or "all" in names:
        return list(FIGURES)
    out = []
    for raw in names:
        key = str(raw).strip().lower()
        if not key.startswith("fig"):
            key = "fig" + key
        key = "fig" + key[3:].lstrip("0")
        if key not in FIGURES:
            raise ConfigError("figure", f"unknown figure {raw!r}; choose from "
                                        f"{', '.join(FIGURES)} or all")
        if key not in out:
            out.append(key)
    return out


def make_figure(name: str, out_dir: Path | str, *, quick: bool = False) -> FigureResult:
    """Make one registered figure into ``out_dir`` (PNG + PDF); the name and the folder are
    checked first (see :meth:`FigureSpec.make`)."""
    (key,) = resolve_names([name])
    return FIGURES[key].make(Path(out_dir), quick=quick)


def make_figures(
    names: Iterable[str] | str | None,
    out_dir: Path | str,
    quick: bool = False,
    *,
    log: Callable[[str], object] | None = None,
) -> dict[str, FigureResult]:
    """Make the named figures (``None``/``"all"`` = every registered one) into ``out_dir``.

    Returns ``{name: FigureResult}`` in registry order. ``log`` (e.g. ``print``) receives one line
    per finished figure. The names and ``out_dir`` (created if missing; no file in the way,
    writable) are checked before the first figure is made: one-line :class:`ConfigError`.
    """
    from dynamics.io import check_output_dir

    keys = resolve_names(names)
    out = check_output_dir("out_dir", out_dir)
    results: dict[str, FigureResult] = {}
    for key in keys:
        res = FIGURES[key].make(out, quick=quick)
        results[key] = res
        if log is not None:
            log(f"{key}: {', '.join(str(p) for p in res.paths)} ({res.seconds:.1f} s)")
    return results


__all__ = ["FIGURES", "FigureResult", "FigureSpec", "make_figure", "make_figures",
           "resolve_names"]

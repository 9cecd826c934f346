"""Containers shared by the figure modules, the registry and the ``figures`` command.

A figure module has ``make(out_dir, *, quick=False) -> FigureResult`` (theory figures), or
``make(out_dir, *, quick=False, ctx: FigureContext) -> FigureResult`` when its
:class:`FigureSpec` names training runs (``runs(tier)``, the same
:class:`~dynamics.verify.prediction.RunSpec` objects the predictions use, so a figure and the
``verify`` report read the same run folders). :meth:`FigureSpec.make` times the call and
writes ``<stem>.caption.md`` beside the PNG: the claim the figure shows, the predictions it
draws, the exact settings and the command that regenerates it.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dynamics.config import option
from dynamics.io import jsonable
from dynamics.registry import Registry
from dynamics.threads import with_thread_policy

#: Tiers of the ``figures`` command: ``smoke`` (small simulations, toy-data runs, seconds to
#: minutes) and ``cpu`` (full simulations, CIFAR-10 runs of the verify cpu tier).
FIGURE_TIERS = ("smoke", "cpu")


@dataclass
class FigureResult:
    """What one figure function produced.

    ``paths``: the files written (PNG first, then PDF). ``numbers``: the key quantitative facts
    the figure shows (fixed-point locations, collapse fractions, final norms, ...), each a float
    or a short string, all computed from the simulations or runs of that call. ``settings``:
    the parameters used. ``caption``: what the figure shows, in sentences (the claim first).
    """

    name: str
    paths: list[Path]
    numbers: dict[str, float | str]
    settings: dict[str, Any] = field(default_factory=dict)
    seconds: float = float("nan")
    caption: str = ""

    @property
    def png(self) -> Path:
        """The PNG file written."""
        return next(p for p in self.paths if p.suffix == ".png")

    @property
    def pdf(self) -> Path:
        """The PDF file written."""
        return next(p for p in self.paths if p.suffix == ".pdf")

    @property
    def caption_path(self) -> Path:
        """The caption file beside the PNG (``<stem>.caption.md``)."""
        return self.png.with_suffix(".caption.md")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (paths as strings, numbers and settings made JSON-safe)."""
        return {
            "name": self.name,
            "paths": [str(p) for p in self.paths],
            "numbers": {k: jsonable(v) for k, v in self.numbers.items()},
            "settings": {k: jsonable(v) for k, v in self.settings.items()},
            "seconds": round(float(self.seconds), 3),
            "caption": self.caption,
        }


@dataclass
class FigureContext:
    """What a run-based figure sees: the ``tier`` and the finished run folders of its runs
    (``runs[spec]``), in the same form as a prediction's
    :class:`~dynamics.verify.prediction.Context`."""

    tier: str
    runs: dict[Any, Path] = field(default_factory=dict)

    def folders(self, label: str) -> list[Path]:
        """The run folders of the arm ``label`` (one per seed), in seed order."""
        specs = sorted((s for s in self.runs if s.label == label), key=lambda s: s.seed)
        return [self.runs[s] for s in specs]


@dataclass(frozen=True)
class FigureSpec:
    """Registry entry: ``module`` is imported lazily and its ``function`` called as
    ``function(out_dir, quick=quick)`` (plus ``ctx=`` for run-based figures).

    ``paper``: the theory the figure belongs to (a key of
    :data:`~dynamics.verify.papers.PAPERS`; the figure's name starts with it).
    ``predictions``: ids of the registered predictions the figure is the visual form of.
    ``run_based``: the figure is drawn from training runs, and its module defines
    ``runs(tier) -> list[RunSpec]``. ``aliases``: other names the ``figures`` command accepts
    (``fig3`` for ``directpred_fig3``)."""

    name: str
    title: str
    module: str
    function: str = "make"
    paper_ref: str = ""
    paper: str = "directpred"
    predictions: tuple[str, ...] = ()
    run_based: bool = False
    aliases: tuple[str, ...] = ()

    def runs_for(self, tier: str) -> list:
        """The training runs the figure needs at ``tier``: the module's ``runs(tier)`` for
        run-based figures, none for simulation figures."""
        if not self.run_based:
            return []
        return list(importlib.import_module(self.module).runs(tier))

    def load(self):
        """Import ``module`` and return its figure function."""
        return getattr(importlib.import_module(self.module), self.function)

    @with_thread_policy
    def make(self, out_dir: Path | str, *, quick: bool = False,
             ctx: FigureContext | None = None) -> FigureResult:
        """Check ``out_dir`` (created if missing; no file in the way, writable: one-line
        ``ConfigError`` on ``out_dir``), make the figure into it and write its caption file.
        Run-based figures need ``ctx`` (the finished run folders)."""
        import time

        from dynamics.errors import ConfigError
        from dynamics.io import check_output_dir

        out = check_output_dir("out_dir", out_dir)
        t0 = time.perf_counter()
        if self.run_based:
            if ctx is None:
                raise ConfigError("ctx", f"figure {self.name} is drawn from training runs; "
                                         "make it with make_figures(..., tier=...)")
            result = self.load()(out, quick=quick, ctx=ctx)
        else:
            result = self.load()(out, quick=quick)
        result.seconds = time.perf_counter() - t0
        write_caption(self, result, tier=ctx.tier if ctx else ("smoke" if quick else "cpu"))
        return result


def _load_figures() -> None:
    from dynamics.verify.papers import theory_modules

    theory_modules("figures")


#: Every figure by name (a :class:`~dynamics.registry.Registry` of :class:`FigureSpec`; the
#: CLI, ``reproduce``, the gallery and the docs read it). Figures register themselves with
#: :func:`figure` in the ``figures`` module (or package) of their theory, imported the first
#: time the registry is read.
FIGURES = Registry("figure", field="figure", loader=_load_figures)


def figure(name: str, title: str, *, paper_ref: str = "", predictions: tuple[str, ...] = (),
           run_based: bool = False, aliases: tuple[str, ...] = ()):
    """Decorator registering a figure function ``make(out_dir, *, quick[, ctx])`` as ``name``
    in :data:`FIGURES`, next to its code.

    The figure belongs to the theory package that defines the function
    (``dynamics.theories.<key>``), and ``name`` must start with ``<key>_`` (or be ``<key>``):
    one name per theory. The figure's files are ``<name>.png``/``.pdf`` (the stem the function
    passes to :func:`~dynamics.plots.style.save_figure`).
    """
    from dynamics.verify.papers import theory_of

    def register(fn):
        key = theory_of(fn.__module__)
        if not (name == key or name.startswith(key + "_")):
            raise ValueError(f"figure {name!r} belongs to theory {key!r}: its name must start "
                             f"with {key + '_'!r}")
        spec = FigureSpec(name, title, fn.__module__, fn.__name__, paper_ref, key,
                          tuple(predictions), run_based, tuple(aliases))
        FIGURES.register(name, spec, doc=title, source=paper_ref, paper=key,
                         run_based=run_based)
        return fn

    return register


def caption_text(spec: FigureSpec, result: FigureResult, tier: str) -> str:
    """The caption file's Markdown: title, claim, predictions, settings, command."""
    head = f"**{spec.paper_ref + ': ' if spec.paper_ref else ''}{spec.title}.**"
    lines = [f"{head} {result.caption.strip()}".rstrip(), ""]
    if spec.predictions:
        lines += ["Predictions drawn: " + ", ".join(f"`{p}`" for p in spec.predictions) + ".",
                  ""]
    if result.settings:
        lines.append("Settings: " + "; ".join(f"{k} = {_show(v)}"
                                              for k, v in result.settings.items()) + ".")
        lines.append("")
    lines.append(f"Regenerate: `ssl-dynamics figures {spec.name} --tier {tier}` "
                 f"({result.seconds:.1f} s for this file).")
    return "\n".join(lines) + "\n"


def _show(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_show(x) for x in v) + "]"
    return str(v)


def write_caption(spec: FigureSpec, result: FigureResult, tier: str) -> Path:
    """Write ``<stem>.caption.md`` beside the figure's PNG (atomically)."""
    from dynamics.io import atomic_write_text

    return atomic_write_text(result.caption_path, caption_text(spec, result, tier))


@dataclass
class FiguresRun:
    """The typed config of ``ssl-dynamics figures`` (loaded by
    :func:`dynamics.config.load_typed`): which registered figures, where, at which tier."""

    names: list[str] = option(help="figures to make (fig3, 3 or fig03, or a name such as "
                                   "bridge_linear; empty or all: every registered figure)",
                              factory=list)
    out: str = option("results/figures", "output folder")
    tier: str = option("cpu", "smoke (small simulations, toy-data runs) or cpu (full "
                              "simulations; run-based figures from CIFAR-10 runs of the verify "
                              "cpu tier)", choices=FIGURE_TIERS)
    runs: str = option("runs/verify", "folder of the training runs of run-based figures "
                                      "(shared with verify: finished runs are reused)")
    data_root: str | None = option(None, "real images for cpu-tier runs: CIFAR-10 as a folder "
                                         "or .tar.gz (needed only for runs not yet in --runs)")
    jobs: int = option(1, "training runs at once (each one CPU thread)")
    device: str = option("cpu", "device of the training runs (cpu, cuda, auto)")
    gallery: str | None = option(None, "Markdown file whose gallery section is rewritten "
                                       "with every figure made and its caption (e.g. "
                                       "figures/README.md)")
    quick: bool = option(False, "theory figures at smoke size whatever the tier")

    def validate(self) -> None:
        """``jobs`` >= 1."""
        from dynamics.errors import ConfigError

        if self.jobs < 1:
            raise ConfigError("jobs", f"must be an integer >= 1, got {self.jobs}")

"""The papers behind the theories, and how their packages are found.

Each theory is one package ``dynamics.theories.<key>`` whose ``__init__`` defines ``PAPER``, a
:class:`Paper`; ``<key>`` is the theory's one name everywhere (its package, the prefix of its
prediction ids ``<key>.<claim>``, the prefix of its figure names ``<key>_<what>``, its gallery
section and its row in the docs). The package holds the theory's model, its symbolic check,
``predictions`` (a module or a package of modules) and ``figures`` (likewise); nothing outside
the package lists them: :data:`PAPERS`, the prediction registry and the figure registry import
what :func:`theory_modules` finds, the first time they are read.

>>> from dynamics.verify.papers import PAPERS
>>> PAPERS["isoloss"].cite("Sec. 4")     # doctest: +SKIP
'Halvagal, Laborieux & Zenke, NeurIPS 2023, Sec. 4'
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from types import ModuleType

from dynamics.registry import Registry

#: The package that holds one sub-package per theory.
THEORIES_PACKAGE = "dynamics.theories"


@dataclass(frozen=True)
class Paper:
    """The citation of a theory, written once (in its package's ``__init__``).

    ``key``: the theory's name (``isoloss``); ``authors`` as cited (``Halvagal, Laborieux &
    Zenke``); ``title``; ``venue`` with the year (``NeurIPS 2023``); ``year`` sorts the gallery
    and the reports (``None`` for the bridges that are not a paper: last); ``arxiv`` id if any.
    """

    key: str
    authors: str
    title: str
    venue: str
    year: int | None
    arxiv: str = ""

    @property
    def short(self) -> str:
        """``Authors, Venue``: the short form used in prediction sources."""
        return f"{self.authors}, {self.venue}" if self.venue else self.authors

    @property
    def citation(self) -> str:
        """``Authors, *Title*, Venue`` (Markdown): the gallery heading and the docs."""
        parts = [self.authors, f"*{self.title}*"] + ([self.venue] if self.venue else [])
        return ", ".join(parts)

    def cite(self, where: str = "") -> str:
        """The paper with the place of a claim: ``Authors, Venue, <where>``."""
        return f"{self.short}, {where}" if where else self.short


def theory_names() -> list[str]:
    """The theory packages under :data:`THEORIES_PACKAGE`, by package name."""
    pkg = importlib.import_module(THEORIES_PACKAGE)
    return sorted(m.name for m in pkgutil.iter_modules(pkg.__path__) if m.ispkg)


def _submodules(mod: ModuleType) -> list[ModuleType]:
    """``mod`` itself, or every module of the package ``mod`` (sorted by name)."""
    if not hasattr(mod, "__path__"):
        return [mod]
    out = [mod]
    for info in sorted(pkgutil.iter_modules(mod.__path__), key=lambda m: m.name):
        out += _submodules(importlib.import_module(f"{mod.__name__}.{info.name}"))
    return out


def theory_modules(part: str) -> list[ModuleType]:
    """Import the ``part`` (``predictions`` or ``figures``) of every theory, in the order of
    :data:`PAPERS`; a part that is a package is imported with all its modules."""
    out = []
    for key in PAPERS:
        name = f"{THEORIES_PACKAGE}.{key}.{part}"
        if importlib.util.find_spec(name) is None:
            continue
        out += _submodules(importlib.import_module(name))
    return out


def _load_papers() -> None:
    papers = []
    for key in theory_names():
        paper = getattr(importlib.import_module(f"{THEORIES_PACKAGE}.{key}"), "PAPER", None)
        if not isinstance(paper, Paper) or paper.key != key:
            raise TypeError(f"{THEORIES_PACKAGE}.{key} must define PAPER = Paper({key!r}, ...)")
        papers.append(paper)
    for paper in sorted(papers, key=lambda p: (p.year is None, p.year or 0, p.key)):
        PAPERS.register(paper.key, paper, doc=paper.citation, source=paper.arxiv)


def theory_of(module: str) -> str:
    """The theory key of a module inside ``dynamics.theories.<key>`` (ValueError elsewhere)."""
    prefix = THEORIES_PACKAGE + "."
    if not module.startswith(prefix):
        raise ValueError(f"{module} is not inside {THEORIES_PACKAGE}")
    return module[len(prefix):].split(".")[0]


#: Every theory's paper by key (sorted by year; read from ``dynamics.theories.<key>.PAPER``).
PAPERS = Registry("paper", field="paper", loader=_load_papers)

__all__ = ["PAPERS", "THEORIES_PACKAGE", "Paper", "theory_modules", "theory_names",
           "theory_of"]

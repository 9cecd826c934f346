"""One registry type for every extension point (methods, losses, encoders, datasets, recipes,
training metrics, figures, update rules, ...).

A :class:`Registry` is a read-only mapping name -> object (so ``REG[name]``, ``tuple(REG)`` and
``name in REG`` work as for a dict) plus an :class:`Entry` per name holding the object's
one-line ``doc``, its ``source`` (paper / code it follows) and free-form ``tags`` (e.g. a loss's
``family``). Entries register themselves next to their definition::

    LOSSES = Registry("loss", field="method.loss")

    @LOSSES.register("dcl", doc="decoupled contrastive loss", source="Yeh et al. 2022",
                     family="contrastive")
    def dcl(z1, z2, tau): ...

and everything else reads the registry: config validation (:meth:`Registry.check`, a one-line
:class:`~dynamics.errors.ConfigError` naming the field and the allowed values), CLI choices
(:meth:`Registry.names`), docs (:meth:`Registry.table`). A registry whose entries live in
modules found at run time (the predictions and figures of each theory package) takes a
``loader`` that imports them before the first read. Tests add toy entries at run time with
:meth:`Registry.register` and remove them with :meth:`Registry.unregister`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from dynamics.errors import ConfigError


@dataclass(frozen=True)
class Entry:
    """One registered object with its documentation."""

    name: str
    obj: Any
    doc: str = ""
    source: str = ""
    tags: Mapping[str, Any] = field(default_factory=dict)


class Registry(Mapping):
    """Name -> object, in registration order (see the module docstring).

    ``kind`` names what is registered (for messages); ``field`` is the config field whose
    values are the names (for one-line errors).
    """

    def __init__(self, kind: str, *, field: str | None = None,
                 loader: Callable[[], object] | None = None):
        self.kind = kind
        self.field = field or kind
        self._entries: dict[str, Entry] = {}
        self._loader = loader

    def _ensure(self) -> None:
        """Run the ``loader`` once, before the first read: entries that register themselves in
        modules found at run time (each theory's predictions and figures) are imported only
        when somebody asks for them."""
        loader, self._loader = self._loader, None
        if loader is not None:
            try:
                loader()
            except BaseException:
                self._loader = loader
                raise

    # Mapping ----------------------------------------------------------------------------------
    def __getitem__(self, name: str) -> Any:
        """The registered object (KeyError if unknown; :meth:`get` gives a ConfigError)."""
        self._ensure()
        return self._entries[name].obj

    def __iter__(self) -> Iterator[str]:
        """Names in registration order."""
        self._ensure()
        return iter(list(self._entries))

    def __len__(self) -> int:
        """Number of entries."""
        self._ensure()
        return len(self._entries)

    def __repr__(self) -> str:
        """``Registry(kind: names)``."""
        return f"Registry({self.kind}: {', '.join(self._entries)})"

    # registration ------------------------------------------------------------------------------
    def register(self, name: str, obj: Any = None, *, doc: str | None = None, source: str = "",
                 **tags: Any) -> Any:
        """Register ``obj`` as ``name``; without ``obj`` returns a decorator. ``doc`` defaults
        to the first line of the object's docstring. A name can be registered once (ValueError
        otherwise: two entries must not silently shadow each other)."""
        if obj is None:
            def decorator(o: Any) -> Any:
                self.register(name, o, doc=doc, source=source, **tags)
                return o
            return decorator
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        if doc is None:
            doc = ((getattr(obj, "__doc__", None) or "").strip().splitlines() or [""])[0]
        self._entries[name] = Entry(name, obj, doc, source, MappingProxyType(dict(tags)))
        return obj

    def unregister(self, name: str) -> None:
        """Remove ``name`` (no error if absent; for entries added at run time)."""
        self._entries.pop(name, None)

    # queries -----------------------------------------------------------------------------------
    def entry(self, name: str) -> Entry:
        """The :class:`Entry` of ``name`` (ConfigError if unknown)."""
        self._ensure()
        self.check(name)
        return self._entries[name]

    def entries(self, **tags: Any) -> list[Entry]:
        """The entries whose tags match every given ``tag=value``."""
        self._ensure()
        return [e for e in self._entries.values()
                if all(e.tags.get(k) == v for k, v in tags.items())]

    def names(self, **tags: Any) -> tuple[str, ...]:
        """Registered names (those whose tags match ``tags``), in registration order."""
        return tuple(e.name for e in self.entries(**tags))

    def check(self, name: Any, field: str | None = None, **tags: Any) -> Any:
        """``name`` if registered (and matching ``tags``), else a one-line ConfigError naming
        ``field`` (default: the registry's) and the allowed values."""
        allowed = self.names(**tags)
        if not isinstance(name, str) or name not in allowed:
            raise ConfigError(field or self.field,
                              f"must be one of {', '.join(allowed)}; got {name!r}")
        return name

    def get(self, name: Any, field: str | None = None, **tags: Any) -> Any:
        """The object registered as ``name`` (see :meth:`check` for errors)."""
        self._ensure()
        return self._entries[self.check(name, field, **tags)].obj

    def table(self, *tag_columns: str) -> str:
        """A Markdown table of the entries: name, doc, the given tags, source."""
        self._ensure()
        head = ["name", "what", *tag_columns, "source"]
        rows = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
        for e in self._entries.values():
            cells = [f"`{e.name}`", e.doc, *(str(e.tags.get(c, "-")) for c in tag_columns),
                     e.source or "-"]
            rows.append("| " + " | ".join(cells) + " |")
        return "\n".join(rows) + "\n"


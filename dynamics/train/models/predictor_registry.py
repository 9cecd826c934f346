"""The predictor kinds: one registry from which configs, validation, builders and docs are read.

Each :class:`PredictorKind` names its builder, the update rule it uses (closed-form kinds: an
entry of :data:`dynamics.predictors.PREDICTOR_RULES`) and its own typed parameters with their
defaults and sources. A closed-form kind's rule parameters take their defaults *from the rule*,
so the values a training run uses by default are the ones the rule documents (they cannot
drift: ``tests/predictors/test_predictor_registry.py`` checks it for every kind).

A config names a kind and gives that kind's parameters only::

    predictor: {kind: directcopy, eps: 0.25}

:func:`predictor_config` turns such a mapping into the kind's own dataclass (types converted
by OmegaConf, values checked; an option that does not belong to the kind is a one-line
:class:`ConfigError` listing the kind's options). Every kind has ``rho`` and ``centered``: the
running correlation F of the predictor input (Eq. 19 of Tian, Chen & Ganguli 2021), which the
closed-form kinds build their weight from and the instrument logs for every kind.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from dynamics.errors import ConfigError, check_choice, check_range
from dynamics.predictors.update_rules import UPDATE_RULES, make_update_rule
from dynamics.registry import Registry

# the built-in kinds register themselves when dynamics.train.models is imported (this module is
# imported through that package, so they are always there)


@dataclass(frozen=True)
class Param:
    """One typed parameter of a predictor kind."""

    type: type
    default: Any
    doc: str
    source: str = ""


@dataclass(frozen=True)
class PredictorKind:
    """A registered predictor kind (see the module docstring)."""

    name: str
    doc: str
    params: Mapping[str, Param]  #: every option of the kind (``COMMON`` included)
    build: Callable[[Any, int], Any]  #: ``build(section, dim) -> Predictor``
    rule: str | None = None  #: closed-form kinds: the PREDICTOR_RULES entry (directpred: by form)
    source: str = ""
    #: how Wp evolves: a name in :data:`dynamics.predictors.update_rules.UPDATE_RULES`
    update_rule: str = "learned"

    @property
    def closed_form(self) -> bool:
        """Whether the kind sets its weight by a closed-form rule (not by the gradient)."""
        return self.rule is not None

    def rule_name(self, cfg: Any) -> str | None:
        """The rule a config of this kind runs (DirectPred's ``form`` picks code or paper)."""
        if self.name == "directpred" and getattr(cfg, "form", "code") == "paper":
            return "directpred_paper"
        return self.rule

    def rule_kwargs(self, cfg: Any) -> dict[str, Any]:
        """The rule's tunable keywords, read from the config."""
        from dynamics.predictors import get_rule

        name = self.rule_name(cfg)
        if name is None:
            return {}
        return {k: getattr(cfg, k) for k in get_rule(name).defaults}

    def linear_rule(self, cfg: Any, dim: int) -> Any:
        """The :class:`~dynamics.predictors.update_rules.UpdateRule` this kind applies to a
        linear predictor of width ``dim``, for the linear-model simulations
        (:func:`dynamics.theories.directpred.sgd.simulate_sgd` ``rule=``): the same rule and options
        a training run of this config uses."""
        if self.update_rule != "spectral":
            return make_update_rule(self.update_rule)
        return make_update_rule("spectral", dim=int(dim), rule=self.rule_name(cfg),
                                rule_kwargs=self.rule_kwargs(cfg), rho=cfg.rho,
                                freq=cfg.freq, centered=cfg.centered)


COMMON: dict[str, Param] = {
    "rho": Param(float, 0.3, "EMA rate of the running correlation F (Eq. 19)",
                 "Tian et al. 2021, Sec. 4 (rho = 0.3 in Tables 6-8)"),
    "centered": Param(bool, False, "centre F (the paper finds uncentred better)",
                      "Tian et al. 2021, Sec. 4"),
}

#: Every predictor kind by name (a :class:`~dynamics.registry.Registry` of
#: :class:`PredictorKind`; kinds register themselves with :func:`register_predictor`, the
#: built-in ones in :mod:`dynamics.train.models.predictor_kinds`).
PREDICTOR_KINDS = Registry("predictor kind", field="predictor.kind")
#: The generated dataclass of each kind's config section (a cache, filled on first use).
_DATACLASSES: dict[str, type] = {}


def register_predictor(name: str, doc: str, params: Mapping[str, Param],
                       build: Callable[[Any, int], Any], *, rule: str | None = None,
                       source: str = "", update_rule: str | None = None) -> PredictorKind:
    """Register a predictor kind (``COMMON`` options are added); returns the entry. From then
    on configs (``predictor.kind=<name>`` with the given options), the CLI, validation and
    :func:`build_predictor` know it. ``update_rule`` (default: ``spectral`` for closed-form
    kinds, else ``learned``) names how Wp evolves, as in
    :data:`dynamics.predictors.update_rules.UPDATE_RULES`; the built predictor's
    ``update_rule`` attribute must say the same."""
    update_rule = update_rule or ("spectral" if rule is not None else "learned")
    UPDATE_RULES.check(update_rule, "update_rule")
    kind = PredictorKind(name, doc, MappingProxyType({**COMMON, **params}), build, rule, source,
                         update_rule)
    PREDICTOR_KINDS.register(name, kind, doc=doc, source=source, update_rule=update_rule,
                             closed_form=rule is not None)
    _DATACLASSES.pop(name, None)
    return kind


def unregister_predictor(name: str) -> None:
    """Remove a kind registered at run time (tests)."""
    PREDICTOR_KINDS.unregister(name)
    _DATACLASSES.pop(name, None)


def get_kind(name: Any) -> PredictorKind:
    """The registered kind ``name``; a one-line :class:`ConfigError` if unknown."""
    return PREDICTOR_KINDS.get(name)


def config_class(kind: str) -> type:
    """The dataclass of ``kind``'s config section (``kind`` plus the kind's parameters)."""
    if kind not in _DATACLASSES:
        k = get_kind(kind)
        fields = [("kind", str, field(default=kind))]
        fields += [(n, p.type, field(default=p.default)) for n, p in k.params.items()]
        cls = dataclasses.make_dataclass(
            "".join(w.title() for w in kind.split("_")) + "PredictorConfig", fields)
        cls.__doc__ = f"predictor.kind={kind}: {k.doc}. Options: {', '.join(k.params)}."
        _DATACLASSES[kind] = cls
    return _DATACLASSES[kind]


def predictor_config(section: Mapping[str, Any] | Any) -> Any:
    """The typed, checked config of one predictor section (a mapping with ``kind``)."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    from dynamics.config import plain_section

    if dataclasses.is_dataclass(section) and not isinstance(section, type):
        section = dataclasses.asdict(section)
    section = dict(section or {})
    kind = get_kind(section.get("kind", "linear"))
    extra = sorted(set(section) - {"kind"} - set(kind.params))
    if extra:
        raise ConfigError(f"predictor.{extra[0]}", f"is not an option of predictor.kind="
                                                   f"{kind.name}; its options: "
                                                   f"{', '.join(kind.params)}")
    cfg = plain_section(config_class(kind.name), section)
    try:
        if cfg is None:
            node = OmegaConf.merge(OmegaConf.structured(config_class(kind.name)), section)
            cfg = OmegaConf.to_object(node)
    except OmegaConfBaseException as exc:
        key = getattr(exc, "key", None) or "kind"
        text = str(exc).strip().splitlines()[0]
        raise ConfigError(f"predictor.{key}", text) from None
    check(kind, cfg)
    return cfg


def check(kind: PredictorKind, cfg: Any) -> None:
    """Range checks of the common parameters, and the kind's rule run once on a tiny input
    (so a bad rule value is refused before any work, named ``predictor.<option>``)."""
    check_range("predictor.rho", cfg.rho, low=0, high=1, high_open=True)
    if "hidden" in kind.params and (isinstance(cfg.hidden, bool) or cfg.hidden < 1):
        raise ConfigError("predictor.hidden", f"must be an integer >= 1, got {cfg.hidden!r}")
    if "freq" in kind.params and cfg.freq < 1:
        raise ConfigError("predictor.freq", f"must be an integer >= 1, got {cfg.freq!r}")
    if "form" in kind.params:
        check_choice("predictor.form", cfg.form, ("code", "paper"))
    if kind.closed_form:
        from dynamics.predictors import get_rule

        try:
            get_rule(kind.rule_name(cfg)).validate(kind.rule_kwargs(cfg))
        except ConfigError as exc:
            raise ConfigError(f"predictor.{exc.field}", str(exc)[len(exc.field) + 2:]
                              ) from None


def kinds_table() -> str:
    """A Markdown table of the kinds and their options with defaults (for docs)."""
    rows = ["| kind | what | update rule | source | options beyond `rho` (0.3), "
            "`centered` (False) |",
            "| --- | --- | --- | --- | --- |"]
    for k in PREDICTOR_KINDS.values():
        opts = ", ".join(f"`{n}` ({p.default!r})" for n, p in k.params.items()
                         if n not in COMMON) or "-"
        rows.append(f"| `{k.name}` | {k.doc} | {k.update_rule} | {k.source or '-'} | {opts} |")
    return "\n".join(rows) + "\n"


def build_predictor(cfg: Any, dim: int) -> Any:
    """The predictor module of a config: ``cfg`` is a TrainConfig or its predictor section
    (a kind dataclass or a mapping); ``dim`` the predictor width (projector output)."""
    section = getattr(cfg, "predictor", cfg)
    if not (dataclasses.is_dataclass(section) and getattr(section, "kind", None) in PREDICTOR_KINDS
            and isinstance(section, config_class(section.kind))):
        section = predictor_config(section)
    return get_kind(section.kind).build(section, int(dim))


__all__ = ["COMMON", "PREDICTOR_KINDS", "Param", "PredictorKind",
           "build_predictor", "config_class", "get_kind", "kinds_table", "predictor_config",
           "register_predictor", "unregister_predictor"]

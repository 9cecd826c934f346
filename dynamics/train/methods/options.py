"""The ``method`` section of a training config: the options every method shares, and each
method's own typed options, declared next to the method as :class:`Option` entries of its
class attribute ``options`` (as a predictor kind declares its own in the predictor registry).

A config names a method and gives the shared options and that method's options only::

    method: {name: barlow_twins, lambd: 1.0, standardize: false}

:func:`method_config` turns such a mapping into the method's own dataclass (a subclass of
:class:`MethodConfig` with one field per option, types converted by OmegaConf) and checks every
value against its :class:`Option` (one place: the option's own range); an option of another
method is a one-line :class:`~dynamics.errors.ConfigError` listing the method's options.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dynamics.errors import ConfigError, check_range

#: ``method.loss`` when unset: BYOL/SimSiam's loss; a method tagged ``default_loss`` (Barlow
#: Twins, VICReg) resolves it to its own loss.
DEFAULT_METHOD_LOSS = "cosine"


@dataclass(frozen=True)
class Option:
    """One typed option of a method: ``type``, ``default``, ``doc`` (one line), the lower
    bound ``low`` (``low_open``: strictly above it; ``None``: unbounded) and the ``source``
    of the default. ``None`` is allowed as a value when the default is ``None``."""

    type: type
    default: Any
    doc: str
    low: float | None = None
    low_open: bool = False
    source: str = ""

    def check(self, field: str, value: Any) -> None:
        """One-line :class:`ConfigError` naming ``field`` if ``value`` is out of range."""
        if value is None and self.default is None:
            return
        if self.type is int and (isinstance(value, bool) or not isinstance(value, int)):
            raise ConfigError(field, f"must be an integer, got {value!r}")
        if self.low is not None:
            check_range(field, value, low=self.low, low_open=self.low_open)


@dataclass
class MethodConfig:
    """The options every method shares (a method's own options are added to a subclass built
    by :func:`config_class`)."""

    name: str = "byol"  #: a name in dynamics.train.methods.METHODS
    ema: float | None = None  #: target EMA momentum gamma_a; None: 0.996 (BYOL), 0 (SimSiam)
    stop_grad: bool = True  #: stop the gradient through the target branch
    #: BYOL/SimSiam: cosine, euclidean, isoloss; SimCLR: contrastive; Barlow Twins / VICReg:
    #: their own loss (the default cosine resolves to it)
    loss: str = DEFAULT_METHOD_LOSS
    symmetric_loss: bool = True  #: average both directions (view1->view2 and view2->view1)


#: The shared option names.
COMMON = tuple(f.name for f in dataclasses.fields(MethodConfig))
_CLASSES: dict[str, type] = {}  # the generated dataclass of each method (a cache)


def method_options(name: str) -> Mapping[str, Option]:
    """The own options of the registered method ``name`` (ConfigError if unknown)."""
    from dynamics.train.methods.base import METHODS

    return METHODS.get(name).options


def config_class(name: str) -> type:
    """The dataclass of ``method.name=name``: :class:`MethodConfig` plus the method's options."""
    from dynamics.train.methods.base import METHODS

    cls = METHODS.get(name)
    if _CLASSES.get(name, (None,))[0] is not cls:
        fields = [("name", str, dataclasses.field(default=name))]
        fields += [(n, o.type | None if o.default is None else o.type,
                    dataclasses.field(default=o.default)) for n, o in cls.options.items()]
        made = dataclasses.make_dataclass(
            "".join(w.title() for w in name.split("_")) + "MethodConfig", fields,
            bases=(MethodConfig,))
        made.__doc__ = (f"method.name={name}: the shared options and "
                        f"{', '.join(cls.options) or 'no options of its own'}.")
        _CLASSES[name] = (cls, made)
    return _CLASSES[name][1]


def method_config(section: Mapping[str, Any] | Any) -> Any:
    """The typed, checked ``method`` section (a mapping or dataclass with ``name``)."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    from dynamics.config import plain_section

    if dataclasses.is_dataclass(section) and not isinstance(section, type):
        section = dataclasses.asdict(section)
    section = dict(section or {})
    name = section.get("name", "byol")
    options = method_options(name)
    extra = sorted(set(section) - set(COMMON) - set(options))
    if extra:
        raise ConfigError(f"method.{extra[0]}", f"is not an option of method.name={name}; its "
                                                f"options: {', '.join((*COMMON, *options))}")
    cfg = plain_section(config_class(name), section)
    try:
        if cfg is None:
            node = OmegaConf.merge(OmegaConf.structured(config_class(name)), section)
            cfg = OmegaConf.to_object(node)
    except OmegaConfBaseException as exc:
        key = getattr(exc, "key", None) or "name"
        text = str(exc).strip().splitlines()[0]
        raise ConfigError(f"method.{key}", text) from None
    for opt_name, opt in options.items():
        opt.check(f"method.{opt_name}", getattr(cfg, opt_name))
    return cfg


def options_table() -> str:
    """A Markdown table of every method's own options with defaults (for docs)."""
    from dynamics.train.methods.base import METHODS

    rows = ["| method | option | default | what |", "| --- | --- | --- | --- |"]
    for name, cls in METHODS.items():
        for opt_name, opt in cls.options.items():
            rows.append(f"| `{name}` | `{opt_name}` | {opt.default!r} | {opt.doc} |")
    return "\n".join(rows) + "\n"


#: Every option of the flat ``method`` section that run folders written before the per-method
#: sections hold, and its name in the method's own options.
LEGACY = {"tau": "tau", "dclw_sigma": "dclw_sigma", "unif_t": "unif_t",
          "unif_weight": "unif_weight", "directclr_dim": "directclr_dim",
          "bt_lambda": "lambd", "bt_standardize": "standardize", "vicreg_sim": "sim_coeff",
          "vicreg_std": "std_coeff", "vicreg_cov": "cov_coeff"}


def legacy_method(section: dict[str, Any]) -> dict[str, Any]:
    """A run folder's flat method section (every method's options side by side) mapped to its
    method's own options, with the values that run used."""
    if not set(LEGACY) <= set(section):
        return section
    own = method_options(section.get("name", "byol"))
    out = {k: v for k, v in section.items() if k in COMMON}
    out.update({new: section[old] for old, new in LEGACY.items() if new in own})
    return out


__all__ = ["COMMON", "DEFAULT_METHOD_LOSS", "LEGACY", "MethodConfig", "Option", "config_class",
           "legacy_method", "method_config", "method_options", "options_table"]

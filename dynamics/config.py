"""One configuration grammar for every command: typed dataclasses, YAML (or JSON) files and
``key=value`` overrides, with one-line errors.

Every command of the toolkit (simulations, phase diagrams, HLTM grids, figures, reproduce,
training) is configured by a dataclass *schema* whose fields carry their defaults and help
(:func:`option`). :func:`load_typed` builds the resolved config in layers::

    schema defaults  <-  --config FILE (YAML / JSON)  <-  key=value overrides  <-  --flags

then type-checks it (OmegaConf structured configs) and runs the schema's ``validate()``. An
unknown key names the keys allowed there; a wrong type or value names the dotted field; a
malformed override or file is one line too (all :class:`~dynamics.errors.ConfigError`).

:func:`add_schema_arguments` gives a command parser one ``--flag`` per field (``n_save`` ->
``--n-save``; the flag names users know keep working), ``--config FILE`` and positional
``key=value`` overrides; :func:`config_from_args` turns the parsed arguments into the typed
config. :func:`write_config` saves the resolved config next to a command's results
(``config.yaml`` in a run folder, ``<stem>.config.yaml`` beside a single output file), so any
result can be rerun with ``--config`` and found again.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from dynamics.errors import ConfigError

#: The repository's ``experiments/`` folder: the shipped training and grid configs.
EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"

#: argparse.Namespace keys that are not options of the schema.
_NOT_OPTIONS = ("config", "overrides")


def option(default: Any = dataclasses.MISSING, help: str = "", *, flag: str | None = None,
           choices: Sequence[Any] | Callable[[], Sequence[Any]] | None = None,
           factory: Any = None,
           negate: str | None = None) -> Any:
    """A schema field with its help text. ``flag`` overrides the command-line flag (default
    ``--`` + name with dashes), ``choices`` restricts the values (checked by :func:`load_typed`;
    a callable is asked at check time, so entries registered later are allowed),
    ``factory`` builds a mutable default (lists), ``negate`` adds a ``--no-...`` style flag
    that sets a boolean field to False (e.g. ``stop_grad`` / ``--no-stop-grad``)."""
    if choices is not None and not callable(choices):
        choices = tuple(choices)
    meta = {"help": help, "flag": flag, "choices": choices or None, "negate": negate}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def read_mapping(path: str | Path, field: str = "config") -> dict[str, Any]:
    """A YAML (.yaml/.yml) or JSON file holding a mapping (one-line ConfigError otherwise)."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(field, f"file not found: {path}")
    if p.suffix not in (".yaml", ".yml", ".json"):
        raise ConfigError(field, f"must be a .yaml, .yml or .json file, got {str(path)!r}")
    try:
        if p.suffix == ".json":
            data = json.loads(p.read_text())
        else:
            import yaml

            data = yaml.safe_load(p.read_text())
    except Exception as exc:  # noqa: BLE001 - every parser error is one line
        raise ConfigError(field, f"could not parse {path}: {_first_line(exc)}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(field, f"{path} must hold a mapping of key: value")
    return data


def parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    """``["a.b=1", "c=[1, 2]"]`` -> nested dict, values read as YAML (one-line errors)."""
    from omegaconf import OmegaConf

    for item in items:
        if "=" not in item or item.startswith("="):
            raise ConfigError("overrides", f"must look like key=value, got {item!r}")
    if not items:
        return {}
    try:
        return OmegaConf.to_container(OmegaConf.from_dotlist(list(items)))
    except Exception as exc:  # noqa: BLE001 - a malformed value is one line
        raise ConfigError("overrides", _first_line(exc)) from None


def allowed_keys(schema: type, parent: str | None = None) -> list[str]:
    """The keys allowed at a dotted path of a (nested) dataclass schema."""
    node: Any = schema
    for part in (parent.split(".") if parent else []):
        fields = {f.name: f for f in dataclasses.fields(node)}
        f = fields.get(part)
        if f is None or not dataclasses.is_dataclass(f.default_factory):
            break
        node = f.default_factory
    return [f.name for f in dataclasses.fields(node)]


def _check_keys(schema: type, layer: Mapping[str, Any], parent: str = "") -> None:
    """Unknown keys of a flat schema's layer name the allowed keys (before OmegaConf)."""
    names = {f.name: f for f in dataclasses.fields(schema)}
    for key, value in layer.items():
        dotted = f"{parent}{key}"
        if key not in names:
            raise ConfigError(dotted, f"unknown key; allowed: {', '.join(names)}")
        sub = names[key].default_factory
        if dataclasses.is_dataclass(sub) and isinstance(value, Mapping):
            _check_keys(sub, value, dotted + ".")


def _choices(f: dataclasses.Field) -> tuple | None:
    choices = f.metadata.get("choices")
    return tuple(choices()) if callable(choices) else choices


def _check_choices(cfg: Any) -> None:
    for f in dataclasses.fields(cfg):
        choices = _choices(f)
        value = getattr(cfg, f.name)
        if choices and value not in choices:
            raise ConfigError(f.name, f"must be one of {', '.join(map(str, choices))}; "
                                      f"got {value!r}")


_PLAIN_TYPES = {int: (int,), float: (float,), bool: (bool,), str: (str,)}
_HINTS: dict[type, dict[str, tuple[type, ...]]] = {}


def _plain_hints(cls: type) -> dict[str, tuple[type, ...]]:
    """Each field of ``cls`` whose type is int, float, bool or str (optionally ``| None``):
    the exact value types that need no conversion."""
    if cls not in _HINTS:
        out: dict[str, tuple[type, ...]] = {}
        for name, tp in typing.get_type_hints(cls).items():
            args = typing.get_args(tp) if isinstance(tp, types.UnionType) else (tp,)
            plain = [a for a in args if a is not type(None)]
            if len(plain) == 1 and plain[0] in _PLAIN_TYPES:
                out[name] = _PLAIN_TYPES[plain[0]] + ((type(None),) if len(args) > 1 else ())
        _HINTS[cls] = out
    return _HINTS[cls]


def plain_section(cls: type, section: Mapping[str, Any]) -> Any | None:
    """``cls(**section)`` when every value already has exactly its field's type (so OmegaConf's
    merge and conversion would return the same object, at a hundredth of the cost); None when
    any value needs OmegaConf (a conversion, an interpolation, an unknown key)."""
    hints = _plain_hints(cls)
    for key, value in section.items():
        allowed = hints.get(key)
        if allowed is None or type(value) not in allowed or (
                isinstance(value, str) and "${" in value):
            return None
    return cls(**section)


def load_typed(schema: type, path: str | Path | None = None, overrides: Sequence[str] = (),
               values: Mapping[str, Any] | None = None, *, validate: bool = True) -> Any:
    """The resolved, typed and checked config of ``schema`` (see the module docstring):
    defaults <- file ``path`` <- ``overrides`` (``key=value`` strings) <- ``values`` (already
    typed, e.g. from command-line flags). Runs ``cfg.validate()`` when the schema has one."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    layers = []
    if path is not None:
        layers.append(read_mapping(path))
    layers.append(parse_overrides(overrides))
    layers.append(dict(values or {}))
    for layer in layers:
        _check_keys(schema, layer)
    try:
        node = OmegaConf.merge(OmegaConf.structured(schema), *layers)
        cfg = OmegaConf.to_object(node)
    except OmegaConfBaseException as exc:
        key = getattr(exc, "full_key", None) or getattr(exc, "key", None) or "config"
        raise ConfigError(str(key), _first_line(exc)) from None
    _check_choices(cfg)
    if validate and hasattr(cfg, "validate"):
        cfg.validate()
    return cfg


def to_yaml(cfg: Any) -> str:
    """The resolved config as YAML (fields only; ``None`` kept as ``null``)."""
    import yaml

    from dynamics.io import jsonable

    return yaml.safe_dump(jsonable(dataclasses.asdict(cfg)), sort_keys=False)


def config_path_for(out: str | Path) -> Path:
    """Where a command's resolved config goes: ``<folder>/config.yaml`` for an output folder,
    ``<stem>.config.yaml`` beside an output file (a path with a suffix)."""
    out = Path(out)
    if out.suffix:
        return out.with_name(out.stem + ".config.yaml")
    return out / "config.yaml"


def write_config(cfg: Any, out: str | Path, *, command: str) -> Path:
    """Save the resolved ``cfg`` of ``command`` for its output ``out`` (see
    :func:`config_path_for`), atomically; returns the path. Rerun with ``--config`` on it."""
    from dynamics.io import atomic_write_text

    path = config_path_for(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, f"# ssl-dynamics {command}: resolved config\n" + to_yaml(cfg))
    return path


# --------------------------------------------------------------------------------------------
# command-line flags derived from a schema


def _flag(f: dataclasses.Field) -> str:
    return f.metadata.get("flag") or "--" + f.name.replace("_", "-")


def _scalar_type(tp: Any) -> tuple[Any, bool]:
    """(element type, is_list) of a field annotation such as ``float | None`` or
    ``list[int]``."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return _scalar_type(args[0]) if len(args) == 1 else (str, False)
    if origin in (list, tuple, Sequence):
        args = typing.get_args(tp)
        return (args[0] if args else str), True
    return tp, False


def _default_text(f: dataclasses.Field) -> str:
    if f.default_factory is not dataclasses.MISSING:
        value = f.default_factory()
    else:
        value = f.default
    if isinstance(value, list):
        value = " ".join(map(str, value)) or "none"
    return f" (default {value})"


def add_schema_arguments(parser: argparse.ArgumentParser, schema: type, *,
                         positional_overrides: bool = True, skip: Sequence[str] = ()) -> None:
    """``--config FILE``, ``key=value`` overrides and one flag per field of ``schema``
    except those in ``skip`` (defaults are *not* set on the parser: only given flags
    override the config)."""
    parser.add_argument("--config", help="YAML/JSON file with option values (a saved "
                                         "config.yaml reruns a result)")
    if positional_overrides:
        parser.add_argument("overrides", nargs="*", metavar="key=value",
                            help="overrides as key=value, for any option below (key = the "
                                 "option without -- and with _ for -)")
    hints = typing.get_type_hints(schema)
    for f in dataclasses.fields(schema):
        if f.name in skip:
            continue
        meta = f.metadata
        help_text = meta.get("help", "") + _default_text(f)
        elem, is_list = _scalar_type(hints[f.name])
        if elem is bool and not is_list:
            if meta.get("negate"):
                parser.add_argument(meta["negate"], dest=f.name, action="store_false",
                                    default=argparse.SUPPRESS, help=help_text)
            else:
                parser.add_argument(_flag(f), dest=f.name, action="store_true",
                                    default=argparse.SUPPRESS, help=help_text)
            continue
        kwargs: dict[str, Any] = {"dest": f.name, "default": argparse.SUPPRESS,
                                  "help": help_text}
        if elem in (int, float, str):
            kwargs["type"] = elem
        if is_list:
            kwargs["nargs"] = "+"
        if meta.get("choices"):  # checked by load_typed, with the same one-line error as files
            kwargs["metavar"] = "{" + ",".join(map(str, _choices(f))) + "}"
        parser.add_argument(_flag(f), **kwargs)


def config_from_args(schema: type, args: argparse.Namespace) -> Any:
    """The typed config of a command from its parsed arguments: ``--config`` file, then
    ``key=value`` overrides, then the flags that were given."""
    names = {f.name for f in dataclasses.fields(schema)}
    given = {k: v for k, v in vars(args).items() if k in names}
    return load_typed(schema, getattr(args, "config", None),
                      list(getattr(args, "overrides", None) or ()), given)


__all__ = ["add_schema_arguments", "allowed_keys", "config_from_args", "config_path_for",
           "load_typed", "option", "parse_overrides", "read_mapping", "to_yaml",
           "write_config"]

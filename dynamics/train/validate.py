"""Validation of a training config against the registries (one place for every rule).

:func:`validate` checks every field of a :class:`~dynamics.train.config.TrainConfig` before any
work starts and raises the first problem as a one-line :class:`~dynamics.errors.ConfigError`
naming the dotted field and the allowed values. The allowed values are read from the
registries, never from lists of names: data sets (:data:`dynamics.train.data.datasets.DATASETS`),
augmentation recipes (:data:`~dynamics.train.data.augment_recipes.RECIPES`), encoders
(:data:`dynamics.train.models.encoders.ENCODERS`), predictor kinds (their own dataclasses,
:func:`~dynamics.train.models.predictor_registry.predictor_config`), methods
(:data:`dynamics.train.methods.METHODS`, whose ``loss_family`` tag selects the allowed
``method.loss`` entries of :data:`dynamics.losses.LOSSES`, whose ``options`` are the method's
own typed and range-checked options and whose ``check_config`` holds its rules across
sections). Rules that follow from entries' tags (``files``, ``needs_root``,
``theory``) are written once here.
"""

from __future__ import annotations

from typing import Any

from dynamics.errors import ConfigError, check_choice, check_range
from dynamics.losses import LOSSES
from dynamics.metrics.linear_exact import LINEAR_SOLVERS
from dynamics.threads import parse_threads
from dynamics.train.data.augment_recipes import RECIPES
from dynamics.train.data.datasets import DATASETS
from dynamics.train.methods.base import METHODS  # the package registers every method
from dynamics.train.methods.options import DEFAULT_METHOD_LOSS, method_config
from dynamics.train.models.encoders import ENCODERS
from dynamics.train.models.heads import PROJECTOR_KINDS
from dynamics.train.models.predictor_registry import predictor_config
from dynamics.train.precision import compile_choice

DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "fp32", "bf16")
LR_SCALINGS = ("none", "linear")


def _positive_int(field_name: str, value: Any, *, low: int = 1, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(field_name, f"must be an integer >= {low}, got {value!r}")


def validate(cfg: Any) -> Any:
    """Range and choice checks of every field; raises the first problem as a ConfigError."""
    d, m, p, me, o, e, lg = (cfg.data, cfg.model, cfg.predictor, cfg.method, cfg.optim,
                             cfg.eval, cfg.log)
    if not cfg.name or "/" in cfg.name or cfg.name in (".", ".."):
        raise ConfigError("name", f"must be a plain folder name, got {cfg.name!r}")
    _positive_int("seed", cfg.seed, low=0)
    if not (cfg.device in DEVICES or cfg.device.startswith("cuda:")):
        raise ConfigError("device", f"must be one of auto, cpu, cuda, cuda:N; got {cfg.device!r}")
    check_choice("precision", cfg.precision, PRECISIONS)
    cfg.compile = compile_choice(cfg.compile)
    _positive_int("checkpoint_every", cfg.checkpoint_every)
    _positive_int("keep_checkpoints", cfg.keep_checkpoints, low=0, allow_none=True)
    parse_threads(cfg.threads)

    data_set = DATASETS.entry(DATASETS.check(d.dataset))
    check_choice("data.augment", d.augment, ("auto", *RECIPES))
    _positive_int("data.subset", d.subset, allow_none=True)
    _positive_int("data.test_subset", d.test_subset, allow_none=True)
    _positive_int("data.image_size", d.image_size, allow_none=True)
    _positive_int("data.num_workers", d.num_workers, low=0)
    _positive_int("data.synthetic_dim", d.synthetic_dim)
    check_range("data.synthetic_sigma2", d.synthetic_sigma2, low=0)
    _positive_int("data.synthetic_size", d.synthetic_size, low=2)
    if not data_set.tags.get("files", True) and d.root:
        raise ConfigError("data.root", f"data.dataset={d.dataset} is built in and reads no "
                                       f"files; remove data.root (or use data.dataset=folder "
                                       f"for images on disk)")
    if data_set.tags.get("needs_root") and not d.root:
        raise ConfigError("data.root", f"is required for dataset={d.dataset} (an image folder "
                                       f"or a .tar/.tar.gz of class folders)")

    encoder = ENCODERS.entry(ENCODERS.check(m.encoder))
    check_choice("model.projector_kind", m.projector_kind, PROJECTOR_KINDS)
    check_range("model.init_scale", m.init_scale, low=0, low_open=True)
    for name in ("width", "out_dim", "projector_hidden", "projector_dim"):
        _positive_int(f"model.{name}", getattr(m, name))
    if bool(encoder.tags.get("theory")) != bool(data_set.tags.get("theory")):
        theory_enc = ", ".join(e.name for e in ENCODERS.entries(theory=True))
        theory_data = ", ".join(e.name for e in DATASETS.entries(theory=True))
        raise ConfigError("model.encoder", f"{theory_enc} goes with data.dataset={theory_data} "
                                           f"(and that data with that encoder)")

    cfg.predictor = p = predictor_config(p)  # the kind's own options, checked

    cfg.method = me = method_config(me)  # the shared and the method's own options, checked
    method = METHODS.entry(me.name)
    if me.ema is not None:
        check_range("method.ema", me.ema, low=0, high=1, high_open=True)
    if me.loss == DEFAULT_METHOD_LOSS and method.tags.get("default_loss"):
        me.loss = method.tags["default_loss"]  # the shared default names the method's own loss
    LOSSES.check(me.loss, "method.loss", family=method.tags["loss_family"])
    method.obj.check_config(cfg)

    check_range("optim.lr", o.lr, low=0, low_open=True)
    check_range("optim.momentum", o.momentum, low=0, high=1, high_open=True)
    check_range("optim.weight_decay", o.weight_decay, low=0)
    check_range("optim.predictor_lr_mult", o.predictor_lr_mult, low=0, low_open=True)
    if o.predictor_weight_decay is not None:
        check_range("optim.predictor_weight_decay", o.predictor_weight_decay, low=0)
    _positive_int("optim.batch_size", o.batch_size, low=2)
    _positive_int("optim.epochs", o.epochs)
    _positive_int("optim.max_steps", o.max_steps, allow_none=True)
    check_choice("optim.lr_scaling", o.lr_scaling, LR_SCALINGS)
    _positive_int("optim.lr_base_batch", o.lr_base_batch)

    _positive_int("eval.knn_k", e.knn_k)
    check_range("eval.knn_temperature", e.knn_temperature, low=0, low_open=True)
    _positive_int("eval.online_probe_epochs", e.online_probe_epochs)
    _positive_int("eval.online_samples", e.online_samples, allow_none=True)
    _positive_int("eval.linear_epochs", e.linear_epochs)
    check_range("eval.linear_lr", e.linear_lr, low=0, low_open=True)
    check_range("eval.linear_weight_decay", e.linear_weight_decay, low=0)
    _positive_int("eval.linear_batch_size", e.linear_batch_size)
    check_choice("eval.linear_solver", e.linear_solver, LINEAR_SOLVERS)

    _positive_int("log.log_every", lg.log_every)
    return cfg

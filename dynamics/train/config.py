"""Typed configuration of a training run (OmegaConf structured configs over dataclasses).

A run is configured by one YAML file plus ``key=value`` overrides (dotted paths, e.g.
``optim.lr=0.05 predictor.kind=directpred``). Loading checks, before any work starts, that

* every key exists (an unknown key is an error naming it and the keys allowed there),
* every value has the declared type (OmegaConf's validation),
* every value is in its allowed range or set (:func:`validate`),

and reports the first problem as one :class:`~dynamics.errors.ConfigError` line whose field is
the dotted path, e.g. ``optim.lr: must be in (0, inf), got -1``. The fully resolved config is
saved in the run folder (``config.yaml``) so that a run can be resumed or re-evaluated exactly.

Names follow the DirectPred paper (Tian, Chen & Ganguli 2021) where a knob is a term of the
theory: ``optim.predictor_lr_mult`` is alpha_p, ``method.ema`` the EMA momentum gamma_a
(beta = (1 - gamma_a)/lr), ``optim.weight_decay`` eta_bar, ``optim.predictor_weight_decay`` the
predictor-only weight decay of Table 5, ``predictor.rho``/``eps``/``freq`` DirectPred's Eqs. 18-19.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dynamics.errors import ConfigError
from dynamics.train.methods.base import METHODS
from dynamics.train.models.predictor_registry import PREDICTOR_KINDS  # noqa: F401 - re-exported
from dynamics.train.validate import (  # noqa: F401 - re-exported choices
    DEFAULT_METHOD_LOSS,
    DEVICES,
    LR_SCALINGS,
    PRECISIONS,
    validate,
)


@dataclass
class DataConfig:
    """Where the images come from and how views are made."""

    dataset: str = "digits"  #: a name in dynamics.train.data.datasets.DATASETS
    root: str | None = None  #: torchvision root, image folder, or .tar/.tar.gz of class folders
    download: bool = False  #: let torchvision download CIFAR/STL into ``root``
    subset: int | None = None  #: seeded random subset of the training images
    test_subset: int | None = None  #: seeded random subset of the evaluation images
    image_size: int | None = None  #: resize images of a folder/tarball to this size
    augment: str = "auto"  #: augmentation recipe; "auto" picks the dataset's paper recipe
    on_device: bool = True  #: batched on-device augmentation (False: per-sample DataLoader)
    num_workers: int = 2  #: worker processes of the per-sample DataLoader fallback
    synthetic_dim: int = 16  #: synthetic data: input dimension n1
    synthetic_sigma2: float = 0.5  #: synthetic data: augmentation variance (X' = sigma2 I)
    synthetic_size: int = 4096  #: synthetic data: samples per epoch


@dataclass
class ModelConfig:
    """Encoder (backbone) and projector."""

    encoder: str = "convnet"  #: a name in dynamics.train.models.encoders.ENCODERS
    cifar_stem: bool = True  #: ResNet: 3x3 stride-1 first conv and no max-pool (small images)
    width: int = 32  #: ConvNet base channels / MLP hidden width
    out_dim: int = 16  #: linear encoder: output dimension n2 (synthetic runs)
    projector: bool = True  #: add a projector (false: the predictor / loss sees the encoder)
    #: mlp: the paper's Linear-BN-ReLU-Linear; linear: one bias-free Linear(d, projector_dim)
    projector_kind: str = "mlp"
    projector_hidden: int = 512
    projector_dim: int = 128
    #: multiply the initial weights of every Linear / Conv layer of encoder and projector by
    #: this (small starts, Simon et al. 2023; BatchNorm after a layer undoes its scale)
    init_scale: float = 1.0


def default_predictor() -> Any:
    """The default predictor section: a learned linear predictor (each kind's options and
    defaults live in :mod:`dynamics.train.models.predictor_registry`)."""
    from dynamics.train.models.predictor_registry import predictor_config

    return predictor_config({"kind": "linear"})


def default_method() -> Any:
    """The default method section: BYOL with the shared options (each method's own options and
    their defaults live with the method, :mod:`dynamics.train.methods.options`)."""
    from dynamics.train.methods.options import method_config

    return method_config({"name": "byol"})


@dataclass
class OptimConfig:
    """SGD with momentum (the paper's optimiser); predictor rate and decay separately."""

    lr: float = 0.03
    momentum: float = 0.9
    weight_decay: float = 4e-4  #: eta_bar for the online network (and predictor unless set)
    predictor_lr_mult: float = 1.0  #: alpha_p: predictor lr = lr * alpha_p
    predictor_weight_decay: float | None = None  #: Table 5: predictor-only weight decay
    batch_size: int = 128
    epochs: int = 10
    max_steps: int | None = None  #: stop after this many steps (smoke runs)
    #: "none": lr as given; "linear": every lr x global batch / lr_base_batch (global batch =
    #: batch_size x processes; solo-learn's rule with lr_base_batch 256)
    lr_scaling: str = "none"
    lr_base_batch: int = 256  #: lr_scaling=linear: the global batch optim.lr is quoted for


@dataclass
class EvalConfig:
    """Online probes each epoch and the offline linear evaluation at the end."""

    every_epoch: bool = True  #: kNN and a short linear probe on held-out data each epoch
    knn_k: int = 20
    knn_temperature: float = 0.07
    online_probe_epochs: int = 10  #: epochs of the cheap per-epoch linear probe
    #: per-epoch kNN and probe on a seeded subset of this many probe-train and as many test
    #: images (None: all); the final evaluation always uses all of them
    online_samples: int | None = None
    final: bool = True  #: offline linear evaluation (paper protocol) at the end
    #: adam: the paper's protocol (linear_epochs of minibatch Adam); lbfgs: the exact optimum
    #: of the same L2-regularised logistic regression, full batch (dynamics.metrics.linear_exact)
    linear_solver: str = "adam"
    linear_epochs: int = 50
    linear_lr: float = 3e-4
    linear_weight_decay: float = 1e-3
    linear_batch_size: int = 128


@dataclass
class LogConfig:
    """What is measured and where it goes."""

    log_every: int = 50  #: steps between rows of metrics.jsonl
    tensorboard: bool = False  #: also write TensorBoard scalars (needs tensorboard installed)
    wandb: bool = False  #: also log to Weights & Biases (needs wandb installed)
    wandb_project: str = "ssl-dynamics"
    progress: bool = True  #: progress bar on the terminal


@dataclass
class TrainConfig:
    """A whole training run. ``name`` is the run folder under ``out_dir``."""

    name: str = "run"
    out_dir: str = "runs"
    seed: int = 0
    device: str = "auto"  #: auto (CUDA if present), cpu, cuda, cuda:N
    precision: str = "auto"  #: auto (bf16 on CUDA and native-bf16 CPUs for images), fp32, bf16
    channels_last: bool = True  #: channels-last images and conv weights (CPU and CUDA)
    compile: str = "auto"  #: torch.compile the step: auto (long CPU image runs), on, off
    deterministic: bool = True  #: deterministic algorithms where available (exact resume)
    sync_bn: bool = False  #: SyncBatchNorm under DDP
    checkpoint_every: int = 1  #: epochs between checkpoints
    keep_checkpoints: int | None = 3  #: epoch_XXXX.pt files kept besides last.pt (None: all)
    threads: str = "auto"  #: CPU threads: auto (idle cores, >= 1) or N (dynamics.threads)
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    #: ``{kind: ..., <that kind's options>}``, typed per kind after loading (the kind's
    #: dataclass from :func:`~dynamics.train.models.predictor_registry.config_class`)
    predictor: Any = field(default_factory=default_predictor)
    #: ``{name: ..., <shared options>, <that method's options>}``, typed per method after
    #: loading (:func:`~dynamics.train.methods.options.method_config`)
    method: Any = field(default_factory=default_method)
    optim: OptimConfig = field(default_factory=OptimConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    log: LogConfig = field(default_factory=LogConfig)

    @property
    def run_dir(self) -> Path:
        """The run's folder, ``out_dir / name``."""
        return Path(self.out_dir) / self.name

    @property
    def ema_momentum(self) -> float:
        """The effective target EMA momentum (method default when ``method.ema`` is None)."""
        if self.method.ema is not None:
            return float(self.method.ema)
        entry = METHODS.entry(self.method.name) if self.method.name in METHODS else None
        return float(entry.tags.get("default_ema", 0.0)) if entry else 0.0


def global_batch_size(cfg: TrainConfig, world_size: int = 1) -> int:
    """Images per optimizer step over all processes (``optim.batch_size`` is per process)."""
    return int(cfg.optim.batch_size) * int(world_size)


def lr_scale(cfg: TrainConfig, world_size: int = 1) -> float:
    """Factor applied to every learning rate: 1 (``optim.lr_scaling=none``) or global batch /
    ``optim.lr_base_batch`` (``linear``)."""
    if cfg.optim.lr_scaling == "linear":
        return global_batch_size(cfg, world_size) / cfg.optim.lr_base_batch
    return 1.0


# --------------------------------------------------------------------------------------------
# Validation


# --------------------------------------------------------------------------------------------
# Loading


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = (),
                ) -> TrainConfig:
    """Defaults <- YAML file <- ``key=value`` overrides, type-checked and validated.

    Raises :class:`ConfigError` (one line, dotted field name) on a missing file, an unknown
    key, a wrong type or an out-of-range value.
    """
    from omegaconf import OmegaConf

    from dynamics.config import parse_overrides, read_mapping

    # the toolkit's one grammar (dynamics.config): the file, then the key=value overrides
    layers = [OmegaConf.create(read_mapping(path))] if path is not None else []
    if overrides:
        layers.append(OmegaConf.create(parse_overrides(list(overrides))))
    return validate(_merge(layers))


def _merge(layers: list[Any]) -> TrainConfig:
    """The defaults of :class:`TrainConfig` merged with ``layers`` (OmegaConf nodes), typed;
    every OmegaConf error becomes a one-line :class:`ConfigError` naming the key."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    for layer in layers:
        if not OmegaConf.is_dict(layer):
            raise ConfigError("config", "must be a mapping of key: value")
    layers = _section_last(_section_last(layers, "predictor", "kind"), "method", "name")
    try:
        base = OmegaConf.structured(TrainConfig)
        base.predictor = {"kind": "linear"}  # typed per kind after the merge (validate)
        base.method = {"name": "byol"}  # typed per method after the merge (validate)
        cfg = OmegaConf.to_object(OmegaConf.merge(base, *layers))
        return cfg
    except OmegaConfBaseException as exc:
        key = getattr(exc, "full_key", None) or "config"
        if type(exc).__name__ == "ConfigKeyError":
            parent = key.rsplit(".", 1)[0] if "." in key else None
            raise ConfigError(key, f"unknown key; allowed: {', '.join(merged_keys(parent))}"
                              ) from None
        raise ConfigError(key, _first_line(exc)) from None


#: Options every ``method`` section keeps when a layer switches ``method.name``.
_SHARED = {"method": ("ema", "stop_grad", "loss", "symmetric_loss"), "predictor": ()}


def _section_last(layers: list[Any], key: str, selector: str) -> list[Any]:
    """The ``key`` section (``predictor`` by ``kind``, ``method`` by ``name``) of all layers
    combined into one final layer: a layer that switches the ``selector`` starts the section
    afresh (a method keeps its shared options: ``ema``, ``loss``, ...; the options an earlier layer
    gave for another kind or method are dropped, so ``predictor.kind=none`` on top of a file with a
    linear predictor's ``bias`` works); otherwise later layers win key by key."""
    from omegaconf import OmegaConf

    section: dict[str, Any] = {}
    out = []
    for layer in layers:
        part = layer.get(key) if OmegaConf.is_dict(layer) else None
        if part is None:
            out.append(layer)
            continue
        part = OmegaConf.to_container(part) if OmegaConf.is_config(part) else part
        if not isinstance(part, dict):
            raise ConfigError(key, f"must be a mapping with a {selector} and its options")
        if selector in part and part[selector] != section.get(selector, part[selector]):
            section = {k: v for k, v in section.items() if k in _SHARED[key]}
        section.update(part)
        rest = OmegaConf.masked_copy(layer, [k for k in layer if k != key])
        out.append(rest)
    if section:
        out.append(OmegaConf.create({key: section}))
    return out


def merged_keys(parent: str | None) -> list[str]:
    """The keys allowed at a dotted path of :class:`TrainConfig` (for error messages)."""
    from dataclasses import fields

    node: Any = TrainConfig
    if parent:
        for part in parent.split("."):
            ftypes = {f.name: f for f in fields(node)}
            if part not in ftypes:
                return [f.name for f in fields(node)]
            node = ftypes[part].default_factory  # nested dataclasses use default_factory
    return [f.name for f in fields(node)]


def to_yaml(cfg: TrainConfig) -> str:
    """The resolved config as YAML (what a run folder stores)."""
    from omegaconf import OmegaConf

    return OmegaConf.to_yaml(OmegaConf.structured(cfg))


def from_yaml_text(text: str) -> TrainConfig:
    """Inverse of :func:`to_yaml` (validated); a malformed or wrongly typed file is a one-line
    :class:`ConfigError`."""
    from omegaconf import OmegaConf

    try:
        layer = OmegaConf.create(text)
    except Exception as exc:  # noqa: BLE001 - yaml errors
        raise ConfigError("config", f"could not parse: {_first_line(exc)}") from None
    if OmegaConf.is_dict(layer) and OmegaConf.is_dict(layer.get("predictor")):
        section = OmegaConf.to_container(layer.predictor)
        layer.predictor = _legacy_predictor(section)
    if OmegaConf.is_dict(layer) and OmegaConf.is_dict(layer.get("method")):
        from dynamics.train.methods.options import legacy_method

        layer.method = legacy_method(OmegaConf.to_container(layer.method))
    return validate(_merge([layer]))


#: Every key of the single flat predictor section that run folders written before the
#: per-kind sections hold (and how each kind read it).
_LEGACY_KEYS = {"kind", "bias", "hidden", "rho", "eps", "freq", "form", "alpha", "threshold",
                "centered"}


def _legacy_predictor(section: dict[str, Any]) -> dict[str, Any]:
    """A run folder's flat predictor section mapped to its kind's options, with the values that
    run used (``threshold`` was the rule's ``c``, ridge read ``eps`` as its ``ridge``)."""
    if not _LEGACY_KEYS <= set(section):
        return section
    from dynamics.train.models.predictor_registry import get_kind

    kind = get_kind(section["kind"])
    renamed = {**section, "c": section["threshold"]}
    if kind.name == "ridge":
        renamed["ridge"] = section["eps"]
    return {k: v for k, v in renamed.items() if k == "kind" or k in kind.params}

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

from dynamics.errors import ConfigError, check_choice, check_range
from dynamics.train.models.predictor_registry import PREDICTOR_KINDS_REGISTRY

DATASET_NAMES = ("digits", "synthetic", "cifar10", "cifar100", "stl10", "folder")
RECIPE_NAMES = ("auto", "cifar", "stl", "digits", "none")
ENCODER_NAMES = ("resnet18", "convnet", "mlp", "linear")
PREDICTOR_KINDS = tuple(PREDICTOR_KINDS_REGISTRY)  #: read from the predictor registry
METHOD_NAMES = ("byol", "simsiam", "simclr")
NONCONTRASTIVE_LOSSES = ("cosine", "euclidean", "isoloss")
CONTRASTIVE_LOSSES = ("infonce", "dcl", "dclw", "exact_cov", "align_uniform")
DEVICES = ("auto", "cpu", "cuda")
DEFAULT_EMA = {"byol": 0.996, "simsiam": 0.0, "simclr": 0.0}
PRECISIONS = ("auto", "fp32", "bf16")
LR_SCALINGS = ("none", "linear")


@dataclass
class DataConfig:
    """Where the images come from and how views are made."""

    dataset: str = "digits"  #: one of DATASET_NAMES
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

    encoder: str = "convnet"  #: one of ENCODER_NAMES
    cifar_stem: bool = True  #: ResNet: 3x3 stride-1 first conv and no max-pool (small images)
    width: int = 32  #: ConvNet base channels / MLP hidden width
    out_dim: int = 16  #: linear encoder: output dimension n2 (synthetic runs)
    projector: bool = True  #: add the projector MLP (the paper's Linear-BN-ReLU-Linear)
    projector_hidden: int = 512
    projector_dim: int = 128


def default_predictor() -> Any:
    """The default predictor section: a learned linear predictor (each kind's options and
    defaults live in :mod:`dynamics.train.models.predictor_registry`)."""
    from dynamics.train.models.predictor_registry import predictor_config

    return predictor_config({"kind": "linear"})


@dataclass
class MethodConfig:
    """The SSL method and its ablation knobs."""

    name: str = "byol"  #: one of METHOD_NAMES
    ema: float | None = None  #: target EMA momentum gamma_a; None: 0.996 (BYOL), 0 (SimSiam)
    stop_grad: bool = True  #: stop the gradient through the target branch
    loss: str = "cosine"  #: BYOL/SimSiam: cosine, euclidean, isoloss; SimCLR: contrastive
    symmetric_loss: bool = True  #: average both directions (view1->view2 and view2->view1)
    tau: float = 0.5  #: SimCLR temperature
    dclw_sigma: float = 0.5  #: DCLW weighting temperature
    unif_t: float = 2.0  #: align_uniform: uniformity temperature t
    unif_weight: float = 1.0  #: align_uniform: weight of the uniformity term


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
    final: bool = True  #: offline linear evaluation (paper protocol) at the end
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
    precision: str = "auto"  #: auto (bf16 autocast on CUDA, fp32 on CPU), fp32, bf16 (any device)
    channels_last: bool = True  #: channels_last memory format on CUDA
    compile: bool = False  #: torch.compile the model
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
    method: MethodConfig = field(default_factory=MethodConfig)
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
        return DEFAULT_EMA.get(self.method.name, 0.0)


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


def _positive_int(field_name: str, value: Any, *, low: int = 1, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(field_name, f"must be an integer >= {low}, got {value!r}")


def validate(cfg: TrainConfig) -> TrainConfig:
    """Range and choice checks of every field; raises the first problem as a ConfigError."""
    d, m, p, me, o, e, lg = (cfg.data, cfg.model, cfg.predictor, cfg.method, cfg.optim,
                             cfg.eval, cfg.log)
    if not cfg.name or "/" in cfg.name or cfg.name in (".", ".."):
        raise ConfigError("name", f"must be a plain folder name, got {cfg.name!r}")
    _positive_int("seed", cfg.seed, low=0)
    if not (cfg.device in DEVICES or cfg.device.startswith("cuda:")):
        raise ConfigError("device", f"must be one of auto, cpu, cuda, cuda:N; got {cfg.device!r}")
    check_choice("precision", cfg.precision, PRECISIONS)
    _positive_int("checkpoint_every", cfg.checkpoint_every)
    _positive_int("keep_checkpoints", cfg.keep_checkpoints, low=0, allow_none=True)
    from dynamics.threads import parse_threads

    parse_threads(cfg.threads)

    check_choice("data.dataset", d.dataset, DATASET_NAMES)
    check_choice("data.augment", d.augment, RECIPE_NAMES)
    _positive_int("data.subset", d.subset, allow_none=True)
    _positive_int("data.test_subset", d.test_subset, allow_none=True)
    _positive_int("data.image_size", d.image_size, allow_none=True)
    _positive_int("data.num_workers", d.num_workers, low=0)
    _positive_int("data.synthetic_dim", d.synthetic_dim)
    check_range("data.synthetic_sigma2", d.synthetic_sigma2, low=0)
    _positive_int("data.synthetic_size", d.synthetic_size, low=2)
    if d.dataset in ("digits", "synthetic") and d.root:
        raise ConfigError("data.root", f"data.dataset={d.dataset} is built in and reads no "
                                       f"files; remove data.root (or use data.dataset=folder "
                                       f"for images on disk)")
    if d.dataset == "folder" and not d.root:
        raise ConfigError("data.root", "is required for dataset=folder (an image folder or a "
                                       ".tar/.tar.gz of class folders)")

    check_choice("model.encoder", m.encoder, ENCODER_NAMES)
    for name in ("width", "out_dim", "projector_hidden", "projector_dim"):
        _positive_int(f"model.{name}", getattr(m, name))
    if (m.encoder == "linear") != (d.dataset == "synthetic"):
        raise ConfigError("model.encoder", "linear goes with data.dataset=synthetic (and the "
                                           "synthetic data with the linear encoder)")

    from dynamics.train.models.predictor_registry import predictor_config

    cfg.predictor = p = predictor_config(p)  # the kind's own options, checked

    check_choice("method.name", me.name, METHOD_NAMES)
    if me.ema is not None:
        check_range("method.ema", me.ema, low=0, high=1, high_open=True)
    allowed = CONTRASTIVE_LOSSES if me.name == "simclr" else NONCONTRASTIVE_LOSSES
    check_choice("method.loss", me.loss, allowed)
    check_range("method.tau", me.tau, low=0, low_open=True)
    check_range("method.dclw_sigma", me.dclw_sigma, low=0, low_open=True)
    check_range("method.unif_t", me.unif_t, low=0, low_open=True)
    check_range("method.unif_weight", me.unif_weight, low=0)
    if me.name == "simclr" and p.kind != "none":
        raise ConfigError("predictor.kind", "must be none for method=simclr (no predictor)")
    if me.name == "simsiam" and me.ema not in (None, 0):
        raise ConfigError("method.ema", "must be 0 for method=simsiam (the target is the online "
                                        "network); use method=byol for an EMA target")

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
    _positive_int("eval.linear_epochs", e.linear_epochs)
    check_range("eval.linear_lr", e.linear_lr, low=0, low_open=True)
    check_range("eval.linear_weight_decay", e.linear_weight_decay, low=0)
    _positive_int("eval.linear_batch_size", e.linear_batch_size)

    _positive_int("log.log_every", lg.log_every)
    return cfg


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

    layers = []
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError("config", f"file not found: {p}")
        try:
            layers.append(OmegaConf.load(p))
        except Exception as exc:  # yaml errors
            raise ConfigError("config", f"could not parse {p}: {_first_line(exc)}") from None
    for item in overrides:
        if "=" not in item:
            raise ConfigError("overrides", f"must look like key=value, got {item!r}")
    if overrides:
        try:
            layers.append(OmegaConf.from_dotlist(list(overrides)))
        except Exception as exc:  # noqa: BLE001 - a malformed value is one line
            raise ConfigError("overrides", _first_line(exc)) from None
    return validate(_merge(layers))


def _merge(layers: list[Any]) -> TrainConfig:
    """The defaults of :class:`TrainConfig` merged with ``layers`` (OmegaConf nodes), typed;
    every OmegaConf error becomes a one-line :class:`ConfigError` naming the key."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    for layer in layers:
        if not OmegaConf.is_dict(layer):
            raise ConfigError("config", "must be a mapping of key: value")
    try:
        base = OmegaConf.structured(TrainConfig)
        base.predictor = {"kind": "linear"}  # typed per kind after the merge (validate)
        cfg = OmegaConf.to_object(OmegaConf.merge(base, *layers))
        return cfg
    except OmegaConfBaseException as exc:
        key = getattr(exc, "full_key", None) or "config"
        if type(exc).__name__ == "ConfigKeyError":
            parent = key.rsplit(".", 1)[0] if "." in key else None
            raise ConfigError(key, f"unknown key; allowed: {', '.join(merged_keys(parent))}"
                              ) from None
        raise ConfigError(key, _first_line(exc)) from None


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

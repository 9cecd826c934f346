"""Training runs shared by the predictions of several theories (one recipe, one set of run
folders): the SimCLR arms of the contrastive predictions and the BYOL + DirectPred weight-decay
sweep on real images.

**SimCLR arms.** Every run is one arm of a small grid of SimCLR settings (:func:`simclr_arm`);
an arm is fully spelled out in its overrides (loss, temperature, uniformity weight, projector
width, batch), so two predictions that need the same arm declare the same :class:`RunSpec` and
can share the run. Smoke tier: the embedded 8x8 digits, a tiny ConvNet, 40 steps, one seed
(said in the details); cpu tier: the 5k-image CIFAR-10 subset of ``cpu_cifar10_simclr.yaml``
(``{data_root}``), 10 epochs, 3 seeds; paper tier: all of CIFAR-10, ResNet-18, 100 epochs (DCL:
200), 3 seeds. Used by ``alignment_uniformity``, ``rank_metrics``, ``dcl`` and the
``dual_networks`` covariance-operator figure.

**Weight-decay sweep.** BYOL + DirectPred on a small ConvNet, 10 epochs, weight decay
:data:`WDS` x seeds :data:`WD_SEEDS` (:func:`weight_decay_runs`); used by
``feature_threshold`` (surviving modes of F), ``rank_metrics`` (rank metrics against the probe)
and, through :data:`BYOL_DIRECTPRED_BASE`, ``isoloss``.
"""

from __future__ import annotations

from pathlib import Path

from dynamics.verify import run_data as rd
from dynamics.verify.prediction import Context, RunSpec

SMOKE_BASE = ("device=cpu", "model.width=8", "model.projector_hidden=32", "optim.max_steps=40",
              "eval.every_epoch=false", "eval.linear_epochs=50", "log.log_every=5")


CPU_BASE = ("data.root={data_root}", "eval.every_epoch=false", "eval.linear_epochs=100")


PAPER_BASE = ("data.root={data_root}", "data.subset=null", "data.test_subset=null",
              "model.encoder=resnet18", "model.projector_hidden=512", "eval.every_epoch=false",
              "eval.linear_epochs=50")


#: Epochs per tier (smoke: capped by optim.max_steps).
DEFAULT_EPOCHS = {"smoke": 50, "cpu": 10, "paper": 100}


DEFAULT_PROJ = {"smoke": 16, "cpu": 128, "paper": 128}


DEFAULT_BATCH = {"smoke": 128, "cpu": 64, "paper": 128}


def simclr_arm(tier: str, *, loss: str = "infonce", tau: float = 0.5, unif_weight: float = 1.0,
               proj: int | None = None, batch: int | None = None, epochs: int | None = None
               ) -> tuple[str, tuple[str, ...]]:
    """(label, overrides) of one SimCLR arm at ``tier`` (every varied knob spelled out)."""
    proj = proj or DEFAULT_PROJ[tier]
    batch = batch or DEFAULT_BATCH[tier]
    base = {"smoke": SMOKE_BASE, "cpu": CPU_BASE, "paper": PAPER_BASE}[tier]
    over = (*base, f"method.loss={loss}", f"method.tau={tau:g}",
            f"method.unif_weight={unif_weight:g}", f"model.projector_dim={proj}",
            f"optim.batch_size={batch}", f"optim.epochs={epochs or DEFAULT_EPOCHS[tier]}")
    label = f"simclr-{loss}-t{tau:g}-w{unif_weight:g}-p{proj}-b{batch}"
    return label, over


def simclr_config(tier: str) -> str:
    """The base config file of the SimCLR runs at ``tier``."""
    return "cpu_digits_simclr.yaml" if tier == "smoke" else "cpu_cifar10_simclr.yaml"


def simclr_seeds(tier: str) -> tuple[int, ...]:
    """The seeds of every SimCLR arm at ``tier`` (one at the smoke tier)."""
    return (0,) if tier == "smoke" else (0, 1, 2)


def simclr_specs(tier: str, arms: list[dict]) -> list[RunSpec]:
    """One :class:`RunSpec` per arm (keyword arguments of :func:`simclr_arm`) and seed."""
    out = []
    for arm in arms:
        label, over = simclr_arm(tier, **arm)
        out.extend(RunSpec(simclr_config(tier), over, seed=s, label=label)
                   for s in simclr_seeds(tier))
    return out


def finished_runs(ctx: Context, specs: list[RunSpec]) -> tuple[list[tuple[RunSpec, Path]], str]:
    """The (spec, folder) of every run with a kNN accuracy; a reason when any is missing."""
    done, missing = [], []
    for spec in specs:
        folder = ctx.runs.get(spec)
        if folder is None or rd.knn_accuracy(folder) is None:
            missing.append(spec.name())
        else:
            done.append((spec, Path(folder)))
    reason = (f"{len(missing)} of {len(specs)} runs missing or without a kNN accuracy: "
              f"{', '.join(missing[:4])}{' ...' if len(missing) > 4 else ''}") if missing else ""
    return done, reason


def seed_note(tier: str) -> str:
    """How many seeds each SimCLR arm has at ``tier``, in words (for a report's rule)."""
    n = len(simclr_seeds(tier))
    return ("1 seed per arm at the smoke tier (tiny runs: the ordering is fragile)" if n == 1
            else f"{n} seeds per arm")


def arm_text(arm: dict) -> str:
    """A short label of a SimCLR arm (loss, temperature, projector width)."""
    if arm.get("loss") == "align_uniform":
        return f"align_uniform w {arm['unif_weight']:g}"
    return ", ".join([f"InfoNCE tau {arm.get('tau', 0.5):g}"]
                     + ([f"projector {arm['proj']}"] if "proj" in arm else []))


def simclr_width_arms(tier: str) -> list[dict]:
    """Three projector widths (RankMe check 2; also the first arms of Wang & Isola's grid)."""
    widths = (2, 16, 64) if tier == "smoke" else (4, 16, 128)
    return [dict(proj=w) for w in widths]


WD_SEEDS = (0, 1, 2)


WDS = (0.0, 0.02, 0.1)


#: Base config and overrides per tier (BYOL + DirectPred, a small ConvNet, 10 epochs).
BYOL_DIRECTPRED_BASE = {
    "smoke": ("cpu_digits_byol_directpred.yaml",
              ("optim.epochs=10", "eval.every_epoch=false", "eval.linear_epochs=5")),
    "cpu": ("cpu_cifar10_byol_directpred.yaml",
            ("data.root={data_root}", "optim.epochs=10", "eval.every_epoch=false",
             "eval.linear_epochs=50")),
}


def weight_decay_runs(tier: str) -> list[RunSpec]:
    """One run per weight decay and seed."""
    config, over = BYOL_DIRECTPRED_BASE[tier]
    return [RunSpec(config, (*over, f"optim.weight_decay={wd:g}"), s, f"wd{wd:g}")
            for wd in WDS for s in WD_SEEDS]

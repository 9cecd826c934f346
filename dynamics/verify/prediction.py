"""The pieces of a testable prediction: what it claims, what it needs, how it is judged.

A :class:`Prediction` is one claim of a theory paper stated once: an ``id`` such as
``directpred.eigenspace_alignment``, the ``claim`` in one sentence, its ``source`` (paper,
equation / figure / table), the ``tiers`` it runs at, the training ``runs`` it needs at each
tier (:class:`RunSpec`; none for simulation predictions) and ``evaluate(ctx) -> Outcome``,
which computes the theory value, reads the measurement (from a fresh simulation or from the
finished run folders in ``ctx``), applies the comparison rule and draws a figure.

An :class:`Outcome` is ``confirmed``, ``refuted`` (with the numbers, never hidden) or
``not run`` (with the reason, e.g. "needs the cpu tier: real images and 3 seeds"). Its
``rule`` states the tolerance or statistical rule in words; multi-seed comparisons use
:func:`compare_means` (the difference of means must exceed ``k`` standard errors).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dynamics.errors import ConfigError

#: Verification tiers, cheapest first: ``smoke`` (the test suite, seconds per prediction,
#: toy data), ``cpu`` (real images on a 2-core laptop: 72 training runs, about 3 h with
#: ``--jobs 2``; docs/verify/README.md), ``gpu`` (about ten minutes of one GPU: all of
#: CIFAR-10, ResNet-18, the predictions that opt in; ``benchmarks/gpu_verify.sh``), ``paper``
#: (the paper's settings, hours of a GPU).
TIERS = ("smoke", "cpu", "gpu", "paper")
#: The tiers a prediction runs at unless it names its own: the ``gpu`` tier is opt-in, it
#: holds only the runs that fit its ten minutes.
DEFAULT_TIERS = ("smoke", "cpu", "paper")
CONFIRMED, REFUTED, NOT_RUN = "confirmed", "refuted", "not run"
OUTCOMES = (CONFIRMED, REFUTED, NOT_RUN)
#: Kinds of prediction (report sections).
KINDS = ("simulation", "training", "bridge", "contrastive")


@dataclass(frozen=True)
class RunSpec:
    """One training run a prediction needs: a config file (relative to the project's
    ``experiments/train/`` or absolute), ``key=value`` overrides and a seed. ``label`` names
    the arm of the comparison (e.g. ``linear``, ``no_predictor``)."""

    config: str
    overrides: tuple[str, ...] = ()
    seed: int = 0
    label: str = ""

    def digest(self) -> str:
        """A short hash of what determines the run (config path, overrides, seed)."""
        text = json.dumps([self.config, sorted(self.overrides), self.seed])
        return hashlib.sha1(text.encode()).hexdigest()[:8]

    def name(self) -> str:
        """The run folder name: ``<label>-s<seed>-<digest>``."""
        return f"{self.label or Path(self.config).stem}-s{self.seed}-{self.digest()}"


@dataclass
class Outcome:
    """The verdict on one prediction (see the module docstring)."""

    status: str
    theory: Any = None
    measured: Any = None
    rule: str = ""
    details: str = ""
    figure: str | None = None
    numbers: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if self.status not in OUTCOMES:
            raise ConfigError("status", f"must be one of {', '.join(OUTCOMES)}; got "
                                        f"{self.status!r}")

    @classmethod
    def judged(cls, passed: bool, **kwargs: Any) -> Outcome:
        """``confirmed`` if ``passed`` else ``refuted``."""
        return cls(CONFIRMED if passed else REFUTED, **kwargs)

    @classmethod
    def not_run(cls, reason: str) -> Outcome:
        """Not run, with the reason."""
        return cls(NOT_RUN, details=reason)


@dataclass
class Context:
    """What ``evaluate`` sees: the ``tier``, the folder for figures, the finished run folders
    of the prediction's runs (``runs[spec]``; missing when a run failed) and the real-image
    data set given to ``verify --data-root`` (None without one), for simulations on real
    data."""

    tier: str
    figure_dir: Path
    runs: dict[RunSpec, Path] = field(default_factory=dict)
    data_root: str | None = None

    @property
    def quick(self) -> bool:
        """True at the smoke tier (smaller simulations)."""
        return self.tier == "smoke"

    def figure(self, pred_id: str) -> Path:
        """Where the prediction's figure goes (PNG)."""
        self.figure_dir.mkdir(parents=True, exist_ok=True)
        return self.figure_dir / (pred_id.replace(".", "_") + ".png")

    def folders(self, label: str) -> list[Path]:
        """The finished run folders of the arm ``label`` (one per seed), in seed order."""
        specs = sorted((s for s in self.runs if s.label == label), key=lambda s: s.seed)
        return [self.runs[s] for s in specs]


@dataclass(frozen=True)
class Prediction:
    """One testable claim (see the module docstring). ``runs(tier)`` lists the training runs
    needed at ``tier`` (default none); ``tiers`` are the tiers it runs at, and ``why_not``
    says why it does not run at the others."""

    id: str
    claim: str
    source: str
    kind: str
    evaluate: Callable[[Context], Outcome]
    tiers: tuple[str, ...] = DEFAULT_TIERS
    runs: Callable[[str], list[RunSpec]] | None = None
    why_not: str = ""

    def runs_for(self, tier: str) -> list[RunSpec]:
        """The runs this prediction needs at ``tier`` (none where it does not run)."""
        if self.runs is None or tier not in self.tiers:
            return []
        return list(self.runs(tier))


# --------------------------------------------------------------------------------------------
# statistics shared by the predictions


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """(mean, sample std) of finite values (std 0 for one value; NaN, NaN for none)."""
    arr = np.asarray([v for v in values if v is not None and math.isfinite(v)], float)
    if arr.size == 0:
        return math.nan, math.nan
    return float(arr.mean()), float(arr.std(ddof=1)) if arr.size > 1 else 0.0


def compare_means(a: Sequence[float], b: Sequence[float], k: float = 2.0
                  ) -> tuple[float, float, bool]:
    """(mean(a) - mean(b), its standard error sqrt(var_a/n_a + var_b/n_b), whether the
    difference exceeds ``k`` standard errors in the positive direction). The rule for every
    multi-seed claim "a > b"."""
    ma, sa = mean_std(a)
    mb, sb = mean_std(b)
    na = sum(1 for v in a if v is not None and math.isfinite(v))
    nb = sum(1 for v in b if v is not None and math.isfinite(v))
    if not (na and nb):
        return math.nan, math.nan, False
    se = math.sqrt(sa ** 2 / na + sb ** 2 / nb)
    diff = ma - mb
    return diff, se, bool(diff > k * se)


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman rank correlation of two equally long sequences (average ranks for ties)."""
    from scipy.stats import spearmanr

    if len(x) < 3:
        return math.nan
    return float(spearmanr(x, y).statistic)


def fmt(v: Any, digits: int = 4) -> str:
    """A number for the report (``n/a`` for None / NaN)."""
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "n/a"
    if isinstance(v, float):
        return f"{v:.{digits}g}"
    return str(v)


__all__ = ["CONFIRMED", "DEFAULT_TIERS", "KINDS", "NOT_RUN", "OUTCOMES", "REFUTED", "TIERS",
           "Context", "Outcome", "Prediction", "RunSpec", "compare_means", "fmt", "mean_std",
           "spearman"]

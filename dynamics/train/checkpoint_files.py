"""Checkpoints of a training run: atomic saves, the epoch files kept, reading them back (with a
fallback when ``last.pt`` is damaged), RNG states and the method state a resume needs.

Checkpoints are written through :func:`dynamics.io.atomic_writer` (temp file, fsync,
``os.replace``): a crash or a signal mid-save leaves the previous file intact. ``last.pt`` and
the ``epoch_XXXX.pt`` files are independent files, so damage to one never reaches another.
Checkpoints are pickles (``torch.load(weights_only=False)``): load only your own.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dynamics.errors import ConfigError
from dynamics.io import atomic_writer

CHECKPOINT_FORMAT = 1



def atomic_torch_save(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save`` through :func:`dynamics.io.atomic_writer`: a crash or signal mid-save
    leaves the previous ``path`` (if any) as it was."""
    with atomic_writer(path) as fh:
        torch.save(obj, fh)
    return Path(path)


def epoch_checkpoints(folder: Path) -> list[Path]:
    """The ``epoch_XXXX.pt`` files of a checkpoint folder, oldest first."""
    return sorted(folder.glob("epoch_[0-9]*.pt"))


def prune_checkpoints(folder: Path, keep: int | None) -> list[Path]:
    """Delete all but the newest ``keep`` epoch checkpoints (``None`` keeps all); ``last.pt``
    is never touched. Returns the deleted paths."""
    if keep is None:
        return []
    files = epoch_checkpoints(folder)
    doomed = files[: max(0, len(files) - int(keep))]
    for p in doomed:
        with contextlib.suppress(FileNotFoundError):
            p.unlink()
    return doomed


def load_newest_readable(folder: Path, map_location: Any = "cpu"
                         ) -> tuple[Path, dict[str, Any], list[str]]:
    """Load ``last.pt``, or, if it cannot be read, the newest readable ``epoch_XXXX.pt``.

    Returns ``(path, state, problems)`` where ``problems`` has one line per unreadable file
    that was skipped; raises a one-line :class:`ConfigError` when none can be read."""
    candidates = [folder / "last.pt", *reversed(epoch_checkpoints(folder))]
    problems: list[str] = []
    for path in candidates:
        if not path.is_file():
            continue
        try:
            return path, load_checkpoint(path, map_location=map_location), problems
        except ConfigError as exc:
            problems.append(str(exc).removeprefix("checkpoint: "))
    if not problems:
        raise ConfigError("checkpoint", f"{folder} holds no checkpoint")
    raise ConfigError("checkpoint", f"no readable checkpoint in {folder}: {problems[0]}"
                                    + (f" (and {len(problems) - 1} more)" if len(problems) > 1
                                       else ""))


def load_checkpoint(path: str | os.PathLike, map_location: Any = "cpu") -> dict[str, Any]:
    """Read one checkpoint file; a one-line :class:`ConfigError` if unreadable or not ours."""
    path = Path(path)
    try:
        state = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as exc:  # noqa: BLE001 - a corrupt file is one clear line
        raise ConfigError("checkpoint", f"cannot read {path}: {str(exc).splitlines()[0]}"
                          ) from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise ConfigError("checkpoint", f"{path} is not a checkpoint of this trainer "
                                        f"(format {CHECKPOINT_FORMAT})")
    return state


def state_tensors(state: Mapping[str, Any], prefix: str = "") -> dict[str, torch.Tensor]:
    """Every tensor of a ``state_dict`` by dotted name, including those nested in a module's
    extra state (the closed-form predictor's running F: ``predictor._extra_state.
    spectral_state.corr.F``); non-tensor values are left out."""
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        name = f"{prefix}{key}"
        if isinstance(value, torch.Tensor):
            out[name] = value
        elif isinstance(value, Mapping):
            out.update(state_tensors(value, name + "."))
    return out


def rng_state(device: torch.device | None = None) -> dict[str, Any]:
    """Global RNG states of python, numpy, torch (CPU and the CUDA device in use)."""
    import random

    np_state = np.random.get_state()  # noqa: NPY002 - the legacy global RNG is what we save
    state = {"python": random.getstate(),
             "numpy": (np_state[0], torch.from_numpy(np_state[1].astype(np.int64)),
                       *np_state[2:]),
             "torch": torch.get_rng_state()}
    if device is not None and device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: Mapping[str, Any], device: torch.device | None = None) -> None:
    """Restore the global RNG states saved by :func:`rng_state`."""
    import random

    random.setstate(state["python"])
    name, keys, *rest = state["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), *rest))  # noqa: NPY002
    torch.set_rng_state(state["torch"])
    if device is not None and device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)



def stateful_objects(module: torch.nn.Module) -> dict[str, Any]:
    """Non-module attributes anywhere in ``module`` that carry their own ``state_dict`` /
    ``load_state_dict`` (e.g. a DirectPred ``SpectralPredictorState`` with its running F), by
    dotted name. They are checkpointed next to ``module.state_dict()``."""
    found: dict[str, Any] = {}
    for mod_name, mod in module.named_modules():
        for attr, obj in vars(mod).items():
            if attr.startswith("_") or isinstance(obj, (torch.nn.Module, torch.Tensor)):
                continue
            if callable(getattr(obj, "state_dict", None)) and callable(
                    getattr(obj, "load_state_dict", None)):
                found[f"{mod_name}.{attr}" if mod_name else attr] = obj
    return found


def method_state(method: torch.nn.Module) -> dict[str, Any]:
    """Everything of a method that a resume needs: modules (online, target, predictor) and the
    stateful helper objects (see :func:`stateful_objects`)."""
    return {"modules": method.state_dict(),
            "objects": {k: o.state_dict() for k, o in stateful_objects(method).items()}}


def load_method_state(method: torch.nn.Module, state: Mapping[str, Any]) -> None:
    """Restore a method from :func:`method_state`: its modules, then its stateful objects."""
    method.load_state_dict(state["modules"])
    saved = state.get("objects", {})
    for name, obj in stateful_objects(method).items():
        if name in saved:
            obj.load_state_dict(saved[name])


__all__ = ["CHECKPOINT_FORMAT", "atomic_torch_save", "epoch_checkpoints", "load_checkpoint",
           "load_method_state", "load_newest_readable", "method_state", "prune_checkpoints",
           "rng_state", "set_rng_state", "stateful_objects"]

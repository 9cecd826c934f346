"""Reading what the training predictions need from finished run folders (metrics.jsonl,
spectra.jsonl, summary.json and the last checkpoint); every helper returns plain numbers or
numpy arrays, and None where a run did not record the value."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np


def rows(folder: Path, kind: str = "train") -> list[dict[str, Any]]:
    """The rows of ``metrics.jsonl`` of one kind (``train`` / ``eval``), in order."""
    path = Path(folder) / "metrics.jsonl"
    if not path.is_file():
        return []
    out = []
    for line in path.read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            if row.get("kind") == kind:
                out.append(row)
    return out


def series(folder: Path, key: str, kind: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """(epoch, value) of one metrics column over training (rows without it skipped)."""
    pts = [(r["epoch"], r[key]) for r in rows(folder, kind)
           if r.get(key) is not None and not isinstance(r.get(key), list)]
    if not pts:
        return np.zeros(0), np.zeros(0)
    e, v = zip(*pts, strict=True)
    return np.asarray(e, float), np.asarray(v, float)


def spectra(folder: Path) -> list[dict[str, Any]]:
    """The rows of ``spectra.jsonl`` (full eigenvalue lists per logged step)."""
    path = Path(folder) / "spectra.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def summary(folder: Path) -> dict[str, Any]:
    """``summary.json`` (empty dict if missing)."""
    path = Path(folder) / "summary.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def linear_accuracy(folder: Path) -> float | None:
    """The final linear-probe test accuracy of the run (the paper's protocol), or None."""
    le = summary(folder).get("linear_eval") or {}
    return le.get("final_accuracy")


def knn_accuracy(folder: Path) -> float | None:
    """The final weighted kNN top-1 accuracy, or None."""
    return (summary(folder).get("knn") or {}).get("top1")


def collapse(folder: Path) -> dict[str, Any]:
    """The collapse signals of the summary (RankMe, normalised std, ...)."""
    return summary(folder).get("collapse") or {}


def final_row(folder: Path) -> dict[str, Any]:
    """The last ``train`` row (the measurements at the end of training)."""
    r = rows(folder)
    return r[-1] if r else {}


def predictor_and_F(folder: Path) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(Wp, F) at the end of training, float64, from ``checkpoints/last.pt``: the linear
    predictor's weight and the running correlation of its input (the method's own F where
    it keeps one, else the instrument's). None where the run has no linear predictor."""
    import torch

    path = Path(folder) / "checkpoints" / "last.pt"
    if not path.is_file():
        return None, None
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    state = (ckpt.get("method") or {}).get("modules", {})
    wp = next((v for k, v in state.items() if k.startswith("predictor.")
               and k.endswith("weight") and v.ndim == 2 and v.shape[0] == v.shape[1]), None)
    F = state.get("predictor.F")
    if F is None:
        inst = (ckpt.get("instrument") or {}).get("corr") or {}
        F = inst.get("F")
    def as_np(t: Any) -> np.ndarray | None:
        return None if t is None else np.asarray(torch.as_tensor(t).double())

    return as_np(wp), as_np(F)


def trained_method(folder: Path, *, pretrain: bool) -> tuple[Any, Any] | None:
    """(run data, the trained method in eval mode on the CPU) from ``checkpoints/last.pt``;
    None when the run has no checkpoint. ``pretrain``: also load the pre-training set."""
    import torch

    from dynamics.train.data.run_images import load_run_data
    from dynamics.train.run_folder import load_checkpoint, load_method_state, require_run_dir
    from dynamics.train.setup import build_method_for

    run = require_run_dir(folder)
    if not run.last.is_file():
        return None
    cfg = run.read_config()
    data = load_run_data(cfg, pretrain=pretrain)
    method = build_method_for(cfg, data.in_shape, torch.device("cpu"))
    load_method_state(method, load_checkpoint(run.last)["method"])
    method.eval()
    return data, method


def loss_embedding_spectrum(folder: Path, max_images: int = 2000) -> np.ndarray | None:
    """Eigenvalues (descending, float64) of the covariance of the embedding the training loss
    sees, at the end of training, on the run's probe-test images in eval mode: the projector
    output z, or its first ``method.directclr_dim`` dimensions for DirectCLR (whose projector
    is the identity, so z = h). None when the run has no checkpoint or no labelled probe set."""
    import torch

    loaded = trained_method(folder, pretrain=False)
    if loaded is None or loaded[0].eval is None:
        return None
    data, method = loaded
    images = data.eval.test_images[:max_images]
    d0 = getattr(method, "directclr_dim", None)
    parts = []
    with torch.no_grad():
        for start in range(0, images.shape[0], 256):
            x = data.eval.transform(images[start:start + 256])
            z = method.projector(method.encoder(x)).double()
            parts.append(z if d0 is None else z[:, :d0])
    cov = torch.cov(torch.cat(parts).T)
    return np.sort(np.clip(torch.linalg.eigvalsh(cov).numpy(), 0.0, None))[::-1]


def lidar_of_run(folder: Path, n_images: int = 256, n_views: int = 8, seed: int = 1234
                 ) -> float | None:
    """LiDAR (Thilak et al. 2024; :func:`dynamics.metrics.spectral.lidar`) of the trained
    projector outputs at the end of training: ``n_images`` seeded images of the run's
    pre-training set (the surrogate task's classes), ``n_views`` views each from the run's own
    augmentation recipe, eval-mode network. None without a checkpoint or images."""
    import torch

    from dynamics.metrics.spectral import lidar

    loaded = trained_method(folder, pretrain=True)
    if loaded is None or not hasattr(loaded[0].pretrain, "images"):
        return None
    data, method = loaded
    g = torch.Generator().manual_seed(seed)
    images = data.pretrain.images
    x = images[torch.randperm(images.shape[0], generator=g)[:min(n_images, images.shape[0])]]
    with torch.no_grad():
        z = torch.stack([method.projector(method.encoder(data.recipe(x, g)))
                         for _ in range(n_views)], dim=1)
    return float(lidar(z.double()))


__all__ = ["collapse", "final_row", "knn_accuracy", "lidar_of_run", "linear_accuracy",
           "loss_embedding_spectrum",
           "predictor_and_F", "rows", "series", "spectra", "summary", "trained_method"]

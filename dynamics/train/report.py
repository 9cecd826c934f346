"""One table of finished runs: accuracy and collapse signals side by side.

``ssl-dynamics compare RUN_DIR ...`` reads each run's ``summary.json`` (and its resolved
``config.yaml``) and prints one row per run:

* linear eval: the offline linear evaluation at the end of training (paper protocol, final
  epoch; the best epoch in brackets) and its number of probe epochs (``eval.linear_epochs``),
  see :mod:`dynamics.train.evaluate`;
* kNN: weighted cosine kNN top-1 on the held-out set;
* RankMe (Garrido et al. 2023, :mod:`dynamics.metrics.rank`): ``exp`` of the entropy of the
  normalised singular values; of the projector outputs over the last training samples, and of
  the backbone features of the held-out images;
* std(z/|z|): the mean per-dimension standard deviation of the L2-normalised projector output
  (Chen & He 2021): ``1/sqrt(d)`` for isotropic outputs, 0 for a collapsed one.

A run whose folder holds ``eval_random_init.json`` (``ssl-dynamics eval RUN --random-init``)
gets a second row: the same architecture at its random initialisation, the baseline a trained
encoder has to beat. A run that has not finished shows its status after its name; missing
numbers show ``-``.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dynamics.errors import ConfigError
from dynamics.train.run_folder import RunDir, require_run_dir

COLUMNS = ("run", "method", "predictor", "ema", "epochs", "linear_eval", "linear_eval_best",
           "probe_epochs", "knn", "rankme_projector", "rankme_backbone", "z_std", "z_std_isotropic")
HEADERS = ("run", "method", "predictor", "EMA", "epochs", "linear eval (best)", "probe epochs",
           "kNN",
           "RankMe proj.", "RankMe backbone", "std(z/|z|) (isotropic)")
FORMATS = ("md", "csv", "json")


def _get(mapping: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(mapping, dict):
            return None
        mapping = mapping.get(key)
    return mapping


def _run_row(run: RunDir) -> dict[str, Any]:
    summary = run.read_summary() or {}
    cfg = run.read_config()
    step, spe = summary.get("step"), summary.get("steps_per_epoch")
    name = summary.get("name", run.path.name)
    status = summary.get("status")
    return {
        "run": name if status in (None, "finished") else f"{name} ({status})",
        "method": cfg.method.name,
        "predictor": cfg.predictor.kind if cfg.method.name != "simclr" else "-",
        "ema": cfg.ema_momentum if cfg.method.name != "simclr" else None,
        "epochs": step / spe if step is not None and spe else None,
        "linear_eval": _get(summary, "linear_eval", "final_accuracy"),
        "linear_eval_best": _get(summary, "linear_eval", "best_accuracy"),
        "probe_epochs": _get(summary, "linear_eval", "epochs"),
        "knn": _get(summary, "knn", "top1"),
        "rankme_projector": _get(summary, "collapse", "rankme_projector"),
        "rankme_backbone": _get(summary, "collapse", "rankme_backbone_test"),
        "z_std": _get(summary, "collapse", "normalized_std_projector"),
        "z_std_isotropic": _get(summary, "collapse", "normalized_std_reference"),
    }


def _random_init_row(run: RunDir, trained: dict[str, Any]) -> dict[str, Any] | None:
    path = run.path / "eval_random_init.json"
    if not path.is_file():
        return None
    res = json.loads(path.read_text())
    row = dict.fromkeys(COLUMNS)
    row.update(run=f"{trained['run']} @ random init", method=trained["method"],
               predictor="-", epochs=0.0,
               linear_eval=_get(res, "linear_eval", "final_accuracy"),
               linear_eval_best=_get(res, "linear_eval", "best_accuracy"),
               probe_epochs=_get(res, "linear_eval", "epochs"),
               knn=_get(res, "knn", "top1"), rankme_backbone=res.get("rankme_backbone_test"))
    return row


def collect(run_dirs: Sequence[str | Path]) -> list[dict[str, Any]]:
    """One row per run (plus its random-init baseline row, when evaluated), in the given
    order. Every folder must be a run folder with a summary (one-line error otherwise)."""
    if not run_dirs:
        raise ConfigError("RUN_DIR", "give at least one run folder")
    rows = []
    for folder in run_dirs:
        run = require_run_dir(folder)
        if run.read_summary() is None:
            raise ConfigError("RUN_DIR", f"{run.path} has no summary.json (not started?)")
        row = _run_row(run)
        rows.append(row)
        baseline = _random_init_row(run, row)
        if baseline is not None:
            rows.append(baseline)
    return rows


def _pct(value: Any) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _num(value: Any, spec: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return format(value, spec)


def _epochs(value: Any) -> str:
    """Whole epochs as an integer, a run stopped mid-epoch with two decimals."""
    if value is None:
        return "-"
    return f"{value:.0f}" if abs(value - round(value)) < 5e-3 else f"{value:.2f}"


def md_cell(text: str) -> str:
    """A Markdown table cell: ``|`` escaped so that it does not split the cell."""
    return str(text).replace("|", "\\|")


def _cells(row: dict[str, Any]) -> list[str]:
    lin = _pct(row["linear_eval"])
    if row["linear_eval_best"] is not None:
        lin += f" ({_pct(row['linear_eval_best'])})"
    std = _num(row["z_std"], ".3f")
    if row["z_std_isotropic"] is not None and row["z_std"] is not None:
        std += f" ({_num(row['z_std_isotropic'], '.3f')})"
    return [str(row["run"]), str(row["method"]), str(row["predictor"]),
            _num(row["ema"], "g"), _epochs(row["epochs"]), lin, _num(row["probe_epochs"], "d"),
            _pct(row["knn"]),
            _num(row["rankme_projector"], ".1f"), _num(row["rankme_backbone"], ".1f"), std]


def format_table(rows: Sequence[dict[str, Any]], fmt: str = "md") -> str:
    """The rows as a Markdown table (``md``), CSV with raw numbers (``csv``) or JSON."""
    if fmt not in FORMATS:
        raise ConfigError("format", f"must be one of {', '.join(FORMATS)}; got {fmt!r}")
    if fmt == "json":
        return json.dumps(list(rows), indent=2) + "\n"
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return buf.getvalue()
    lines = ["| " + " | ".join(map(md_cell, HEADERS)) + " |", "|" + " --- |" * len(HEADERS)]
    lines += ["| " + " | ".join(map(md_cell, _cells(r))) + " |" for r in rows]
    return "\n".join(lines) + "\n"


__all__ = ["COLUMNS", "FORMATS", "collect", "format_table"]

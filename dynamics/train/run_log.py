"""What a training run writes while it runs: rows, spectra and summary.json.

:class:`RunLog` owns a run's outputs besides its checkpoints. The main process writes them (on
the other ranks every write is skipped, but the summary dict is kept up to date there too):

* metrics.jsonl -- ``"kind": "train"`` rows (:func:`train_row`, keys in
  :mod:`dynamics.train.instrument`) and ``"kind": "eval"`` rows (:func:`eval_row`);
* spectra.jsonl -- the full spectra of every train row;
* the optional logging backends (:mod:`dynamics.train.logging_backends`), mirroring the rows and
  the final summary;
* summary.json -- status, description, position and results (layout in
  :mod:`dynamics.train.run_folder`), rewritten at every epoch and at every change of status.
"""

from __future__ import annotations

import time
from typing import Any

from dynamics.train import run_folder as runs
from dynamics.train.config import TrainConfig
from dynamics.train.logging_backends import LoggingBackends


class RunLog:
    """metrics.jsonl / spectra.jsonl, the logging backends and summary.json of one run.

    ``notes`` collects what the set-up learns before the folder is opened (where the run
    resumed from, skipped checkpoints); :meth:`open` copies them into the summary."""

    def __init__(self, is_main: bool):
        self.is_main = is_main
        self.summary: dict[str, Any] = {}
        self.notes: dict[str, Any] = {}
        self.last_row: dict[str, Any] = {}  #: the latest train row (summary ``final_metrics``)
        self.run: runs.RunDir | None = None
        self.writer = self.spectra = self.backends = None

    def open(self, plan: runs.RunPlan, cfg: TrainConfig, *, checkpoint_step: int) -> None:
        """Carry out ``plan`` (main process: folder, config.yaml, summary "running", rows after
        ``checkpoint_step`` dropped) and open the row writers and backends."""
        self.run = plan.run
        if not self.is_main:
            return
        self.summary = runs.start_run(plan, cfg, checkpoint_step=checkpoint_step)
        self.summary.update(self.notes)
        self.writer = runs.JsonlWriter(self.run.metrics)
        self.spectra = runs.JsonlWriter(self.run.spectra)
        self.backends = LoggingBackends(cfg.log, self.run.path, run_name=cfg.name,
                                        run_id=self.summary["run_id"],
                                        config=runs.flatten_config(cfg))

    def emit(self, row: dict[str, Any], spectra: dict[str, Any] | None = None) -> None:
        """Write one metrics row (and its spectra) and mirror it to the backends."""
        if not self.is_main:
            return
        self.writer.write(row)
        if spectra is not None:
            self.spectra.write({"step": row["step"], "epoch": row["epoch"], **spectra})
        self.backends.log(row, row["step"])

    def write_summary(self, where: dict[str, int], **updates: Any) -> None:
        """Update the summary with ``updates`` and the run's position ``where`` (epoch, step,
        epoch_step) and rewrite summary.json."""
        self.summary.update(updates)
        self.summary.update(**where, updated=time.strftime("%Y-%m-%dT%H:%M:%S"))
        if self.is_main:
            self.run.write_summary(self.summary)

    def sync(self) -> None:
        """Flush the rows to disk (before a checkpoint: rows up to it are on disk with it)."""
        for writer in (self.writer, self.spectra):
            writer.sync()

    def log_summary(self) -> None:
        """Mirror the final summary to the logging backends."""
        if self.backends is not None:
            self.backends.log_summary(self.summary)

    def close(self) -> None:
        """Close the row writers and the backends (whatever was opened)."""
        for w in (self.writer, self.spectra):
            if w is not None:
                w.close()
        if self.backends is not None:
            self.backends.close()


def train_row(*, step: int, steps_per_epoch: int, lr: float, metrics: dict[str, Any],
              images: int, seconds: float, train_time: float) -> dict[str, Any]:
    """A ``"kind": "train"`` row: the instrument's ``metrics`` at ``step``, with the learning
    rate and the throughput of the ``images`` trained on in the last ``seconds``."""
    return {"kind": "train", "step": step, "epoch": step / steps_per_epoch, "lr": lr, **metrics,
            "images_per_s": images / seconds if seconds > 0 else None,
            "elapsed_s": train_time}


def eval_row(result: dict[str, Any], *, step: int, epoch: int) -> dict[str, Any]:
    """A ``"kind": "eval"`` row: the end-of-epoch kNN and probe ``result``."""
    return {"kind": "eval", "step": step, "epoch": epoch, **result}


def update_online_best(best: dict[str, Any], result: dict[str, Any], epoch: int
                       ) -> dict[str, Any]:
    """Summary ``online``: the epoch with the best probe accuracy so far and the latest
    numbers, after the end-of-epoch ``result`` of ``epoch``."""
    acc = result["eval/probe_final_accuracy"]
    if acc is not None and acc > best.get("probe_final_accuracy", -1.0):
        best = {"probe_final_accuracy": acc, "epoch": epoch, "knn_top1": result["eval/knn_top1"]}
    best["last_knn_top1"] = result["eval/knn_top1"]
    best["last_probe_final_accuracy"] = acc
    return best


__all__ = ["RunLog", "eval_row", "train_row", "update_online_best"]

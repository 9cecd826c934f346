"""The verification report: ``report.json`` (everything, machine-readable) and ``report.md``
(a summary table, then per prediction: claim, source, theory value, measured value, rule,
outcome, details, runs and figure)."""

from __future__ import annotations

import os
import platform
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from dynamics.io import atomic_write_text, to_json
from dynamics.verify.prediction import CONFIRMED, KINDS, NOT_RUN, REFUTED, fmt

#: The rule every multi-seed training comparison uses (stated once in every report).
SEED_RULE = ("multi-seed comparisons: mean +- std over seeds; an effect counts as confirmed "
             "only when the difference of means exceeds twice its standard error "
             "sqrt(s_a^2/n_a + s_b^2/n_b)")


def _machine() -> dict[str, Any]:
    import torch

    return {"python": platform.python_version(), "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(), "torch": torch.__version__,
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


def _cell(v: Any) -> str:
    text = fmt(v) if not isinstance(v, dict) else ", ".join(f"{k} {fmt(x)}"
                                                             for k, x in v.items())
    return text.replace("|", "\\|").replace("\n", " ")


def _precision(folder) -> str | None:
    """The precision a run computed in (its ``summary.json``; None without one)."""
    from dynamics.verify.run_data import summary

    return summary(folder).get("precision") if folder is not None else None


def _entry(pred, outcome, seconds: float, runs) -> dict[str, Any]:
    return {"id": pred.id, "claim": pred.claim, "source": pred.source, "kind": pred.kind,
            **asdict(outcome), "seconds": seconds,
            "runs": [{"name": r.spec.name(), "label": r.spec.label, "seed": r.spec.seed,
                      "config": r.spec.config, "overrides": list(r.spec.overrides),
                      "note": r.note, "precision": _precision(r.folder)} for r in runs]}


def render_markdown(report: dict[str, Any]) -> str:
    """``report.md`` from the report dict."""
    counts = report["counts"]
    lines = [f"# Verification report: tier `{report['tier']}`", "",
             f"Command: `{report['command']}`  ",
             f"Machine: {report['machine']['processor']}, {report['machine']['cpus']} CPU(s), "
             f"{report['machine']['platform']}, torch {report['machine']['torch']}"
             + (f", GPU {report['machine']['cuda']}" if report['machine']['cuda'] else "")
             + "  ",
             f"Wall time: {report['wall_s'] / 60:.1f} min; finished {report['finished']}  ",
             f"Training runs: {report['training']['runs']} ({report['training']['trained_now']} "
             f"trained by this command, the others reused), "
             f"{report['training']['run_hours']:.2f} h of run time in total"
             + _precision_text(report["training"].get("precision") or {}), "",
             f"**{counts[CONFIRMED]} confirmed, {counts[REFUTED]} refuted, {counts[NOT_RUN]} "
             f"not run** (of {sum(counts.values())}).", "", f"Rule: {SEED_RULE}.", "",
             "| prediction | outcome | theory | measured | rule |", "|---|---|---|---|---|"]
    for e in report["predictions"]:
        mark = {CONFIRMED: "confirmed", REFUTED: "**refuted**", NOT_RUN: "not run"}[e["status"]]
        measured = e["details"] if e["status"] == NOT_RUN else e["measured"]
        lines.append(f"| [`{e['id']}`](#{e['id'].replace('.', '')}) | {mark} | "
                     f"{_cell(e['theory'])} | {_cell(measured)} | {_cell(e['rule'])} |")
    for kind in KINDS:
        group = [e for e in report["predictions"] if e["kind"] == kind]
        if not group:
            continue
        lines += ["", f"## {kind.capitalize()} predictions"]
        for e in group:
            lines += ["", f"### {e['id']}", "", f"*{e['claim']}* ({e['source']})", "",
                      f"- outcome: **{e['status']}** ({e['seconds']:.1f} s)",
                      f"- theory: {_cell(e['theory'])}", f"- measured: {_cell(e['measured'])}",
                      f"- rule: {e['rule'] or '-'}"]
            if e["details"]:
                lines.append(f"- details: {e['details']}")
            if e["numbers"]:
                lines.append("- numbers: " + ", ".join(f"{k} = {fmt(v)}"
                                                       for k, v in e["numbers"].items()))
            if e["runs"]:
                lines.append("- runs: " + ", ".join(
                    f"`{r['name']}` ({r['note']}" + (f", {r['precision']}" if r.get("precision")
                                                      else "") + ")" for r in e["runs"]))
            if e["figure"]:
                rel = os.path.relpath(e["figure"], report["out"])
                lines += ["", f"![{e['id']}]({rel})"]
            lines.append("")
    return "\n".join(lines) + "\n"


def training_time(entries: list) -> dict[str, Any]:
    """The training behind the report: how many distinct runs, how many were trained by this
    command, and their summed run time in hours (each run's ``started`` to ``updated`` in its
    ``summary.json``, so runs reused from an earlier command are counted too)."""
    from datetime import datetime

    from dynamics.verify.run_data import summary

    folders = {r.folder: r for e in entries for r in e[3] if r.folder is not None}
    hours = 0.0
    for folder in folders:
        s = summary(folder)
        try:
            span = (datetime.fromisoformat(s["updated"]) - datetime.fromisoformat(s["started"]))
            hours += span.total_seconds() / 3600
        except (KeyError, TypeError, ValueError):
            continue
    trained = sum(1 for r in folders.values() if r.note in ("trained", "resumed"))
    precision: dict[str, int] = {}
    for folder in folders:
        p = _precision(folder) or "unrecorded"
        precision[p] = precision.get(p, 0) + 1
    return {"runs": len(folders), "trained_now": trained, "run_hours": round(hours, 3),
            "precision": precision}


def _precision_text(counts: dict[str, int]) -> str:
    """'; computed in bf16 (4), fp32 (2)' (empty without runs)."""
    if not counts:
        return ""
    return "; computed in " + ", ".join(f"{p} ({n})" for p, n in sorted(counts.items()))


def write_report(out: Path, cfg: Any, entries: list, wall_s: float) -> dict[str, Any]:
    """Write ``report.json`` and ``report.md`` into ``out``; returns the report dict."""
    preds = [_entry(*e) for e in entries]
    counts = {s: sum(1 for p in preds if p["status"] == s) for s in (CONFIRMED, REFUTED,
                                                                     NOT_RUN)}
    report = {"tier": cfg.tier, "command": " ".join(["ssl-dynamics", *sys.argv[1:]])
              if Path(sys.argv[0]).name in ("ssl-dynamics", "__main__.py") else
              f"ssl-dynamics verify --tier {cfg.tier}", "out": str(out),
              "finished": time.strftime("%Y-%m-%d %H:%M:%S"), "wall_s": wall_s,
              "machine": _machine(), "config": asdict(cfg), "counts": counts,
              "training": training_time(entries),
              "seed_rule": SEED_RULE, "predictions": preds,
              "all_confirmed": counts[REFUTED] == 0}
    atomic_write_text(out / "report.json", to_json(report, indent=1))
    atomic_write_text(out / "report.md", render_markdown(report))
    return report


__all__ = ["SEED_RULE", "render_markdown", "write_report"]

"""``ssl-dynamics train`` and ``ssl-dynamics eval``: SSL training runs from the command line.

    ssl-dynamics train CONFIG.yaml [key=value ...] [--resume | --overwrite] [--no-progress]
    ssl-dynamics eval RUN_DIR [--checkpoint PATH] [--device cpu|cuda|auto]

``train`` loads the YAML file, applies the dotted ``key=value`` overrides (e.g.
``optim.lr=0.05 predictor.kind=directpred data.root=/data/cifar10.tar.gz``), checks everything
(one-line error, exit code 2, before any work) and trains into ``<out_dir>/<name>/`` (layout in
:mod:`dynamics.train.run_folder`). Exit codes: 0 finished, 1 diverged (NaN/Inf; summary.json says at
which step), 130 (SIGINT) or 143 (SIGTERM) interrupted (continue with ``--resume``), 2 bad input.
Multi-GPU: ``torchrun --nproc_per_node=N -m dynamics train CONFIG.yaml ...`` (or
``torchrun --nproc_per_node=N --no-python ssl-dynamics train ...``); ``optim.batch_size`` is per
process, ``optim.lr_scaling=linear`` scales the lr with the global batch; only rank 0 writes the
run folder and prints (see :mod:`dynamics.train.distributed`).

``eval`` loads a run's config.yaml and last checkpoint, runs the weighted kNN and the paper's
offline linear evaluation on the frozen backbone and writes ``RUN_DIR/eval.json``.

``compare RUN_DIR ... [--format md|csv|json] [--out FILE]`` prints one table of finished runs
(linear eval, kNN, RankMe, normalised std; random-init baselines where evaluated), see
:mod:`dynamics.train.report`.
"""

from __future__ import annotations

import argparse
import signal
import sys
from typing import Any

PROG = "ssl-dynamics"


def _allow_intermixed(parser: argparse.ArgumentParser) -> None:
    """Let flags and ``key=value`` overrides come in any order (``CONFIG a=1 --resume b=2``):
    argparse's plain parsing stops collecting positionals at the first flag."""
    plain = parser.parse_known_args

    def parse_known_args(args=None, namespace=None):
        if getattr(parser, "_intermixed_active", False):
            return plain(args, namespace)
        parser._intermixed_active = True
        try:
            return parser.parse_known_intermixed_args(args, namespace)
        finally:
            parser._intermixed_active = False

    parser.parse_known_args = parse_known_args  # type: ignore[method-assign]


def add_train_arguments(p: argparse.ArgumentParser) -> None:
    """Add the ``train`` arguments (config, overrides, --resume/--overwrite) to ``p``."""
    p.description = ("Train an SSL method (BYOL, SimSiam, SimCLR; any predictor variant) into "
                     "a run folder <out_dir>/<name>/ with metrics.jsonl, checkpoints and "
                     "summary.json.")
    p.add_argument("config_file", metavar="CONFIG.yaml",
                   help="training config (see experiments/train/), or a run folder to "
                        "continue with --resume (its config.yaml, in the folder's place)")
    p.add_argument("overrides", nargs="*", metavar="key=value",
                   help="dotted overrides, e.g. optim.lr=0.05 name=run2 data.root=/data/x.tar")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--resume", action="store_true",
                   help="continue the run from checkpoints/last.pt (exactly; start it if it "
                        "does not exist); optim.epochs, log.* and eval.* may change")
    g.add_argument("--overwrite", action="store_true",
                   help="delete an existing run folder of the same name and start again")
    p.add_argument("--no-progress", dest="progress", action="store_const", const=False,
                   default=None, help="no progress bar (default: only on a terminal)")
    _allow_intermixed(p)


def _fmt(value: Any, spec: str = ".4f") -> str:
    return "n/a" if value is None else format(value, spec)


def summary_line(summary: dict[str, Any]) -> str:
    """One line summing up a run's summary.json: status, steps, linear eval, kNN, RankMe, time
    and where it went."""
    from dynamics.train.step_profile import summary_line as profile_line

    lin = summary.get("linear_eval") or {}
    knn = summary.get("knn") or {}
    col = summary.get("collapse") or {}
    rt = summary.get("runtime") or {}
    spe = summary.get("steps_per_epoch") or 0
    step = summary.get("step") or 0
    epochs = f"{step / spe:.2f}" if spe else "?"
    backbone = _fmt(col.get("rankme_backbone_test"), ".1f")
    return (f"train: {summary.get('name')} {summary.get('status')}: {step} steps ({epochs} "
            f"epochs); linear eval final {_fmt(lin.get('final_accuracy'))} (best over probe "
            f"epochs {_fmt(lin.get('best_accuracy'))}); kNN {_fmt(knn.get('top1'))}; RankMe "
            f"backbone {backbone}, projector {_fmt(col.get('rankme_projector'), '.1f')}; "
            f"train {_fmt(rt.get('train_s'), '.1f')} s"
            + (f" ({profile_line(summary['profile'])})" if summary.get("profile") else "")
            + f"; wrote {summary.get('run_dir')}")


def _config_source(source: str, overrides: list[str], threads: str | None
                   ) -> tuple[str, list[str]]:
    """``(config file, overrides)`` for ``train SOURCE``: SOURCE is a YAML file, or a run folder
    (or its config.yaml), whose own config is used with ``name`` and ``out_dir`` taken from
    where the folder is now, so a run copied or moved elsewhere resumes in place."""
    from pathlib import Path

    path = Path(source)
    if path.is_dir() and (path / "config.yaml").is_file():
        path = path / "config.yaml"
    if path.name == "config.yaml" and (path.parent / "summary.json").is_file():
        folder = path.parent.resolve()
        given = {o.split("=", 1)[0] for o in overrides}
        placed = [f"{k}={v}" for k, v in (("name", folder.name), ("out_dir", folder.parent))
                  if k not in given]
        overrides = placed + overrides
    if threads is not None:
        overrides = [*overrides, f"threads={threads}"]
    return str(path), overrides


def run_train(args: argparse.Namespace) -> int:
    """Run ``ssl-dynamics train``; exit code 0 finished, 1 diverged, 130/143 interrupted."""
    from dynamics.train.config import load_config
    from dynamics.train.distributed import env_rank
    from dynamics.train.run_folder import TrainingDiverged, TrainingInterrupted
    from dynamics.train.trainer import train

    cfg = load_config(*_config_source(args.config_file, list(args.overrides or []),
                                      getattr(args, "threads", None)))
    main = env_rank() == 0  # under torchrun only rank 0 reports (every rank returns the same)
    try:
        summary = train(cfg, resume=args.resume, overwrite=args.overwrite,
                        progress=getattr(args, "progress", None))
    except TrainingDiverged as exc:
        if main:
            print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    except TrainingInterrupted as exc:
        if main:
            print(f"{PROG}: {exc}", file=sys.stderr)
        return 143 if exc.signum == signal.SIGTERM else 130
    if main:
        print(summary_line(summary))
    return 0


def add_eval_arguments(p: argparse.ArgumentParser) -> None:
    """Add the ``eval`` arguments (run folder, checkpoint, device, --random-init) to ``p``."""
    p.description = ("Evaluate a run's checkpoint: weighted kNN and the paper's offline linear "
                     "evaluation on the frozen backbone; writes RUN_DIR/eval.json.")
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run folder (<out_dir>/<name>)")
    p.add_argument("--checkpoint", default=None,
                   help="checkpoint file (default RUN_DIR/checkpoints/last.pt)")
    p.add_argument("--device", default=None,
                   help="auto, cpu, cuda or cuda:N (default: the run's device setting)")
    p.add_argument("--random-init", dest="random_init", action="store_true",
                   help="evaluate the run's initial (untrained) network instead: the "
                        "random-encoder baseline (writes RUN_DIR/eval_random_init.json)")


def run_eval(args: argparse.Namespace) -> int:
    """Run ``ssl-dynamics eval``: kNN and linear evaluation of a run's checkpoint; exit code."""
    from dynamics.train.config import DEVICES
    from dynamics.train.evaluate import evaluate_run

    if args.device is not None and not (args.device in DEVICES
                                        or args.device.startswith("cuda:")):
        from dynamics.errors import ConfigError

        raise ConfigError("device", f"must be one of auto, cpu, cuda, cuda:N; got "
                                    f"{args.device!r}")
    res = evaluate_run(args.run_dir, device=args.device, checkpoint=args.checkpoint,
                       random_init=args.random_init)
    lin = res["linear_eval"]
    print(f"eval: {res['run_dir']} (epoch {res['epoch']}, step {res['step']}): linear eval "
          f"final {_fmt(lin['final_accuracy'])} (best over probe epochs "
          f"{_fmt(lin['best_accuracy'])}, {lin['epochs']} epochs); kNN "
          f"{_fmt(res['knn']['top1'])}; wrote {res['run_dir']}/"
          f"{'eval_random_init.json' if args.random_init else 'eval.json'}")
    return 0


def add_compare_arguments(p: argparse.ArgumentParser) -> None:
    """Add the ``compare`` arguments (run folders, --format, --out) to ``p``."""
    p.description = ("One table of finished runs: linear eval, kNN, RankMe of projector and "
                     "backbone, normalised std of the projector output; a run evaluated with "
                     "`eval --random-init` also gets its random-initialisation row.")
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run folders")
    p.add_argument("--format", dest="fmt", default=None,
                   help="md (default; or from the --out suffix), csv or json")
    p.add_argument("--out", default=None, help="also write the table to this file")


def run_compare(args: argparse.Namespace) -> int:
    """Run ``ssl-dynamics compare``: print (and optionally write) one table of runs."""
    from pathlib import Path

    from dynamics.errors import ConfigError
    from dynamics.io import atomic_write_text, check_output_file
    from dynamics.train.report import FORMATS, collect, format_table

    fmt = args.fmt
    if fmt is None:
        suffix = Path(args.out).suffix.lstrip(".") if args.out else "md"
        fmt = suffix if suffix in FORMATS else "md"
    if fmt not in FORMATS:
        raise ConfigError("--format", f"must be one of {', '.join(FORMATS)}; got {fmt!r}")
    if args.out:
        check_output_file("out", args.out)
    text = format_table(collect(args.run_dirs), fmt)
    print(text, end="")
    if args.out:
        atomic_write_text(args.out, text)
    return 0


__all__ = ["add_compare_arguments", "add_eval_arguments", "add_train_arguments",
           "run_compare", "run_eval", "run_train", "summary_line"]

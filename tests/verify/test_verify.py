"""``ssl-dynamics verify``: the runner runs what the predictions need (reusing finished runs),
judges them and writes the report; failures are ``not run`` with the reason, never hidden."""

import json
from pathlib import Path

import pytest

from dynamics.cli import main
from dynamics.errors import ConfigError
from dynamics.verify.prediction import Outcome, RunSpec, compare_means, mean_std
from dynamics.verify.registry import PREDICTIONS, prediction
from dynamics.verify.run_data import linear_accuracy, series
from dynamics.verify.runner import RunResult, VerifyRun, _argv, _state, select, time_left, verify

FAST = ("optim.max_steps=3", "optim.batch_size=32", "eval.every_epoch=false",
        "eval.linear_epochs=2", "log.log_every=1")


@pytest.fixture
def toy_predictions():
    """Two toy training predictions on the smoke config (one confirmed, one refuted), one
    whose run cannot start, and one that needs real images."""
    ids = []

    def reg(pid, runs, passed=None):
        @prediction(pid, f"toy claim {pid}", "test", "training", runs=runs)
        def evaluate(ctx):
            accs = [linear_accuracy(f) for f in ctx.folders("a")]
            _, loss = series(ctx.folders("a")[0], "loss")
            ok = passed if passed is not None else all(a is not None for a in accs)
            return Outcome.judged(ok, theory="finite", measured=mean_std(accs)[0],
                                  rule="toy", numbers={"steps": len(loss)})
        ids.append(pid)

    spec = lambda s: RunSpec("smoke_byol_digits.yaml", FAST, s, "a")  # noqa: E731
    reg("toy.ok", lambda tier: [spec(0), spec(1)])
    reg("toy.refuted", lambda tier: [spec(0)], passed=False)
    reg("toy.broken", lambda tier: [RunSpec("smoke_byol_digits.yaml", ("optim.lr=-1",), 0,
                                            "bad")])
    reg("toy.needs_data", lambda tier: [RunSpec("smoke_byol_digits.yaml",
                                                ("data.root={data_root}",), 0, "img")])
    yield
    for pid in ids:
        PREDICTIONS.unregister(pid)


@pytest.mark.integration  # end to end (pytest -m integration)
def test_verify_runs_reuses_and_reports(toy_predictions, tmp_path):
    cfg = VerifyRun(tier="smoke", only=["toy."], runs=str(tmp_path / "runs"),
                    out=str(tmp_path / "out"), jobs=2)
    logs = []
    report = verify(cfg, log=logs.append)
    by_id = {p["id"]: p for p in report["predictions"]}
    assert by_id["toy.ok"]["status"] == "confirmed"
    assert by_id["toy.ok"]["numbers"]["steps"] == 3
    assert by_id["toy.refuted"]["status"] == "refuted" and not report["all_confirmed"]
    assert by_id["toy.broken"]["status"] == "not run"
    assert "optim.lr" in by_id["toy.broken"]["details"]  # the run's own one-line error
    assert by_id["toy.needs_data"]["status"] == "not run"
    assert "--data-root" in by_id["toy.needs_data"]["details"]
    # the shared run (seed 0 of arm a) was trained once for both predictions
    assert sum("trained" in line for line in logs) == 2
    md = (tmp_path / "out" / "report.md").read_text()
    assert "1 confirmed, 1 refuted, 2 not run" in md and "**refuted**" in md
    saved = json.loads((tmp_path / "out" / "report.json").read_text())
    assert saved["counts"] == {"confirmed": 1, "refuted": 1, "not run": 2}
    # the precision each run computed in is stated, per run and in all
    ran = [r for p in saved["predictions"] for r in p["runs"] if r["note"] == "trained"]
    assert ran and all(r["precision"] in ("fp32", "bf16") for r in ran)
    assert sum(saved["training"]["precision"].values()) == saved["training"]["runs"]
    assert "; computed in " in md and f"(trained, {ran[0]['precision']})" in md
    # a second verify reuses the finished runs
    logs.clear()
    again = verify(cfg, log=logs.append)
    assert not any("trained" in line for line in logs)
    assert {p["id"]: p["measured"] for p in again["predictions"]}["toy.ok"] == \
        by_id["toy.ok"]["measured"]


def test_finished_real_image_runs_need_no_data_root(tmp_path):
    """Runs on real images that are already finished in --runs are evaluated without
    --data-root; only missing ones make a prediction 'not run'."""
    spec = RunSpec("smoke_byol_digits.yaml", ("data.root={data_root}",), 0, "img")

    @prediction("toy.img_done", "toy claim", "test", "training", runs=lambda tier: [spec])
    def evaluate(ctx):
        return Outcome.judged(len(ctx.folders("img")) == 1, theory="-", measured=1.0,
                              rule="toy")

    try:
        runs = tmp_path / "runs"
        cfg = VerifyRun(tier="smoke", only=["toy.img_done"], runs=str(runs),
                        out=str(tmp_path / "out"))
        first = verify(cfg, log=lambda m: None)["predictions"][0]
        assert first["status"] == "not run" and "--data-root" in first["details"]
        folder = runs / spec.name()
        assert not folder.exists()  # nothing was started without the data
        folder.mkdir()
        (folder / "config.yaml").write_text("name: x\n")
        (folder / "summary.json").write_text(json.dumps({"status": "finished"}))
        again = verify(cfg, log=lambda m: None)
        assert again["predictions"][0]["status"] == "confirmed"
        assert again["training"] == {"runs": 1, "trained_now": 0, "run_hours": 0.0,
                                     "precision": {"unrecorded": 1}}
    finally:
        PREDICTIONS.unregister("toy.img_done")


def test_run_states_and_resume_flag(tmp_path):
    spec = RunSpec("smoke_byol_digits.yaml", FAST, 3, "a")
    folder = tmp_path / spec.name()
    assert _state(folder) == "missing"
    folder.mkdir()
    (folder / "config.yaml").write_text("name: x\n")
    (folder / "summary.json").write_text(json.dumps({"status": "interrupted"}))
    assert _state(folder) == "partial"
    argv = _argv(spec, tmp_path, VerifyRun(), resume=True)
    assert argv[-1] == "--resume" and f"name={spec.name()}" in argv and "seed=3" in argv
    (folder / "summary.json").write_text(json.dumps({"status": "finished"}))
    assert _state(folder) == "finished"
    # the run name is a function of the config, overrides and seed only
    assert spec.name() == RunSpec("smoke_byol_digits.yaml", FAST, 3, "a").name()
    assert spec.name() != RunSpec("smoke_byol_digits.yaml", FAST, 4, "a").name()


def test_time_left_scales_each_config_by_its_own_runs():
    # one 2-epoch synthetic run took 6 s, one 10-epoch CIFAR run 300 s: a pending 40-epoch
    # CIFAR run is 1200 s, a pending synthetic run (2 epochs in its file) 6 s, and a config
    # never run yet the mean of the finished runs (153 s); reused runs (0 s) are ignored
    syn = RunSpec("smoke_synthetic_linear.yaml", (), 0, "syn")
    cifar = RunSpec("cpu_cifar10_simclr.yaml", ("optim.epochs=10",), 0, "c10")
    done = [RunResult(syn, None, "trained", 6.0), RunResult(cifar, None, "trained", 300.0),
            RunResult(RunSpec("smoke_byol_digits.yaml"), None, "reused", 0.0)]
    pending = [RunSpec("cpu_cifar10_simclr.yaml", ("optim.epochs=40",), 1, "c40"),
               RunSpec("smoke_synthetic_linear.yaml", (), 1, "syn"),
               RunSpec("cpu_cifar10_byol_linear.yaml", (), 0, "byol")]
    assert time_left(pending, done, jobs=1) == pytest.approx(1200 + 6 + 153)
    assert time_left(pending, done, jobs=2) == pytest.approx((1200 + 6 + 153) / 2)
    assert time_left(pending, [], jobs=1) == 0.0


def test_selection_and_cli_errors(capsys):
    assert len(select(["directpred."])) >= 10
    with pytest.raises(ConfigError, match="^only: no prediction 'nope'"):
        select(["nope"])
    assert main(["verify", "--only", "nope"]) == 2
    assert "ssl-dynamics: error: only: no prediction" in capsys.readouterr().err
    assert main(["verify", "--tier", "huge"]) == 2
    assert "tier: must be one of smoke, cpu, gpu, paper" in capsys.readouterr().err


def test_registry_has_the_predictions_the_papers_make():
    assert len(PREDICTIONS) >= 30
    kinds = {p.kind for p in PREDICTIONS.values()}
    assert kinds == {"simulation", "training", "bridge", "contrastive"}
    for p in PREDICTIONS.values():
        assert p.claim and p.source and p.tiers, p.id


def test_compare_means_rule():
    diff, se, ok = compare_means([0.8, 0.81, 0.79], [0.5, 0.52, 0.48])
    assert ok and diff == pytest.approx(0.3) and se > 0
    assert not compare_means([0.8, 0.6, 0.7], [0.7, 0.65, 0.72])[2]
    assert not compare_means([0.5, 0.5], [0.6, 0.6])[2]


def _fake_runs(tmp_path, accs: dict[str, list[float]]) -> dict:
    """Run folders holding only a summary with a final linear-probe accuracy per arm/seed."""
    runs = {}
    for label, values in accs.items():
        for seed, acc in enumerate(values):
            folder = tmp_path / f"{label}-{seed}"
            folder.mkdir(parents=True)
            (folder / "summary.json").write_text(json.dumps(
                {"status": "finished", "linear_eval": {"final_accuracy": acc},
                 "collapse": {"rankme_projector": 10.0 * acc}}))
            runs[RunSpec("x.yaml", (), seed, label)] = folder
    return runs


def test_ablation_predictions_judge_by_the_seed_rule(tmp_path):
    """The multi-arm training predictions: confirmed only when every comparison clears two
    standard errors; one figure per prediction."""
    from dynamics.verify.prediction import Context

    pred = PREDICTIONS["directpred.weight_decay_window"]
    good = _fake_runs(tmp_path / "a", {"linear": [0.70, 0.71, 0.72],
                                       "no_wd": [0.60, 0.61, 0.62],
                                       "big_wd": [0.20, 0.21, 0.19]})
    out = pred.evaluate(Context("cpu", tmp_path / "figs", good))
    assert out.status == "confirmed" and Path(out.figure).is_file()
    close = _fake_runs(tmp_path / "b", {"linear": [0.70, 0.60, 0.65],
                                        "no_wd": [0.66, 0.64, 0.62],
                                        "big_wd": [0.20, 0.21, 0.19]})
    assert pred.evaluate(Context("cpu", tmp_path / "figs", close)).status == "refuted"


def test_simulations_on_real_data_see_the_data_root(tmp_path):
    """``verify --data-root`` reaches a run-free prediction through ``Context.data_root``."""
    seen = []

    @prediction("toy.data_sim", "toy claim", "test", "simulation")
    def evaluate(ctx):
        seen.append(ctx.data_root)
        return Outcome.judged(True, theory="-", measured="-", rule="toy")

    try:
        for root in (None, str(tmp_path / "imgs")):
            verify(VerifyRun(tier="smoke", only=["toy.data_sim"], runs=str(tmp_path / "r"),
                             out=str(tmp_path / "o"), data_root=root), log=lambda s: None)
    finally:
        PREDICTIONS.unregister("toy.data_sim")
    assert seen == [None, str(tmp_path / "imgs")]


def _failing_side_item(metrics: str) -> None:
    """A side work item (run in a worker): waits until the run trains, then fails."""
    import time

    t0 = time.time()
    while not Path(metrics).is_file():
        assert time.time() - t0 < 120
        time.sleep(0.2)
    raise RuntimeError("side work failed")


@pytest.mark.integration  # end to end (pytest -m integration)
def test_side_work_overlaps_the_training_and_an_error_stops_the_runs(toy_predictions, tmp_path):
    """The caller's side work items go to the same worker pool as the training runs and run
    beside them; an error in one is raised at once and stops the runs (each keeps a resumable
    checkpoint) instead of waiting for them."""
    import time

    from dynamics.verify.registry import PREDICTIONS

    slow = RunSpec("smoke_byol_digits.yaml", ("optim.max_steps=100000", "optim.epochs=1000",
                                               "eval.every_epoch=false"), 0, "slow")

    @prediction("toy.slow", "toy claim toy.slow", "test", "training", runs=lambda tier: [slow])
    def evaluate(ctx):  # pragma: no cover - never reached: the side work fails first
        return Outcome.judged(True, theory="-", measured="-", rule="toy")

    runs = tmp_path / "runs"
    cfg = VerifyRun(tier="smoke", only=["toy.slow"], runs=str(runs), out=str(tmp_path / "out"),
                    jobs=2)

    def side_work(pool):
        return [pool.submit(_failing_side_item, str(runs / slow.name() / "metrics.jsonl"))]

    t0 = time.time()
    try:
        with pytest.raises(RuntimeError, match="side work failed"):
            verify(cfg, log=lambda m: None, side_work=side_work)
    finally:
        PREDICTIONS.unregister("toy.slow")
    assert time.time() - t0 < 150  # stopped, not trained to its end
    assert _state(runs / slow.name()) == "partial"  # resumable


def test_the_gpu_tier_fits_ten_minutes_of_one_gpu(tmp_path):
    """The gpu tier is opt-in: the dynamics predictions of the linear predictor, on all of
    CIFAR-10 with ResNet-18, 3 seeds x 15 epochs (45 epochs of 50,000 images: about 7 minutes
    at the 5,600 images/s that a 100-epoch run in 15 minutes needs); every other prediction
    says it does not run there."""
    from dynamics.train.config import load_config
    from dynamics.verify.runner import CONFIG_DIR

    at_gpu = [pid for pid, p in PREDICTIONS.items() if "gpu" in p.tiers]
    assert sorted(at_gpu) == ["directpred.eigenspace_alignment",
                              "directpred.predictor_symmetric_psd",
                              "directpred.spectra_bifurcate", "directpred.sqrt_law"]
    specs = {s for pid in at_gpu for s in PREDICTIONS[pid].runs_for("gpu")}
    assert len(specs) == 3
    epochs = 0
    for spec in specs:
        over = [o.replace("{data_root}", str(tmp_path)) for o in spec.overrides]
        cfg = load_config(CONFIG_DIR / spec.config, [*over, f"seed={spec.seed}"])
        assert cfg.model.encoder == "resnet18" and cfg.data.dataset == "folder"
        assert cfg.data.subset is None and cfg.predictor.kind == "linear"
        epochs += cfg.optim.epochs
    assert epochs * 50_000 / 5_600 < 8 * 60
    assert PREDICTIONS["directpred.directpred_works"].runs_for("gpu") == []


class _LateCallbacks:
    """A pool whose work is done at once but whose done callbacks have not run yet (as when a
    wait returns before the pool's thread reached them)."""

    stopped = False

    def __init__(self, value):
        from concurrent.futures import Future

        class Late(Future):
            def add_done_callback(self, fn):  # never called back
                pass

        self.value, self.late, self.training = value, Late, {}

    def submit(self, fn, *args):
        fut = self.late()
        fut.set_result(self.value(*args) if callable(self.value) else self.value)
        return fut


def test_results_do_not_depend_on_when_callbacks_run(tmp_path):
    from dynamics.verify.runner import RunBatch

    spec = RunSpec("smoke_byol_digits.yaml", FAST, 0, "a")

    def finished(config_file, overrides, resume):  # the run "trained": its folder is finished
        folder = tmp_path / spec.name()
        folder.mkdir(exist_ok=True)
        (folder / "config.yaml").write_text("name: x\n")
        (folder / "summary.json").write_text(json.dumps({"status": "finished"}))
        return 0, "", 1.5

    batch = RunBatch([spec], tmp_path, VerifyRun(), lambda m: None, "verify",
                     _LateCallbacks(finished))
    res = batch.collect()[spec]
    assert res.note == "trained" and res.folder == tmp_path / spec.name()
    from dynamics.verify.runner import _Judge

    pred = PREDICTIONS["directpred.theorem1_invariant"]
    judge = _Judge(VerifyRun(), tmp_path, [pred], set(), lambda m: None)
    judge.submit(_LateCallbacks((Outcome.judged(True, rule="r"), 0.5)), pred)
    assert pred.id not in judge.entries
    judge.collect()
    assert judge.entries[pred.id][1].status == "confirmed"

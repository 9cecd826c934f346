"""Multi-process training on the CPU: 2 processes, gloo, launched like a user launches them.

One ``python -m torch.distributed.run --standalone --nproc_per_node 2`` launch runs
``tests/train/ddp_worker.py``, which calls ``python -m dynamics train ...`` (runpy) several times:

* ``bad``  -- a config error raised *after* the process group exists (exit 2, group destroyed);
* ``lin``  -- BYOL + learned linear predictor, digits, tiny ConvNet, 1 epoch = 4 steps;
* ``dp``   -- the same with DirectPred (F all-reduced before every accumulation);
* ``dpr``  -- DirectPred stopped after 2 steps, then ``--resume``d to the end of the epoch;
* ``ldr``  -- the per-sample DataLoader fallback (``data.on_device=false``).

Per-process batch b = 32 (global 64). Checked: every rank ends with bitwise identical online,
target and predictor weights, DirectPred F, BatchNorm statistics and optimizer state; the run
folder is written once, by rank 0; a DDP resume equals the uninterrupted DDP run; and the
gradient/F averaging is right: the DDP run equals a single-process emulation that computes each
rank's shard on its own copy of the model and averages gradients, F_B and BN statistics.

Why not "2 ranks x b == 1 rank x 2b": every encoder here has BatchNorm, which (without
SyncBatchNorm, which PyTorch only has on GPUs) normalises each rank's b images with their own
statistics -- that is what DDP computes, so the emulation reproduces it. The data half of that
statement (the two shards of step s are exactly the samples of the single-process step s with
batch 2b) is tested directly in ``test_rank_shards_partition_the_global_batch``.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from dynamics.train import run_folder as runs
from dynamics.train.checkpoint_files import state_tensors
from dynamics.train.config import load_config
from dynamics.train.data.augment import TwoViewAugment
from dynamics.train.data.loader import DeviceBatchLoader
from dynamics.train.data.sources import _EpochBatchSampler
from dynamics.train.evaluate import load_run_data
from dynamics.train.trainer import (
    build_method_for,
    build_optimizer,
    seed_everything,
)

ROOT = Path(__file__).resolve().parents[2]
SMOKE = ROOT / "experiments" / "train" / "smoke_byol_digits.yaml"
WORKER = Path(__file__).with_name("ddp_worker.py")
B = 32  # per process
COMMON = ["data.subset=256", f"optim.batch_size={B}", "optim.max_steps=null", "optim.epochs=1",
          "eval.online_probe_epochs=1", "eval.linear_epochs=1", "log.log_every=1",
          "log.progress=false", "precision=fp32"]  # compared with an fp32 emulation
STEPS = 4  # 256 images / (32 x 2) per epoch
LAUNCH_TIMEOUT = 180


def overrides(name, *extra):
    return [*COMMON, f"name={name}", *extra]


def launch(tmp, argvs, nproc=2):
    """``python -m torch.distributed.run --standalone --nproc_per_node NPROC ddp_worker.py``
    running ``python -m dynamics ARGV`` for every ARGV in ``argvs``; returns the outputs."""
    dump = tmp / "dump"
    dump.mkdir()
    env = {**os.environ, "DDP_TEST_DUMP": str(dump), "DDP_TEST_RUNS": json.dumps(argvs),
           "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(var, None)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
           str(nproc), "--max_restarts", "0", str(WORKER)]
    t0 = time.perf_counter()
    # own session, so that a hang kills torchrun *and* its workers
    proc = subprocess.Popen(cmd, cwd=tmp, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=LAUNCH_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        pytest.fail(f"torchrun hung for {LAUNCH_TIMEOUT} s:\n{stdout}\n{stderr[-5000:]}")
    wall = time.perf_counter() - t0
    assert proc.returncode == 0, f"torchrun failed:\n{stdout}\n{stderr[-5000:]}"
    results = [json.loads((dump / f"results.rank{r}.json").read_text()) for r in range(nproc)]
    return {"dump": dump, "stdout": stdout, "stderr": stderr, "results": results,
            "wall_s": wall}


@pytest.fixture(scope="module")
def ddp(tmp_path_factory):
    """One torchrun launch of 2 CPU processes running every scenario."""
    tmp = tmp_path_factory.mktemp("ddp")
    out = tmp / "runs"

    def train(name, *extra):
        return ["train", str(SMOKE), f"out_dir={out}", *overrides(name, *extra)]

    argvs = [
        train("bad", "data.subset=100000"),
        train("lin", "predictor.kind=linear"),
        train("dp", "predictor.kind=directpred"),
        train("dpr", "predictor.kind=directpred", "optim.max_steps=2"),
        [*train("dpr", "predictor.kind=directpred"), "--resume"],
        train("ldr", "predictor.kind=linear", "data.on_device=false", "data.num_workers=0"),
    ]
    return {"out": out, **launch(tmp, argvs)}


def rank_states(ddp, name):
    return [torch.load(ddp["dump"] / f"{name}.rank{r}.pt", weights_only=False) for r in (0, 1)]


def assert_identical(a, b, what):
    a, b = state_tensors(a), state_tensors(b)
    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, f"{what}: ranks differ in {different}"


def optimizer_tensors(opt_state):
    return {f"{i}.{k}": v for i, st in opt_state["state"].items() for k, v in st.items()
            if isinstance(v, torch.Tensor)}


# --------------------------------------------------------------------------------------------


def test_rank_shards_partition_the_global_batch():
    """Per-process batch b: at every step the W shards are disjoint and their union is the
    single-process batch of size b*W (on-device loader and the DataLoader fallback)."""
    class Data:
        images = torch.arange(103, dtype=torch.uint8).view(103, 1, 1, 1)
        labels = torch.arange(103)

    b, world = 8, 3
    single = DeviceBatchLoader(Data, b * world, generator=5)
    shards = [DeviceBatchLoader(Data, b, generator=5, rank=r, world_size=world)
              for r in range(world)]
    assert all(len(s) == len(single) for s in shards)
    for epoch in (0, 1):
        for step in range(len(single)):
            _, whole = single.batch(epoch, step)
            parts = [s.batch(epoch, step)[1] for s in shards]
            joined = torch.cat(parts)
            assert len(set(joined.tolist())) == b * world  # disjoint
            assert sorted(joined.tolist()) == sorted(whole.tolist())
    samplers = [_EpochBatchSampler(103, b, 5, r, world) for r in range(world)]
    whole = list(_EpochBatchSampler(103, b * world, 5, 0, 1))
    per_rank = [list(s) for s in samplers]
    for step, batch in enumerate(whole):
        joined = sum((p[step] for p in per_rank), [])
        assert sorted(joined) == sorted(batch) and len(set(joined)) == len(joined)


def test_single_process_context_and_lr_scaling(monkeypatch):
    from dynamics.train.distributed import DistContext, init_from_env

    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(var, raising=False)
    ctx = init_from_env(device="cpu")
    assert ctx == DistContext() and not ctx.is_distributed and ctx.is_main
    t = torch.ones(3)
    assert ctx.all_reduce_mean(t) is t and torch.equal(ctx.gather(t), t)
    assert ctx.gather_object({"a": 1}) == [{"a": 1}] and ctx.broadcast_object(5) == 5
    assert ctx.replica_mismatches(torch.nn.Linear(2, 2)) == []
    ctx.shutdown()  # no group: nothing to do
    cfg = load_config(SMOKE, ["optim.lr_scaling=linear", "optim.lr_base_batch=64",
                              "optim.batch_size=32", "optim.predictor_lr_mult=2"])
    method = build_method_for(cfg, (1, 8, 8), torch.device("cpu"))
    lrs = {g["name"]: g["lr"] for g in build_optimizer(cfg, method, 4).param_groups}
    assert lrs == pytest.approx({"online": 0.05 * 2, "predictor": 0.1 * 2})  # 128 / 64
    plain = load_config(SMOKE, ["optim.batch_size=32"])
    lrs = {g["name"]: g["lr"] for g in build_optimizer(plain, method, 4).param_groups}
    assert lrs["online"] == pytest.approx(0.05)


@pytest.mark.integration  # end to end (pytest -m integration)
def test_launch_codes_and_clean_shutdown(ddp):
    for rank_results in ddp["results"]:
        assert [r["code"] for r in rank_results] == [2, 0, 0, 0, 0, 0], rank_results
        # the trainer destroyed the process group it created, also after the config error
        assert not any(r["group_alive"] for r in rank_results)
    assert "data.subset: asks for 100000 images" in ddp["stderr"]
    # the summary line is printed by rank 0 only
    assert ddp["stdout"].count("train: lin finished") == 1
    assert ddp["stdout"].count("train: dp finished") == 1
    print(f"torchrun launch (6 CLI runs, 2 processes): {ddp['wall_s']:.1f} s")


@pytest.mark.integration  # end to end (pytest -m integration)
@pytest.mark.parametrize("name", ["lin", "dp", "dpr", "ldr"])
def test_replicas_hold_identical_state(ddp, name):
    r0, r1 = rank_states(ddp, name)
    assert_identical(r0["method"], r1["method"], "method state")
    assert_identical(optimizer_tensors(r0["optimizer"]), optimizer_tensors(r1["optimizer"]),
                     "optimizer state")
    keys = r0["method"].keys()
    assert any(k.startswith("target_encoder.") for k in keys)  # BYOL target included
    assert any(k.endswith("running_mean") for k in keys)  # BN statistics included
    assert "predictor.linear.weight" in keys
    if name.startswith("dp"):
        spectral = r0["method"]["predictor._extra_state"]["spectral_state"]
        assert spectral["corr"]["n_updates"] == STEPS
        assert spectral["corr"]["F"].abs().sum() > 0
    # the checkpoint rank 0 wrote is that state
    ckpt = runs.load_checkpoint(ddp["out"] / name / "checkpoints" / "last.pt")
    assert_identical(ckpt["method"]["modules"], r0["method"], "checkpoint vs rank 0")
    assert r0["summary"] == r1["summary"]  # train() returns rank 0's summary everywhere


@pytest.mark.integration  # end to end (pytest -m integration)
@pytest.mark.parametrize("name", ["lin", "dp"])
def test_run_folder_is_written_once_by_rank_zero(ddp, name):
    run = runs.RunDir(ddp["out"] / name)
    files = sorted(str(p.relative_to(run.path)) for p in run.path.rglob("*") if p.is_file())
    assert files == [".lock", "checkpoints/epoch_0001.pt", "checkpoints/last.pt", "config.yaml",
                     "metrics.jsonl", "spectra.jsonl", "summary.json"]
    assert (run.path / ".lock").read_text() == ""  # released by rank 0 at the end
    rows = runs.read_jsonl(run.metrics)
    assert [r["step"] for r in rows if r["kind"] == "train"] == list(range(1, STEPS + 1))
    assert [r["epoch"] for r in rows if r["kind"] == "eval"] == [1]
    assert [r["step"] for r in runs.read_jsonl(run.spectra)] == list(range(1, STEPS + 1))
    s = run.read_summary()
    assert s["status"] == "finished" and s["step"] == STEPS
    assert s["world_size"] == 2 and s["backend"] == "gloo"
    assert s["batch_size_per_process"] == B and s["global_batch_size"] == 2 * B
    assert s["steps_per_epoch"] == STEPS
    d = s["distributed"]
    assert d["replicas_identical"] and d["replica_checks"] >= 2 and not d["replica_mismatches"]
    assert s["linear_eval"]["final_accuracy"] is not None and s["knn"]["top1"] is not None
    # features gathered from both ranks: every test image is evaluated exactly once
    assert s["linear_eval"] and s["data"]["test_samples"] == len(
        load_run_data(load_config(SMOKE, overrides(name))).eval.test_labels)
    bad = ddp["out"] / "bad"  # nothing but the released lock file
    assert not bad.exists() or [p.name for p in bad.iterdir()] == [".lock"]


@pytest.mark.integration  # end to end (pytest -m integration)
def test_ddp_resume_equals_the_uninterrupted_ddp_run(ddp):
    dp, dpr = rank_states(ddp, "dp"), rank_states(ddp, "dpr")
    for r in (0, 1):
        assert_identical(dp[r]["method"], dpr[r]["method"], f"rank {r}: resumed vs straight")
    a = [{k: v for k, v in row.items() if k not in ("images_per_s", "elapsed_s", "eval/time_s")}
         for row in runs.read_jsonl(ddp["out"] / "dp" / "metrics.jsonl")]
    b = [{k: v for k, v in row.items() if k not in ("images_per_s", "elapsed_s", "eval/time_s")}
         for row in runs.read_jsonl(ddp["out"] / "dpr" / "metrics.jsonl")]
    assert a == b


def average(states):
    """The mean of the replicas' states: floating tensors averaged (nested extra states
    included: the predictor's running F), everything else taken from the first."""
    first = states[0]
    if isinstance(first, dict):
        return {k: average([s[k] for s in states]) for k in first}
    if isinstance(first, torch.Tensor) and first.is_floating_point():
        return sum(states) / len(states)
    return first


def emulate_two_ranks(name, kind):
    """What 2-process data-parallel training must compute, in one process: each rank's shard
    goes through its own copy of the model (own BN batch statistics, own F_B); gradients,
    F_B (DirectPred) and BN running statistics are averaged; one optimizer step."""
    cfg = load_config(SMOKE, overrides(name, f"predictor.kind={kind}"))
    seed_everything(cfg.seed)
    data = load_run_data(cfg)
    method = build_method_for(cfg, data.in_shape, torch.device("cpu"))
    opt = build_optimizer(cfg, method, 2)
    loaders = [DeviceBatchLoader(data.pretrain, B, generator=cfg.seed, drop_last=True,
                                 transform=TwoViewAugment(data.recipe), rank=r, world_size=2)
               for r in (0, 1)]
    for step in range(STEPS):
        replicas = []
        for loader in loaders:
            m = build_method_for(cfg, data.in_shape, torch.device("cpu"))
            m.load_state_dict(method.state_dict())  # a copy (the running F in the extra state)
            (v1, v2), _ = loader.batch(0, step)
            m.training_step(v1, v2).loss.backward()
            replicas.append(m)
        method.load_state_dict(average([m.state_dict() for m in replicas]))
        for p, *ps in zip(method.parameters(), *(m.parameters() for m in replicas),
                          strict=True):
            grads = [q.grad for q in ps]
            p.grad = None if grads[0] is None else sum(grads) / 2
        opt.step()
        method.after_optimizer_step(step)
    return method.state_dict(), opt.state_dict()


@pytest.mark.integration  # end to end (pytest -m integration)
@pytest.mark.parametrize("name,kind", [("lin", "linear"), ("dp", "directpred")])
def test_gradient_and_F_averaging_match_the_two_shard_emulation(ddp, name, kind):
    expected, expected_opt = emulate_two_ranks(name, kind)
    got = rank_states(ddp, name)[0]
    expected, got_method = state_tensors(expected), state_tensors(got["method"])
    assert expected.keys() == got_method.keys()
    for k, v in expected.items():
        assert torch.allclose(got_method[k].double(), v.double(), rtol=1e-5, atol=1e-6), k
    exp_o, got_o = optimizer_tensors(expected_opt), optimizer_tensors(got["optimizer"])
    for k, v in exp_o.items():
        assert torch.allclose(got_o[k], v, rtol=1e-5, atol=1e-6), k
    # and it is not trivially equal to a single shard's (un-averaged) update
    if kind == "directpred":
        spectral = got["method"]["predictor._extra_state"]["spectral_state"]
        assert spectral["corr"]["n_updates"] == STEPS


# --------------------------------------------------------------------------------------------
# GPU checks (excluded by default; benchmarks/gpu_check.sh runs them with `pytest -m gpu`)

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.mark.gpu
@needs_cuda
def test_cuda_smoke_training_bf16_channels_last(tmp_path):
    from dynamics.train.trainer import train

    cfg = load_config(SMOKE, [f"out_dir={tmp_path}", *overrides("cuda", "predictor.kind="
                                                                "directpred"),
                              "device=cuda", "precision=bf16", "channels_last=true"])
    summary = train(cfg)
    assert summary["status"] == "finished" and summary["step"] == summary["steps_per_epoch"]
    assert summary["device"].startswith("cuda") and summary["precision"] == "bf16"
    ckpt = runs.load_checkpoint(cfg.run_dir / "checkpoints" / "last.pt")
    assert runs.all_finite(ckpt["method"]["modules"].values())
    assert summary["linear_eval"]["final_accuracy"] is not None


@pytest.mark.gpu
@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs 2 CUDA devices")
def test_nccl_two_gpus_sync_bn(tmp_path):
    out = tmp_path / "runs"
    argvs = [["train", str(SMOKE), f"out_dir={out}",
              *overrides("nccl", "predictor.kind=directpred"), "device=cuda",
              "precision=bf16", "sync_bn=true"]]
    res = launch(tmp_path, argvs)
    assert [r["code"] for r in res["results"][0]] == [0]
    r0, r1 = [torch.load(res["dump"] / f"nccl.rank{r}.pt", weights_only=False,
                         map_location="cpu") for r in (0, 1)]
    assert_identical(r0["method"], r1["method"], "method state")
    s = runs.RunDir(out / "nccl").read_summary()
    assert s["backend"] == "nccl" and s["sync_bn"] is True and s["world_size"] == 2
    assert s["distributed"]["replicas_identical"]
    assert s["device"] == "cuda:0"

"""Library calls follow the thread policy themselves: a heavy entry point runs with the idle
cores unless the caller chose a count, and gives the caller's pools back when it returns."""

import importlib

import pytest
import torch

from dynamics import threads
from dynamics.numerics.integrate import integrate_batched

#: Heavy public entry points: each runs inside ``thread_policy``.
ENTRY_POINTS = [
    "dynamics.numerics.integrate:integrate_batched",
    "dynamics.theories.directpred.modes:simulate_modes",
    "dynamics.theories.directpred.matrix_flow:simulate_matrix",
    "dynamics.theories.directpred.sgd:simulate_sgd",
    "dynamics.theories.directpred.phase.diagram:hyperparameter_diagram",
    "dynamics.theories.directpred.phase.basin:basin_grid",
    "dynamics.theories.isoloss.model:simulate_modes_iso",
    "dynamics.theories.dimensional_collapse.model:simulate_annealed",
    "dynamics.theories.deep_jepa.model:simulate",
    "dynamics.theories.stepwise.model:simulate_flow",
    "dynamics.theories.dual_networks.hltm.train:train_hltm",
    "dynamics.plots:make_figure",
    "dynamics.plots.base:FigureSpec.make",
    "dynamics.plots:make_figures",
    "dynamics.metrics.rank:rankme",
    "dynamics.metrics.spectral:effective_rank",
    "dynamics.metrics.alignment_uniformity:uniformity",
    "dynamics.metrics.probes:knn_accuracy",
    "dynamics.metrics.linear_eval:linear_probe",
    "dynamics.verify.runner:verify",
    "dynamics.workflows.reproduce:run_reproduce",
]


@pytest.fixture
def fresh_policy(monkeypatch):
    """A process where nobody chose threads yet, two usable cores and one busy thread."""
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    old = torch.get_num_threads()
    torch.set_num_threads(2)
    monkeypatch.setattr(threads._STATE, "explicit", None)
    monkeypatch.setattr(threads._STATE, "startup", None)
    monkeypatch.setattr(threads._STATE, "cached", None)
    monkeypatch.setattr(threads, "available_cpus", lambda: 2)
    monkeypatch.setattr(threads, "busy_other_threads", lambda *a, **k: 1)
    yield
    torch.set_num_threads(old)


def _seen_threads():
    seen = []

    def rhs(y, aux):
        seen.append(torch.get_num_threads())
        return -y

    integrate_batched(rhs, torch.ones(3, 1, dtype=torch.float64),
                      torch.tensor([0.0, 1.0], dtype=torch.float64), compile="eager")
    return seen


@pytest.mark.parametrize("target", ENTRY_POINTS)
def test_heavy_entry_points_run_under_the_policy(target):
    module, name = target.split(":")
    fn = importlib.import_module(module)
    for part in name.split("."):
        fn = getattr(fn, part)
    assert getattr(fn, "__thread_policy__", False), f"{target} does not apply the policy"


def test_a_library_call_uses_the_idle_cores_and_restores_the_pool(fresh_policy):
    seen = _seen_threads()
    assert seen and set(seen) == {1}  # 2 cores, 1 busy thread elsewhere
    assert torch.get_num_threads() == 2  # the caller's pool is back


def test_a_changed_pool_counts_as_the_callers_choice(fresh_policy, monkeypatch):
    monkeypatch.setattr(threads, "busy_other_threads", lambda *a, **k: 0)
    threads.caller_chose_threads()  # torch's start-up size (2) is read here
    torch.set_num_threads(1)  # the caller's own choice
    assert set(_seen_threads()) == {1}  # idle: auto would take 2, the caller said 1
    assert torch.get_num_threads() == 1


def test_omp_num_threads_and_explicit_choices_win(fresh_policy, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert set(_seen_threads()) == {2}
    monkeypatch.delenv("OMP_NUM_THREADS")
    with threads.cpu_threads(2):
        assert set(_seen_threads()) == {2}
    assert set(_seen_threads()) == {1}  # the explicit choice ended with its block


def test_nested_calls_decide_once(fresh_policy, monkeypatch):
    calls = []
    real = threads.choose_threads

    def counting(*a, **k):
        calls.append(1)
        return real(*a, **k)

    monkeypatch.setattr(threads, "choose_threads", counting)
    monkeypatch.setattr(threads, "POLICY_TTL", 0.0)
    with threads.thread_policy() as n:
        assert n == 1
        _seen_threads()
    assert len(calls) == 1


def test_training_gives_the_callers_pools_back(fresh_policy, smoke_cfg, tmp_path):
    from dynamics.train.trainer import train

    summary = train(smoke_cfg(tmp_path, "threads=1", "optim.max_steps=2", "optim.epochs=1",
                              "eval.linear_epochs=1", "eval.online_probe_epochs=1"))
    assert summary["threads"]["threads"] == 1
    assert torch.get_num_threads() == 2
    assert threads._STATE.explicit is None  # later library calls still follow the policy
    assert set(_seen_threads()) == {1}


def test_training_with_auto_keeps_a_callers_count(fresh_policy, smoke_cfg, tmp_path):
    """threads=auto in a run started from a script that chose a count keeps that count (so two
    runs of one script use the same pool and give the same numbers, whatever the load); with
    no choice made, auto follows the idle cores."""
    from dynamics.train.trainer import train

    fast = ("optim.max_steps=1", "optim.epochs=1", "eval.linear_epochs=1",
            "eval.online_probe_epochs=1")
    free = train(smoke_cfg(tmp_path, "name=free", *fast))
    assert free["threads"]["source"] == "auto" and free["threads"]["threads"] == 1  # 1 busy
    with threads.cpu_threads(2):
        kept = train(smoke_cfg(tmp_path, "name=kept", *fast))
        assert torch.get_num_threads() == 2
    assert kept["threads"]["source"] == "caller" and kept["threads"]["threads"] == 2

import numpy as np
import pytest


def pytest_configure(config):
    """The suite follows the package's threading policy: the idle cores, at least one (a busy
    machine would otherwise slow torch's default pool down many times over)."""
    from dynamics.threads import apply_threads

    apply_threads("auto")


def pytest_collection_modifyitems(config, items):
    """Every test under ``tests/integration/`` is an end-to-end check (marker ``integration``:
    ``pytest -m integration`` runs them; the default run leaves them out)."""
    for item in items:
        if "integration" in item.path.parts[-3:-1]:
            item.add_marker(pytest.mark.integration)


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def random_psd(rng, n, scale=1.0, rank=None):
    """A random symmetric PSD matrix (full rank unless ``rank`` is given)."""
    k = n if rank is None else rank
    A = rng.standard_normal((n, k))
    return scale * A @ A.T / k


@pytest.fixture(scope="session")
def made(tmp_path_factory):
    """A simulation figure of :data:`dynamics.plots.FIGURES` made once per test session in quick
    mode: ``made(name) -> (FigureResult, out_dir)``."""
    from dynamics.plots import FIGURES

    cache: dict = {}

    def get(name: str):
        if name not in cache:
            out = tmp_path_factory.mktemp(name)
            cache[name] = (FIGURES[name].make(out, quick=True), out)
        return cache[name]

    return get


@pytest.fixture
def smoke_cfg():
    """``smoke_cfg(out_dir, *overrides)``: the digits smoke training config with the fast
    settings of ``tests/train/test_train_loop.py`` (BYOL + DirectPred, 256 digits, batch 64)."""
    from pathlib import Path

    from dynamics.train.config import load_config

    smoke = Path(__file__).resolve().parents[1] / "experiments" / "train" / "smoke_byol_digits.yaml"
    fast = ["data.subset=256", "optim.batch_size=64", "optim.max_steps=null",
            "predictor.kind=directpred", "eval.online_probe_epochs=2", "eval.linear_epochs=3",
            "log.log_every=1"]

    def make(out, *overrides):
        return load_config(smoke, [f"out_dir={out}", *fast, *overrides])

    return make

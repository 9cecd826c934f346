"""Weighted kNN and linear-probe metrics (dynamics.metrics.probes)."""

import math

import numpy as np
import pytest
import torch

from dynamics.errors import ConfigError
from dynamics.metrics.probes import (
    ProbeResult,
    knn_accuracy,
    knn_predict,
    linear_probe,
    standardize_features,
)


def gaussian_classes(rng, n, means, noise=1.0):
    """``n`` points, labels uniform over the rows of ``means``, isotropic noise."""
    y = rng.integers(0, means.shape[0], n)
    return means[y] + noise * rng.standard_normal((n, means.shape[1])), y


@pytest.fixture
def clusters(rng):
    """5 well-separated Gaussian classes in 32-d: (x_train, y_train, x_test, y_test)."""
    means = 2.0 * rng.standard_normal((5, 32))
    xtr, ytr = gaussian_classes(rng, 1000, means)
    xte, yte = gaussian_classes(rng, 500, means)
    return xtr, ytr, xte, yte


def chance_tolerance(n, p):
    """Five binomial standard deviations of an accuracy measured on ``n`` points."""
    return 5 * math.sqrt(p * (1 - p) / n)


# --------------------------------------------------------------------------------------------
# kNN
# --------------------------------------------------------------------------------------------


def test_knn_separated_clusters_perfect(clusters):
    acc, acc5 = knn_accuracy(*clusters, top5=True)
    assert isinstance(acc, float) and isinstance(acc5, float)
    assert acc == 1.0 and acc5 == 1.0


def test_knn_random_labels_near_chance(rng):
    xtr, xte = rng.standard_normal((2000, 16)), rng.standard_normal((1000, 16))
    ytr, yte = rng.integers(0, 4, 2000), rng.integers(0, 4, 1000)
    acc = knn_accuracy(xtr, ytr, xte, yte)
    assert abs(acc - 0.25) < chance_tolerance(1000, 0.25)
    # top-5 over 4 classes covers every class
    assert knn_accuracy(xtr, ytr, xte, yte, top5=True)[1] == 1.0


def test_knn_k1_on_train_set_is_perfect(rng):
    x = rng.standard_normal((300, 8))
    y = rng.integers(0, 10, 300)
    assert knn_accuracy(x, y, x, y, k=1) == 1.0
    np.testing.assert_array_equal(knn_predict(x, y, x, k=1).numpy(), y)


def test_knn_temperature_weighting_changes_the_vote():
    # Query e1. One class-0 neighbour at cosine 1, two class-1 neighbours at cosine 0.5: the
    # unweighted majority (k=3) says class 1, exp(sim / 0.07) says class 0 (e^14.3 > 2 e^7.1).
    c = 0.5
    s = math.sqrt(1 - c**2)
    train = torch.tensor([[1.0, 0.0, 0.0], [c, s, 0.0], [c, 0.0, s], [-1.0, 0.0, 0.0]])
    labels = torch.tensor([0, 1, 1, 2])
    query = torch.tensor([[3.0, 0.0, 0.0]])  # norm does not matter (cosine)
    assert knn_predict(train, labels, query, k=3, temperature=0.07).tolist() == [0]
    assert knn_accuracy(train, labels, query, torch.tensor([0]), k=3) == 1.0
    # a large temperature flattens the weights -> majority vote
    assert knn_predict(train, labels, query, k=3, temperature=1e3).tolist() == [1]
    # crossover: class 0 wins iff exp(1/T) > 2 exp(0.5/T), i.e. T < 0.5 / ln 2 = 0.72
    assert knn_predict(train, labels, query, k=3, temperature=0.6).tolist() == [0]
    assert knn_predict(train, labels, query, k=3, temperature=0.9).tolist() == [1]
    # tiny temperatures do not overflow (votes are rescaled by the row maximum)
    assert knn_predict(train, labels, query, k=4, temperature=1e-4).tolist() == [0]


def test_knn_chunked_equals_unchunked(rng):
    means = 0.7 * rng.standard_normal((6, 10))
    xtr, ytr = gaussian_classes(rng, 500, means)
    xte, yte = gaussian_classes(rng, 203, means)
    full = knn_predict(xtr, ytr, xte, chunk_size=10_000)
    for chunk in (1, 7, 64, 203):
        torch.testing.assert_close(knn_predict(xtr, ytr, xte, chunk_size=chunk), full)
        assert knn_accuracy(xtr, ytr, xte, yte, chunk_size=chunk) == knn_accuracy(
            xtr, ytr, xte, yte, chunk_size=10_000
        )
    acc = knn_accuracy(xtr, ytr, xte, yte)
    assert 0.4 < acc < 1.0  # overlapping classes: a non-trivial case


def test_knn_numpy_equals_torch(rng):
    means = 0.7 * rng.standard_normal((4, 12))
    xtr, ytr = gaussian_classes(rng, 400, means)
    xte, yte = gaussian_classes(rng, 150, means)
    ref = knn_accuracy(xtr, ytr, xte, yte, k=10, temperature=0.1, top5=True)
    as64 = knn_accuracy(
        torch.from_numpy(xtr), torch.from_numpy(ytr), torch.from_numpy(xte),
        torch.from_numpy(yte), k=10, temperature=0.1, top5=True,
    )  # fmt: skip
    as32 = knn_accuracy(
        torch.tensor(xtr, dtype=torch.float32), torch.tensor(ytr), xte.astype(np.float32),
        yte.tolist(), k=10, temperature=0.1, top5=True,
    )  # fmt: skip
    assert ref == as64
    assert ref == pytest.approx(as32, abs=2 / 150)  # float32 may flip a near-tie
    assert isinstance(knn_predict(xtr, ytr, xte), torch.Tensor)


def test_knn_num_classes_and_top5(rng):
    x = rng.standard_normal((50, 4))
    y = rng.integers(0, 3, 50)
    # extra, unused classes do not change the prediction
    assert knn_accuracy(x, y, x, y, num_classes=7) == knn_accuracy(x, y, x, y)
    top1, top5 = knn_accuracy(x, y, x, y, top5=True)
    assert top5 >= top1 and top5 == 1.0  # 3 classes <= 5


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"k": 0}, "k"),
        ({"k": 101}, "k"),
        ({"k": 2.5}, "k"),
        ({"temperature": 0.0}, "temperature"),
        ({"temperature": -1.0}, "temperature"),
        ({"chunk_size": 0}, "chunk_size"),
        ({"num_classes": 3}, "train_labels"),
    ],
)
def test_knn_rejects_bad_options(rng, kwargs, field):
    x = rng.standard_normal((100, 4))
    y = np.arange(100) % 5
    with pytest.raises(ConfigError) as info:
        knn_accuracy(x, y, x[:10], y[:10], **kwargs)
    assert info.value.field == field
    assert "\n" not in str(info.value) and str(info.value).startswith(field + ":")


def test_knn_rejects_bad_inputs(rng):
    x = rng.standard_normal((20, 4))
    y = np.arange(20) % 2

    def field_of(*args, **kwargs):
        with pytest.raises(ConfigError) as info:
            knn_accuracy(*args, **kwargs)
        assert "\n" not in str(info.value)
        return info.value.field

    assert field_of(x, y[:-1], x, y) == "train_labels"  # length mismatch
    assert field_of(x, y, x[:, :3], y) == "test_features"  # dimension mismatch
    assert field_of(x[0], y, x, y) == "train_features"  # 1-D features
    assert field_of(x, y, x, y - 1) == "test_labels"  # negative label
    assert field_of(x, y + 0.5, x, y) == "train_labels"  # non-integer labels
    bad = x.copy()
    bad[3, 1] = np.nan
    assert field_of(bad, y, x, y) == "train_features"
    assert field_of(x, y, x, y, top5="yes") == "top5"


# --------------------------------------------------------------------------------------------
# linear probe
# --------------------------------------------------------------------------------------------


def test_probe_separable_classes(clusters):
    res = linear_probe(*clusters)
    assert isinstance(res, ProbeResult)
    assert res.epochs == 50
    assert res.final_accuracy > 0.95 and res.best_accuracy > 0.95
    assert res.train_accuracy > 0.95
    acc = res.history["test_accuracy"]
    assert len(acc) == 50 and len(res.history["train_loss"]) == 50
    assert res.best_accuracy == max(acc) >= res.final_accuracy == acc[-1]
    assert acc[res.best_epoch - 1] == res.best_accuracy  # 1-based, first epoch reaching the max
    assert all(a < res.best_accuracy for a in acc[: res.best_epoch - 1])
    assert res.history["train_loss"][-1] < res.history["train_loss"][0]


def test_probe_random_labels_near_chance(rng):
    xtr, xte = rng.standard_normal((600, 32)), rng.standard_normal((1000, 32))
    ytr, yte = rng.integers(0, 5, 600), rng.integers(0, 5, 1000)
    res = linear_probe(xtr, ytr, xte, yte, epochs=20)
    assert abs(res.final_accuracy - 0.2) < chance_tolerance(1000, 0.2)
    assert res.best_accuracy >= res.final_accuracy
    assert res.best_accuracy < 0.2 + 2 * chance_tolerance(1000, 0.2)


def test_probe_deterministic_given_seed(clusters):
    state = torch.random.get_rng_state()
    a = linear_probe(*clusters, epochs=4, seed=3)
    b = linear_probe(*clusters, epochs=4, seed=3)
    c = linear_probe(*clusters, epochs=4, seed=4)
    assert a == b  # bit-identical history
    assert a.history["train_loss"] != c.history["train_loss"]
    # the global RNG is neither used nor advanced
    assert torch.equal(torch.random.get_rng_state(), state)


def test_standardize_uses_train_statistics(rng):
    xtr = rng.normal(3.0, 2.0, size=(200, 5))
    xtr[:, 4] = 7.0  # constant feature -> scale 1, like sklearn
    xte = rng.normal(-1.0, 5.0, size=(50, 5))
    ztr, zte = standardize_features(torch.from_numpy(xtr), torch.from_numpy(xte))
    mean, std = xtr.mean(axis=0), xtr.std(axis=0)  # population std (ddof=0)
    std[4] = 1.0
    np.testing.assert_allclose(ztr.numpy(), (xtr - mean) / std, atol=1e-12)
    np.testing.assert_allclose(zte.numpy(), (xte - mean) / std, atol=1e-12)
    np.testing.assert_allclose(ztr.numpy()[:, :4].std(axis=0), 1.0, atol=1e-12)


def test_probe_standardizes_test_with_train_statistics(rng):
    # Two classes along feature 0 (class 0 at -2, class 1 at +2). Shifting the test set by +4
    # moves class 0 onto class 1's side: with the TRAIN mean/std (correct) accuracy drops to about
    # one half; re-standardising the test set with its own statistics would undo the shift.
    means = np.zeros((2, 8))
    means[:, 0] = [-2.0, 2.0]
    xtr, ytr = gaussian_classes(rng, 600, means, noise=0.5)
    xte, yte = gaussian_classes(rng, 400, means, noise=0.5)
    clean = linear_probe(xtr, ytr, xte, yte, epochs=10, lr=1e-2)
    shifted = xte.copy()
    shifted[:, 0] += 4.0
    moved = linear_probe(xtr, ytr, shifted, yte, epochs=10, lr=1e-2)
    assert clean.final_accuracy > 0.98
    assert moved.final_accuracy < 0.7
    # the probe is invariant to a per-feature affine map applied to BOTH splits
    scale, offset = rng.uniform(0.1, 10.0, 8), rng.normal(0.0, 50.0, 8)
    mapped = linear_probe(
        xtr * scale + offset, ytr, shifted * scale + offset, yte, epochs=10, lr=1e-2
    )
    assert mapped.final_accuracy == pytest.approx(moved.final_accuracy, abs=0.01)


def test_probe_without_standardize_sees_raw_offsets(rng):
    means = np.zeros((2, 4))
    means[:, 0] = [-2.0, 2.0]
    xtr, ytr = gaussian_classes(rng, 400, means, noise=0.5)
    xte, yte = gaussian_classes(rng, 200, means, noise=0.5)
    raw = linear_probe(xtr + 1e3, ytr, xte + 1e3, yte, epochs=20, lr=1e-2, standardize=False)
    std = linear_probe(xtr + 1e3, ytr, xte + 1e3, yte, epochs=20, lr=1e-2)
    assert std.final_accuracy > 0.95
    assert raw.final_accuracy < 0.9  # the 1e3 offset swamps the signal without the scaler


def test_probe_does_not_touch_encoder_graph(rng):
    enc = torch.nn.Linear(6, 6)
    x = torch.tensor(rng.standard_normal((64, 6)), dtype=torch.float32)
    y = torch.tensor(rng.integers(0, 3, 64))
    feats = enc(x)  # requires grad
    before = enc.weight.detach().clone()
    res = linear_probe(feats, y, feats, y, epochs=2)
    assert enc.weight.grad is None
    assert torch.equal(enc.weight, before)
    assert 0.0 <= res.final_accuracy <= 1.0
    assert knn_accuracy(feats, y, feats, y, k=1) == 1.0
    assert enc.weight.grad is None


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"epochs": 0}, "epochs"),
        ({"epochs": 2.0}, "epochs"),
        ({"lr": 0.0}, "lr"),
        ({"weight_decay": -1e-3}, "weight_decay"),
        ({"batch_size": 0}, "batch_size"),
        ({"seed": -1}, "seed"),
        ({"standardize": "yes"}, "standardize"),
        ({"num_classes": 2}, "train_labels"),
        ({"device": "not-a-device"}, "device"),
    ],
)
def test_probe_rejects_bad_options(rng, kwargs, field):
    x = rng.standard_normal((30, 4))
    y = np.arange(30) % 3
    with pytest.raises(ConfigError) as info:
        linear_probe(x, y, x, y, **kwargs)
    assert info.value.field == field
    assert "\n" not in str(info.value) and str(info.value).startswith(field + ":")


def test_probe_rejects_bad_inputs(rng):
    x = rng.standard_normal((30, 4))
    y = np.arange(30) % 3

    def field_of(*args, **kwargs):
        with pytest.raises(ConfigError) as info:
            linear_probe(*args, epochs=1, **kwargs)
        assert "\n" not in str(info.value)
        return info.value.field

    assert field_of(x, y, x, y[:10]) == "test_labels"  # mismatched lengths
    assert field_of(x, y, x, np.full(30, 5), num_classes=3) == "test_labels"  # out of range
    assert field_of(x, y, x, -y) == "test_labels"  # negative labels
    assert field_of(x, y, x[:, :2], y) == "test_features"
    assert field_of(x[:0], y[:0], x, y) == "train_features"  # empty train set
    assert field_of(x, y.reshape(10, 3), x, y) == "train_labels"
    assert field_of(np.full((30, 4), np.inf), y, x, y) == "train_features"


@pytest.mark.gpu
def test_probes_on_cuda_match_cpu(clusters):
    xtr, ytr, xte, yte = (torch.as_tensor(a) for a in clusters)
    cuda = [a.cuda() for a in (xtr, ytr, xte, yte)]
    assert knn_accuracy(*cuda) == knn_accuracy(xtr, ytr, xte, yte)
    assert knn_predict(cuda[0], cuda[1], cuda[2]).device.type == "cuda"
    gpu = linear_probe(*cuda, epochs=5)
    cpu = linear_probe(xtr, ytr, xte, yte, epochs=5)
    assert gpu.final_accuracy == pytest.approx(cpu.final_accuracy, abs=0.02)

"""Input checks of the contrastive losses, the probes and the covariance operator: every bad
input is one ConfigError line naming the argument, numpy input gives the torch value."""

import numpy as np
import pytest
import torch

from dynamics.errors import ConfigError
from dynamics.inputs import as_tensor, as_tensors, check_values
from dynamics.losses.contrastive import (
    dcl,
    dclw,
    dclw_weights,
    exact_cov_from_distances,
    exact_cov_infonce,
    exact_cov_weights,
    npc_multiplier,
    nt_xent,
)
from dynamics.losses.distance import (
    infonce_from_distances,
    ntxent_distances,
    pair_distance,
    pairwise_distances,
    simple_contrastive,
    soft_triplet,
)
from dynamics.metrics.probes import knn_accuracy, knn_predict, linear_probe
from dynamics.theories.dual_networks.operator import (
    LayeredNet,
    augmentation_averaged_covariance,
    connection_matrix,
    covariance_operator,
    expected_loss,
    expected_update_operator,
    linear_operator,
    simple_loss_gradient_operator,
)

DT = torch.float64


def _raises(field, fn, *args, contains=(), **kwargs):
    """``fn(*args, **kwargs)`` raises a one-line ConfigError for ``field``."""
    with pytest.raises(ConfigError) as info:
        fn(*args, **kwargs)
    msg = str(info.value)
    assert info.value.field == field, msg
    assert "\n" not in msg and msg.startswith(field + ":"), msg
    for part in contains:
        assert part in msg, msg
    return msg


def _views(N=6, d=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    z1 = torch.randn(N, d, dtype=DT, generator=g)
    return z1, z1 + 0.3 * torch.randn(N, d, dtype=DT, generator=g)


def _dists(B=7, H=3, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(B, dtype=DT, generator=g), 2 * torch.rand(B, H, dtype=DT, generator=g)


# ----------------------------------------------------------------------------- batch losses

BATCH = {
    "nt_xent": lambda a, b, **kw: nt_xent(a, b, 0.5, **kw),
    "nt_xent_none": lambda a, b, **kw: nt_xent(a, b, 0.5, reduction="none", **kw),
    "dcl": lambda a, b, **kw: dcl(a, b, 0.3, **kw),
    "dclw": lambda a, b, **kw: dclw(a, b, 0.3, sigma=0.5, **kw),
    "exact_cov": lambda a, b, **kw: exact_cov_infonce(a, b, 0.5, beta=0.2, **kw),
    "npc_multiplier": lambda a, b, **kw: npc_multiplier(a, b, 0.2, **kw),
    "dclw_weights": lambda a, b, **kw: dclw_weights(a, b, 0.5, **kw),
    "ntxent_distances": lambda a, b, **kw: ntxent_distances(a, b, **kw)[1],
}


def _with(z, index, value):
    z = z.clone()
    z[index] = value
    return z


def _bad_views():
    z1, z2 = _views()
    return [
        ("nan_z1", _with(z1, (1, 2), float("nan")), z2, "z1", ("finite",)),
        ("inf_z2", z1, _with(z2, (0, 0), float("inf")), "z2", ("finite",)),
        ("zero_row_z1", _with(z1, 4, 0.0), z2, "z1", ("row 4", "all zeros")),
        ("zero_row_z2", z1, _with(z2, 2, 0.0), "z2", ("row 2", "all zeros")),
        ("shape_mismatch", z1, z2[:, :3], "z2", ("(6, 4)", "(6, 3)")),
        ("rows_mismatch", z1, z2[:5], "z2", ("(6, 4)", "(5, 4)")),
        ("one_d", z1[0], z2[0], "z1", ("(4,)",)),
        ("no_columns", z1[:, :0], z2[:, :0], "z1", ("d >= 1",)),
        ("one_sample", z1[:1], z2[:1], "z1", ("N >= 2",)),
        ("strings", np.full((6, 4), "a"), z2, "z1", ("dtype <U1",)),
        ("complex", z1.to(torch.complex128), z2, "z1", ("real",)),
        ("ragged", [[1.0, 2.0], [3.0]], z2, "z1", ()),
    ]


@pytest.mark.parametrize("name", list(BATCH))
@pytest.mark.parametrize(
    "case, z1, z2, field, contains", _bad_views(), ids=[c[0] for c in _bad_views()]
)
def test_batch_losses_refuse_bad_views(name, case, z1, z2, field, contains):
    _raises(field, BATCH[name], z1, z2, contains=contains)


@pytest.mark.parametrize("name", list(BATCH))
def test_batch_losses_numpy_integer_and_mixed_inputs_agree(name):
    fn = BATCH[name]
    z1, z2 = _views()
    ref = fn(z1, z2)
    out = fn(z1.numpy(), z2.numpy())  # numpy in -> numpy out, same value
    assert isinstance(out, np.ndarray)
    np.testing.assert_allclose(out, ref.numpy(), rtol=1e-12, atol=1e-12)
    mixed = fn(z1.numpy(), z2)  # one torch argument -> torch out
    assert isinstance(mixed, torch.Tensor)
    torch.testing.assert_close(mixed, ref)
    lists = fn(z1.tolist(), z2.tolist())
    np.testing.assert_allclose(lists, ref.numpy(), rtol=1e-12, atol=1e-12)
    # integer tensors are promoted to float64 (exactly)
    i1, i2 = torch.randint(-3, 4, (6, 4)), torch.randint(-3, 4, (6, 4))
    i1[:, 0], i2[:, 0] = 1, 2  # no all-zero row
    torch.testing.assert_close(fn(i1, i2), fn(i1.double(), i2.double()))
    # float32 next to float64: computed in float64
    mixed_prec = fn(z1.float(), z2)
    assert mixed_prec.dtype == DT
    torch.testing.assert_close(mixed_prec, fn(z1.float().double(), z2))


@pytest.mark.parametrize("name", list(BATCH))
def test_batch_losses_keep_autograd_and_check_false_skips_value_checks(name):
    fn = BATCH[name]
    z1, z2 = (z.requires_grad_() for z in _views())
    out = fn(z1, z2)
    (g,) = torch.autograd.grad(out.sum(), z1)
    assert torch.isfinite(g).all() and float(g.norm()) > 0
    nan_z1 = _with(z1.detach(), (0, 0), float("nan"))
    assert not torch.isfinite(fn(nan_z1, z2.detach(), check=False)).all()
    _raises("z2", fn, z1, z2[:, :3], check=False)  # shapes are always checked


def test_options_are_checked_before_the_arrays():
    z1, z2 = _views()
    bad = _with(z1, 0, float("nan"))
    _raises("tau", nt_xent, bad, z2, 0.0)
    _raises("reduction", dcl, bad, z2, 0.5, reduction="sum")
    _raises("sigma", dclw, bad, z2, 0.5, sigma=-1.0)
    _raises("beta", exact_cov_infonce, bad, z2, 0.5, beta=float("nan"))
    _raises("convention", pair_distance, bad, z2, "euclid")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_views_on_two_devices_are_refused():
    z1, z2 = _views()
    _raises("z2", nt_xent, z1, z2.cuda(), 0.5, contains=("cuda", "cpu"))
    torch.testing.assert_close(nt_xent(z1.numpy(), z2.cuda(), 0.5).cpu(), nt_xent(z1, z2, 0.5))


# ----------------------------------------------------------------------------- distance losses

DIST = {
    "simple": lambda rp, rn, **kw: simple_contrastive(rp, rn[..., 0], **kw),
    "soft_triplet": lambda rp, rn, **kw: soft_triplet(rp, rn[..., 0], 0.5, 0.1, **kw),
    "infonce": lambda rp, rn, **kw: infonce_from_distances(rp, rn, 0.4, **kw),
    "exact_cov": lambda rp, rn, **kw: exact_cov_from_distances(rp, rn, 0.5, 0.3, **kw),
    "exact_cov_weights": lambda rp, rn, **kw: exact_cov_weights(rn, 0.5, **kw),
}


@pytest.mark.parametrize("name", list(DIST))
def test_distance_losses_numpy_integer_and_nan(name):
    fn = DIST[name]
    rp, rn = _dists()
    ref = fn(rp, rn)
    out = fn(rp.numpy(), rn.numpy())
    assert isinstance(out, np.ndarray)
    np.testing.assert_allclose(out, ref.numpy(), rtol=1e-12, atol=1e-12)
    ip, in_ = torch.arange(7), torch.arange(21).reshape(7, 3) % 4
    torch.testing.assert_close(fn(ip, in_), fn(ip.double(), in_.double()))
    neg_field = "r_negs" if name == "infonce" else "r_neg"
    _raises(neg_field, fn, rp, _with(rn, (2, 0), float("nan")), contains=("finite",))
    if name != "exact_cov_weights":
        _raises("r_pos", fn, _with(rp, 3, float("-inf")), rn, contains=("finite",))
    assert not torch.isfinite(fn(rp, _with(rn, (2, 0), float("nan")), check=False)).all()


@pytest.mark.parametrize(
    "fn, args, field, contains",
    [
        (simple_contrastive, (torch.ones(3), torch.zeros(4)), "r_neg", ("(3,)", "(4,)")),
        (simple_contrastive, (torch.ones(3), torch.zeros(3, 1)), "r_neg", ("(3,)", "(3, 1)")),
        (soft_triplet, (torch.ones(3), torch.zeros(4), 0.5), "r_neg", ("(3,)", "(4,)")),
        (infonce_from_distances, (torch.ones(3), torch.zeros(4, 2), 0.5), "r_negs",
         ("(3,)", "(4, 2)")),
        (exact_cov_from_distances, (torch.ones(3), torch.zeros(3), 0.5), "r_neg",
         ("(3,)", "got (3,)")),
        (exact_cov_weights, (torch.zeros(3), 0.5), "r_neg", ("(B, H)",)),
        (simple_contrastive, (np.array(["a", "b"]), np.zeros(2)), "r_pos", ("dtype <U1",)),
        (soft_triplet, (np.zeros(2), np.zeros(2), float("nan")), "tau", ()),
        (pair_distance, (torch.zeros(2, 3), torch.ones(2, 4)), "f_prime", ("(2, 3)", "(2, 4)")),
        (pair_distance, (torch.zeros(2, 3), torch.ones(3, 3)), "f_prime", ("(2, 3)", "(3, 3)")),
        (pair_distance, (torch.ones(2, 3), torch.zeros(2, 3), "cosine"), "f_prime",
         ("row 0", "all zeros")),
        (pairwise_distances, (torch.ones(2, 3), torch.ones(2, 3), torch.ones(2, 4, 2)),
         "negatives", ("(2, 3)", "(2, 4, 2)")),
        (pairwise_distances, (torch.ones(2, 3), torch.ones(2, 3),
                              _with(torch.ones(2, 4, 3), (1, 2), 0.0), "cosine"),
         "negatives", ("row (1, 2)",)),
        (pairwise_distances, (torch.ones(2, 3), torch.ones(2, 3),
                              _with(torch.ones(2, 4, 3), (1, 2, 0), float("nan"))),
         "negatives", ("finite",)),
    ],
)
def test_distance_functions_refuse_bad_inputs(fn, args, field, contains):
    _raises(field, fn, *args, contains=contains)


def test_distances_numpy_equals_torch_and_zero_rows_fine_for_half_sq():
    g = torch.Generator().manual_seed(3)
    a, p, n = (torch.randn(*s, dtype=DT, generator=g) for s in [(5, 3), (5, 3), (5, 2, 3)])
    for conv in ("half_sq", "cosine"):
        ref = pairwise_distances(a, p, n, conv)
        out = pairwise_distances(a.numpy(), p.numpy(), n.numpy(), conv)
        for o, r in zip(out, ref, strict=True):
            np.testing.assert_allclose(o, r.numpy(), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(pair_distance(a.numpy(), p.numpy(), conv),
                                   pair_distance(a, p, conv).numpy(), rtol=1e-12)
    zero = torch.zeros(5, 3, dtype=DT)
    torch.testing.assert_close(pair_distance(zero, p), 0.5 * (p**2).sum(-1))
    # broadcasting over the leading axes is allowed
    assert pair_distance(a.unsqueeze(1), n).shape == (5, 2)


def test_distance_losses_keep_autograd_for_the_operator():
    rp, rn = (t.clone().requires_grad_() for t in _dists())
    gp, gn = torch.autograd.grad(infonce_from_distances(rp, rn, 0.4).sum(), (rp, rn))
    assert gp.shape == rp.shape and gn.shape == rn.shape and float(gp.min()) > 0


# ----------------------------------------------------------------------------- probes


@pytest.fixture
def probe_data():
    rng = np.random.default_rng(0)
    centers = 3 * rng.standard_normal((3, 5))
    y = np.arange(60) % 3
    x = centers[y] + rng.standard_normal((60, 5))
    return x[:45], y[:45], x[45:], y[45:]


def _knn(*args, **kw):
    return knn_accuracy(*args, k=5, **kw)


def _knn_pred(xtr, ytr, xte, yte, **kw):
    return knn_predict(xtr, ytr, xte, k=5, **kw)


def _probe(*args, **kw):
    return linear_probe(*args, epochs=1, **kw)


PROBES = {"knn_accuracy": _knn, "knn_predict": _knn_pred, "linear_probe": _probe}


def _bad_probe_inputs(xtr, ytr, xte, yte):
    nan_x = xtr.copy()
    nan_x[3, 1] = np.nan
    nan_y = ytr.astype(float)
    nan_y[0] = np.nan
    return [
        ("string_labels", (xtr, np.array(["cat", "dog", "eel"])[ytr], xte, yte), "train_labels",
         ("dtype <U3", "integer class indices")),
        ("string_list", (xtr, [str(v) for v in ytr], xte, yte), "train_labels", ("dtype <U1",)),
        ("object_labels", (xtr, [None] * len(ytr), xte, yte), "train_labels", ("object",)),
        ("short_labels", (xtr, ytr[:-3], xte, yte), "train_labels", ("(45)", "42 labels")),
        ("fractional", (xtr, ytr + 0.5, xte, yte), "train_labels", ("non-integer",)),
        ("nan_labels", (xtr, nan_y, xte, yte), "train_labels", ("NaN",)),
        ("bool_labels", (xtr, ytr > 0, xte, yte), "train_labels", ("bool",)),
        ("two_d_labels", (xtr, ytr[:, None], xte, yte), "train_labels", ("1-D",)),
        ("negative", (xtr, ytr - 1, xte, yte), "train_labels", (">= 0",)),
        ("nan_features", (nan_x, ytr, xte, yte), "train_features", ("finite",)),
        ("string_features", (xtr.astype(str), ytr, xte, yte), "train_features", ("dtype",)),
        ("test_dim", (xtr, ytr, xte[:, :3], yte), "test_features", ("(5)", "3")),
    ]


BAD_PROBE_CASES = ["string_labels", "string_list", "object_labels", "short_labels", "fractional",
                   "nan_labels", "bool_labels", "two_d_labels", "negative", "nan_features",
                   "string_features", "test_dim"]


@pytest.mark.parametrize("probe", list(PROBES))
@pytest.mark.parametrize("case", BAD_PROBE_CASES)
def test_probes_refuse_bad_inputs(probe_data, probe, case):
    cases = {c[0]: c[1:] for c in _bad_probe_inputs(*probe_data)}
    assert set(cases) == set(BAD_PROBE_CASES)
    args, field, contains = cases[case]
    _raises(field, PROBES[probe], *args, contains=contains)


@pytest.mark.parametrize("probe", ["knn_accuracy", "linear_probe"])
def test_probes_refuse_bad_test_labels(probe_data, probe):
    xtr, ytr, xte, yte = probe_data
    _raises("test_labels", PROBES[probe], xtr, ytr, xte, np.array(["a"] * len(yte)))
    _raises("test_labels", PROBES[probe], xtr, ytr, xte, yte[:-1])


def test_probes_numpy_equals_torch_and_whole_float_labels(probe_data):
    xtr, ytr, xte, yte = probe_data
    t = [torch.as_tensor(v) for v in probe_data]
    assert _knn(xtr, ytr, xte, yte) == _knn(*t)
    assert _knn(xtr, ytr.astype(np.float32), xte, yte) == _knn(*t)
    assert torch.equal(_knn_pred(xtr, ytr, xte, yte), _knn_pred(*t))
    a, b = linear_probe(*probe_data, epochs=3), linear_probe(*t, epochs=3)
    assert a.history == b.history and a.final_accuracy == b.final_accuracy
    # an all-zero feature row is allowed (kept as the zero vector, DINO / solo-learn)
    xz = xtr.copy()
    xz[0] = 0.0
    assert 0.0 <= _knn(xz, ytr, xte, yte) <= 1.0


# ----------------------------------------------------------------------------- operator


def _net(dtype=DT, widths=(4, 5, 3), seed=0, **kw):
    return LayeredNet(list(widths), dtype=dtype, generator=torch.Generator().manual_seed(seed),
                      **kw)


def _x_aug(N=3, A=2, n0=4, seed=1):
    return torch.randn(N, A, n0, dtype=DT, generator=torch.Generator().manual_seed(seed))


def _simp(rp, rn):
    return simple_contrastive(rp, rn[:, 0])


OPERATORS = {
    "simple": lambda net, x: simple_loss_gradient_operator(net, x, 1),
    "expected": lambda net, x: expected_update_operator(net, x, 2, _simp),
    "expected_loss": lambda net, x: expected_loss(net, x, _simp).detach(),
    "connection": lambda net, x: connection_matrix(net, x.reshape(-1, x.shape[-1]), 1),
    "forward": lambda net, x: net(x.reshape(-1, x.shape[-1])).detach(),
}


@pytest.mark.parametrize("name", list(OPERATORS))
def test_operator_casts_inputs_to_the_net_dtype(name):
    fn, x = OPERATORS[name], _x_aug()
    x32 = x.float()
    net64 = _net()
    # float32 data into the float64 net: exact cast (as if given in float64)
    out = fn(net64, x32)
    assert out.dtype == DT
    torch.testing.assert_close(out, fn(net64, x32.double()), rtol=0, atol=0)
    # float64 data into a float32 net: rounded to float32, the net's precision
    net32 = _net(torch.float32)
    out32 = fn(net32, x)
    assert out32.dtype == torch.float32
    torch.testing.assert_close(out32, fn(net32, x32), rtol=0, atol=0)
    # numpy and integer inputs
    torch.testing.assert_close(fn(net64, x.numpy()), fn(net64, x), rtol=0, atol=0)
    xi = torch.randint(-2, 3, x.shape)
    torch.testing.assert_close(fn(net64, xi), fn(net64, xi.double()), rtol=0, atol=0)


def test_linear_operator_and_covariance_accept_float32():
    net = _net(widths=(4, 3), activation="linear")
    x = _x_aug()
    torch.testing.assert_close(linear_operator(net, x.float(), 1),
                               linear_operator(net, x.float().double(), 1))
    w = torch.tensor([0.5, 0.25, 0.25], dtype=torch.float32)
    sig = augmentation_averaged_covariance(x.float(), w.double())
    assert sig.dtype == torch.float32 and sig.shape == (4, 4)
    kbar = np.ones((3, 2, 1)) * np.arange(3)[:, None, None]  # numpy Kbar: torch out
    torch.testing.assert_close(covariance_operator(kbar), torch.full((2, 2), 2 / 3, dtype=DT))


@pytest.mark.parametrize(
    "fn, args, field, contains",
    [
        (simple_loss_gradient_operator, (_net(), _with(_x_aug(), (0, 1, 2), float("nan")), 1),
         "x_aug", ("finite",)),
        (expected_update_operator, (_net(), _with(_x_aug(), (2, 0, 0), float("inf")), 1, _simp),
         "x_aug", ("finite",)),
        (connection_matrix, (_net(), _with(_x_aug()[:, 0], (1, 1), float("nan")), 1), "x",
         ("finite",)),
        (simple_loss_gradient_operator, (_net(), np.full((3, 2, 4), "a"), 1), "x_aug",
         ("dtype",)),
        (simple_loss_gradient_operator, (_net(), _x_aug(n0=5), 1), "x_aug", ("n0 = 4",)),
        (augmentation_averaged_covariance, (_with(_x_aug(), (0, 0, 0), float("nan")),), "x_aug",
         ("finite",)),
        (covariance_operator, (torch.full((3, 2, 2), float("nan")),), "Kbar", ("finite",)),
        (covariance_operator, (np.full((3, 2, 2), "a"),), "Kbar", ("dtype",)),
        (covariance_operator, (torch.zeros(3, 2, 2), [0.5, float("nan"), 0.5]), "weights",
         ("finite",)),
        (covariance_operator, (torch.zeros(3, 2, 2), ["a", "b", "c"]), "weights", ("dtype",)),
        (expected_loss, (_net(), _x_aug(), simple_contrastive), "r_neg", ("(72,)", "(72, 1)")),
    ],
)
def test_operator_refuses_bad_inputs(fn, args, field, contains):
    _raises(field, fn, *args, contains=contains)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_operator_refuses_an_input_on_another_device():
    _raises("x_aug", simple_loss_gradient_operator, _net(), _x_aug().cuda(), 1,
            contains=("cuda", "cpu"))


# ----------------------------------------------------------------------------- shared helpers


def test_shared_input_helpers():
    t, was_numpy = as_tensor("x", np.arange(6.0)[::-1])  # negative strides
    assert was_numpy and t.tolist() == [5.0, 4.0, 3.0, 2.0, 1.0, 0.0]
    leaf = torch.ones(2, requires_grad=True)
    assert as_tensor("x", leaf, detach=False)[0] is leaf
    assert not as_tensor("x", leaf)[0].requires_grad
    (a, b), was_numpy = as_tensors([("a", np.ones(2, np.float32)), ("b", torch.ones(2))])
    assert not was_numpy and a.dtype == b.dtype == torch.float32
    (a, b), was_numpy = as_tensors([("a", np.ones(2, np.float32)), ("b", np.ones(2))])
    assert was_numpy and a.dtype == b.dtype == DT
    check_values([("x", torch.ones(2, 3))], nonzero_rows=True)
    _raises("y", check_values, [("x", torch.ones(2, 3)), ("y", torch.zeros(2, 3))],
            nonzero_rows=True, contains=("row 0",))
    _raises("x", check_values, [("x", torch.tensor([1.0, float("nan")]))], contains=("finite",))

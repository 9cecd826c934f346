"""Tests of dynamics.predictors: DirectPred-family eigenvalue rules, closed-form predictors,
the trainer-facing state (order, freq, DDP hook, checkpoints), IsoLoss gradients, and the linear
theory link (DirectPred does not collapse where the identity predictor does)."""

import io
import math
import pathlib

import numpy as np
import pytest
import torch

from dynamics.errors import ConfigError, SingularSystem
from dynamics.metrics.directpred import (
    CorrelationEstimator,
    eigenvalue_slope,
    predictor_eigenspace_alignment,
    relative_commutator,
)
from dynamics.numerics.data_models import AdditiveGaussian
from dynamics.predictors import (
    PREDICTOR_RULES,
    RIDGE_DEFAULT,
    CrossCorrelationEstimator,
    SpectralPredictorState,
    directpred_eigenvalues,
    directset_eigenvalues,
    get_rule,
    isoloss_cosine,
    isoloss_euclidean,
    predictor_from_correlation,
    predictor_from_spectrum,
    ridge_predictor,
    threshold_eigenvalues,
)
from dynamics.theories.directpred.closed_form import fixed_points
from dynamics.theories.directpred.directpred_linear import simulate_directpred_linear
from dynamics.theories.directpred.matrix_flow import MatrixFlowConfig
from dynamics.theories.directpred.sgd import simulate_sgd


def _t(*values):
    return torch.tensor(values, dtype=torch.float64)


S = _t(4.0, 1.0, 0.0, -1e-9)


def _close(a, b, tol=1e-12):
    a = torch.as_tensor(np.asarray(a) if not isinstance(a, torch.Tensor) else a).double()
    b = torch.as_tensor(np.asarray(b) if not isinstance(b, torch.Tensor) else b).double()
    assert a.shape == b.shape, (a.shape, b.shape)
    assert float((a - b).abs().max()) <= tol, (a, b)


def _psd(n, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(n, n, generator=g, dtype=torch.float64)
    return (A @ A.T / n + 1e-3 * torch.eye(n, dtype=torch.float64)).to(dtype)


# --------------------------------------------------------------------------------------------
# Eigenvalue rules


def test_directpred_code_and_paper_known_values():
    _close(directpred_eigenvalues(S, eps=0.1), [1.1, 0.6, 0.1, 0.1])
    _close(directpred_eigenvalues(S, eps=0.1, form="paper"), [2.4, 1.4, 0.4, 0.4])
    # any order; the official 1e-4 floor; F = 0 gives max(eps, 1e-4) instead of 0/0
    _close(directpred_eigenvalues(S.flip(0), eps=0.1), [0.1, 0.1, 0.6, 1.1])
    _close(directpred_eigenvalues(S, eps=-0.5), [0.5, 1e-4, 1e-4, 1e-4])
    _close(directpred_eigenvalues(S, eps=0.0), [1.0, 0.5, 1e-4, 1e-4])
    _close(directpred_eigenvalues(torch.zeros(3, dtype=torch.float64)), [0.1] * 3)
    # the code form is scale-free, the paper form is not
    _close(directpred_eigenvalues(7 * S), directpred_eigenvalues(S), 1e-15)
    assert not torch.allclose(directpred_eigenvalues(7 * S, form="paper"),
                              directpred_eigenvalues(S, form="paper"))
    np.testing.assert_allclose(directpred_eigenvalues(S.numpy(), eps=0.1), [1.1, 0.6, 0.1, 0.1])
    with pytest.raises(ConfigError, match="eps"):
        directpred_eigenvalues(S, eps=-0.1, form="paper")
    with pytest.raises(ConfigError, match="form"):
        directpred_eigenvalues(S, form="printed")
    with pytest.raises(ConfigError, match="^s:"):
        directpred_eigenvalues(torch.tensor([1.0, float("nan")]))


def test_paper_and_code_forms_coincide_when_s_max_is_one():
    s = torch.rand(16, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    s = s / s.max()
    for eps in (0.0, 0.01, 0.1, 0.5):
        _close(directpred_eigenvalues(s, eps, "code").clamp(min=1e-4),
               directpred_eigenvalues(s, eps, "paper").clamp(min=1e-4), 1e-15)
    assert not torch.allclose(directpred_eigenvalues(2 * s, 0.1, "code"),
                              directpred_eigenvalues(2 * s, 0.1, "paper"))


def test_directset_conventions():
    # default = IsoLoss repo DirectPred: (s/s_max + 0)^0.5
    _close(directset_eigenvalues(S), [1.0, 0.5, 0.0, 0.0])
    _close(directset_eigenvalues(S, 0.5, 0.1), _t(1.1, 0.35, 0.1, 0.1).sqrt())
    # DirectCopy of the IsoLoss README (alpha 1, eps 0.25, max-normalised)
    _close(get_rule("directcopy")(S), [1.25, 0.5, 0.25, 0.25])
    # luckmatters directcopy: F + eps I, no normalisation
    _close(directset_eigenvalues(S, 1.0, 0.1, normalize="none"), [4.1, 1.1, 0.1, 0.1])
    # KTH: F/||F||_F + eps I
    _close(directset_eigenvalues(S, 1.0, 0.3, normalize="fro"),
           _t(4.0, 1.0, 0.0, 0.0) / math.sqrt(17.0 + 1e-18) + 0.3, 1e-12)
    # eps outside with alpha 1/2 and max-normalisation = DirectPred code form (above the floor)
    _close(directset_eigenvalues(S, 0.5, 0.1, eps_position="outside"),
           directpred_eigenvalues(S, 0.1))
    # inside, a negative eps thresholds
    _close(directset_eigenvalues(S, 0.5, -0.5), [math.sqrt(0.5), 0.0, 0.0, 0.0])
    for bad in ({"alpha": 0.0}, {"normalize": "l2"}, {"eps_position": "middle"},
                {"eps": float("inf")}):
        with pytest.raises(ConfigError, match=next(iter(bad))):
            directset_eigenvalues(S, **bad)


def test_directset_matrix_forms_match_their_sources():
    F = _psd(6, 3)
    eye = torch.eye(6, dtype=torch.float64)
    _close(predictor_from_correlation(F, "directset", alpha=1.0, eps=0.1, normalize="none"),
           F + 0.1 * eye, 1e-12)
    _close(predictor_from_correlation(F, "directset", alpha=1.0, eps=0.3, normalize="fro"),
           F / torch.linalg.matrix_norm(F) + 0.3 * eye, 1e-12)
    _close(predictor_from_correlation(F, "directcopy"),
           F / torch.linalg.eigvalsh(F)[-1] + 0.25 * eye, 1e-12)
    # DirectSet(1/2) without eps is the principal square root of F / s_max
    R = predictor_from_correlation(F, "directset")
    _close(R @ R, F / torch.linalg.eigvalsh(F)[-1], 1e-12)


def test_threshold_eigenvalues():
    s = torch.tensor([4.0, 1.0, 0.5, 0.0], dtype=torch.float64)
    _close(threshold_eigenvalues(s, 0.75), [math.sqrt(3.25), 0.5, 0.0, 0.0])
    _close(threshold_eigenvalues(s, -0.1), (s + 0.1).sqrt())
    _close(threshold_eigenvalues(s, 0.0), s.sqrt())
    _close(threshold_eigenvalues(s, 0.1, form="code"),
           _t(0.9, 0.15, 0.025, 1e-4).sqrt(), 1e-12)
    with pytest.raises(ConfigError, match="^c:"):
        threshold_eigenvalues(s, "big")


# --------------------------------------------------------------------------------------------
# Matrices


def test_predictor_from_correlation_is_u_diag_p_ut_and_commutes_with_F():
    F = _psd(8, 4)
    s_np, U_np = np.linalg.eigh(F.numpy())
    for name in ("directpred", "directpred_paper", "directcopy", "directset", "threshold"):
        Wp = predictor_from_correlation(F, name)
        p = get_rule(name)(torch.from_numpy(s_np))
        _close(Wp, predictor_from_spectrum(torch.from_numpy(U_np), p), 1e-12)
        _close(Wp, Wp.T, 1e-14)
        assert relative_commutator(Wp, F) < 1e-13
    Wp = predictor_from_correlation(F, "directpred", eps=0.2)
    np.testing.assert_allclose(predictor_eigenspace_alignment(Wp, F), 1.0, atol=1e-12)
    # U diag(p) U^T explicitly
    U = torch.linalg.qr(torch.randn(5, 5, dtype=torch.float64))[0]
    p = torch.tensor([3.0, 2.0, 1.0, 0.5, 0.0], dtype=torch.float64)
    _close(predictor_from_spectrum(U, p), U @ torch.diag(p) @ U.T, 1e-14)
    # F is symmetrised first; numpy in -> numpy out; spectrum descending
    skew = torch.randn(8, 8, dtype=torch.float64)
    _close(predictor_from_correlation(F + skew - skew.T), predictor_from_correlation(F), 1e-12)
    out = predictor_from_correlation(F.numpy(), "directset")
    assert isinstance(out, np.ndarray)
    res = predictor_from_correlation(F, return_spectrum=True)
    assert bool((res.s[:-1] >= res.s[1:]).all())
    _close(res.p, directpred_eigenvalues(res.s))
    # any callable on eigenvalues
    _close(predictor_from_correlation(F, lambda s: s), F, 1e-12)
    with pytest.raises(ConfigError, match="rule_kwargs"):
        predictor_from_correlation(F, "directpred", alpha=0.5)
    with pytest.raises(ConfigError, match="^F:"):
        predictor_from_correlation(torch.ones(3, 4))
    with pytest.raises(ConfigError, match="^p:"):
        predictor_from_spectrum(U, p[:3])


def test_dtype_and_device_follow_the_input():
    F32 = _psd(6, 5, torch.float32)
    Wp = predictor_from_correlation(F32, "directpred")
    assert Wp.dtype == torch.float32 and Wp.device == F32.device
    _close(Wp, predictor_from_correlation(F32.double(), "directpred"), 1e-6)
    assert directpred_eigenvalues(S.float()).dtype == torch.float32
    assert directset_eigenvalues(S.half()).dtype == torch.float16
    assert predictor_from_correlation(F32.bfloat16()).dtype == torch.bfloat16
    assert ridge_predictor(F32, F32).dtype == torch.float32


def test_ridge_predictor_solves_its_normal_equation():
    F = _psd(6, 6)
    C = torch.randn(6, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(7))
    sym_c = (C + C.T) / 2
    Wp = ridge_predictor(F, C, ridge=0.0)
    _close(Wp @ F, sym_c, 1e-10)
    _close(ridge_predictor(F, C) @ (F + RIDGE_DEFAULT * torch.eye(6, dtype=torch.float64)),
           sym_c, 1e-10)
    Wr = ridge_predictor(F, C, ridge=0.5)
    _close(Wr @ (F + 0.5 * torch.eye(6, dtype=torch.float64)), sym_c, 1e-10)
    _close(predictor_from_correlation(F, "ridge", cross=C, ridge=0.5), Wr, 1e-14)
    # = the least-squares predictor of f_a from f when E[f_a f^T] is symmetric
    # (f_a = A f with A commuting with the sample F)
    f = torch.randn(500, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(8))
    F_hat = f.T @ f / 500
    A = F_hat @ F_hat - 0.5 * F_hat + torch.eye(6, dtype=torch.float64)
    fa = f @ A.T
    W_ls = torch.linalg.lstsq(f, fa).solution.T
    _close(ridge_predictor(F_hat, fa.T @ f / 500, ridge=0.0), W_ls, 1e-10)
    _close(W_ls, A, 1e-10)
    assert isinstance(ridge_predictor(F.numpy(), C.numpy()), np.ndarray)
    singular = torch.diag(torch.tensor([1.0, 0.0], dtype=torch.float64))
    with pytest.raises(SingularSystem, match="ridge > 0"):
        ridge_predictor(singular, torch.eye(2), ridge=0.0)
    _close(ridge_predictor(singular, torch.eye(2), ridge=1.0), torch.diag(torch.tensor([0.5, 1.0])))
    with pytest.raises(ConfigError, match="cross"):
        predictor_from_correlation(F, "ridge")
    with pytest.raises(ConfigError, match="^ridge:"):
        ridge_predictor(F, C, ridge=-1)


def test_registry():
    assert set(PREDICTOR_RULES) == {"directpred", "directpred_paper", "directcopy",
                                    "directset", "threshold", "ridge"}
    assert dict(get_rule("directpred").defaults) == {"eps": 0.1}
    assert get_rule("directpred").fixed["form"] == "code"
    assert get_rule("ridge").needs_cross and not get_rule("directset").needs_cross
    with pytest.raises(ConfigError) as err:
        get_rule("directpredd")
    msg = str(err.value)
    assert msg.startswith("rule:") and "\n" not in msg
    assert all(name in msg for name in PREDICTOR_RULES)
    with pytest.raises(ConfigError, match="fixed by this rule"):
        get_rule("directpred").resolve({"form": "paper"})
    with pytest.raises(ConfigError, match="rule:"):
        SpectralPredictorState(4, "sgd")
    with pytest.raises(ConfigError, match="^normalize:"):
        SpectralPredictorState(4, "directset", rule_kwargs={"normalize": "l2"})
    with pytest.raises(ConfigError, match="^freq:"):
        SpectralPredictorState(4, freq=0)
    with pytest.raises(TypeError):
        PREDICTOR_RULES["mine"] = get_rule("directpred")  # read-only


# --------------------------------------------------------------------------------------------
# Estimators and the trainer-facing state


def _batches(n, B=16, d=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(B, d, generator=g) for _ in range(n)]


def test_cross_correlation_estimator_follows_the_ema_rule():
    fs, fas = _batches(3, seed=1), _batches(3, seed=2)
    est = CrossCorrelationEstimator(4, rho=0.3)
    ref = CorrelationEstimator(4, rho=0.3)
    C = None
    for fa, f in zip(fas, fs, strict=True):
        est.update(fa, f)
        ref.update(f)
        cb = fa.double().T @ f.double() / f.shape[0]
        C = cb if C is None else 0.3 * C + 0.7 * cb
    _close(est.C, C, 1e-12)
    _close(est.F_online, ref.F, 1e-12)
    assert est.n_updates == 3
    est2 = CrossCorrelationEstimator(4, rho=0.3)
    est2.load_state_dict(est.state_dict())
    _close(est2.C, est.C, 0)
    np_est = CrossCorrelationEstimator(4).update(fas[0].numpy(), fs[0].numpy())
    assert isinstance(np_est.C, np.ndarray)
    with pytest.raises(ConfigError, match="f_a"):
        est.update(fas[0][:3], fs[0])


def test_state_update_order_and_freq():
    d, freq, rho = 4, 3, 0.5
    lin = torch.nn.Linear(d, d, bias=False)
    w_init = lin.weight.detach().clone()
    state = SpectralPredictorState(d, "directpred", rho=rho, freq=freq)
    ref = CorrelationEstimator(d, rho)
    used, rewritten, expected = [], [], {}
    for t, f in enumerate(_batches(8, d=d, seed=3)):
        f1, f2 = f[:8], f[8:]
        state.accumulate([f1, f2])                       # 1. before the predictor forward
        ref.update(torch.cat([f1, f2]))
        used.append(lin.weight.detach().clone())         # 2. the weight the forward uses
        with torch.no_grad():
            lin.weight.add_(0.01)                        # 3. stand-in for optimizer.step()
        rewritten.append(state.maybe_update(lin))        # 4. after the step
        expected[t] = predictor_from_correlation(ref.F, "directpred").float()
        if rewritten[-1]:
            _close(lin.weight.detach(), expected[t], 1e-6)
    assert rewritten == [t % freq == 0 for t in range(8)]
    assert state.step_count == 8
    _close(used[0], w_init, 0)                           # first forward: the initial weight
    _close(used[1], expected[0], 1e-6)                   # step t uses F up to step t-1
    _close(used[2], expected[0] + 0.01, 1e-6)            # trained in between rewrites
    _close(used[4], expected[3], 1e-6)
    _close(used[6], expected[3] + 0.02, 1e-6)
    assert lin.weight.dtype == torch.float32 and state.corr.dtype == torch.float64
    assert state.last is not None and state.last.s.shape == (d,)


def test_state_errors():
    state = SpectralPredictorState(3)
    with pytest.raises(ConfigError, match="accumulate"):
        state.maybe_update(torch.zeros(3, 3))
    state.accumulate(torch.randn(5, 3))
    with pytest.raises(ConfigError, match="linear_weight"):
        state.maybe_update(torch.zeros(3, 4))
    assert state.step_count == 0
    with pytest.raises(ConfigError, match="^f:"):
        state.accumulate(torch.randn(5, 4))
    ridge = SpectralPredictorState(3, "ridge", rule_kwargs={"ridge": 0.1})
    with pytest.raises(ConfigError, match="f_target"):
        ridge.accumulate(torch.randn(5, 3))


def test_all_reduce_hook_sees_F_B_before_accumulation():
    calls = []

    def returning(t):
        calls.append(t.clone())
        return 2 * t

    f = torch.randn(10, 4)
    state = SpectralPredictorState(4, all_reduce=returning)
    state.accumulate(f)
    fb = f.double().T @ f.double() / 10
    assert len(calls) == 1
    _close(calls[0], fb, 1e-12)
    _close(state.F, 2 * fb, 1e-12)

    def in_place(t):
        t.mul_(3)          # like torch.distributed.all_reduce: in place, returns None

    state = SpectralPredictorState(4, rho=0.5, all_reduce=in_place)
    state.accumulate(f)
    state.accumulate(2 * f)
    _close(state.F, 0.5 * 3 * fb + 0.5 * 3 * 4 * fb, 1e-12)

    calls.clear()
    ridge = SpectralPredictorState(4, "ridge", rule_kwargs={"ridge": 0.1}, all_reduce=returning)
    ridge.accumulate(f, torch.randn(10, 4))
    assert [tuple(c.shape) for c in calls] == [(4, 4), (8, 8)]
    with pytest.raises(ConfigError, match="all_reduce"):
        SpectralPredictorState(4, all_reduce="sum")


def test_state_dict_round_trip():
    d = 4
    batches = _batches(7, d=d, seed=5)
    targets = _batches(7, d=d, seed=6)
    for rule, kw in (("directpred", None), ("ridge", {"ridge": 0.05})):
        a = SpectralPredictorState(d, rule, rho=0.3, freq=2, rule_kwargs=kw)
        wa = torch.zeros(d, d)
        for f, fa in zip(batches[:4], targets[:4], strict=True):
            a.accumulate(f, fa)
            a.maybe_update(wa)
        buf = io.BytesIO()
        torch.save(a.state_dict(), buf)
        buf.seek(0)
        b = SpectralPredictorState(d, rule, rho=0.3, freq=2, rule_kwargs=kw)
        b.load_state_dict(torch.load(buf))
        assert b.step_count == a.step_count == 4
        wb = wa.clone()
        for f, fa in zip(batches[4:], targets[4:], strict=True):
            for st, w in ((a, wa), (b, wb)):
                st.accumulate(f, fa)
                st.maybe_update(w)
        _close(wa, wb, 0)
        _close(a.F, b.F, 0)
    other = SpectralPredictorState(d, "directpred", freq=3)
    with pytest.raises(ConfigError, match="^freq:"):
        other.load_state_dict(SpectralPredictorState(d, "directpred", freq=2).state_dict())
    with pytest.raises(ConfigError, match="^rule:"):
        other.load_state_dict(SpectralPredictorState(d, "directset", freq=3).state_dict())


def test_code_is_device_agnostic():
    src = pathlib.Path(__file__).resolve().parents[2] / "dynamics" / "predictors"
    for path in src.glob("*.py"):
        text = path.read_text()
        assert ".cuda(" not in text and "'cuda'" not in text and '"cuda"' not in text, path


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_state_on_cuda():  # pragma: no cover - needs a GPU
    dev = torch.device("cuda")
    lin = torch.nn.Linear(8, 8, bias=False).to(dev)
    state = SpectralPredictorState(8, freq=1)
    f = torch.randn(32, 8, device=dev)
    state.accumulate(f)
    state.maybe_update(lin)
    ref = predictor_from_correlation(f.double().cpu().T @ f.double().cpu() / 32)
    _close(lin.weight.detach().cpu(), ref.float(), 1e-5)
    assert state.corr.F.device.type == "cuda"


# --------------------------------------------------------------------------------------------
# IsoLoss


def _iso_setup(B=6, d=5, seed=11):
    g = torch.Generator().manual_seed(seed)
    F = _psd(d, seed)
    res = predictor_from_correlation(F, "directset", eps=0.1, return_spectrum=True)
    Wp_sqrt = predictor_from_spectrum(res.U, res.p.sqrt())
    z = torch.randn(B, d, dtype=torch.float64, generator=g, requires_grad=True)
    zt = torch.randn(B, d, dtype=torch.float64, generator=g)
    return res.Wp, Wp_sqrt, z, zt


def test_isoloss_euclidean_gradient():
    Wp, _, z, zt = _iso_setup()
    Wp = Wp.clone().requires_grad_(True)
    p = z @ Wp
    isoloss_euclidean(z, zt, p).backward()
    _close(z.grad, 2 * (p - zt).detach() / z.shape[0], 1e-13)
    assert Wp.grad is None or float(Wp.grad.abs().max()) == 0.0
    with pytest.raises(ConfigError, match="^p:"):
        isoloss_euclidean(z, zt, p[:, :3])


def test_isoloss_cosine_gradient_is_the_cosine_gradient_wrt_p_routed_to_z():
    Wp, Wp_sqrt, z, zt = _iso_setup()
    p, p_sqrt = z @ Wp, z @ Wp_sqrt
    isoloss_cosine(z, zt, p, p_sqrt).backward()
    p_leaf = p.detach().clone().requires_grad_(True)
    torch.nn.functional.cosine_similarity(p_leaf, zt, dim=1).sum().backward()
    _close(z.grad, -2 * p_leaf.grad / z.shape[0], 1e-12)
    # the ordinary BYOL gradient differs by the factor Wp
    z2 = z.detach().clone().requires_grad_(True)
    (-2 * torch.nn.functional.cosine_similarity(z2 @ Wp, zt, dim=1).mean()).backward()
    _close(z2.grad, (-2 * p_leaf.grad / z.shape[0]) @ Wp.T, 1e-12)


# --------------------------------------------------------------------------------------------
# Theory link: DirectPred on the linear model


N, SIGMA2, ETA, BETA = 4, 0.5, 0.05, 1.0
RUN = {"lr": 0.02, "batch_size": 128, "t_end": 20.0, "n_save": 6, "seed": 0}


@pytest.fixture(scope="module")
def linear_setup():
    rng = np.random.default_rng(0)
    Q = np.linalg.qr(rng.standard_normal((N, N)))[0]
    V = np.linalg.qr(rng.standard_normal((N, N)))[0]
    W0 = Q @ np.diag([0.8, 0.6, 0.5, 0.4]) @ V.T
    return W0, AdditiveGaussian.isotropic(N, SIGMA2), MatrixFlowConfig(beta=BETA, eta=ETA)


def test_directpred_linear_does_not_collapse_and_is_aligned(linear_setup):
    W0, data, cfg = linear_setup
    tr = simulate_directpred_linear(W0, data, cfg, rule="directpred_paper",
                                    rule_kwargs={"eps": 0.0}, Wa0=W0, **RUN)
    assert tr.ok
    s = tr.F_eigvals()                       # F = W X W^T, ascending
    assert s[-1].min() > 0.5 * s[0].min()    # every mode survives
    # mode fixed point of Eq. 16 with p = sqrt(s_hat) = sqrt((1 + sigma2) s), tau = 1
    p_plus = fixed_points(1.0, SIGMA2, ETA)[1]
    np.testing.assert_allclose(s[-1], p_plus**2 / (1 + SIGMA2), rtol=0.15)
    for k in range(1, tr.t.size):
        Wp, F_hat = tr.Wp[k], tr.meta["F_hat"][k]
        np.testing.assert_allclose(predictor_eigenspace_alignment(Wp, F_hat), 1.0, atol=1e-10)
        np.testing.assert_allclose(np.linalg.eigvalsh(Wp), np.sqrt(np.linalg.eigvalsh(F_hat)),
                                   atol=1e-12)  # p_j = sqrt(s_j) by construction
        assert relative_commutator(Wp, tr.F[k]) < 0.05  # and close to the population F
    assert eigenvalue_slope(tr.Wp[1], tr.meta["F_hat"][1]) == pytest.approx(0.5, abs=1e-9)
    # the paper default eps = 0.1 (boosting small modes) does not collapse either
    tr01 = simulate_directpred_linear(W0, data, cfg, rule="directpred_paper", Wa0=W0, **RUN)
    assert tr01.F_eigvals()[-1].min() > 0.05


def test_identity_and_code_form_collapse_in_the_linear_model(linear_setup):
    W0, data, cfg = linear_setup
    ident = simulate_sgd(W0, data, MatrixFlowConfig(beta=BETA, eta=ETA, predictor="identity"),
                         Wa0=W0, **RUN)
    s_id = ident.F_eigvals()
    assert s_id[-1].max() < 1e-3 * s_id[0].max()
    # scale-free code form: top predictor eigenvalue 1 + eps > tau / (1 + sigma2) for any F
    code = simulate_directpred_linear(W0, data, cfg, rule="directpred", Wa0=W0, **RUN)
    s_code = code.F_eigvals()
    assert s_code[-1].max() < 1e-3 * s_code[0].max()
    assert np.linalg.eigvalsh(code.Wp[-1])[-1] == pytest.approx(1.1, abs=1e-9)


def test_linear_sim_order_and_options(linear_setup):
    W0, data, cfg = linear_setup
    short = {"lr": 0.02, "batch_size": 64, "t_end": 0.04, "n_save": 3, "seed": 3}
    Wp0 = np.diag([0.9, 0.8, 0.7, 0.6])
    dp = simulate_directpred_linear(W0, data, cfg, Wp0=Wp0, Wa0=W0, **short)
    sgd = simulate_sgd(W0, data, cfg, Wp0=Wp0, Wa0=W0, **short)
    # same sample stream; the first step uses the initial predictor, then the rule's
    np.testing.assert_allclose(dp.W[1], sgd.W[1], atol=1e-14)
    assert not np.allclose(dp.W[2], sgd.W[2])
    assert np.isnan(dp.meta["F_hat"][0]).all()
    np.testing.assert_allclose(dp.Wp[1], predictor_from_correlation(dp.meta["F_hat"][1],
                                                                    "directpred_paper"))
    for kw in ({"freq": 3, "train_predictor": True},
               {"rule": "ridge", "rule_kwargs": {"ridge": 0.01}}):
        tr = simulate_directpred_linear(W0, data, cfg, Wa0=W0, **{**short, "t_end": 2.0}, **kw)
        assert tr.ok and np.isfinite(tr.W).all()
    with pytest.raises(ConfigError, match="rule"):
        simulate_directpred_linear(W0, data, cfg, rule="nope", **short)

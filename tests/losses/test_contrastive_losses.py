"""Contrastive losses (THEORY doc Sec. 1.1, 1.3 exact-cov, Sec. 4 DCL/DCLW/NPC multiplier)."""

import math

import pytest
import torch
import torch.nn.functional as F

from dynamics.errors import ConfigError
from dynamics.losses import LOSSES
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

DT = torch.float64


def _views(N=8, d=5, seed=0, noise=0.5, requires_grad=False):
    g = torch.Generator().manual_seed(seed)
    z1 = torch.randn(N, d, dtype=DT, generator=g)
    z2 = z1 + noise * torch.randn(N, d, dtype=DT, generator=g)
    return z1.requires_grad_(requires_grad), z2.requires_grad_(requires_grad)


# ----------------------------------------------------------------------------- distances


def test_distance_conventions():
    g = torch.Generator().manual_seed(1)
    f, f2 = torch.randn(2, 6, 4, dtype=DT, generator=g)
    torch.testing.assert_close(pair_distance(f, f2), 0.5 * ((f - f2) ** 2).sum(-1))
    torch.testing.assert_close(pair_distance(f, f2, "cosine"), 1 - F.cosine_similarity(f, f2, -1))
    u, u2 = F.normalize(f, dim=-1), F.normalize(f2, dim=-1)  # they agree on unit vectors
    torch.testing.assert_close(pair_distance(u, u2, "half_sq"), pair_distance(u, u2, "cosine"))
    negs = torch.randn(6, 3, 4, dtype=DT, generator=g)
    r_pos, r_neg = pairwise_distances(f, f2, negs)
    assert r_pos.shape == (6,) and r_neg.shape == (6, 3)
    torch.testing.assert_close(r_neg[:, 1], pair_distance(f, negs[:, 1]))
    r_pos1, r_neg1 = pairwise_distances(f, f2, negs[:, 0], convention="cosine")
    assert r_neg1.shape == (6,)
    with pytest.raises(ConfigError) as exc:
        pair_distance(f, f2, "euclid")
    assert exc.value.field == "convention"
    with pytest.raises(ConfigError):
        pairwise_distances(f, f2[:, :3], negs)


def test_ntxent_distances_layout():
    z1, z2 = _views(N=4)
    r_pos, r_neg = ntxent_distances(z1, z2)
    assert r_pos.shape == (8,) and r_neg.shape == (8, 6)
    z = torch.cat([z1, z2])
    cos = F.cosine_similarity(z.unsqueeze(1), z.unsqueeze(0), dim=-1)
    torch.testing.assert_close(r_pos[1], 1 - cos[1, 5])
    torch.testing.assert_close(r_pos[6], 1 - cos[6, 2])
    torch.testing.assert_close(r_neg[1], 1 - cos[1, [0, 2, 3, 4, 6, 7]])


# ----------------------------------------------------------------------------- distance losses


def test_simple_and_triplet():
    g = torch.Generator().manual_seed(2)
    rp, rn = torch.rand(2, 50, dtype=DT, generator=g)
    torch.testing.assert_close(simple_contrastive(rp, rn), rp - rn)
    tau, r0 = 0.3, 0.1
    torch.testing.assert_close(
        soft_triplet(rp, rn, tau, r0), tau * torch.log1p(torch.exp((rp - rn + r0) / tau))
    )
    # tau -> 0: hinge max(0, r+ - r- + r0)
    torch.testing.assert_close(
        soft_triplet(rp, rn, 1e-4, r0), torch.relu(rp - rn + r0), atol=1e-4, rtol=0
    )
    # dL/dr+ = -dL/dr- = sigmoid((r+ - r- + r0)/tau)
    rp_, rn_ = rp.clone().requires_grad_(), rn.clone().requires_grad_()
    gp, gn = torch.autograd.grad(soft_triplet(rp_, rn_, tau, r0).sum(), (rp_, rn_))
    torch.testing.assert_close(gp, torch.sigmoid((rp - rn + r0) / tau))
    torch.testing.assert_close(gn, -gp)
    for kwargs in ({"tau": 0.0}, {"tau": -1.0}, {"tau": 0.5, "margin": -0.1}):
        with pytest.raises(ConfigError):
            soft_triplet(rp, rn, **kwargs)


def test_infonce_h1_equals_soft_triplet_margin0_and_gradient_weights():
    g = torch.Generator().manual_seed(3)
    rp = torch.rand(40, dtype=DT, generator=g)
    rn = 2 * torch.rand(40, 5, dtype=DT, generator=g)
    for tau in (0.05, 0.5, 2.0):
        torch.testing.assert_close(
            infonce_from_distances(rp, rn[:, :1], tau), soft_triplet(rp, rn[:, 0], tau, 0.0)
        )
    tau = 0.4
    direct = -tau * torch.log(
        torch.exp(-rp / tau) / (torch.exp(-rp / tau) + torch.exp(-rn / tau).sum(-1))
    )
    torch.testing.assert_close(infonce_from_distances(rp, rn, tau), direct)
    # dL/dr_k- = -xi_k, dL/dr+ = sum_k xi_k, xi_k = e^{-r_k/tau} / Z
    rp_, rn_ = rp.clone().requires_grad_(), rn.clone().requires_grad_()
    gp, gn = torch.autograd.grad(infonce_from_distances(rp_, rn_, tau).sum(), (rp_, rn_))
    Z = (torch.exp(-rp / tau) + torch.exp(-rn / tau).sum(-1)).unsqueeze(-1)
    xi = torch.exp(-rn / tau) / Z
    torch.testing.assert_close(gn, -xi)
    torch.testing.assert_close(gp, xi.sum(-1))
    assert float(gp.max()) < 1
    with pytest.raises(ConfigError) as exc:
        infonce_from_distances(rp, rn[:10], tau)
    assert exc.value.field == "r_negs"


# ----------------------------------------------------------------------------- batch losses


def _direct_rows(z1, z2, tau, with_positive):
    """Row losses L_i^(k) written out with an explicit loop (cross entropy over each row)."""
    u = F.normalize(torch.cat([z1, z2]), dim=1)
    N = z1.shape[0]
    rows = []
    for a in range(2 * N):
        p = (a + N) % (2 * N)
        negs = [b for b in range(2 * N) if b not in (a, p)]
        logits = torch.stack([u[a] @ u[b] for b in [p, *negs]]) / tau
        if with_positive:
            rows.append(F.cross_entropy(logits.unsqueeze(0), torch.tensor([0])))
        else:
            rows.append(-logits[0] + torch.logsumexp(logits[1:], 0))
    return torch.stack(rows).view(2, N)


def test_nt_xent_matches_cross_entropy_and_distance_form():
    z1, z2 = _views(N=6, seed=4)
    tau = 0.2
    rows = nt_xent(z1, z2, tau, reduction="none")
    assert rows.shape == (2, 6)
    torch.testing.assert_close(rows, _direct_rows(z1, z2, tau, True))
    torch.testing.assert_close(nt_xent(z1, z2, tau), rows.mean())
    # tau * NT-Xent row = infonce_from_distances with r = 1 - cos (the e^{1/tau} cancels)
    r_pos, r_neg = ntxent_distances(z1, z2)
    torch.testing.assert_close(tau * rows.reshape(-1), infonce_from_distances(r_pos, r_neg, tau))
    # normalisation inside: rescaling the embeddings changes nothing
    torch.testing.assert_close(nt_xent(3 * z1, 0.1 * z2, tau), nt_xent(z1, z2, tau))


def test_dcl_is_infonce_without_positive_in_denominator():
    z1, z2 = _views(N=6, seed=5)
    tau = 0.3
    rows = dcl(z1, z2, tau, reduction="none")
    torch.testing.assert_close(rows, _direct_rows(z1, z2, tau, False))
    # L_nce - L_dcl = log((e^p + U)/U) = -log q
    q = npc_multiplier(z1, z2, tau)
    torch.testing.assert_close(nt_xent(z1, z2, tau, reduction="none") - rows, -torch.log(q))
    assert float(q.min()) > 0 and float(q.max()) < 1


@pytest.mark.parametrize("tau", [0.1, 0.5])
def test_infonce_gradient_is_npc_multiplier_times_dcl_gradient(tau):
    """Proposition 1 of DCL: per anchor and direction, every partial gradient of InfoNCE (w.r.t.
    the anchor, its positive and all negatives) is q_{B,i} times that of DCL."""
    z1, z2 = _views(N=6, d=4, seed=6, requires_grad=True)
    nce = nt_xent(z1, z2, tau, reduction="none")
    dc = dcl(z1, z2, tau, reduction="none")
    q = npc_multiplier(z1, z2, tau).detach()
    N = z1.shape[0]
    for k in range(2):
        for i in range(N):
            g_nce = torch.autograd.grad(nce[k, i], (z1, z2), retain_graph=True)
            g_dcl = torch.autograd.grad(dc[k, i], (z1, z2), retain_graph=True)
            for a, b in zip(g_nce, g_dcl, strict=True):
                torch.testing.assert_close(a, q[k, i] * b, rtol=1e-10, atol=1e-13)
            # all rows are involved: anchor, positive and every negative get a gradient
            assert bool((torch.cat(g_dcl).norm(dim=1) > 0).all())


def test_dclw_weights_and_loss():
    z1, z2 = _views(N=10, seed=7, requires_grad=True)
    w = dclw_weights(z1, z2, sigma=0.5).detach()
    assert float(w.mean()) == pytest.approx(1.0, abs=1e-12)
    s = F.cosine_similarity(z1, z2, dim=1).detach()
    assert float(w[s.argmin()]) > 1 > float(w[s.argmax()])  # harder positive -> larger weight
    torch.testing.assert_close(w, 2 - torch.exp(s / 0.5) / torch.exp(s / 0.5).mean())
    tau = 0.2
    pos = torch.stack([s, s]) / tau
    expected = dcl(z1, z2, tau, reduction="none") + pos - w * pos
    torch.testing.assert_close(dclw(z1, z2, tau, reduction="none"), expected)
    # identical views: all weights 1 and DCLW == DCL
    torch.testing.assert_close(dclw(z1, z1, tau), dcl(z1, z1, tau))
    # the weights are not detached: they change the gradient
    g_w = torch.autograd.grad(dclw(z1, z2, tau), z1)[0]
    w_det = dclw_weights(z1, z2).detach()
    pos_det = F.cosine_similarity(z1, z2, dim=1) / tau
    pos_det = torch.stack([pos_det, pos_det])
    loss_det = (dcl(z1, z2, tau, reduction="none") + pos_det - w_det * pos_det).mean()
    g_det = torch.autograd.grad(loss_det, z1)[0]
    assert float((g_w - g_det).norm()) > 1e-3 * float(g_w.norm())


def test_exact_cov_value_and_gradient_weights():
    z1, z2 = _views(N=5, seed=8)
    tau, N = 0.5, 5
    r_pos, r_neg = ntxent_distances(z1, z2)
    e = torch.exp(-r_neg / tau)
    w = e / (1 + e) / tau / (2 * N - 2)
    torch.testing.assert_close(exact_cov_weights(r_neg, tau), w)
    for beta in (0.0, 0.7):
        value = (w.sum(1) * r_pos - (w * r_neg).sum(1)).mean() + beta * (w.sum(1) * r_pos).mean()
        torch.testing.assert_close(exact_cov_infonce(z1, z2, tau, beta=beta), value)
    # gradients w.r.t. the distances: the weights are stop-gradient constants
    rp, rn = r_pos.clone().requires_grad_(), r_neg.clone().requires_grad_()
    for beta in (0.0, 0.7):
        gp, gn = torch.autograd.grad(exact_cov_from_distances(rp, rn, tau, beta), (rp, rn))
        torch.testing.assert_close(gp, (1 + beta) * w.sum(1) / (2 * N))
        torch.testing.assert_close(gn, -w / (2 * N))
    # ... which differs from letting the gradient flow through the weights
    e2 = torch.exp(-rn / tau)
    w2 = e2 / (1 + e2) / tau / (2 * N - 2)
    undetached = (w2.sum(1) * rp - (w2 * rn).sum(1)).mean()
    gn2 = torch.autograd.grad(undetached, rn)[0]
    assert float((gn2 - (-w / (2 * N))).abs().max()) > 1e-4
    # beta = 0 on embeddings: gradient = that of the covariance form with fixed pair weights
    z1g, z2g = z1.clone().requires_grad_(), z2.clone().requires_grad_()
    g = torch.autograd.grad(exact_cov_infonce(z1g, z2g, tau), (z1g, z2g))
    rpg, rng_ = ntxent_distances(z1g, z2g)
    fixed = (w.sum(1) * rpg - (w * rng_).sum(1)).mean()
    g_fixed = torch.autograd.grad(fixed, (z1g, z2g))
    for a, b in zip(g, g_fixed, strict=True):
        torch.testing.assert_close(a, b)


def test_npc_multiplier_grows_with_batch_size():
    """DCL check 2: random unit embeddings (d = 128), positives = noisy copies with cosine ~0.96,
    tau = 0.1: mean q ~ 0.006, 0.025, 0.094 for N = 32, 128, 512."""
    g = torch.Generator().manual_seed(9)
    d, tau = 128, 0.1
    sigma = math.sqrt(1 / 0.96**2 - 1)  # |z + sigma n| with n ~ N(0, I/d): cos ~ 1/sqrt(1+sigma^2)
    means = []
    for N, expected in [(32, 0.006), (128, 0.025), (512, 0.094)]:
        z1 = F.normalize(torch.randn(N, d, dtype=DT, generator=g), dim=1)
        z2 = F.normalize(z1 + sigma * torch.randn(N, d, dtype=DT, generator=g) / d**0.5, dim=1)
        assert float((z1 * z2).sum(1).mean()) == pytest.approx(0.96, abs=0.01)
        q = float(npc_multiplier(z1, z2, tau).mean())
        assert expected / 2 < q < expected * 2, (N, q)
        means.append(q)
    assert means[0] < means[1] < means[2]


def test_registry_and_validation():
    assert set(LOSSES.names(family="contrastive")) >= {"nt_xent", "infonce", "dcl", "dclw",
                                                       "exact_cov", "align_uniform"}
    z1, z2 = _views(N=6, seed=10, requires_grad=True)
    for entry in LOSSES.entries(family="contrastive"):
        name = entry.name
        loss = entry.obj(z1, z2, **{kw: 0.5 for kw in entry.tags["args"]})
        assert loss.ndim == 0 and torch.isfinite(loss), name
        g = torch.autograd.grad(loss, z1)[0]
        assert torch.isfinite(g).all() and float(g.norm()) > 0, name
    with pytest.raises(ConfigError) as exc:
        nt_xent(z1, z2[:, :3], 0.5)
    assert exc.value.field == "z2"
    with pytest.raises(ConfigError) as exc:
        dcl(z1[:1], z2[:1], 0.5)
    assert exc.value.field == "z1"
    with pytest.raises(ConfigError) as exc:
        dcl(z1, z2, 0.0)
    assert exc.value.field == "tau"
    with pytest.raises(ConfigError) as exc:
        nt_xent(z1, z2, 0.5, reduction="sum")
    assert exc.value.field == "reduction"
    with pytest.raises(ConfigError) as exc:
        dclw(z1, z2, 0.5, sigma=0.0)
    assert exc.value.field == "sigma"

"""Predictions of Tian, Yu, Chen & Ganguli 2020 ("Understanding SSL with Dual Deep Networks",
arXiv 2010.00578) that need no training engine: the covariance-operator identity, contrastive
PCA of one linear layer and the HLTM trends (THEORY-contrastive-and-metrics, Sec. 1.3-1.7 and
checks 1.10.1-3).

The other contrastive predictions live next to this module: DCL and the metric reference
values in :mod:`.contrastive_metrics`, the training-based ones (alignment/uniformity vs
accuracy, RankMe vs accuracy, DCL at small batch) in :mod:`.contrastive_training`.
"""

from __future__ import annotations

import numpy as np
import torch

from dynamics.losses.distance import simple_contrastive
from dynamics.plots.prediction_figure import save_figure
from dynamics.theories.dual_networks.operator import (
    LayeredNet,
    augmentation_averaged_covariance,
    expected_loss,
    simple_loss_gradient_operator,
    unvec,
    vec,
)
from dynamics.verify.prediction import Context, Outcome, compare_means, fmt
from dynamics.verify.registry import prediction

DT = torch.float64
SRC_TIAN = "Tian, Yu, Chen & Ganguli 2020 (arXiv 2010.00578)"


def _simp(r_pos, r_neg):
    """L_simp = r+ - r- per tuple (one negative)."""
    return simple_contrastive(r_pos, r_neg[:, 0])


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


# ------------------------------------------------------------------ 1.10.1 operator identity
def _finite_difference_grad(net: LayeredNet, x_aug: torch.Tensor, layer: int,
                            eps: float = 1e-6) -> torch.Tensor:
    """Central finite differences of the exact E[L_simp] w.r.t. every entry of W_layer."""
    W = net.weight(layer)
    fd = torch.zeros_like(W, dtype=DT)
    with torch.no_grad():
        for i in range(W.shape[0]):
            for j in range(W.shape[1]):
                W[i, j] += eps
                up = expected_loss(net, x_aug, _simp)
                W[i, j] -= 2 * eps
                down = expected_loss(net, x_aug, _simp)
                W[i, j] += eps
                fd[i, j] = (up - down) / (2 * eps)
    return fd


@prediction(
    "dual_networks.covariance_operator_identity",
    "The large-batch gradient of the exact expected simple contrastive loss of a bias-free "
    "ReLU net is the covariance operator: -grad_{W_l} E[L_simp] = 2 V_{x0}[Kbar_l] vec(W_l) "
    "(finite differences agree), and OP_l = V_{x0}[Kbar_l] is PSD.",
    f"{SRC_TIAN}, Sec. 1.3 (Theorem, L_simp); check 1.10.1",
    "contrastive",
)
def covariance_operator_identity(ctx: Context) -> Outcome:
    """Finite differences of the exact E[L_simp] against -2 OP_l vec(W_l), every layer."""
    widths, N, A = ((5, 6, 5, 3), 6, 4) if ctx.quick else ((6, 8, 6, 4), 8, 4)
    g = torch.Generator().manual_seed(0)
    net = LayeredNet(list(widths), activation="relu", top="linear", generator=g)
    x0 = torch.randn(N, 1, widths[0], dtype=DT, generator=g)
    x_aug = x0 + 0.5 * torch.randn(N, A, widths[0], dtype=DT, generator=g)
    errs, psd, pairs, eigs = [], [], [], []
    for layer in range(1, len(widths)):
        W = net.weight(layer).detach()
        OP = simple_loss_gradient_operator(net, x_aug, layer)
        pred = -2 * unvec(OP @ vec(W), tuple(W.shape))
        fd = _finite_difference_grad(net, x_aug, layer)
        errs.append(_rel(fd, pred))
        lam = torch.linalg.eigvalsh((OP + OP.T) / 2)
        psd.append(float(lam[0] / lam[-1]))
        pairs.append((pred.flatten().numpy(), fd.flatten().numpy()))
        eigs.append(lam.numpy())
    tol_fd, tol_psd = 1e-6, -1e-10
    passed = max(errs) <= tol_fd and min(psd) >= tol_psd

    def draw(axes):
        for layer, (p, f) in enumerate(pairs, 1):
            axes[0].scatter(p, f, s=8, label=f"layer {layer}")
        lim = max(float(np.abs(np.concatenate([p for p, _ in pairs])).max()), 1e-12)
        axes[0].plot([-lim, lim], [-lim, lim], "k--", lw=0.8)
        axes[0].set(xlabel="-2 OP vec(W) (operator form)", ylabel="finite difference",
                    title="gradient of E[L_simp]")
        axes[0].legend(fontsize=7)
        for layer, lam in enumerate(eigs, 1):
            axes[1].semilogy(np.arange(lam.size), np.clip(lam[::-1], 1e-16, None), ".-",
                             label=f"layer {layer}")
        axes[1].set(xlabel="index", ylabel="eigenvalue (clipped at 1e-16)",
                    title="spectrum of OP_l")
        axes[1].legend(fontsize=7)

    fig = save_figure(ctx.figure("dual_networks.covariance_operator_identity"), draw, ncols=2)
    return Outcome.judged(
        passed, theory="FD gradient = -2 OP vec(W) exactly; OP PSD",
        measured=f"max rel. error {fmt(max(errs), 3)}; min lambda/lambda_max "
                 f"{fmt(min(psd), 3)}",
        rule=f"relative error of the finite-difference gradient <= {tol_fd:g} for every "
             f"layer and lambda_min(OP_l) >= {tol_psd:g} lambda_max(OP_l)",
        details=f"ReLU net {widths}, {N} samples x {A} augmentations, all tuples enumerated "
                f"(exact expectation), central differences eps 1e-6, float64",
        figure=fig, numbers={"rel_error_per_layer": errs, "min_eig_ratio_per_layer": psd})



# ------------------------------------------------------------------ 1.10.2 contrastive PCA
def _orth_rows(W: torch.Tensor) -> torch.Tensor:
    """Rows of W orthonormalised (QR with a sign convention)."""
    q, r = torch.linalg.qr(W.T)
    return (q * torch.sign(torch.diagonal(r))).T


def _pca_data(quick: bool, g: torch.Generator):
    """Gaussian clusters in a k-dim subspace of the first n0-1 coordinates; augmentations add
    centred isotropic noise and large symmetric offsets along the last coordinate only."""
    n0, k, C, N, A = (8, 2, 5, 25, 4) if quick else (12, 3, 8, 64, 4)
    Q, _ = torch.linalg.qr(torch.randn(n0 - 1, n0 - 1, dtype=DT, generator=g))
    means = 3.0 * torch.randn(C, k, dtype=DT, generator=g) @ Q[:, :k].T
    labels = torch.arange(N) % C
    x0 = torch.zeros(N, n0, dtype=DT)
    x0[:, :-1] = means[labels] + 0.3 * torch.randn(N, n0 - 1, dtype=DT, generator=g)
    noise = 0.3 * torch.randn(N, A, n0, dtype=DT, generator=g)
    noise = noise - noise.mean(dim=1, keepdim=True)  # E_aug x = x0 exactly
    noise[..., -1] = torch.linspace(-6.0, 6.0, A, dtype=DT)  # augmentation-only direction
    return x0.unsqueeze(1) + noise, k


def _pca_iterate(W: torch.Tensor, x_aug: torch.Tensor, steps: int, lr: float, top, e_aug):
    """W <- orth(W - lr grad E[L_simp]) (exact gradient); cosines and W's e_aug weight per step."""
    net = LayeredNet([W.shape[1], W.shape[0]], activation="linear")
    with torch.no_grad():
        net.weight(1).copy_(W)
    cos, aug = [], []
    for _ in range(steps + 1):
        Wn = net.weight(1).detach()
        cos.append(float(torch.linalg.svdvals(_orth_rows(Wn) @ top).min()))
        aug.append(float((Wn @ e_aug).norm()))
        (grad,) = torch.autograd.grad(expected_loss(net, x_aug, _simp), [net.weight(1)])
        with torch.no_grad():
            net.weight(1).copy_(_orth_rows(net.weight(1) - lr * grad))
    return net.weight(1).detach(), np.array(cos), np.array(aug)


@prediction(
    "dual_networks.linear_pca",
    "One linear layer trained on L_simp is power iteration on the augmentation-averaged data "
    "covariance V_{x0}[E_aug x]: its rows align with that matrix's top eigenvectors (principal "
    "angles -> 0), and variance that exists only within augmentations does not attract W.",
    f"{SRC_TIAN}, Sec. 1.4 (linear case); check 1.10.2",
    "contrastive",
)
def linear_pca(ctx: Context) -> Outcome:
    """Subspace power iteration with the exact L_simp gradient on clusters + augmentations."""
    g = torch.Generator().manual_seed(1)
    x_aug, k = _pca_data(ctx.quick, g)
    n0 = x_aug.shape[-1]
    e_aug = torch.zeros(n0, dtype=DT)
    e_aug[-1] = 1.0
    sigma_bar = augmentation_averaged_covariance(x_aug)
    evals, evecs = torch.linalg.eigh(sigma_bar)
    top = evecs[:, -k:]
    naive = torch.cov(x_aug.reshape(-1, n0).T, correction=0)
    naive_overlap = float(torch.linalg.eigh(naive)[1][:, -1].abs() @ e_aug)
    W0 = torch.randn(k, n0, dtype=DT, generator=g)
    W0[:, -1] = 2.0  # start strongly aligned with the augmentation-only direction
    W0 = _orth_rows(W0)
    net = LayeredNet([n0, k], activation="linear")
    with torch.no_grad():
        net.weight(1).copy_(W0)
    (grad,) = torch.autograd.grad(expected_loss(net, x_aug, _simp), [net.weight(1)])
    grad_err = _rel(-grad, 2 * W0 @ sigma_bar)
    steps = 80 if ctx.quick else 200
    _, cos, aug = _pca_iterate(W0, x_aug, steps, 0.5 / float(evals[-1]), top, e_aug)
    tol_cos, tol_aug, tol_grad = 1e-6, 1e-4, 1e-10
    passed = (cos[-1] >= 1 - tol_cos and aug[-1] <= tol_aug and grad_err <= tol_grad
              and naive_overlap > 0.9 and aug[0] > 0.5)

    def draw(axes):
        axes[0].semilogy(1 - cos + 1e-17, label="1 - min cos(principal angle)")
        axes[0].semilogy(aug + 1e-17, label="||W e_aug|| (augmentation-only dir.)")
        axes[0].set(xlabel="iteration", title="one linear layer on L_simp")
        axes[0].legend(fontsize=7)
        axes[1].bar(np.arange(n0), evals.numpy()[::-1], color="C0", alpha=0.7,
                    label="V_x0[E_aug x]")
        axes[1].bar(np.arange(n0), torch.linalg.eigvalsh(naive).numpy()[::-1], fill=False,
                    edgecolor="C3", label="naive covariance")
        axes[1].set(xlabel="eigen-index", ylabel="eigenvalue", title="spectra")
        axes[1].legend(fontsize=7)

    fig = save_figure(ctx.figure("dual_networks.linear_pca"), draw, ncols=2)
    return Outcome.judged(
        passed, theory="principal-angle cosines 1; weight on the augmentation-only direction 0",
        measured=f"min cos {cos[-1]:.12f}; ||W e_aug|| {fmt(aug[-1], 3)} (from {aug[0]:.3f}); "
                 f"-grad vs 2 W Sigma_bar rel. error {fmt(grad_err, 3)}",
        rule=f"after {steps} iterations: min cos >= 1 - {tol_cos:g}, ||W e_aug|| <= {tol_aug:g} "
             f"(starting > 0.5), the gradient identity to {tol_grad:g}, and the set-up is "
             f"discriminative (the naive covariance's top eigenvector overlaps e_aug > 0.9)",
        details=f"n0 {n0}, k {k}, {x_aug.shape[0]} samples x {x_aug.shape[1]} augmentations "
                f"(Gaussian clusters in a {k}-dim subspace; augmentation offsets +-6 along "
                f"e_aug); exact gradient by enumeration, rows re-orthonormalised each step "
                f"(subspace power iteration); eigen-gap {float(evals[-k] / evals[-k - 1]):.1f}; "
                f"naive top eigenvector . e_aug = {naive_overlap:.3f}",
        figure=fig, numbers={"min_cos": float(cos[-1]), "aug_weight": float(aug[-1]),
                             "aug_weight_start": float(aug[0]), "grad_rel_error": grad_err,
                             "naive_overlap": naive_overlap})


# ------------------------------------------------------------------ 1.10.3 HLTM trends
def hltm_grid(tier: str) -> dict:
    """The grid of check 1.10.3 at ``tier`` (smoke: a tiny corner of it)."""
    if tier == "smoke":
        return dict(hids=(2, 10), delta_lowers=(0.5, 0.7, 0.9), depths=(3,), seeds=(1, 2, 3),
                    epochs=3, draws_per_epoch=4096, eval_samples=2048)
    seeds, draws = ((1, 2, 3), 16000) if tier == "cpu" else ((1, 2, 3, 4, 5), 32000)
    return dict(hids=(2, 5, 10, 50), delta_lowers=(0.5, 0.7, 0.9), depths=(3, 5),
                seeds=seeds, epochs=10, draws_per_epoch=draws, eval_samples=8192)


def corr_after_by(rows: list[dict], key: str, value) -> list[float]:
    """Mean-over-levels best |corr| after training of the rows with ``row[key] == value``."""
    return [float(np.mean(r["corr_after"])) for r in rows if r[key] == value]


def hltm_trend_rule(rows: list[dict], dls, hids) -> dict:
    """The rule of ``dual_networks.hltm_trends`` on grid rows: the rise of the mean best |corr|
    (over levels) per cell (``rise``, ``rise_se``; > 2 s.e.), the mean after training by
    delta_lower (``by_dl``; largest minus smallest ``d_dl`` > 2 s.e. ``se_dl``, and
    ``monotone``) and by hid (``by_hid``; ``d_hid`` >= 0); ``passed`` when all hold."""
    rise = [float(np.mean(r["corr_after"]) - np.mean(r["corr_before"])) for r in rows]
    d_rise, se_rise, ok_rise = compare_means(rise, [0.0])
    by_dl = [float(np.mean(corr_after_by(rows, "delta_lower", d))) for d in dls]
    d_dl, se_dl, ok_dl = compare_means(corr_after_by(rows, "delta_lower", dls[-1]),
                                       corr_after_by(rows, "delta_lower", dls[0]))
    monotone = bool(np.all(np.diff(by_dl) > 0))
    by_hid = [float(np.mean(corr_after_by(rows, "hid", h))) for h in hids]
    d_hid = by_hid[-1] - by_hid[0]
    return {"rise_each": rise, "rise": d_rise, "rise_se": se_rise, "by_dl": by_dl,
            "d_dl": d_dl, "se_dl": se_dl, "monotone": monotone, "by_hid": by_hid,
            "d_hid": d_hid, "passed": bool(ok_rise and ok_dl and monotone and d_hid >= 0)}


@prediction(
    "dual_networks.hltm_trends",
    "On the hierarchical latent tree model, contrastive training raises the best |correlation| "
    "of hidden units with the latent variables; it grows with the polarity delta_lower and "
    "weakly with the width hid.",
    f"{SRC_TIAN}, Sec. 1.6-1.7 (HLTM); check 1.10.3",
    "contrastive",
)
def hltm_trends(ctx: Context) -> Outcome:
    """A grid of tree nets (InfoNCE-probability loss, tau 0.1, SGD lr 0.1) via ``run_grid``."""
    from dynamics.theories.dual_networks.hltm import run_grid

    grid = hltm_grid(ctx.tier)
    rows = run_grid(grid["hids"], grid["delta_lowers"], grid["depths"], grid["seeds"],
                    epochs=grid["epochs"], draws_per_epoch=grid["draws_per_epoch"],
                    loss="nce", tau=0.1, lr=0.1, eval_samples=grid["eval_samples"],
                    op_samples=0)
    dls, hids = grid["delta_lowers"], grid["hids"]
    t = hltm_trend_rule(rows, dls, hids)
    d_rise, se_rise, by_dl, d_dl, se_dl = t["rise"], t["rise_se"], t["by_dl"], t["d_dl"], t["se_dl"]
    by_hid, d_hid, passed = t["by_hid"], t["d_hid"], t["passed"]
    levels_before = np.mean([r["corr_before"] for r in rows if r["depth"] == grid["depths"][0]],
                            axis=0)
    levels_after = np.mean([r["corr_after"] for r in rows if r["depth"] == grid["depths"][0]],
                           axis=0)

    def draw(axes):
        lv = np.arange(levels_after.size)
        axes[0].plot(lv, levels_before, "o--", label="before training")
        axes[0].plot(lv, levels_after, "o-", label="after training")
        axes[0].set(xlabel="tree level (0 = root)", ylabel="mean best |corr|",
                    title=f"depth {grid['depths'][0]}, mean over cells")
        axes[0].legend(fontsize=7)
        for h in hids:
            axes[1].plot(dls, [np.mean([np.mean(r["corr_after"]) for r in rows
                                        if r["hid"] == h and r["delta_lower"] == d])
                               for d in dls], "o-", label=f"hid {h}")
        axes[1].set(xlabel="delta_lower", ylabel="best |corr| after training (mean)",
                    title="polarity and width")
        axes[1].legend(fontsize=7)

    fig = save_figure(ctx.figure("dual_networks.hltm_trends"), draw, ncols=2)
    return Outcome.judged(
        passed, theory="corr rises with training; increases with delta_lower; weakly with hid",
        measured=f"rise {d_rise:+.3f} +- {se_rise:.3f}; by delta_lower {np.round(by_dl, 3)}; "
                 f"by hid {np.round(by_hid, 3)}",
        rule="mean rise over cells > 2 standard errors; mean corr after training at the "
             "largest delta_lower exceeds the smallest by > 2 standard errors (compare_means) "
             "and the means increase monotonically in delta_lower; mean at the largest hid >= "
             "at the smallest (sign only: a weak trend)",
        details=f"{len(rows)} cells: depths {grid['depths']}, hid {hids}, delta_lower {dls}, "
                f"seeds {grid['seeds']}; {grid['epochs']} epochs x {grid['draws_per_epoch']} "
                f"draws, batch 128, loss nce (tau 0.1), lr 0.1; corr = mean over tree levels "
                f"of the per-level mean best |corr| on {grid['eval_samples']} fresh samples; "
                f"per level (root first) before {np.round(levels_before, 2)}, after "
                f"{np.round(levels_after, 2)}",
        figure=fig, numbers={"rise": d_rise, "rise_se": se_rise, "by_delta_lower": by_dl,
                             "delta_lower_diff": d_dl, "delta_lower_se": se_dl,
                             "by_hid": by_hid, "hid_diff": d_hid})

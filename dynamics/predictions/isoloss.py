"""Simulation predictions of Halvagal, Laborieux & Zenke (NeurIPS 2023), "Implicit variance
regularization in non-contrastive SSL", on the eigenmode model of :mod:`dynamics.theory.isoloss`
(linear network, closed-form predictor Wp = C^alpha; derivations checked in sympy by
:mod:`dynamics.theory.symbolic_isoloss`). Every measurement is minibatch SGD of the linear
network (:func:`~dynamics.theory.isoloss.sgd_train`) against the mode ODE."""

from __future__ import annotations

import numpy as np

from dynamics.metrics.spectral import growth_rate_spread, mode_growth_rates
from dynamics.predictions import Context, Outcome, prediction
from dynamics.predictions.base import fmt
from dynamics.predictions.plotting import save_figure
from dynamics.theory import isoloss as il

PAPER = ("Halvagal, Laborieux & Zenke, Implicit variance regularization in non-contrastive SSL, "
         "NeurIPS 2023")
KW = {"alpha": 0.5, "sigma2": 0.25}


def source(where: str) -> str:
    """The paper, with the place of the claim."""
    return f"{PAPER}, {where}"


def start(lam0: np.ndarray, seed: int = 0) -> np.ndarray:
    """:func:`~dynamics.theory.isoloss.aligned_start` at this module's sigma2."""
    return il.aligned_start(lam0, sigma2=KW["sigma2"], seed=seed)


@prediction("isoloss.equal_rates",
            "Eigenvalues act as learning-rate multipliers: from a small start the modes of C "
            "grow at rates 2 lambda^alpha under the Euclidean loss (spread with lambda) and at "
            "one common rate 2 under IsoLoss.",
            source("Sec. 4-5 (eigenmode dynamics, IsoLoss); rates derived for alpha = 1/2"),
            "simulation")
def equal_rates(ctx: Context) -> Outcome:
    """Early growth rates of the SGD spectrum (log-linear fits) under both losses."""
    lam0 = np.array([1e-3, 1e-4, 1e-5, 1e-6])
    t_fit = 0.5
    spreads, rates = {}, {}
    for loss in ("isoloss", "euclidean"):
        sgd = il.sgd_train(start(lam0), **KW, loss=loss, lr=0.005, steps=round(t_fit / 0.005),
                           batch_size=2048 if ctx.quick else 8192, record_every=10, seed=3)
        rates[loss] = mode_growth_rates(sgd.t, sgd.lam[:, 0])
        spreads[loss] = growth_rate_spread(rates[loss])
    theory_e = il.initial_rates(lam0, **KW, loss="euclidean")
    dev = max(float(np.max(np.abs(rates[loss] / il.initial_rates(lam0, **KW, loss=loss) - 1)))
              for loss in rates)
    ok = spreads["isoloss"] < 1.1 and spreads["euclidean"] > 10 and dev < 0.15

    def draw(axes):
        for loss, m in (("isoloss", "o"), ("euclidean", "s")):
            axes[0].loglog(lam0, np.abs(rates[loss]), m, label=f"{loss} (SGD)")
        axes[0].loglog(lam0, theory_e, "k:", label="2 lambda^alpha (1 - a lambda^alpha)")
        axes[0].axhline(2.0, color="k", ls="--", lw=0.8)
        axes[0].set_xlabel("lambda(0)")
        axes[0].set_ylabel("early growth rate d ln lambda / dt")
        axes[0].legend(fontsize=7)
    fig = save_figure(ctx.figure("isoloss.equal_rates"), draw)
    return Outcome.judged(ok, theory="IsoLoss: all 2; Euclidean: 2 lambda^alpha",
                          measured=f"max/min rate: IsoLoss {fmt(spreads['isoloss'], 3)}, "
                                   f"Euclidean {fmt(spreads['euclidean'], 3)}",
                          rule="over 4 modes spanning 3 decades: IsoLoss max/min < 1.1, "
                               "Euclidean max/min > 10 (theory 31.6), every rate within 15% of "
                               f"the theory's (worst {dev:.1%})", figure=fig,
                          numbers={"rates_isoloss": rates["isoloss"].tolist(),
                                   "rates_euclidean": rates["euclidean"].tolist()})


@prediction("isoloss.sgd_limit",
            "Minibatch SGD of the linear network follows the mode ODEs of the Euclidean loss and "
            "IsoLoss: every eigenvalue of C within 0.01 at t = 4 with lr 0.01.",
            source("Sec. 4 (eigenmode ODE); the SGD limit derived"), "simulation")
def sgd_limit(ctx: Context) -> Outcome:
    """SGD spectra against :func:`~dynamics.theory.isoloss.simulate_modes_iso`."""
    lam0 = np.array([0.5, 0.1, 0.02, 0.004])
    errs = {}
    for loss in ("euclidean", "isoloss"):
        ode = il.simulate_modes_iso(lam0, **KW, loss=loss, t_end=4.0, n_save=2).lam[-1, 0]
        sgd = il.sgd_train(start(lam0), **KW, loss=loss, lr=0.01, steps=400,
                           batch_size=2048 if ctx.quick else 8192, record_every=400, seed=1)
        errs[loss] = float(np.abs(sgd.lam[-1, 0] - np.sort(ode)[::-1]).max())
    ok = max(errs.values()) < 0.01

    def draw(axes):
        axes[0].bar(list(errs), list(errs.values()))
        axes[0].set_ylabel("max |lambda_SGD - lambda_ODE| at t = 4")
    fig = save_figure(ctx.figure("isoloss.sgd_limit"), draw)
    return Outcome.judged(ok, theory="mode ODE", measured=", ".join(
        f"{k} {v:.2e}" for k, v in errs.items()), rule="max difference < 0.01 for both losses",
        figure=fig, numbers=errs)


@prediction("isoloss.cosine_vs_euclidean",
            "The cosine and Euclidean losses reach different fixed points: the cosine loss "
            "conserves tr C and equalises the spectrum at tr C(0)/m, the Euclidean loss sets "
            "every mode to (1 + sigma2)^(-1/alpha) whatever the start.",
            source("Sec. 4 (two mechanisms of implicit variance regularisation); derived"),
            "simulation")
def cosine_vs_euclidean(ctx: Context) -> Outcome:
    """Long SGD runs of both losses from one start."""
    lam0 = np.array([0.5, 0.1, 0.02, 0.004])
    steps = 1500 if ctx.quick else 3000
    end = {loss: il.sgd_train(start(lam0), **KW, loss=loss, lr=0.02, steps=steps,
                              batch_size=512, record_every=steps, seed=2).lam[-1, 0]
           for loss in ("cosine", "euclidean")}
    cos_fp = float(lam0.sum() / lam0.size)
    euc_fp = float(il.fixed_point(lam0, **KW, loss="euclidean")[0])
    cos_err = float(np.abs(end["cosine"] / cos_fp - 1).max())
    euc_err = float(np.abs(end["euclidean"] / euc_fp - 1).max())
    ok = cos_err < 0.05 and euc_err < 0.05

    def draw(axes):
        x = np.arange(lam0.size)
        axes[0].bar(x - 0.2, end["cosine"], 0.4, label="cosine (SGD)")
        axes[0].bar(x + 0.2, end["euclidean"], 0.4, label="Euclidean (SGD)")
        axes[0].axhline(cos_fp, color="k", ls=":", lw=1)
        axes[0].axhline(euc_fp, color="k", ls="--", lw=1)
        axes[0].set_xlabel("mode")
        axes[0].set_ylabel("final eigenvalue of C")
        axes[0].legend(fontsize=7)
    fig = save_figure(ctx.figure("isoloss.cosine_vs_euclidean"), draw)
    return Outcome.judged(ok, theory=f"cosine {cos_fp:.4f} each, Euclidean {euc_fp:.4f} each",
                          measured=f"cosine {np.round(end['cosine'], 4).tolist()}, Euclidean "
                                   f"{np.round(end['euclidean'], 4).tolist()}",
                          rule="every final eigenvalue within 5% of its loss's fixed point",
                          figure=fig, numbers={"cosine_rel_error": cos_err,
                                               "euclidean_rel_error": euc_err})

"""The linear bridge: the training engine's BYOL on the theory's own setting (bias-free linear
encoder W, learned linear predictor Wp, EMA target Wa, Euclidean loss, additive isotropic
Gaussian views with X = I and X' = sigma2 I) against the gradient flow of Lemma 1 with the
same hyper-parameters (Tian, Chen & Ganguli 2021, Sec. 1.2-1.3 of THEORY-directpred).

Mapping of the run's config to the flow (Sec. 1.3; plain SGD, ``optim.momentum=0``): one SGD
step advances time by ``optim.lr``; the EMA momentum gamma_a gives beta = (1 - gamma_a) / lr;
weight decay eta = ``optim.weight_decay``; alpha_p = ``optim.predictor_lr_mult`` (the
predictor's decay per unit time, alpha_p x its weight decay, must equal eta: the flow has one
eta). The symmetrised loss averages the two directions, whose flows are the same.

The run keeps a checkpoint after every epoch; the flow starts from the state (W, Wp, Wa) of the
first one, so the comparison needs no knowledge of the initialisation, and F = W X W^T = W W^T
is compared at every later epoch, exactly (no estimator noise).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dynamics.errors import ConfigError
from dynamics.plots.prediction_figure import save_figure
from dynamics.verify.prediction import Context, Outcome, RunSpec
from dynamics.verify.registry import prediction

CONFIG = "smoke_synthetic_linear.yaml"
LABEL = "linear_byol"
EPOCHS = {"smoke": 25, "cpu": 100, "paper": 200}
#: Tolerances of the rule: the largest relative error of the spectrum of F over time, and that
#: error as a fraction of how far the flow's spectrum moves (so agreement is informative).
TOL_REL, TOL_FRACTION = 0.05, 0.25


def linear_byol_runs(tier: str) -> list[RunSpec]:
    """The engine's linear BYOL runs of the bridge at ``tier`` (1 seed at smoke, 3 above)."""
    over = ("device=cpu", "precision=fp32", "optim.momentum=0", "keep_checkpoints=null",
            "checkpoint_every=1", "log.log_every=40", f"optim.epochs={EPOCHS[tier]}")
    seeds = (0,) if tier == "smoke" else (0, 1, 2)
    return [RunSpec(CONFIG, over, seed=s, label=LABEL) for s in seeds]


def ode_settings(cfg) -> tuple[object, float, object]:
    """(MatrixFlowConfig, time per SGD step, data model) of a run's TrainConfig; ConfigError
    where the run is not the linear theory's setting or the mapping does not apply."""
    from dynamics.numerics.data_models import AdditiveGaussian
    from dynamics.theories.directpred.matrix_flow import MatrixFlowConfig

    checks = {"data.dataset": (cfg.data.dataset, "synthetic"),
              "model.encoder": (cfg.model.encoder, "linear"),
              "model.projector": (cfg.model.projector, False),
              "method.name": (cfg.method.name, "byol"),
              "method.loss": (cfg.method.loss, "euclidean"),
              "predictor.kind": (cfg.predictor.kind, "linear"),
              "optim.momentum": (float(cfg.optim.momentum), 0.0)}
    for field, (value, want) in checks.items():
        if value != want:
            raise ConfigError(field, f"the bridge needs {want!r}, got {value!r}")
    lr, o = float(cfg.optim.lr), cfg.optim
    gamma = 0.996 if cfg.method.ema is None else float(cfg.method.ema)
    alpha_p = float(o.predictor_lr_mult)
    wd_p = o.weight_decay if o.predictor_weight_decay is None else o.predictor_weight_decay
    eta = float(o.weight_decay)
    if abs(alpha_p * float(wd_p) - eta) > 1e-12:
        raise ConfigError("optim.predictor_weight_decay",
                          f"the flow has one eta: predictor decay per unit time "
                          f"{alpha_p * float(wd_p):g} != {eta:g}")
    flow = MatrixFlowConfig(alpha_p=alpha_p, beta=(1.0 - gamma) / lr, eta=eta,
                            predictor="learned", target="ema")
    data = AdditiveGaussian.isotropic(int(cfg.data.synthetic_dim),
                                      float(cfg.data.synthetic_sigma2))
    return flow, lr, data


def checkpoint_states(folder: Path) -> list[tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
    """(step, W, Wp, Wa) of every epoch checkpoint of a linear BYOL run, oldest first."""
    import torch

    from dynamics.train.checkpoint_files import epoch_checkpoints

    out = []
    for path in epoch_checkpoints(Path(folder) / "checkpoints"):
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
        m = ckpt["method"]["modules"]
        W, Wp, Wa = (m[k].double().numpy() for k in ("encoder.1.weight",
                                                      "predictor.linear.weight",
                                                      "target_encoder.1.weight"))
        out.append((int(ckpt["step"]), W, Wp, Wa))
    return out


def _spectrum(W: np.ndarray) -> np.ndarray:
    return np.sort(np.linalg.eigvalsh(W @ W.T))[::-1]


def compare_run(folder: Path) -> dict:
    """Engine vs flow for one run folder: times ``t``, spectra of F (``engine``, ``ode`` and
    ``sgd``, the library's minibatch SGD of the same model), relative errors (``rel`` of the
    engine, ``rel_sgd_sim`` of the SGD simulation, against the ODE) and the ODE's movement."""
    from dynamics.theories.directpred.matrix_flow import simulate_matrix
    from dynamics.theories.directpred.sgd import simulate_sgd
    from dynamics.train.config import load_config

    cfg = load_config(Path(folder) / "config.yaml")
    flow, dt, data = ode_settings(cfg)
    states = checkpoint_states(folder)
    if len(states) < 3:
        raise ConfigError("checkpoints", f"need >= 3 epoch checkpoints, found {len(states)}")
    steps = np.array([s for s, *_ in states])
    if len(set(np.diff(steps))) != 1:
        raise ConfigError("checkpoints", "epoch checkpoints are not evenly spaced in steps")
    _, W0, Wp0, Wa0 = states[0]
    t_end = float(steps[-1] - steps[0]) * dt
    traj = simulate_matrix(W0, data.X, data.Xprime, flow, Wp0=Wp0, Wa0=Wa0, t_end=t_end,
                           n_save=len(states))
    sgd = simulate_sgd(W0, data, flow, Wp0=Wp0, Wa0=Wa0, lr=dt,
                       batch_size=int(cfg.optim.batch_size), t_end=t_end, n_save=len(states),
                       seed=int(cfg.seed) + 100)
    eng = np.array([_spectrum(W) for _, W, _, _ in states])
    ode = np.array([_spectrum(W) for W in traj.W])
    ref = np.array([_spectrum(W) for W in sgd.W])
    norm = np.linalg.norm(ode, axis=1)
    rel = np.linalg.norm(eng - ode, axis=1) / norm
    return {"t": traj.t, "engine": eng, "ode": ode, "sgd": ref, "rel": rel,
            "rel_sgd_sim": np.linalg.norm(ref - ode, axis=1) / norm,
            "move": float(np.linalg.norm(ode[-1] - ode[0]) / norm[-1]),
            "flow": flow.to_dict(), "dt": dt, "ode_ok": bool(traj.ok)}


@prediction(
    "bridge.linear_byol_vs_ode",
    "Linear BYOL trained by the training engine on the theory's data model follows the "
    "Lemma 1 gradient flow with the same hyper-parameters: the eigenvalues of F = W W^T match "
    "the ODE's over training.",
    "Tian, Chen & Ganguli, ICML 2021 (arXiv 2102.06810), Lemma 1 (Eqs. 2-4) and Sec. 3 "
    "(mapping to SGD)",
    "bridge", runs=linear_byol_runs,
)
def linear_byol_vs_ode(ctx: Context) -> Outcome:
    """Spectra of F from the run's epoch checkpoints against simulate_matrix from the first."""
    specs = linear_byol_runs(ctx.tier)
    folders = ctx.folders(LABEL)
    if len(folders) < len(specs):
        return Outcome.not_run(f"{len(specs) - len(folders)} of {len(specs)} linear BYOL runs "
                               f"missing")
    try:
        res = [compare_run(f) for f in folders]
    except ConfigError as exc:
        return Outcome.not_run(f"run not comparable: {exc}")
    worst = [float(r["rel"].max()) for r in res]
    moves = [r["move"] for r in res]
    passed = all(w <= TOL_REL and w <= TOL_FRACTION * m and r["ode_ok"]
                 for w, m, r in zip(worst, moves, res, strict=True))
    r0 = res[0]

    def draw(axes):
        k = min(6, r0["ode"].shape[1])
        for j in range(k):
            axes[0].plot(r0["t"], r0["ode"][:, j], "-", color=f"C{j}", lw=1)
            axes[0].plot(r0["t"], r0["engine"][:, j], "o", color=f"C{j}", ms=3)
        axes[0].set(xlabel="t = steps x lr (from epoch 1)", ylabel="eigenvalue of F = W W^T",
                    title=f"top {k}: ODE (lines) vs engine (dots)")
        for i, r in enumerate(res):
            axes[1].plot(r["t"], r["rel"], "-", color=f"C{i}", label=f"engine, run {i}")
            axes[1].plot(r["t"], r["rel_sgd_sim"], ":", color=f"C{i}",
                         label=f"theory SGD sim., run {i}")
        axes[1].axhline(TOL_REL, color="k", ls="--", lw=0.8, label="tolerance")
        axes[1].set(xlabel="t", ylabel="||eig_run - eig_ODE|| / ||eig_ODE||",
                    title="relative error of the spectrum")
        axes[1].legend(fontsize=6)

    fig = save_figure(ctx.figure("bridge.linear_byol_vs_ode"), draw, ncols=2)
    seeds = ("1 run (smoke tier)" if len(res) == 1 else f"{len(res)} seeds")
    return Outcome.judged(
        passed, theory="eigenvalues of F from the Lemma 1 ODE (same start, mapped "
                       "hyper-parameters)",
        measured="max relative error " + ", ".join(f"{w:.4f}" for w in worst)
                 + "; spectrum moved " + ", ".join(f"{m:.3f}" for m in moves),
        rule=f"for every run: max over epochs of ||eig(F_run) - eig(F_ODE)|| / ||eig(F_ODE)|| "
             f"<= {TOL_REL:g}, and <= {TOL_FRACTION:g} x the ODE spectrum's own relative "
             f"change over the same time",
        details=f"{seeds}; {CONFIG} with momentum 0, {len(r0['t'])} epoch checkpoints, "
                f"time step {r0['dt']:g} per SGD step, flow alpha_p {r0['flow']['alpha_p']:g}, "
                f"beta {r0['flow']['beta']:.4g}, eta {r0['flow']['eta']:g} (learned predictor, "
                f"EMA target); the theory's own minibatch "
                f"SGD (dynamics.theories.directpred.sgd, same batch) deviates by "
                + ", ".join(f"{float(r['rel_sgd_sim'].max()):.4f}" for r in res)
                + " (the finite-batch noise level)",
        figure=fig, numbers={"max_rel_error": worst, "movement": moves,
                             "sgd_sim_max_rel_error": [float(r["rel_sgd_sim"].max())
                                                       for r in res],
                             "final_rel_error": [float(r["rel"][-1]) for r in res]})

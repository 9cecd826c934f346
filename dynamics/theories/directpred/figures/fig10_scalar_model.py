"""Fig. 10 (Appendix D): the scalar model, Eqs. 104-106, with and without a predictor.

All vector fields are :func:`dynamics.theories.directpred.nonisotropic.scalar_rhs`; trajectories are
:func:`dynamics.theories.directpred.nonisotropic.simulate_scalar`. Fixed points are found
numerically as roots of the plotted 2-D field (scipy ``root`` from a grid of starts) and classified
by the eigenvalues of the field's Jacobian (complex-step derivative of ``scalar_rhs``); where the
Jacobian is degenerate (the tied origin) the classification comes from simulations started
next to the point on either side.

Panels (paper settings lambda_s = 1, lambda_d = 1/2, alpha_p = beta = 1):

* left: (w, wp) flow at fixed wa = 1 (the beta << 1 picture). Fixed points: the hyperbola
  wp w = wa lambda_d/lambda_s (a line of fixed points, drawn as a black dashed theory curve so
  that colour means stability only for the point markers) and the origin (saddle).
  Overlaid: trajectories of the 3-D model with beta = 1e-9 (wa frozen at 1).
* middle: predictor tied to the online weight, w = wp (invariant for alpha_p = 1), in the
  (w, wa) plane; nullclines wa = w (dwa/dt = 0) and w^2 = wa lambda_d/lambda_s (dw/dt = 0,
  besides w = 0), drawn as zero contours of the field; stable point w = wa = lambda_d/lambda_s.
  The origin is semi-stable: its Jacobian has eigenvalues 0 and -beta; w = 0 is invariant, and
  on the centre manifold wa ~ w the flow is dw/dt ~ lambda_d w^2, so starts with w > 0 leave
  it and starts with w < 0 approach it algebraically, w(t) ~ -1/(lambda_d t) (the figure
  records -w(T) lambda_d T, which tends to 1). Overlaid: 3-D trajectories started on w = wp
  (they stay on it), from both sides of w = 0.
* right: no predictor (wp = 1): the origin is the only fixed point and it is stable.

Choices not in the paper: plotting windows, starting points of the overlaid trajectories
(a 3 x 3 grid per panel, plus 2 x 3 starts with w < 0 in the middle panel), horizon t = 60.
``quick`` changes nothing here (the figure takes a few seconds either way).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.optimize import root

from dynamics.numerics.stability import classify_eigenvalues
from dynamics.plots import style
from dynamics.plots.base import FigureResult, figure
from dynamics.theories.directpred.nonisotropic import (
    scalar_fixed_points,
    scalar_rhs,
    simulate_scalar,
)

LAMBDA_S, LAMBDA_D = 1.0, 0.5
ALPHA_P, BETA = 1.0, 1.0
WA_FIXED = 1.0
_H = 1e-30

LEFT = ((-2.0, 2.0), (-2.0, 2.0))      # (w, wp)
MIDDLE = ((-1.0, 1.5), (-1.0, 1.5))    # (w, wa)
RIGHT = ((-1.5, 1.5), (-1.5, 1.5))     # (w, wa)
NEG_W0, NEG_WA0 = (-0.8, -0.4), (-0.8, 0.25, 1.3)  # (b): starts on the origin's attracting side
TRAJ = style.THEORY   # simulated trajectories
HYPERBOLA = style.THEORY  # (a)'s line of fixed points, dashed (a theory curve, not a marker)


def _kw(beta: float = BETA) -> dict[str, float]:
    return {"alpha_p": ALPHA_P, "beta": beta, "lambda_s": LAMBDA_S, "lambda_d": LAMBDA_D}


# 2-D fields of the three panels, all from scalar_rhs ------------------------------------------

def field_left(w, wp):
    """(dw, dwp) at fixed wa = WA_FIXED."""
    dwp, dw, _ = scalar_rhs(wp, w, WA_FIXED + 0 * w, **_kw())
    return dw, dwp


def field_tied(w, wa):
    """(dw, dwa) on the invariant set wp = w."""
    _, dw, dwa = scalar_rhs(w, w, wa, **_kw())
    return dw, dwa


def field_nopred(w, wa):
    """(dw, dwa) without predictor (wp = 1)."""
    _, dw, dwa = scalar_rhs(1.0 + 0 * w, w, wa, **_kw())
    return dw, dwa


def jacobian(field, x: float, y: float) -> np.ndarray:
    """2x2 Jacobian of a polynomial field by complex-step differentiation."""
    J = np.empty((2, 2))
    for k, (dx, dy) in enumerate(((1j * _H, 0.0), (0.0, 1j * _H))):
        fx, fy = field(x + dx, y + dy)
        J[0, k] = np.imag(fx) / _H
        J[1, k] = np.imag(fy) / _H
    return J


def find_fixed_points(field, box, n: int = 7, tol: float = 1e-7,
                      candidates=()) -> list[np.ndarray]:
    """Isolated zeros of ``field`` inside ``box``: the ``candidates`` (e.g. the library's
    fixed points) where the field vanishes, plus roots found from an n x n grid of starts
    (Newton-type roots converge slowly at degenerate points, hence the candidates)."""
    (x0, x1), (y0, y1) = box
    found: list[np.ndarray] = []
    for c in candidates:
        z = np.asarray(c, dtype=float)
        if np.max(np.abs(field(z[0], z[1]))) <= 1e-12:
            found.append(z)
    for x in np.linspace(x0, x1, n):
        for y in np.linspace(y0, y1, n):
            sol = root(lambda z: np.array(field(z[0], z[1]), dtype=float), [x, y], tol=1e-13)
            z = sol.x
            if not sol.success or np.max(np.abs(field(z[0], z[1]))) > 1e-10:
                continue
            if not (x0 <= z[0] <= x1 and y0 <= z[1] <= y1):
                continue
            if all(np.max(np.abs(z - f)) > tol for f in found):
                found.append(z)
    return sorted(found, key=lambda z: (z[0], z[1]))


def _nullclines(ax, field, box, n: int = 300) -> None:
    """Zero contours of a planar (w, wa) field: dwa/dt = 0 solid, dw/dt = 0 dashed."""
    (x0, x1), (y0, y1) = box
    X, Y = np.meshgrid(np.linspace(x0, x1, n), np.linspace(y0, y1, n))
    dW, dWA = field(X, Y)
    ax.contour(X, Y, dWA, levels=[0.0], colors=[style.SWEEP[3]], linewidths=1.8, zorder=3)
    ax.contour(X, Y, dW, levels=[0.0], colors=[style.SWEEP[5]], linewidths=1.8,
               linestyles="--", zorder=3)


def _stream(ax, field, box, n: int = 120) -> None:
    (x0, x1), (y0, y1) = box
    gx, gy = np.linspace(x0, x1, n), np.linspace(y0, y1, n)
    X, Y = np.meshgrid(gx, gy)
    U, V = field(X, Y)
    ax.streamplot(gx, gy, U, V, color=style.FLOW, density=1.0, linewidth=0.7, arrowsize=0.8,
                  zorder=1)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)


def _grid_starts(box, n: int = 3, margin: float = 0.15) -> tuple[np.ndarray, np.ndarray]:
    (x0, x1), (y0, y1) = box
    xs = np.linspace(x0 + margin * (x1 - x0), x1 - margin * (x1 - x0), n)
    ys = np.linspace(y0 + margin * (y1 - y0), y1 - margin * (y1 - y0), n)
    X, Y = np.meshgrid(xs, ys)
    return X.ravel(), Y.ravel()


@figure('directpred_fig10',
        'Appendix D scalar model: flows with and without predictor',
        paper_ref='Fig. 10',
        predictions=('directpred.appendix_d_scalar',),
        aliases=('fig10',))
def make(out_dir: Path, *, quick: bool = False) -> FigureResult:
    """Draw Fig. 10 (the scalar model, Eqs. 104-106, three panels) into ``out_dir``."""
    t_end = 60.0
    fps_lib = scalar_fixed_points(LAMBDA_S, LAMBDA_D)
    ratio = fps_lib.branch_wp  # lambda_d / lambda_s
    numbers: dict[str, float | str] = {"lambda_s": LAMBDA_S, "lambda_d": LAMBDA_D,
                                       "lambda_d_over_lambda_s": ratio, "t_end": t_end}
    with style.paper_style():
        fig, axes = style.new_figure(1, 3, width=12.5, height=4.4)
        ax_l, ax_m, ax_r = axes[0]

        # ---- left: (w, wp) at fixed wa --------------------------------------------------
        _stream(ax_l, field_left, LEFT)
        for sign in (-1, 1):
            w = sign * np.linspace(0.2, 2.0, 200)
            wp = WA_FIXED * ratio / w  # the hyperbola wp w = wa lambda_d / lambda_s
            ax_l.plot(w, wp, color=HYPERBOLA, lw=2.0, ls="--", zorder=4)
        hw = np.linspace(0.25, 2.0, 50)
        numbers["left_hyperbola_field_max"] = float(np.max(np.abs(
            np.array(field_left(hw, WA_FIXED * ratio / hw)))))
        J0 = jacobian(field_left, 0.0, 0.0)
        kind0 = classify_eigenvalues(np.linalg.eigvals(J0))
        style.mark_points(ax_l, [0.0], [0.0], [kind0], size=55, zorder=7)
        numbers["left_origin_kind"] = kind0
        # Shifted grid: a symmetric one would put starts exactly on the saddle's stable
        # manifold w = -wp, which flows into the origin.
        w0, wp0 = _grid_starts(LEFT)
        w0 = w0 + 0.17
        tr = simulate_scalar(wp0, w0, WA_FIXED, **_kw(beta=1e-9), t_end=t_end, n_save=400)
        for i in range(w0.size):
            ax_l.plot(tr.w[:, i], tr.wp[:, i], color=TRAJ, lw=0.9, alpha=0.75, zorder=5)
            ax_l.plot(tr.w[0, i], tr.wp[0, i], "o", color=TRAJ, ms=2.5, zorder=5)
        prod_end = tr.wp[-1] * tr.w[-1]
        numbers["left_final_wp_w_max_dev"] = float(np.max(np.abs(prod_end - WA_FIXED * ratio)))
        ax_l.set_xlabel("$w$ (online)")
        ax_l.set_ylabel("$w_p$ (predictor)")
        ax_l.set_title(rf"(a) fixed $w_a = {WA_FIXED:g}$ ($\beta \ll 1$): $(w, w_p)$ flow")

        # ---- middle: tied w = wp ----------------------------------------------------------
        _stream(ax_m, field_tied, MIDDLE)
        _nullclines(ax_m, field_tied, MIDDLE)
        ax_m.plot([], [], color=style.SWEEP[3], lw=1.8,
                  label=r"$\dot w_a = 0$: $w_a = w$")
        ax_m.plot([], [], color=style.SWEEP[5], lw=1.8, ls="--",
                  label=r"$\dot w = 0$: $w^2 = w_a\lambda_d/\lambda_s$ (and $w=0$)")
        lib_pts = [fps_lib.origin[1:], fps_lib.tied_attractor[1:]]  # (w, wa)
        fps = find_fixed_points(field_tied, MIDDLE, candidates=lib_pts)
        kinds = []
        for z in fps:
            kind = classify_eigenvalues(np.linalg.eigvals(jacobian(field_tied, *z)))
            if kind == "non-hyperbolic":
                kind = _probe_tied(z)
            kinds.append(kind)
        style.mark_points(ax_m, [z[0] for z in fps], [z[1] for z in fps], kinds, size=55,
                          zorder=7)
        for i, (z, kind) in enumerate(zip(fps, kinds, strict=True)):
            numbers[f"tied_fp{i}_w"] = float(z[0])
            numbers[f"tied_fp{i}_wa"] = float(z[1])
            numbers[f"tied_fp{i}_kind"] = kind
        stable = [z for z, k in zip(fps, kinds, strict=True) if k == "stable"]
        numbers["tied_n_stable"] = float(len(stable))
        if stable:
            numbers["tied_stable_w"] = float(stable[0][0])
            numbers["tied_stable_wa"] = float(stable[0][1])
        w0, wa0 = _grid_starts(((0.1, 1.5), MIDDLE[1]), margin=0.05)
        tr = simulate_scalar(w0, w0, wa0, **_kw(), t_end=t_end, n_save=400)
        for i in range(w0.size):
            ax_m.plot(tr.w[:, i], tr.wa[:, i], color=TRAJ, lw=0.9, alpha=0.75, zorder=5)
            ax_m.plot(tr.w[0, i], tr.wa[0, i], "o", color=TRAJ, ms=2.5, zorder=5)
        numbers["tied_invariance_max_dev"] = float(np.max(np.abs(tr.wp - tr.w)))
        numbers["tied_pos_n_starts"] = float(w0.size)
        numbers["tied_sim_final_w_mean"] = float(np.mean(tr.w[-1]))
        numbers["tied_sim_final_max_dev"] = float(np.max(np.abs(
            np.stack([tr.w[-1], tr.wa[-1], tr.wp[-1]]) - ratio)))
        # The attracting side of the semi-stable origin: w = 0 is invariant, and every start
        # with w < 0 creeps into the origin along wa = w (algebraically, not exponentially).
        w0, wa0 = (a.ravel() for a in np.meshgrid(NEG_W0, NEG_WA0))
        tr = simulate_scalar(w0, w0, wa0, **_kw(), t_end=t_end, n_save=400)
        for i in range(w0.size):
            ax_m.plot(tr.w[:, i], tr.wa[:, i], color=TRAJ, lw=0.9, alpha=0.75, zorder=5)
            ax_m.plot(tr.w[0, i], tr.wa[0, i], "o", color=TRAJ, ms=2.5, zorder=5)
        numbers["tied_neg_n_starts"] = float(w0.size)
        numbers["tied_neg_w_max"] = float(tr.w.max())  # < 0: w never crosses the origin
        numbers["tied_neg_final_dist_max"] = float(np.max(np.hypot(tr.w[-1], tr.wa[-1])))
        scaled = -tr.w[-1] * LAMBDA_D * t_end  # -> 1 as t -> inf on the centre manifold
        numbers["tied_neg_scaled_w_min"] = float(scaled.min())
        numbers["tied_neg_scaled_w_max"] = float(scaled.max())
        ax_m.set_xlabel("$w = w_p$ (tied)")
        ax_m.set_ylabel("$w_a$ (target)")
        ax_m.set_title(r"(b) tied $w = w_p$ ($\alpha_p = 1$): $(w, w_a)$ flow")

        # ---- right: no predictor ----------------------------------------------------------
        _stream(ax_r, field_nopred, RIGHT)
        _nullclines(ax_r, field_nopred, RIGHT)
        ax_r.plot([], [], color=style.SWEEP[3], lw=1.8, label=r"$\dot w_a = 0$")
        ax_r.plot([], [], color=style.SWEEP[5], lw=1.8, ls="--", label=r"$\dot w = 0$")
        fps = find_fixed_points(field_nopred, RIGHT, candidates=[fps_lib.origin[1:]])
        kinds = [classify_eigenvalues(np.linalg.eigvals(jacobian(field_nopred, *z)))
                 for z in fps]
        style.mark_points(ax_r, [z[0] for z in fps], [z[1] for z in fps], kinds, size=55,
                          zorder=7)
        numbers["nopred_n_fixed"] = float(len(fps))
        for i, (z, kind) in enumerate(zip(fps, kinds, strict=True)):
            numbers[f"nopred_fp{i}_w"] = float(z[0])
            numbers[f"nopred_fp{i}_wa"] = float(z[1])
            numbers[f"nopred_fp{i}_kind"] = kind
        numbers["nopred_origin_stable_lib"] = ("yes" if fps_lib.no_predictor_origin_stable()
                                               else "no")
        w0, wa0 = _grid_starts(RIGHT)
        tr = simulate_scalar(1.0, w0, wa0, **_kw(), t_end=t_end, n_save=400, predictor=False)
        for i in range(w0.size):
            ax_r.plot(tr.w[:, i], tr.wa[:, i], color=TRAJ, lw=0.9, alpha=0.75, zorder=5)
            ax_r.plot(tr.w[0, i], tr.wa[0, i], "o", color=TRAJ, ms=2.5, zorder=5)
        numbers["nopred_sim_final_abs_max"] = float(np.max(np.abs(
            np.stack([tr.w[-1], tr.wa[-1]]))))
        ax_r.set_xlabel("$w$ (online)")
        ax_r.set_ylabel("$w_a$ (target)")
        ax_r.set_title(r"(c) no predictor ($w_p = 1$): only the origin")

        for ax in axes[0]:
            ax.set_aspect("equal", adjustable="box")
        from matplotlib.lines import Line2D

        handles = style.stability_legend_handles(include_semi=True) + [
            Line2D([], [], color=HYPERBOLA, lw=2.0, ls="--",
                   label=r"(a) line of fixed points: hyperbola $w_p w = w_a\lambda_d/\lambda_s$"),
            Line2D([], [], color=style.SWEEP[3], lw=1.8,
                   label=r"nullcline $\dot w_a = 0$ ($w_a = w$)"),
            Line2D([], [], color=style.SWEEP[5], lw=1.8, ls="--",
                   label=r"nullcline $\dot w = 0$ ((b) $w^2 = w_a\lambda_d/\lambda_s$, "
                         r"(c) $w_a = w\lambda_s/\lambda_d$)"),
            Line2D([], [], color=TRAJ, lw=0.9, marker="o", ms=2.5,
                   label="simulated 3-D trajectories (Eqs. 104-106)"),
        ]
        fig.legend(handles=handles, loc="outside upper center", ncols=4, fontsize=7)
        style.settings_note(
            fig, rf"Eqs. 104-106 with $\lambda_s={LAMBDA_S:g}$, $\lambda_d={LAMBDA_D:g}$, "
                 rf"$\alpha_p={ALPHA_P:g}$, $\beta={BETA:g}$ (paper); (a) uses $\beta=10^{{-9}}$ "
                 rf"to freeze $w_a$; trajectories to $t={t_end:g}$ from a 3x3 grid of starts, "
                 rf"in (b) plus {len(NEG_W0) * len(NEG_WA0)} starts with $w<0$ (ours).")
        paths = style.save_figure(fig, out_dir, "directpred_fig10")
    return FigureResult("directpred_fig10", paths, numbers, caption=_caption(numbers),
                        settings={"lambda_s": LAMBDA_S, "lambda_d": LAMBDA_D,
                                  "alpha_p": ALPHA_P, "beta": BETA, "wa_fixed": WA_FIXED,
                                  "beta_panel_a": 1e-9, "t_end": t_end,
                                  "starts": "3 x 3 grid per panel; (b) also w0 in "
                                            f"{list(NEG_W0)} x wa0 in {list(NEG_WA0)}"})


def _caption(n: dict) -> str:
    r = n["lambda_d_over_lambda_s"]
    return (f"With a predictor the scalar model keeps a stable non-collapsed point "
            f"w = wa = lambda_d/lambda_s = {r:g} (b, filled blue), which the "
            f"{n['tied_pos_n_starts']:.0f} starts with w > 0 reach to within "
            f"{n['tied_sim_final_max_dev']:.1e} by t = {n['t_end']:g}; "
            f"without a predictor (c) the origin is the only fixed point and it is "
            f"{n['nopred_fp0_kind']}. In (b) the origin is semi-stable (half-filled): w = 0 is "
            f"invariant and the {n['tied_neg_n_starts']:.0f} starts with w < 0 creep into it "
            f"along wa = w, only algebraically (distance <= {n['tied_neg_final_dist_max']:.3f} "
            f"at t = {n['t_end']:g}, w never above {n['tied_neg_w_max']:.3f}). In (a), at "
            f"fixed wa, the fixed points form the hyperbola wp w = wa lambda_d/lambda_s "
            f"(dashed), on which every trajectory ends (|wp w - {r:g}| <= "
            f"{n['left_final_wp_w_max_dev']:.0e}), and the origin is a "
            f"{n['left_origin_kind']} (vermilion diamond).")


def _probe_tied(z: np.ndarray, eps: float = 1e-2, t_end: float = 30.0) -> str:
    """Stability of a non-hyperbolic point of the tied flow from short simulations started at
    distance ``eps`` in 8 directions: "stable" if all return, "unstable" if all leave,
    "semi-stable" if some do each."""
    ang = np.linspace(0, 2 * np.pi, 8, endpoint=False)
    w0 = z[0] + eps * np.cos(ang)
    wa0 = z[1] + eps * np.sin(ang)
    tr = simulate_scalar(w0, w0, wa0, **_kw(), t_end=t_end, n_save=2)
    dist = np.hypot(tr.w[-1] - z[0], tr.wa[-1] - z[1])
    back = dist < eps / 2
    if back.all():
        return "stable"
    if not back.any():
        return "unstable"
    return "semi-stable"

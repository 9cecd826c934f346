"""Closed-form linear predictors of the DirectPred family, as pure functions (written once for
the theory simulations and for training).

Notation (Tian, Chen & Ganguli, ICML 2021, arXiv 2102.06810, Sec. 4): f = predictor input
(online projector output), F = E[f f^T] its **uncentred** correlation (Eq. 19),
F = U diag(s_j) U^T, and the predictor Wp = U diag(p_j) U^T is *set* from the spectrum instead of
being learned. An "eigenvalue rule" maps s (any order, any scale) to p elementwise (up to a
global normalisation by s_max or ||F||_F).

Rules and their sources (see each docstring for the exact formula and form):

- :func:`directpred_eigenvalues` DirectPred, Eq. 18 -- ``form="code"`` as the official
  luckmatters code computes it (``balance_type=boost_scale``, ``dyn_convert=2``; the default),
  ``form="paper"`` as printed.
- :func:`directset_eigenvalues` DirectSet(alpha) / DirectCopy (Wang, Chen, Du & Tian,
  arXiv 2110.04947), p ~ s^alpha with the normalisation and eps conventions of the public
  implementations reachable by arguments.
- :func:`threshold_eigenvalues` the Table 7 variant p_j = sqrt(max(s_j - c, 0)).
- :func:`ridge_predictor` Table 1's "optimal" (ridge) predictor, Wp F = sym(E[f_a f^T]).

Building blocks: :func:`predictor_from_spectrum` (U diag(p) U^T) and
:func:`predictor_from_correlation` (symmetrise F, ``torch.linalg.eigh`` in float64, apply a rule,
rebuild, cast back to F's dtype). Registry: :data:`PREDICTOR_RULES` / :func:`get_rule`.

Conventions: torch tensors in, torch tensors out, on the input's device (nothing here moves data
between devices); numpy arrays are accepted and give numpy back. Inputs are detached (these are
closed-form settings, not differentiable losses). Eigenvalue rules keep the dtype of ``s``
(half precision is computed in float32 and cast back). Weight layout: the predictor maps a column
vector f to Wp f, i.e. ``nn.Linear(d, d, bias=False).weight = Wp`` (row batches: z Wp^T); all
spectral predictors are symmetric, so the layout only matters for :func:`ridge_predictor`.
Bad input raises :class:`~dynamics.errors.ConfigError` naming the argument.

Module layout: the rules, the registry and :func:`predictor_from_correlation` are defined here;
:func:`predictor_from_spectrum`, :func:`sym_eigh64` and the input checks live in
:mod:`dynamics.predictors.spectral_linalg` (the public names re-exported here).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, NamedTuple

import torch

from dynamics.errors import ConfigError, SingularSystem, check_choice
from dynamics.predictors.spectral_linalg import (
    _out,
    _real,
    _safe_ratio,
    _square,
    _vector,
    _work,
    predictor_from_spectrum,  # noqa: F401 - re-exported
    sym_eigh64,
)

#: Floor applied to p_j by the official code after ``boost_scale`` (``clamp(1e-4)``).
DIRECTPRED_FLOOR = 1e-4

DIRECTPRED_FORMS = ("code", "paper")
NORMALIZATIONS = ("max", "none", "fro")
EPS_POSITIONS = ("inside", "outside")


# --------------------------------------------------------------------------------------------
# Eigenvalue rules


def directpred_eigenvalues(s: Any, eps: float = 0.1, form: str = "code") -> Any:
    """DirectPred predictor eigenvalues (Tian, Chen & Ganguli 2021, Sec. 4, Eq. 18).

    ``form="code"`` (default) -- what the official code runs (luckmatters
    ``ssl/real-dataset/byol_trainer.py``, ``compute_w_corr`` with ``balance_type=boost_scale``,
    ``dyn_convert=2``, ``dyn_eps_inside=false``, ``dyn_reg=null``)::

        p_j = max( sqrt(max(s_j, 0) / s_max) + eps , 1e-4 )

    ``form="paper"`` -- Eq. 18 as printed::

        p_j = sqrt(max(s_j, 0)) + eps * s_max

    s_max = max_j s_j. **Discrepancy**: the code form is proportional to
    sqrt(s_j) + eps * sqrt(s_max) (scale-free: F -> c F leaves p unchanged), the printed form
    mixes scales (sqrt(s_j) vs s_max); they coincide exactly when s_max = 1 (and eps >= 0).
    The paper's tables (Tables 6-8; the README maps ``dyn_eps`` to eps of Eq. 18) were produced by
    the code form. With the cosine (L2-normalised) loss of the real runs the overall scale of Wp
    is irrelevant; in the Euclidean linear model it is not (see
    :mod:`dynamics.predictors.linear_sim`).

    ``eps``: paper default 0.1 (Tables 6 and 8; the README command uses 0.01). The code form
    accepts any finite eps (the official code allows negative ``dyn_eps``; the 1e-4 floor keeps
    p positive); the paper form needs eps >= 0. Degenerate spectrum (s_max <= 0, i.e. F = 0):
    the code form returns max(eps, 1e-4) for every mode where the official code would divide by
    zero; the paper form returns sqrt(max(s_j, 0)) (eps * max(s_max, 0) = 0).
    """
    check_choice("form", form, DIRECTPRED_FORMS)
    eps = _real("eps", eps, low=0 if form == "paper" else None)
    t, was_numpy = _vector("s", s)
    w = _work(t)
    s_plus = w.clamp(min=0)
    s_max = w.max()
    if form == "code":
        p = (_safe_ratio(s_plus, s_max).sqrt() + eps).clamp(min=DIRECTPRED_FLOOR)
    else:
        p = s_plus.sqrt() + eps * s_max.clamp(min=0)
    return _out(p, t, was_numpy)


def directset_eigenvalues(s: Any, alpha: float = 0.5, eps: float = 0.0, normalize: str = "max",
                          eps_position: str = "inside") -> Any:
    """DirectSet(alpha) predictor eigenvalues, p ~ s^alpha (Wang, Chen, Du & Tian,
    arXiv 2110.04947): alpha = 1/2 is DirectPred, alpha = 1 is DirectCopy (Wp = F + eps I, no
    eigendecomposition needed in the paper's implementation). With s+ = max(s, 0) and::

        normalize="max":  b_j = s+_j / s_max            (s_max = max_j s_j)
        normalize="fro":  b_j = s+_j / ||F||_F           (||F||_F = sqrt(sum_j s_j^2))
        normalize="none": b_j = s+_j

        eps_position="inside":  p_j = max(b_j + eps, 0)^alpha
        eps_position="outside": p_j = b_j^alpha + eps

    (b_j = 0 for every j when the normaliser is <= 0.) The sources differ; each is reachable:

    - fmi-basel/implicit-var-reg (IsoLoss repo, ``solo/methods/directpred.py``,
      ``dp_normalize=True``): ``normalize="max", eps_position="inside"``, i.e.
      (s/s_max + eps)^alpha. Its DirectPred config uses alpha = 0.5, eps = 0; its README:
      "DirectCopy = DirectPred with dp_alpha=1, eps_iso=0.25". With ``dp_normalize=False`` it
      uses clamp(s, 0, 1e6)^alpha without eps = ``normalize="none", eps=0`` (no 1e6 cap here).
    - luckmatters ``predictor_reg=directcopy``: Wp = F + eps I, unnormalised =
      ``alpha=1, normalize="none"`` (eps position irrelevant at alpha = 1).
    - KTH reproduction (miszkur/SelfSupervisedLearning): F/||F|| + eps I, eps = 0.3 =
      ``alpha=1, normalize="fro"`` (the norm is read as Frobenius; not verified).
    - luckmatters DirectPred code form (:func:`directpred_eigenvalues`) =
      ``alpha=0.5, normalize="max", eps_position="outside"`` except for the 1e-4 floor;
      luckmatters ``dyn_eps_inside=true`` = ``eps_position="inside"`` with a 1e-4 floor.

    **Defaults follow the IsoLoss repo** (the only public implementation with alpha as a
    parameter): alpha = 0.5, eps = 0, normalize="max", eps_position="inside". Negative
    eigenvalues (round-off; F is PSD) are clamped to 0 in every convention (the unnormalised
    F + eps I of luckmatters/KTH would keep them; the difference is at round-off level).
    ``alpha`` > 0; ``eps`` any finite number (inside, a negative eps acts as a threshold).
    """
    alpha = _real("alpha", alpha, low=0, low_open=True)
    eps = _real("eps", eps)
    check_choice("normalize", normalize, NORMALIZATIONS)
    check_choice("eps_position", eps_position, EPS_POSITIONS)
    t, was_numpy = _vector("s", s)
    w = _work(t)
    s_plus = w.clamp(min=0)
    if normalize == "max":
        b = _safe_ratio(s_plus, w.max())
    elif normalize == "fro":
        b = _safe_ratio(s_plus, torch.linalg.vector_norm(w))
    else:
        b = s_plus
    if eps_position == "inside":
        p = (b + eps).clamp(min=0) ** alpha
    else:
        p = b ** alpha + eps
    return _out(p, t, was_numpy)


def threshold_eigenvalues(s: Any, c: float = 0.0, form: str = "paper") -> Any:
    """Thresholded DirectPred eigenvalues (Tian, Chen & Ganguli 2021, Table 7; eps = 0).

    ``form="paper"`` (default), as printed::

        p_j = sqrt(max(s_j - c, 0))

    c > 0 zeroes the modes below c (Table 7: hurts badly at freq = 1), c < 0 boosts all modes.

    ``form="code"`` -- **inferred, not verified** against the runs behind Table 7: the official
    ``boost_scale`` with ``dyn_eps_inside=true`` and ``dyn_eps = -c`` (the code comments that
    ``dyn_eps`` "is allowed to be negative")::

        p_j = sqrt(max(max(s_j, 0) / s_max - c, 1e-4))

    i.e. the threshold is relative to s_max, with the official 1e-4 floor.
    """
    c = _real("c", c)
    check_choice("form", form, DIRECTPRED_FORMS)
    t, was_numpy = _vector("s", s)
    w = _work(t)
    if form == "paper":
        p = (w - c).clamp(min=0).sqrt()
    else:
        p = (_safe_ratio(w.clamp(min=0), w.max()) - c).clamp(min=DIRECTPRED_FLOOR).sqrt()
    return _out(p, t, was_numpy)


# --------------------------------------------------------------------------------------------
# Table 1's ridge predictor


#: Default ridge term of :func:`ridge_predictor` (and of the training kind ``ridge``). With
#: ridge = 0 BYOL on CIFAR-10 (cpu tier, ``experiments/train/cpu_cifar10_byol_linear.yaml``
#: with ``predictor.kind=ridge``) stops at step 44: F's largest eigenvalue grows to ~1e8 while a
#: collapsed mode sits near 1e-6, so F + 0 I is numerically singular. 0.01 (the scale of the
#: official README's dyn_eps) keeps the system well posed for the whole run; the paper does not
#: state its value.
RIDGE_DEFAULT = 0.01


def ridge_predictor(F: Any, cross: Any, ridge: float = RIDGE_DEFAULT) -> Any:
    """Table 1's "optimal" predictor (Tian, Chen & Ganguli 2021, Sec. 3 / Table 1), solving

        Wp E[f f^T] = 1/2 (E[f_a f^T] + E[f f_a^T]),   i.e.  Wp = sym(C) (F+ + ridge I)^{-1},

    with F = E[f f^T] (online), ``cross`` C = E[f_a f^T] (target output f_a of the *other* view
    times the online output f; :class:`~dynamics.predictors.estimators.CrossCorrelationEstimator`),
    sym(C) = (C + C^T)/2, and F+ = F with negative eigenvalues clamped to 0 (as the official
    ``solve`` does: ``(clamp(D, 0) + dyn_reg)^-1``). It is the least-squares predictor of
    min E||Wp f - f_a||^2 (normal equation Wp F = C) with the right-hand side symmetrised as
    printed. Layout: Wp f predicts f_a, so ``nn.Linear.weight = Wp`` (Wp is not symmetric).

    ``ridge`` >= 0 (default :data:`RIDGE_DEFAULT`; 0 is the exact normal equation); a
    (near-)singular F+ + ridge I (smallest eigenvalue <= d * 2.2e-16 * max(s_max, ridge))
    raises :class:`~dynamics.errors.SingularSystem` (a ConfigError) asking for ridge > 0.
    Computed in float64; returned in F's dtype on F's device.

    Official-code differences (luckmatters ``predictor_reg=solve``, the version compared with this
    module): the default ``solve_direction="left"`` gives F^{-1} C (the transpose convention), C
    is not symmetrised, and the inverse is written ``Q @ v.pow(-1) @ Q.t()`` with v a vector,
    which evaluates to a *vector* that ``weight.copy_`` broadcasts into a rank-1 weight (every
    row equal). Whether that version produced Table 1 is not known.
    """
    ridge = _real("ridge", ridge, low=0)
    Ft, was_numpy = _square("F", F)
    Ct, _ = _square("cross", cross, Ft.shape[0])
    s, u = sym_eigh64(Ft)
    den = s.clamp(min=0) + ridge
    d = Ft.shape[0]
    tol = d * torch.finfo(torch.float64).eps * max(float(s[0]), ridge, 1e-300)
    smallest = float(den.min())
    if smallest <= tol:
        raise SingularSystem("ridge", f"F + ridge I is singular (smallest eigenvalue "
                                      f"{smallest:.3g} <= {tol:.3g})", "pass ridge > 0")
    c64 = Ct.to(device=u.device, dtype=torch.float64)
    sym_c = (c64 + c64.T) / 2
    wp = sym_c @ ((u / den) @ u.T)
    wp = wp.to(Ft.dtype)
    return wp.cpu().numpy() if was_numpy else wp


# --------------------------------------------------------------------------------------------
# Registry


#: (rule, keywords) settings already run once by :meth:`PredictorRule.validate`.
_VALIDATED: set[tuple[str, tuple[tuple[str, str, str], ...]]] = set()


@dataclass(frozen=True)
class PredictorRule:
    """A named predictor rule: ``fn`` with its tunable keyword ``defaults`` and the keywords the
    rule pins (``fixed``). Spectral rules (``needs_cross=False``) map eigenvalues to predictor
    eigenvalues, ``rule(s, **kw) -> p``; the ridge rule maps ``(F, cross, **kw) -> Wp``."""

    name: str
    fn: Callable[..., Any]
    defaults: Mapping[str, Any]
    fixed: Mapping[str, Any] = field(default_factory=dict)
    needs_cross: bool = False
    source: str = ""

    @property
    def spectral(self) -> bool:
        """True for eigenvalue rules s -> p (everything but the ridge rule)."""
        return not self.needs_cross

    def resolve(self, kwargs: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The tunable keywords with ``kwargs`` applied over the defaults (ConfigError on an
        unknown or pinned keyword). Values are checked when the rule runs (:meth:`validate`)."""
        kwargs = dict(kwargs or {})
        bad = [k for k in kwargs if k not in self.defaults]
        if bad:
            allowed = ", ".join(self.defaults) or "none"
            pinned = [k for k in bad if k in self.fixed]
            why = (f" ({', '.join(pinned)} is fixed by this rule)" if pinned else "")
            raise ConfigError("rule_kwargs", f"rule {self.name!r} accepts {allowed}; got "
                                             f"{', '.join(map(repr, bad))}{why}")
        return {**self.defaults, **kwargs}

    def validate(self, kwargs: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Resolve ``kwargs`` and run the rule once on a tiny input, so that bad values raise
        ConfigError before any work. Returns the resolved keywords. A setting is checked once
        per process: the config check and the predictor built from it share the result."""
        kw = self.resolve(kwargs)
        key = (self.name, tuple(sorted((k, type(v).__name__, repr(v)) for k, v in kw.items())))
        if key in _VALIDATED:
            return kw
        if self.spectral:
            self(torch.tensor([1.0, 0.25], dtype=torch.float64), **kw)
        else:
            self(torch.eye(1, dtype=torch.float64), torch.eye(1, dtype=torch.float64), **kw)
        _VALIDATED.add(key)
        return kw

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Run the rule with its pinned and resolved keywords."""
        return self.fn(*args, **self.fixed, **self.resolve(kwargs))


def _rule(name, fn, defaults, fixed=None, needs_cross=False, source=""):
    return PredictorRule(name, fn, MappingProxyType(dict(defaults)),
                         MappingProxyType(dict(fixed or {})), needs_cross, source)


#: Registered rules by name (read-only). Defaults and their sources:
#:
#: - ``directpred``: code form, eps = 0.1 (official code; eps of Tables 6/8).
#: - ``directpred_paper``: Eq. 18 as printed, eps = 0.1.
#: - ``directcopy``: DirectSet(1), normalize="max", eps = 0.25 (IsoLoss repo README).
#: - ``directset``: alpha = 0.5, eps = 0, normalize="max", eps inside (IsoLoss repo config).
#: - ``threshold``: Table 7, c = 0 (paper form; c = 0 is plain sqrt(s)).
#: - ``ridge``: Table 1, ridge = 0 (needs the cross-correlation).
PREDICTOR_RULES: Mapping[str, PredictorRule] = MappingProxyType({
    r.name: r for r in (
        _rule("directpred", directpred_eigenvalues, {"eps": 0.1}, {"form": "code"},
              source="Tian et al. 2021 Eq. 18, official code form (boost_scale)"),
        _rule("directpred_paper", directpred_eigenvalues, {"eps": 0.1}, {"form": "paper"},
              source="Tian et al. 2021 Eq. 18 as printed"),
        _rule("directcopy", directset_eigenvalues, {"eps": 0.25, "normalize": "max"},
              {"alpha": 1.0}, source="Wang et al. 2021 DirectCopy; IsoLoss repo convention"),
        _rule("directset", directset_eigenvalues,
              {"alpha": 0.5, "eps": 0.0, "normalize": "max", "eps_position": "inside"},
              source="Wang et al. 2021 DirectSet(alpha); IsoLoss repo convention"),
        _rule("threshold", threshold_eigenvalues, {"c": 0.0, "form": "paper"},
              source="Tian et al. 2021 Table 7"),
        _rule("ridge", ridge_predictor, {"ridge": RIDGE_DEFAULT}, needs_cross=True,
              source="Tian et al. 2021 Table 1; ridge chosen here (see RIDGE_DEFAULT)"),
    )
})


def get_rule(name: Any) -> PredictorRule:
    """The registered rule ``name``; ConfigError listing the allowed names otherwise."""
    if isinstance(name, PredictorRule):
        return name
    check_choice("rule", name, PREDICTOR_RULES)
    return PREDICTOR_RULES[name]


class SpectralPredictor(NamedTuple):
    """Result of ``predictor_from_correlation(..., return_spectrum=True)``: the predictor and
    the spectrum it was built from (s descending, float64, on F's device; p in the same order;
    U the eigenvectors as columns)."""

    Wp: Any
    s: torch.Tensor
    p: torch.Tensor
    U: torch.Tensor


def predictor_from_correlation(F: Any, rule: Any = "directpred", *, cross: Any = None,
                               return_spectrum: bool = False, **kwargs: Any) -> Any:
    """Wp from a correlation matrix F (d x d): symmetrise, ``torch.linalg.eigh`` in float64 on
    F's device, apply the eigenvalue ``rule`` (a registered name, a :class:`PredictorRule`, or a
    callable ``rule(s, **kwargs) -> p``), rebuild U diag(p) U^T and cast back to F's dtype
    (numpy in, numpy out). ``kwargs`` override the rule's defaults (unknown keys: ConfigError).

    ``rule="ridge"`` needs ``cross`` (E[f_a f^T]) and dispatches to :func:`ridge_predictor`
    (not spectral: ``return_spectrum`` is refused). ``return_spectrum=True`` returns a
    :class:`SpectralPredictor` ``(Wp, s, p, U)`` with s descending (float64 torch tensors), for
    logging the spectrum as the official code does once per epoch.

    By construction the result commutes with F and shares its eigenvectors (DirectPred's point:
    Theorem 3's alignment is imposed instead of learned).
    """
    if isinstance(rule, (str, PredictorRule)):
        spec = get_rule(rule)
        if spec.needs_cross:
            if return_spectrum:
                raise ConfigError("return_spectrum", f"rule {spec.name!r} is not spectral; "
                                                     "use return_spectrum=False")
            if cross is None:
                raise ConfigError("cross", f"rule {spec.name!r} needs the cross-correlation "
                                           "E[f_a f^T]")
            return spec(F, cross, **kwargs)
        fn: Callable[..., Any] = spec
    elif callable(rule):
        fn = rule
    else:
        raise ConfigError("rule", f"must be one of {', '.join(PREDICTOR_RULES)} or a callable; "
                                  f"got {rule!r}")
    Ft, was_numpy = _square("F", F)
    s, u = sym_eigh64(Ft)
    p = torch.as_tensor(fn(s, **kwargs), dtype=torch.float64, device=s.device)
    if p.shape != s.shape:
        raise ConfigError("rule", f"must return one value per eigenvalue ({s.shape[0]}), got "
                                  f"shape {tuple(p.shape)}")
    wp = ((u * p) @ u.T).to(Ft.dtype)
    wp_out = wp.cpu().numpy() if was_numpy else wp
    if return_spectrum:
        return SpectralPredictor(wp_out, s, p, u)
    return wp_out

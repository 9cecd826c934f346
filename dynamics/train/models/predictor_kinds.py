"""The built-in predictor kinds of Tian, Chen & Ganguli (ICML 2021) and Wang et al. (2021), each
registered once with its options, defaults, sources and builder (see
:mod:`dynamics.train.models.predictor_registry`).

A closed-form kind's rule options are read from its rule in
:data:`dynamics.predictors.PREDICTOR_RULES` (names and defaults), so a training run uses by
default exactly the values the rule documents:

==============  ================================================  =============================
kind            predictor                                         options beyond rho, centered
==============  ================================================  =============================
none            Wp = I                                            -
linear          learned linear Wp                                 bias
mlp             learned Linear-BN-ReLU-Linear (BYOL, Table 3)     bias, hidden
symmetric       learned linear Wp, symmetrised (Table 3)          bias
symmetric_mlp   two-layer with tied weights (Table 3)             bias, hidden
directpred      Eq. 18 from F's eigenvalues                       bias, freq, form, eps
directcopy      Wp ~ F (DirectSet(1))                             bias, freq, eps, normalize
directset       p ~ s^alpha                                       bias, freq, alpha, eps, ...
ridge           least squares Wp F = C (Table 1)                  bias, freq, ridge
threshold       eigenvalues below c zeroed (Table 7)              bias, freq, c, form
==============  ================================================  =============================
"""

from __future__ import annotations

from typing import Any

from dynamics.train.models.predictor_registry import Param, get_kind, register_predictor
from dynamics.train.models.predictors import (
    ClosedFormPredictor,
    IdentityPredictor,
    LinearPredictor,
    MLPPredictor,
    Predictor,
    SymmetricMLPPredictor,
    SymmetricPredictor,
)

BIAS = {"bias": Param(bool, False, "bias of the predictor layer(s)", "official code default")}
HIDDEN = {"hidden": Param(int, 512, "hidden width of the two-layer (BN + ReLU) predictor",
                          "BYOL's predictor; Tian et al. 2021, Table 3")}
FREQ = {"freq": Param(int, 1, "rewrite the weight every freq steps (SGD in between)",
                      "Tian et al. 2021, Tables 6-8")}
FORM = {"form": Param(str, "code", "code: sqrt(s/s_max) + eps (what the official code runs); "
                                   "paper: Eq. 18 as printed",
                      "Tian et al. 2021 Eq. 18; official code boost_scale")}


def rule_params(rule: str) -> dict[str, Param]:
    """A rule's tunable keywords as options, with the rule's own defaults and source."""
    from dynamics.predictors import get_rule

    r = get_rule(rule)
    return {k: Param(type(v), v, f"keyword of the {rule} rule", r.source)
            for k, v in r.defaults.items()}


def build_none(p: Any, dim: int) -> Predictor:
    return IdentityPredictor(dim)


def build_linear(p: Any, dim: int) -> Predictor:
    return LinearPredictor(dim, bias=p.bias)


def build_mlp(p: Any, dim: int) -> Predictor:
    return MLPPredictor(dim, hidden=p.hidden, bias=p.bias)


def build_symmetric(p: Any, dim: int) -> Predictor:
    return SymmetricPredictor(dim, bias=p.bias)


def build_symmetric_mlp(p: Any, dim: int) -> Predictor:
    return SymmetricMLPPredictor(dim, hidden=p.hidden, bias=p.bias)


def build_closed_form(p: Any, dim: int) -> Predictor:
    """A linear predictor whose weight is set from the running F by the kind's rule."""
    spec = get_kind(p.kind)
    return ClosedFormPredictor(dim, p.kind, spec.rule_name(p), spec.rule_kwargs(p), rho=p.rho,
                               freq=p.freq, centered=p.centered, bias=p.bias)


register_predictor("none", "no predictor (Wp = I)", {}, build_none, update_rule="identity")
register_predictor("linear", "learned linear Wp (SGD)", BIAS, build_linear)
register_predictor("mlp", "learned two-layer BN+ReLU predictor", {**BIAS, **HIDDEN}, build_mlp,
                   source="BYOL; Table 3")
register_predictor("symmetric", "learned linear Wp kept symmetric", BIAS, build_symmetric,
                   source="Table 3", update_rule="symmetric")
register_predictor("symmetric_mlp", "two-layer predictor with tied weights",
                   {**BIAS, **HIDDEN}, build_symmetric_mlp, source="Table 3",
                   update_rule="symmetric")
register_predictor("directpred", "Wp set from F's eigenvalues (Eq. 18)",
                   {**BIAS, **FREQ, **FORM, **rule_params("directpred")}, build_closed_form,
                   rule="directpred", source="Tian et al. 2021, Sec. 4")
register_predictor("directcopy", "Wp ~ F (DirectSet(1))",
                   {**BIAS, **FREQ, **rule_params("directcopy")}, build_closed_form,
                   rule="directcopy", source="Wang et al. 2021")
register_predictor("directset", "p ~ s^alpha (DirectSet(alpha))",
                   {**BIAS, **FREQ, **rule_params("directset")}, build_closed_form,
                   rule="directset", source="Wang et al. 2021")
register_predictor("ridge", "least-squares predictor of Table 1",
                   {**BIAS, **FREQ, **rule_params("ridge")}, build_closed_form, rule="ridge",
                   source="Tian et al. 2021, Table 1")
register_predictor("threshold", "DirectPred with eigenvalues below c zeroed (Table 7)",
                   {**BIAS, **FREQ, **rule_params("threshold")}, build_closed_form,
                   rule="threshold", source="Tian et al. 2021, Table 7")

__all__ = ["BIAS", "FORM", "FREQ", "HIDDEN", "build_closed_form", "rule_params"]

"""The configuration of the matrix flow of the two-layer linear BYOL/SimSiam model (Tian, Chen &
Ganguli, ICML 2021, Lemma 1 and Theorem 2): the hyper-parameters alpha_p, beta, eta and the
switches (predictor update rule, target, stop-gradient), shared by the flow
(:mod:`~dynamics.theories.directpred.matrix_flow`), its SGD counterpart and the trajectory
(:mod:`~dynamics.theories.directpred.matrix_trajectory`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from dynamics.errors import ConfigError, check_choice
from dynamics.predictors.update_rules import UPDATE_RULES
from dynamics.theories.directpred.parameters import check_parameters

TARGETS = ("ema", "simsiam")


@dataclass(frozen=True)
class MatrixFlowConfig:
    """Hyper-parameters and switches of the matrix flow.

    alpha_p: relative predictor learning rate (> 0). beta: EMA rate (> 0; only for target="ema").
    eta: weight decay (>= 0). predictor: an update rule of
    :data:`~dynamics.predictors.update_rules.UPDATE_RULES` -- "learned" (Eq. 2), "identity"
    (no predictor, Wp = I fixed), "symmetric" (A3: Wp symmetric, flow symmetrised) or, for the
    SGD simulation only, "spectral" (Wp set from F, Eq. 18). target: "ema" (Eq. 4) or
    "simsiam" (Wa = W). stop_grad: False gives the flow of Theorem 2 (requires target="simsiam").
    """

    alpha_p: float = 1.0
    beta: float = 1.0
    eta: float = 0.0
    predictor: str = "learned"
    target: str = "ema"
    stop_grad: bool = True

    def __post_init__(self):
        check_parameters(alpha_p=self.alpha_p, beta=self.beta, eta=self.eta)
        check_choice("predictor", self.predictor, tuple(UPDATE_RULES))
        check_choice("target", self.target, TARGETS)
        if not isinstance(self.stop_grad, bool):
            raise ConfigError("stop_grad", f"must be true or false, got {self.stop_grad!r}")
        if not self.stop_grad and self.target != "simsiam":
            raise ConfigError(
                "stop_grad",
                "false requires target=simsiam (gradient through the target needs Wa = W)",
            )

    def to_dict(self) -> dict[str, Any]:
        """The settings as a plain dict."""
        return asdict(self)

"""The linear bridge (beyond the papers): the training engine's BYOL on the theory's own setting
(bias-free linear encoder, the data model of :mod:`dynamics.numerics.data_models`) against the
mode ODE of :mod:`dynamics.theories.directpred`. ``predictions`` (``bridge.linear_byol_vs_ode``)
and ``figures`` (``bridge_linear``).
"""

from dynamics.verify.papers import Paper

PAPER = Paper("bridge", "ssl-dynamics",
              "Beyond the papers: bridges between the theory and the training engine",
              "", None, "")

__all__ = ["PAPER"]

"""Deep linear self-distillation, JEPA against MAE (Littwin, Saremi, Advani, Thilak, Nakkiran, Huang
& Susskind, NeurIPS 2024). ``model`` (per-layer ODEs, critical times, deep linear SGD),
``images`` (real view pairs and their feature statistics), ``symbolic``, ``predictions``,
``figures`` (``deep_jepa_critical_times``).
"""

from dynamics.verify.papers import Paper

PAPER = Paper("deep_jepa", "Littwin, Saremi, Advani, Thilak, Nakkiran, Huang & Susskind",
              "How JEPA avoids noisy features: the implicit bias of deep linear self-distillation "
              "networks",
              "NeurIPS 2024", 2024, "2407.03475")

__all__ = ["PAPER"]

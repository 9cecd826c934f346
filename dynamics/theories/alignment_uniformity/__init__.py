"""Alignment and uniformity of contrastive representations on the hypersphere (Wang & Isola, ICML
2020). The metrics themselves are :mod:`dynamics.metrics.alignment_uniformity` and the loss
``align_uniform`` of :data:`dynamics.losses.LOSSES`; here: ``predictions`` (the reference value
of uniformity; alignment and uniformity of trained SimCLR encoders against accuracy) and
``figures`` (the scatter of trained encoders and the S^1 toy).
"""

from dynamics.verify.papers import Paper

PAPER = Paper("alignment_uniformity", "Wang & Isola",
              "Understanding contrastive representation learning through alignment and uniformity "
              "on the hypersphere",
              "ICML 2020", 2020, "2005.10242")

__all__ = ["PAPER"]

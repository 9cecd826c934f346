"""Dimensional collapse of linear InfoNCE (Jing, Vincent, LeCun & Tian, ICLR 2022). ``model`` (the
exact gradient identity, the large-batch closed form, the two-layer flow), ``toys`` (the
paper's two toy experiments), ``symbolic``, ``predictions``, ``figures``
(``dimensional_collapse_linear``).
"""

from dynamics.verify.papers import Paper

PAPER = Paper("dimensional_collapse", "Jing, Vincent, LeCun & Tian",
              "Understanding dimensional collapse in contrastive self-supervised learning",
              "ICLR 2022", 2022, "2110.09348")

__all__ = ["PAPER"]

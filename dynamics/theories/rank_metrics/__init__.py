"""Label-free rank metrics against the linear probe: RankMe (Garrido, Balestriero, Najman & LeCun,
ICML 2023), effective and stable rank, alpha-ReQ and LiDAR. The metrics themselves are
:mod:`dynamics.metrics.rank` and :mod:`dynamics.metrics.spectral`; here: ``predictions`` (RankMe
of Gaussian matrices; rank metrics ranking trained runs like the probe).
"""

from dynamics.verify.papers import Paper

PAPER = Paper("rank_metrics", "Garrido, Balestriero, Najman & LeCun",
              "RankMe: assessing the downstream performance of pretrained self-supervised "
              "representations by their rank",
              "ICML 2023", 2023, "2210.02885")

__all__ = ["PAPER"]

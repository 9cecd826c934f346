"""One package per paper: its model (the equations), its symbolic check, its registered
predictions and its figures, and its ``PAPER`` (the citation, written once).

============================ ==================================================================
package                      paper
============================ ==================================================================
``directpred``               Tian, Chen & Ganguli, ICML 2021 (linear non-contrastive SSL)
``dual_networks``            Tian, Yu, Chen & Ganguli 2020 (covariance operator, HLTM)
``alignment_uniformity``     Wang & Isola, ICML 2020
``dcl``                      Yeh et al., ECCV 2022 (decoupled contrastive learning)
``rank_metrics``             Garrido et al., ICML 2023 (RankMe) and other rank metrics
``feature_threshold``        Wang, Chen, Du & Tian 2021 (weight decay as a threshold)
``dimensional_collapse``     Jing, Vincent, LeCun & Tian, ICLR 2022
``stepwise``                 Simon et al., ICML 2023 (stepwise learning)
``isoloss``                  Halvagal, Laborieux & Zenke, NeurIPS 2023
``deep_jepa``                Littwin et al., NeurIPS 2024 (deep linear JEPA against MAE)
``bridge``                   the training engine on the theory's own setting
============================ ==================================================================

The package name is the theory's one name: the prefix of its prediction ids and figure names
and its key in :data:`dynamics.verify.papers.PAPERS`. Nothing outside a theory's folder lists
it (see :mod:`dynamics.verify.papers`). A theory may import another theory's model, never its
predictions or figures (``tests/test_architecture.py``).
"""

"""The figures of Tian, Yu, Chen & Ganguli (2020): the HLTM correlations
(:mod:`.hltm`, ``dual_networks_hltm``) and the covariance operator's spectrum of a trained
network (:mod:`.covop_spectrum`, ``dual_networks_covop_spectrum``); :mod:`.hltm_grid` draws the
grid figure and table of ``ssl-dynamics hltm``.
"""

"""The figures of Tian, Chen & Ganguli (ICML 2021): Figs. 2-10 (``directpred_fig2`` ...
``directpred_fig10``; the command line also takes ``fig3`` or ``3``) and two phase diagrams of
collapse beyond the paper; one module per figure, each registering itself with
:func:`dynamics.plots.base.figure`. :mod:`.diagrams` draws the phase-diagram data of
``simulate phase``.
"""

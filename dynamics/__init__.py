"""ssl-dynamics: theory, simulation and measurement of self-supervised learning dynamics.

Sub-packages
------------
``dynamics.theories.directpred``
    The linear-network model of non-contrastive SSL (Tian, Chen & Ganguli, ICML 2021):
    matrix gradient flow (Lemma 1), reduced flows, decoupled eigenmode ODEs and their closed
    forms, discrete SGD of the same model, symbolic derivations, phase portraits/diagrams and
    the non-isotropic analysis of Appendix D.
``dynamics.plots``
    The paper figures, each a function that consumes simulation results.
"""

__version__ = "0.1.0"

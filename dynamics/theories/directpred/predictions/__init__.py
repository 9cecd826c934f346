"""The registered predictions of Tian, Chen & Ganguli (ICML 2021) (``directpred.*``):
simulation predictions 1-12 (:mod:`.simulation`, :mod:`.flows`, :mod:`.modes`, :mod:`.phase`,
:mod:`.validity`, with the SGD and integrator checks) and the real-network predictions 13-22
(:mod:`.training`, :mod:`.ablations`).
"""

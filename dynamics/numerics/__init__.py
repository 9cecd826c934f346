"""Numerical machinery shared by every theory, with no theory in it: the batched adaptive
Dormand-Prince integrator (:mod:`.integrate`, its step in :mod:`.dopri5`), linear stability of
fixed points (:mod:`.stability`), the one fixed-point type (:mod:`.fixed_point`), sympy helpers
(:mod:`.symbolic`) and data/augmentation models with exact second moments
(:mod:`.data_models`).
"""

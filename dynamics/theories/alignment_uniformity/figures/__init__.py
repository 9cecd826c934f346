"""The figures of Wang & Isola (ICML 2020): alignment against uniformity of trained encoders
(:mod:`.scatter`, ``alignment_uniformity_scatter``) and features on S^1 (:mod:`.circle`,
``alignment_uniformity_circle``).
"""

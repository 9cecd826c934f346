"""Work that spans the library: the one-command reproduction (:mod:`.reproduce`: every
prediction of a verify tier, every figure, one summary), the paper tables as data and their
sweeps over seeds, locally or on SLURM (:mod:`.sweeps`), and a paper table rebuilt from finished
runs beside the published numbers (:mod:`.paper_tables`).
"""

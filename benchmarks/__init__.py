"""Benchmarks of the fast paths against the standard alternative (``python -m benchmarks``)."""

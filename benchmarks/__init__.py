"""Benchmarks: our speed side by side with what users would otherwise write.

Scripts, not tests. Run them from the repository root as modules, e.g.
``python -m benchmarks.overhead``; see ``benchmarks/LOG.md``.
"""

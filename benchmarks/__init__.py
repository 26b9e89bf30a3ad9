"""Benchmarks and reproduction runs of dcl; run them as ``python -m benchmarks.<tool>``.

``throughput`` times synthesis steps against an authors'-style reference (``reference``),
``reproduce`` runs a published setting end to end and ``summary`` renders ``results/README.md``.
"""

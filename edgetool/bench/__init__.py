"""Benchmarks of bundles: cold start, latency, throughput, memory (measure.py) and their plots (plot.py)."""

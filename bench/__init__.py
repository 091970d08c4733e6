"""Benchmark scripts (`make bench`). Not tests: they measure and print; results go to docs/benchmarks.md."""

"""Benchmarks: `make bench` runs them; results go to bench/results/ and docs/benchmarks.md."""

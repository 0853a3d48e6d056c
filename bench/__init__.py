"""Benchmarks, run by hand (`make bench`) or in CI's smoke mode (`make bench-smoke`)."""

"""Benchmarks, and the simulated caller and test speech they share with the tests and the demo."""

"""Benchmarks: `python -m bench.<name>`; each module has a `run(...) -> dict`."""

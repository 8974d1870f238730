"""Benchmarks: scripts that print their figures (see each module's docstring for its command)."""

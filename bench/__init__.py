"""Benchmarks: scripts that print figures (run them directly; nothing here is asserted)."""

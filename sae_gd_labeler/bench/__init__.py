"""Benchmarks behind `sae-gd-labeler bench` (speed) and `sae-gd-labeler bench-quality` (label quality)."""

"""Evaluation: benchmarks, model judges, the human arena and ratings (issue 10)."""

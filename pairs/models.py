"""Corpus texts, instruction pairs and preference pairs arrive here with the corpus issues."""

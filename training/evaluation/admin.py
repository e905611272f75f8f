"""Placeholder: Django admin of evaluation (being written)."""

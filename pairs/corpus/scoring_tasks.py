"""Celery tasks of the corpus (filled in by the corpus work)."""

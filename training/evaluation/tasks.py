"""Placeholder: the evaluation's Celery tasks (being written)."""

__all__: list[str] = []

"""Celery tasks of review (the ``default`` queue)."""

from __future__ import annotations

from celery import shared_task

__all__ = ["fill_queue"]


@shared_task(name="review.fill")
def fill_queue(queue_id: int) -> int:
    """Put the pairs matching a queue's filters in it (a large queue is filled here rather
    than in the web request). Running it twice adds nothing the second time."""
    from pairs.models import ReviewQueue

    from .services import review_queue_fill

    queue = ReviewQueue.objects.filter(pk=queue_id).first()
    if queue is None:
        return 0
    return review_queue_fill(queue=queue)

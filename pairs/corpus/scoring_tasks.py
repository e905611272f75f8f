"""Celery tasks of corpus scoring (``llm`` queue)."""

from celery import shared_task

from weaver_site.models import Job


@shared_task(name="llm.corpus_score", acks_late=True, reject_on_worker_lost=True)
def run_scoring(job_id: int) -> None:
    from .scoring import corpus_scoring_run

    job = Job.objects.filter(pk=job_id).first()
    if job is not None:
        corpus_scoring_run(job=job)

"""Thin Celery tasks of the gateway: take ids, load, call one service."""

from celery import shared_task

from weaver_site.models import Job


@shared_task(name="llm.run_batch", acks_late=True, reject_on_worker_lost=True)
def run_batch(job_id: int, shard: int = 0, shards: int = 1) -> None:
    from .services import batch_job_run

    job = Job.objects.filter(pk=job_id).first()
    if job is not None:
        batch_job_run(job=job, shard=shard, shards=shards)

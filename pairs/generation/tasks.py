"""Celery tasks of instruction-pair generation (``llm`` queue): take ids, call one service."""

from celery import shared_task

from weaver_site.models import Job


@shared_task(name="llm.pairs_backtranslate", bind=True, acks_late=True, reject_on_worker_lost=True)
def run_backtranslation(self, job_id: int) -> None:
    from .backtranslation import backtranslation_run

    job = Job.objects.filter(pk=job_id).first()
    if job is not None:
        backtranslation_run(job=job, worker=self.request.hostname or "")


@shared_task(name="llm.pairs_curate", bind=True, acks_late=True, reject_on_worker_lost=True)
def run_curation(self, job_id: int) -> None:
    from .curation import curation_run

    job = Job.objects.filter(pk=job_id).first()
    if job is not None:
        curation_run(job=job, worker=self.request.hostname or "")


@shared_task(name="llm.pairs_negatives", bind=True, acks_late=True, reject_on_worker_lost=True)
def run_negatives(self, job_id: int) -> None:
    from .negatives import negatives_run

    job = Job.objects.filter(pk=job_id).first()
    if job is not None:
        negatives_run(job=job, worker=self.request.hostname or "")

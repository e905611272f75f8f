"""The evaluation's Celery tasks: take a job id, run the job, move the evaluation on.

``llm.eval_generate`` (``llm`` queue) answers the benchmark with a gateway endpoint;
``gpu.eval_generate`` (``gpu`` queue) with a checkpoint, loaded in that worker by the local
``transformers`` backend; ``llm.eval_judge`` grades and compares. Acknowledged late and given
back when the worker is lost: a job runs in one place at a time (its claim) and resumes after
its cursor, and :func:`evaluation_advance` is idempotent.
"""

from __future__ import annotations

from celery import shared_task

from weaver_site.models import Job

__all__ = ["eval_generate", "eval_generate_local", "eval_judge"]


def _run(job_id: int, worker: str, runner) -> None:
    from .services import evaluation_advance

    job = Job.objects.filter(pk=job_id).first()
    if job is None:
        return
    try:
        runner(job=job, worker=worker)
    finally:
        evaluation_id = (job.params or {}).get("evaluation_id")
        if evaluation_id:
            evaluation_advance(evaluation_id=evaluation_id)


@shared_task(name="llm.eval_generate", bind=True, acks_late=True, reject_on_worker_lost=True)
def eval_generate(self, job_id: int) -> None:
    from .generation import generation_run

    _run(job_id, self.request.hostname or "", generation_run)


@shared_task(name="gpu.eval_generate", bind=True, acks_late=True, reject_on_worker_lost=True)
def eval_generate_local(self, job_id: int) -> None:
    from weaver_site.llm.backends.local import release

    from .generation import generation_run
    from .models import Contestant

    try:
        _run(job_id, self.request.hostname or "", generation_run)
    finally:  # the checkpoint leaves the worker's memory: a training run may come next
        contestant_id = (
            Job.objects.filter(pk=job_id).values_list("params", flat=True).first() or {}
        ).get("contestant_id")
        endpoint_id = (
            Contestant.objects.filter(pk=contestant_id)
            .values_list("endpoint_id", flat=True)
            .first()
        )
        if endpoint_id is not None:
            release(endpoint_id)


@shared_task(name="llm.eval_judge", bind=True, acks_late=True, reject_on_worker_lost=True)
def eval_judge(self, job_id: int) -> None:
    from .judging import judge_run

    _run(job_id, self.request.hostname or "", judge_run)

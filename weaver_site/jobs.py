"""The life of a resumable LLM job: claim, chunks, pause, resume, cancel, and recovery.

A job kind registers the Celery task that runs it (:func:`job_kind_register`). Its task calls
:func:`chunked_job_run` with a :class:`ChunkSource`, which hands out the work after the job's
``cursor`` a chunk at a time. Each chunk goes through the gateway; its outputs, the job's
counters and the new cursor are written in one transaction, in chunk order, so a lost worker
loses at most the chunks not stored yet (whose answers are in the gateway's cache: sending them
again costs nothing), and nothing is counted or written twice.

A worker claims a job by setting ``worker`` to its hostname. When a worker dies, its heartbeat
goes stale (or a new worker starts under the same name) and :func:`job_recover_orphans`, run
by every worker's heartbeat, puts the job back on its queue.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from django.db import connections, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from .models import Job, JobStatus

logger = logging.getLogger(__name__)

JOB_TASKS: dict[str, str] = {}  # job kind -> Celery task name (takes the job id)
ACTIVE = (JobStatus.QUEUED, JobStatus.RUNNING)


def job_kind_register(kind: str, task_name: str) -> None:
    """Say which Celery task runs jobs of ``kind`` (called from an app's ``ready``)."""
    JOB_TASKS[kind] = task_name


def _enqueue(job: Job) -> None:
    from celery import current_app

    task_name = JOB_TASKS[job.kind]
    transaction.on_commit(lambda: current_app.send_task(task_name, args=[job.pk]))


def job_is_resumable(job: Job) -> bool:
    return job.kind in JOB_TASKS


def job_pause(*, job: Job) -> bool:
    """Stop a queued or running job after its chunks in flight. Returns whether it changed."""
    return bool(Job.objects.filter(pk=job.pk, status__in=ACTIVE).update(status=JobStatus.PAUSED))


def job_cancel(*, job: Job) -> bool:
    """Stop a job for good after its chunks in flight. Returns whether it changed."""
    return bool(
        Job.objects.filter(
            pk=job.pk, status__in=(*ACTIVE, JobStatus.PAUSED, JobStatus.STOPPED_BUDGET)
        ).update(status=JobStatus.CANCELLED, finished_at=timezone.now(), worker="")
    )


def job_resume(*, job: Job) -> bool:
    """Queue a paused, budget-stopped or failed job again; it continues after its cursor."""
    if not job_is_resumable(job):
        return False
    with transaction.atomic():
        changed = Job.objects.filter(
            pk=job.pk, status__in=(JobStatus.PAUSED, JobStatus.STOPPED_BUDGET, JobStatus.FAILED)
        ).update(status=JobStatus.QUEUED, worker="", error="", finished_at=None)
        if changed:
            _enqueue(job)
    return bool(changed)


def job_claim(*, job: Job, worker: str) -> bool:
    """Take a queued job (or one this worker name held before a restart) for ``worker``."""
    now = timezone.now()
    taken = Job.objects.filter(pk=job.pk, status=JobStatus.QUEUED).update(
        status=JobStatus.RUNNING, worker=worker
    ) or Job.objects.filter(pk=job.pk, status=JobStatus.RUNNING, worker__in=(worker, "")).update(
        worker=worker
    )
    if taken:
        Job.objects.filter(pk=job.pk, started_at__isnull=True).update(started_at=now)
    return bool(taken)


def job_recover_orphans(*, live_workers: set[str], restarted: str = "") -> list[int]:
    """Queue again the running jobs whose worker is gone: not among ``live_workers`` (fresh
    heartbeats), or ``restarted`` (a worker that just started under that name cannot be
    running anything yet). Returns the ids queued; safe when several workers run it at once."""
    recovered = []
    for job in Job.objects.filter(status=JobStatus.RUNNING, kind__in=list(JOB_TASKS)).only(
        "pk", "kind", "worker"
    ):
        if job.worker and job.worker in live_workers and job.worker != restarted:
            continue
        with transaction.atomic():
            if Job.objects.filter(pk=job.pk, status=JobStatus.RUNNING, worker=job.worker).update(
                status=JobStatus.QUEUED, worker=""
            ):
                logger.warning("job %s lost its worker %r; queued again", job.pk, job.worker)
                _enqueue(job)
                recovered.append(job.pk)
    return recovered


@dataclass
class Chunk:
    """The next piece of a job's work: requests to send, and what they belong to."""

    cursor: int  # the job's cursor once this chunk is stored
    requests: list = field(default_factory=list)  # LLMRequests; ``key`` ties back to items
    items: Any = None  # whatever the source needs to store the results
    already_done: int = 0  # items of this chunk finished by an earlier run or job


class ChunkSource(Protocol):
    """What a job kind gives :func:`chunked_job_run`. It may also define
    ``follow_one(job, chunk, result) -> requests``: requests to send in the same batch as
    soon as one answer is in (a second step); ``accept(job, chunk, result)``: work on each
    answer in the job's thread as it arrives; and ``follow_up(job, chunk, results) ->
    (endpoint, requests) | None``: a next round of the chunk, on any endpoint, once the
    batch is done."""

    def chunk(self, job: Job, after: int) -> Chunk | None:
        """The work after cursor ``after``; None when there is none left."""

    def store(self, job: Job, chunk: Chunk, results: list) -> tuple[int, int]:
        """Write the results (inside the caller's transaction); return (done, failed)."""


def _rounds(
    job: Job, chunk: Chunk, source: ChunkSource, endpoint, on_drained=None
) -> tuple[list, bool]:
    """Send the chunk's requests, then the follow-up rounds the source asks for (a second step
    that needs the first one's answer, a judge on another endpoint). Returns the answered
    results and whether the budget refused some."""
    from weaver_site.llm.gateway import batch
    from weaver_site.llm.models import CallStatus

    answered_all: list = []
    requests = chunk.requests
    follow_up = getattr(source, "follow_up", None)
    follow_one = getattr(source, "follow_one", None)
    follow = (lambda result: follow_one(job, chunk, result)) if follow_one else None
    accept = getattr(source, "accept", None)
    while requests:
        results, answered = [], []
        for result in batch(endpoint, requests, job=job, follow=follow, on_drained=on_drained):
            results.append(result)
            if result.status != CallStatus.BUDGET:
                answered.append(result)
                if accept is not None:
                    accept(job, chunk, result)
        answered_all += answered
        on_drained = None  # said once, by the first batch
        following = follow_up(job, chunk, answered) if follow_up else None
        if len(answered) < len(results):
            return answered_all, True
        if not following:
            break
        endpoint, requests = following
    return answered_all, False


def _in_thread(fn, *args):
    """Run ``fn`` in a helper thread, closing that thread's database connection after."""
    try:
        return fn(*args)
    finally:
        connections.close_all()


def _store(job: Job, chunk: Chunk, source: ChunkSource, results: list, refused: bool) -> None:
    """A chunk's outputs, and (unless the budget cut it short) the job's counters and cursor,
    in one transaction."""
    with transaction.atomic():
        done, failed = source.store(job, chunk, results)
        if not refused:
            Job.objects.filter(pk=job.pk).update(
                done=F("done") + done + chunk.already_done,
                failed=F("failed") + failed,
                cursor=chunk.cursor,
            )


def chunked_job_run(
    *, job: Job, worker: str, source: ChunkSource, endpoint_for: Callable[[Job], Any]
) -> None:
    """Run ``job`` chunk by chunk until done, paused, cancelled or stopped by its budget.

    A chunk's outputs, the job's counters and its cursor commit together, in chunk order: a
    lost worker redoes at most the chunks not stored yet, whose answers are in the gateway's
    cache. The endpoint's slots stay busy across chunks: the next chunk is prepared while one
    is answered and starts as soon as no request of the current one waits for a slot (its
    tail), and a finished chunk is stored while the next is answered.
    """
    if not job_claim(job=job, worker=worker):
        return
    try:
        endpoint = endpoint_for(job)
        cursor = Job.objects.values_list("cursor", flat=True).get(pk=job.pk)
        with (
            ThreadPoolExecutor(1, thread_name_prefix=f"job-{job.pk}-next") as fetcher,
            ThreadPoolExecutor(2, thread_name_prefix=f"job-{job.pk}-send") as senders,
            ThreadPoolExecutor(1, thread_name_prefix=f"job-{job.pk}-store") as storer,
        ):
            upcoming = fetcher.submit(_in_thread, source.chunk, job, cursor)
            in_flight: deque = deque()  # (chunk, future of its rounds, drained event)
            stored = None
            more, halted = True, False
            try:
                while True:
                    if more and (
                        not in_flight or (len(in_flight) < 2 and in_flight[-1][2].is_set())
                    ):
                        job.refresh_from_db(fields=["status", "worker"])
                        chunk = None
                        if job.status == JobStatus.RUNNING and job.worker == worker:
                            chunk = upcoming.result()
                        if chunk is None:
                            more = False  # done, or paused, cancelled, taken over
                        else:
                            upcoming = fetcher.submit(_in_thread, source.chunk, job, chunk.cursor)
                            drained = threading.Event()
                            rounds = senders.submit(
                                _in_thread, _rounds, job, chunk, source, endpoint, drained.set
                            )
                            in_flight.append((chunk, rounds, drained))
                            continue
                    if not in_flight:
                        break
                    first, rounds, _drained = in_flight[0]
                    newest = in_flight[-1][2]
                    while not rounds.done():
                        if more and len(in_flight) < 2 and newest.is_set():
                            break
                        newest.wait(0.02)
                    if not rounds.done():
                        continue  # start the next chunk in this one's tail
                    in_flight.popleft()
                    results, refused = rounds.result()
                    halted = halted or refused
                    if stored is not None:
                        stored.result()  # in order; raises what the store raised
                    stored = storer.submit(_in_thread, _store, job, first, source, results, halted)
                    if halted:
                        more = False  # the budget refused: the job resumes at this chunk
            finally:
                if stored is not None:
                    stored.result()
        job.refresh_from_db(fields=["status"])
        if job.status != JobStatus.RUNNING or halted:
            return
    except Exception as exc:
        logger.exception("job %s failed", job.pk)
        Job.objects.filter(pk=job.pk, status=JobStatus.RUNNING).update(
            status=JobStatus.FAILED,
            error=_("Stopped by an error: %(error)s") % {"error": str(exc)[:2000]},
            finished_at=timezone.now(),
            worker="",
        )
        return
    Job.objects.filter(pk=job.pk, status=JobStatus.RUNNING, worker=worker).update(
        status=JobStatus.DONE, finished_at=timezone.now(), worker=""
    )

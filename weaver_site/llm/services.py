"""Writes of the gateway: endpoints' keys, batch jobs, and running them."""

from __future__ import annotations

import time
from decimal import Decimal

from django.db import transaction
from django.db.models import Count, Q
from django.db.models.functions import Mod
from django.utils import timezone

from weaver_site.models import Job, JobStatus

from .gateway import LLMRequest, LLMResult, batch, complete
from .models import BatchItem, CallStatus, Endpoint, ItemStatus

BATCH_KIND = "llm.batch"


def endpoint_test_connection(*, endpoint: Endpoint) -> LLMResult:
    """Send one tiny request (never served from the cache) and return the result."""
    nonce = f"{time.time():.6f}"
    request = LLMRequest(
        messages=[
            {"role": "system", "content": f"Connection test {nonce}. Answer in a few words."},
            {"role": "user", "content": "Say hello."},
        ],
        params={"max_tokens": 16},
    )
    return complete(endpoint, request)


def batch_job_create(
    *,
    endpoint: Endpoint,
    requests: list[dict],
    created_by=None,
    name: str = "",
    budget_usd: Decimal | None = None,
    shards: int = 1,
) -> Job:
    """A job that sends ``requests`` (dicts with messages, params, schema, sample_index)
    through the gateway on the ``llm`` queue, split over ``shards`` tasks."""
    from .tasks import run_batch

    with transaction.atomic():
        job = Job.objects.create(
            kind=BATCH_KIND,
            name=name,
            created_by=created_by,
            budget_usd=budget_usd,
            total=len(requests),
        )
        BatchItem.objects.bulk_create(
            BatchItem(
                job=job,
                endpoint=endpoint,
                position=i,
                messages=r["messages"],
                params=r.get("params") or {},
                schema=r.get("schema"),
                sample_index=r.get("sample_index", 0),
            )
            for i, r in enumerate(requests)
        )
        for shard in range(shards):
            transaction.on_commit(
                lambda shard=shard: run_batch.delay(job.pk, shard=shard, shards=shards)
            )
    return job


def batch_job_run(*, job: Job, shard: int = 0, shards: int = 1) -> None:
    """Send the job's pending items (of this shard) and store each answer as it arrives.

    Safe to run twice: finished items are skipped and answers already paid for come from the
    cache.
    """
    if job.status in (JobStatus.CANCELLED, JobStatus.STOPPED_BUDGET, JobStatus.DONE):
        return
    Job.objects.filter(pk=job.pk, status=JobStatus.QUEUED).update(
        status=JobStatus.RUNNING, started_at=timezone.now()
    )
    items = list(
        BatchItem.objects.filter(job=job, status=ItemStatus.PENDING)
        .annotate(shard=Mod("position", shards))
        .filter(shard=shard)
        .select_related("endpoint")
        .order_by("position")
    )
    by_endpoint: dict[int, list[BatchItem]] = {}
    for item in items:
        by_endpoint.setdefault(item.endpoint_id, []).append(item)
    for group in by_endpoint.values():
        requests = [
            LLMRequest(
                messages=item.messages,
                params=item.params,
                schema=item.schema,
                sample_index=item.sample_index,
                key=item.pk,
            )
            for item in group
        ]
        for result in batch(group[0].endpoint, requests, job=job):
            _item_finish(item_id=result.request.key, result=result, job=job)
    _job_finish(job=job)


def _item_finish(*, item_id: int, result: LLMResult, job: Job) -> None:
    if result.status == CallStatus.BUDGET:
        return  # stays pending: a larger budget and a new run will send it
    ok = result.ok
    BatchItem.objects.filter(pk=item_id).update(
        status=ItemStatus.DONE if ok else ItemStatus.FAILED,
        call_id=result.call_id,
        text=result.text,
        data=result.data,
        error=result.error,
    )


def _job_finish(*, job: Job) -> None:
    counts = BatchItem.objects.filter(job=job).aggregate(
        done=Count("pk", filter=Q(status=ItemStatus.DONE)),
        failed=Count("pk", filter=Q(status=ItemStatus.FAILED)),
        pending=Count("pk", filter=Q(status=ItemStatus.PENDING)),
    )
    Job.objects.filter(pk=job.pk).update(done=counts["done"], failed=counts["failed"])
    if counts["pending"] == 0:
        Job.objects.filter(pk=job.pk, status=JobStatus.RUNNING).update(
            status=JobStatus.DONE, finished_at=timezone.now()
        )

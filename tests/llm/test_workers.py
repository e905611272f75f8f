"""The gateway in real Celery worker processes."""

import json
from pathlib import Path

import pytest
from django.conf import settings

from weaver_site.llm.models import BatchItem, CallStatus, ItemStatus, LLMCall
from weaver_site.llm.services import batch_job_create
from weaver_site.models import Job, JobStatus

from ..conftest import wait_for
from ..fakes.llm_server import Reply

SECRET = "sk-live-DO-NOT-LEAK-7f3a9c"


def requests(n):
    return [{"messages": [{"role": "user", "content": f"Write line {i}."}]} for i in range(n)]


@pytest.mark.worker
def test_two_worker_processes_share_the_concurrency_limit(
    make_endpoint, llm_server, celery_worker_process, reference_data
):
    endpoint = make_endpoint(max_concurrency=3)
    endpoint.set_api_key(SECRET)
    endpoint.save()
    llm_server.default = Reply("a line", latency=0.15)
    workers = [celery_worker_process(queues="llm", name=f"llm{i}") for i in range(2)]
    try:
        job = batch_job_create(endpoint=endpoint, requests=requests(40), shards=2)

        def finished():
            job.refresh_from_db()
            return job.status == JobStatus.DONE

        logs = "\n".join(w.log_path.read_text()[-2000:] for w in workers)
        wait_for(finished, timeout=120, interval=0.5, message=f"the batch job\n{logs}")
    finally:
        llm_server.default = Reply("ok")
    assert job.done == 40 and job.failed == 0 and job.calls == 40
    assert set(BatchItem.objects.filter(job=job).values_list("status", flat=True)) == {
        ItemStatus.DONE
    }
    # Both workers sent requests, and together they never passed the endpoint's limit.
    hosts = {r.headers.get("Authorization") for r in llm_server.chat_requests}
    assert hosts == {f"Bearer {SECRET}"}
    assert len(llm_server.chat_requests) == 40
    assert llm_server.peak_concurrency == 3
    shards_seen = {call.job_id for call in LLMCall.objects.filter(job=job, status=CallStatus.OK)}
    assert shards_seen == {job.pk}
    for worker in workers:
        log = worker.log_path.read_text()
        assert "llm.run_batch" in log, "each worker ran a shard"
        assert SECRET not in log


@pytest.mark.worker
def test_a_rerun_after_a_lost_worker_sends_nothing_twice(
    make_endpoint, llm_server, celery_worker_process, reference_data
):
    endpoint = make_endpoint(max_concurrency=2)
    job = batch_job_create(endpoint=endpoint, requests=requests(6))
    # No worker yet: run the first half by hand as if a worker had died after it.
    from weaver_site.llm.gateway import LLMRequest, batch

    first = BatchItem.objects.filter(job=job, position__lt=3)
    for result in batch(endpoint, [LLMRequest(messages=i.messages) for i in first]):
        assert result.ok
    assert len(llm_server.chat_requests) == 3
    celery_worker_process(queues="llm", name="llm-rerun")
    wait_for(lambda: Job.objects.get(pk=job.pk).status == JobStatus.DONE, timeout=90)
    assert len(llm_server.chat_requests) == 6  # the three answered before came from the cache
    assert Job.objects.get(pk=job.pk).cache_hits == 3


def queued_messages() -> list[str]:
    """The raw task messages waiting in the broker's llm queue."""
    if settings.REDIS_URL:
        import redis

        return [m.decode() for m in redis.Redis.from_url(settings.REDIS_URL).lrange("llm", 0, -1)]
    folder = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"])
    return [p.read_text() for p in folder.glob("*.msg")]


def test_task_messages_carry_ids_not_keys(make_endpoint, django_capture_on_commit_callbacks):
    endpoint = make_endpoint()
    endpoint.set_api_key(SECRET)
    endpoint.save()
    before = set(queued_messages())
    with django_capture_on_commit_callbacks(execute=True):
        job = batch_job_create(endpoint=endpoint, requests=requests(2))
    new = [m for m in queued_messages() if m not in before]
    assert len(new) == 1
    assert SECRET not in new[0] and "sk-" not in new[0]
    body = json.loads(new[0])
    assert "llm.run_batch" in json.dumps(body)
    # Clean up the queued message so no later worker picks it up.
    if settings.REDIS_URL:
        import redis

        redis.Redis.from_url(settings.REDIS_URL).lrem("llm", 0, new[0])
    else:
        for p in Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"]).glob("*.msg"):
            if p.read_text() == new[0]:
                p.unlink()
    assert job.pk

"""Backtranslation and curation jobs against the test LLM server (in-process and in real
Celery workers)."""

from __future__ import annotations

import hashlib
import os
import signal
from decimal import Decimal

import pytest
from django.db.models import Count, Sum

from pairs.generation import backtranslation, curation
from pairs.generation.recipes import recipe_for
from pairs.models import InstructionPair, PairMark, PairStatus, Selection
from principles.models import FewShotCase, FewShotCaseVersion, Subdomain, Task
from weaver_site.jobs import job_pause, job_recover_orphans, job_resume
from weaver_site.llm.models import CallStatus, Endpoint, LLMCall
from weaver_site.models import Job, JobStatus

from ..conftest import wait_for
from ..factories import make_instruction_pair, make_texts_with_spans
from ..fakes.llm_server import FakeLLMServer, Reply


def writer(body, latency=0.0):
    """The test server as a backtranslator (or curator): it answers the fields the request's
    JSON schema asks for; a span containing BROKEN gets prose instead of JSON."""
    prompt = "\n".join(m["content"] for m in body["messages"])
    if "BROKEN" in prompt:
        return Reply("I would rather not answer in JSON.", latency=latency)
    schema = body["response_format"]["json_schema"]["schema"]
    tag = hashlib.sha256(f"{prompt}{body.get('seed')}{len(body)}".encode()).hexdigest()[:10]
    answer = {}
    for name, spec in schema["properties"].items():
        if spec.get("type") == "integer":
            answer[name] = 5 if "GOOD" in prompt else 3
        else:
            answer[name] = f"{name} {tag}"
    return Reply.json(answer, latency=latency)


@pytest.fixture
def server():
    with FakeLLMServer(default=writer) as s:
        yield s


@pytest.fixture
def endpoint(transactional_db, server):
    return Endpoint.objects.create(
        name="writer",
        base_url=server.url,
        model="fake-model",
        max_concurrency=4,
        timeout_seconds=10,
        max_attempts=2,
        input_price_per_million=Decimal("1"),
        output_price_per_million=Decimal("2"),
    )


def tasks(*slugs):
    return list(Task.objects.filter(slug__in=slugs).order_by("position"))


def run_inline(job):
    backtranslation.backtranslation_run(job=Job.objects.get(pk=job.pk), worker="")
    job.refresh_from_db()
    return job


def test_a_job_makes_one_pair_per_span_task_and_sample(endpoint, reference_data, server):
    make_texts_with_spans(3, spans_per_text=2, selection="three")
    job = backtranslation.backtranslation_create(
        selection=Selection.objects.get(name="three"),
        tasks=tasks("content_writing", "summarizing"),
        endpoint=endpoint,
        samples=2,
    )
    assert job.total == 3 * 2 * 2 * 2
    run_inline(job)
    assert job.status == JobStatus.DONE and job.done == 24 and job.failed == 0
    pairs = InstructionPair.objects.filter(job=job)
    assert pairs.count() == 24
    writing = pairs.filter(task__slug="content_writing").select_related("span__text").first()
    assert writing.response == writing.span.content  # the span is the response
    assert writing.context == "" and writing.instruction.startswith("instruction ")
    summary = pairs.filter(task__slug="summarizing").select_related("span__text").first()
    assert summary.context == summary.span.content  # the span is the source
    assert summary.response.startswith("output ")
    for pair in pairs.select_related("span"):
        assert pair.recipe_version == recipe_for(pair.task.slug).version
        assert pair.endpoint_id == endpoint.pk and pair.model == "fake-model"
        assert pair.cost_usd > 0 and len(pair.request_hash) == 64 and pair.call_id
        assert pair.source_text_id == pair.span.text_id and pair.domain.slug == "fiction"
    # The two samples of one span x task are different requests (different answers).
    first = pairs.filter(span=writing.span, task=writing.task).values_list("instruction", flat=1)
    assert len(set(first)) == 2
    assert len(server.chat_requests) == 24
    # Running the same job again, or a new job over the same selection, adds nothing and
    # sends nothing.
    again = backtranslation.backtranslation_create(
        selection=Selection.objects.get(name="three"),
        tasks=tasks("content_writing", "summarizing"),
        endpoint=endpoint,
        samples=2,
    )
    run_inline(again)
    assert again.status == JobStatus.DONE and again.done == 24 and again.calls == 0
    assert InstructionPair.objects.count() == 24 and len(server.chat_requests) == 24


def test_an_answer_that_does_not_parse_fails_its_item_and_the_job_goes_on(
    endpoint, reference_data, server
):
    texts = make_texts_with_spans(4, selection="four")
    broken = texts[1].spans.get()
    texts[1].text = texts[1].text.replace("Paragraph", "BROKEN")
    texts[1].save()
    job = backtranslation.backtranslation_create(
        selection=Selection.objects.get(name="four"),
        tasks=tasks("outlining"),
        endpoint=endpoint,
    )
    run_inline(job)
    assert job.status == JobStatus.DONE and job.done == 3 and job.failed == 1
    failed = InstructionPair.objects.get(status=PairStatus.FAILED)
    assert failed.span_id == broken.pk and failed.job_id == job.pk
    assert failed.raw_text == "I would rather not answer in JSON."
    assert "not valid JSON" in failed.error
    # The call is in the ledger with the raw answer (after one repair attempt).
    call = LLMCall.objects.get(pk=failed.call_id)
    assert call.status == CallStatus.INVALID and call.raw_text == failed.raw_text
    # The job page lists the failure with its raw answer, escaped.
    from django.test import Client

    from ..factories import UserFactory

    c = Client()
    c.force_login(UserFactory(username="eng", roles=["Engineer"]))
    page = c.get(f"/corpus/jobs/{job.pk}/").content.decode()
    assert "I would rather not answer in JSON." in page and "not valid JSON" in page
    # Fixed source, new job: the failed pair is tried again in place, not duplicated.
    texts[1].text = texts[1].text.replace("BROKEN", "Paragraph")
    texts[1].save()
    retry = backtranslation.backtranslation_create(
        selection=Selection.objects.get(name="four"),
        tasks=tasks("outlining"),
        endpoint=endpoint,
    )
    run_inline(retry)
    assert retry.done == 4 and retry.failed == 0
    failed.refresh_from_db()
    assert failed.status == PairStatus.GENERATED and failed.raw_text == "" and failed.error == ""
    assert InstructionPair.objects.count() == 4


def test_few_shot_cases_of_the_subdomain_reach_the_prompt(endpoint, reference_data, server, author):
    make_texts_with_spans(1, selection="one", subdomain="short_story")
    sub = Subdomain.objects.get(domain__slug="fiction", slug="short_story")
    case = FewShotCase.objects.create(
        subdomain=sub, task=Task.objects.get(slug="outlining"), language="en", owner=author
    )
    version = FewShotCaseVersion.objects.create(
        case=case,
        number=1,
        source_span="A lighthouse keeper counts ships.",
        instruction="Outline a story about a lonely lighthouse keeper.",
        output="1. The keeper 2. The storm",
        rationale="The span follows one keeper through a night.",
        author=author,
    )
    case.latest_version = version
    case.save()
    job = backtranslation.backtranslation_create(
        selection=Selection.objects.get(name="one"), tasks=tasks("outlining"), endpoint=endpoint
    )
    run_inline(job)
    prompt = "\n".join(m["content"] for m in server.chat_requests[0].messages)
    assert "Outline a story about a lonely lighthouse keeper." in prompt
    assert InstructionPair.objects.get().fewshot_versions == [version.pk]


def test_budget_stops_the_job_and_resume_finishes_it_without_duplicates(
    endpoint, reference_data, server
):
    make_texts_with_spans(6, selection="six")
    job = backtranslation.backtranslation_create(
        selection=Selection.objects.get(name="six"),
        tasks=tasks("content_writing"),
        endpoint=endpoint,
        budget_usd=Decimal("0.000001"),
    )
    run_inline(job)
    assert job.status == JobStatus.STOPPED_BUDGET
    made = InstructionPair.objects.filter(status=PairStatus.GENERATED).count()
    assert made < 6
    Job.objects.filter(pk=job.pk).update(budget_usd=None)
    assert job_resume(job=job)
    run_inline(job)
    assert job.status == JobStatus.DONE and job.done == 6
    assert InstructionPair.objects.count() == 6
    assert LLMCall.objects.filter(job=job, status=CallStatus.OK).count() == 6


def test_a_paused_job_stops_and_resumes_where_it_stopped(endpoint, reference_data, server):
    make_texts_with_spans(3, selection="p")
    job = backtranslation.backtranslation_create(
        selection=Selection.objects.get(name="p"), tasks=tasks("brainstorming"), endpoint=endpoint
    )
    assert job_pause(job=job)
    run_inline(job)
    assert job.status == JobStatus.PAUSED and InstructionPair.objects.count() == 0
    assert job_resume(job=job)
    run_inline(job)
    assert job.status == JobStatus.DONE and InstructionPair.objects.count() == 3


def test_orphaned_jobs_go_back_to_the_queue(reference_data, endpoint, monkeypatch):
    sent = []
    monkeypatch.setattr(
        "celery.current_app.send_task",
        lambda name, args=None, *a, **kw: sent.append((name, list(args or []))),
    )
    make_texts_with_spans(1, selection="o")
    job = backtranslation.backtranslation_create(
        selection=Selection.objects.get(name="o"), tasks=tasks("reviewing"), endpoint=endpoint
    )
    Job.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING, worker="dead@host")
    assert job_recover_orphans(live_workers={"alive@host"}) == [job.pk]
    assert sent[-1] == ("llm.pairs_backtranslate", [job.pk])
    assert Job.objects.get(pk=job.pk).status == JobStatus.QUEUED
    Job.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING, worker="alive@host")
    assert job_recover_orphans(live_workers={"alive@host"}) == []
    assert job_recover_orphans(live_workers={"alive@host"}, restarted="alive@host") == [job.pk]


def test_curation_scores_pairs_and_keep_collapses_near_duplicates(endpoint, reference_data, server):
    texts = make_texts_with_spans(2, spans_per_text=3)
    spans = [s for t in texts for s in t.spans.order_by("ordinal")]
    same = "Write a short story about a ferryman crossing a slow river under the moon."
    a = make_instruction_pair(span=spans[0], instruction=same, response="GOOD one")
    b = make_instruction_pair(span=spans[1], instruction=same + " ", response="plain")
    c = make_instruction_pair(
        span=spans[2], instruction="Describe a market at dawn in a mountain town.", response="x"
    )
    d = make_instruction_pair(
        span=spans[3], instruction="Draft a letter from a sailor to his sister.", response="x"
    )
    e = make_instruction_pair(
        span=spans[4],
        instruction="Tell a fable about a fox who learns patience.",
        response="GOOD two",
        mark=PairMark.BAD,
    )
    job = curation.curation_create(endpoint=endpoint, task="content_writing")
    assert job.total == 5
    curation.curation_run(job=job, worker="")
    job.refresh_from_db()
    assert job.status == JobStatus.DONE and job.done == 5
    a.refresh_from_db()
    assert a.curation_score == 5 and a.curation_reason.startswith("reasoning ")
    assert set(a.curation_details) == {
        "instruction_clarity",
        "response_relevance",
        "overall_quality",
    }
    counts = curation.instruction_pairs_keep(threshold=4)
    assert counts == {"kept": 1, "dropped": 3, "duplicate": 1, "unscored": 0}
    status = dict(InstructionPair.objects.values_list("pk", "status"))
    assert status[a.pk] == PairStatus.KEPT
    assert status[b.pk] == PairStatus.DUPLICATE
    assert InstructionPair.objects.get(pk=b.pk).duplicate_of_id == a.pk
    assert status[c.pk] == status[d.pk] == PairStatus.DROPPED
    assert status[e.pk] == PairStatus.DROPPED  # marked bad by a person
    # A quota instead of a threshold: the best one per subdomain x task.
    counts = curation.instruction_pairs_keep(threshold=None, quota=2)
    assert counts["kept"] == 2 and counts["duplicate"] == 1
    # Scoring again with the same prompt version and endpoint costs nothing.
    again = curation.curation_create(endpoint=endpoint)
    curation.curation_run(job=again, worker="")
    again.refresh_from_db()
    assert again.done == 5 and again.calls == 0


@pytest.mark.worker
def test_lost_worker_mid_job_finishes_with_exactly_150_pairs_and_no_second_charge(
    celery_worker_process, reference_data
):
    with FakeLLMServer(default=lambda body: writer(body, latency=0.1)) as server:
        endpoint = Endpoint.objects.create(
            name="slow-writer",
            base_url=server.url,
            model="fake-model",
            max_concurrency=4,
            timeout_seconds=10,
            max_attempts=2,
            input_price_per_million=Decimal("1"),
            output_price_per_million=Decimal("2"),
        )
        make_texts_with_spans(25, spans_per_text=2, selection="fifty")
        first = celery_worker_process(queues="llm", name="bt")
        job = backtranslation.backtranslation_create(
            selection=Selection.objects.get(name="fifty"),
            tasks=tasks("content_writing", "outlining", "polishing"),
            endpoint=endpoint,
        )
        assert job.total == 150

        def answered_but_not_stored():
            ok = LLMCall.objects.filter(job=job, status=CallStatus.OK).count()
            return ok >= 12 and Job.objects.get(pk=job.pk).done == 0

        wait_for(answered_but_not_stored, timeout=60, interval=0.05, message="answers")
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
        assert InstructionPair.objects.count() < 150
        second = celery_worker_process(queues="llm", name="bt")  # same name: a restart

        def finished():
            return Job.objects.get(pk=job.pk).status == JobStatus.DONE

        wait_for(finished, timeout=120, interval=0.3, message=second.log_path.read_text()[-3000:])
        job.refresh_from_db()
        pairs = InstructionPair.objects.filter(job=job)
        assert pairs.count() == 150 and job.done == 150 and job.failed == 0
        assert set(pairs.values_list("status", flat=True)) == {PairStatus.GENERATED}
        assert pairs.values("span", "task").distinct().count() == 150
        assert not pairs.filter(endpoint__isnull=True).exists()
        assert not pairs.filter(cost_usd=0).exists()
        # Every answer was paid for once: no request hash charged twice, and what the job
        # spent is what its paid calls cost.
        paid = LLMCall.objects.filter(job=job, status=CallStatus.OK)
        assert paid.count() == 150
        assert paid.values("request_hash").annotate(n=Count("pk")).filter(n__gt=1).count() == 0
        assert job.spent_usd == paid.aggregate(s=Sum("cost_usd"))["s"]
        assert job.cache_hits >= 12  # answers stored before the kill came from the cache
        # Only answers lost with the worker (in flight, or not yet written) were asked again;
        # the ones stored before the kill were not.
        assert len(server.chat_requests) < 150 + 12

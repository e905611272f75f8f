"""Constitutional negatives against the test LLM server: in-process and in real Celery workers
(one of them killed mid-job); minimality metrics on hand-computed examples."""

from __future__ import annotations

import json
import os
import re
import signal
from decimal import Decimal

import pytest
from django.db.models import Count, Sum

from pairs.generation import negatives
from pairs.generation.metrics import Thresholds, metric_flags, minimality_metrics
from pairs.models import (
    InstructionPair,
    JudgeVerdict,
    NegativeMode,
    PairStatus,
    PreferencePair,
    PreferenceStatus,
)
from principles import services
from weaver_site.llm.models import CallStatus, Endpoint, LLMCall
from weaver_site.models import Job, JobStatus

from ..conftest import wait_for
from ..factories import make_approved, make_instruction_pair, make_principle, principle_content
from ..fakes.llm_server import FakeLLMServer, Reply

RESPONSE = re.compile(r"Response number \d+[^\n<>]*")


def negator(body, latency=0.0):
    """The test server as step 1, step 2 and judge, told apart by the schema they send.

    Step 1 names the last principle offered; a response containing OFFGRID names one that was
    not offered (every time), ONCE does so only before the repair prompt. Step 2 replaces
    "slow" by "quick" in the response (SAME: returns it unchanged). The judge passes every
    negative that differs from the response."""
    schema = body["response_format"]["json_schema"]["schema"]
    props = schema["properties"]
    messages = body["messages"]
    prompt = "\n".join(m["content"] for m in messages if m["role"] != "assistant")
    response = RESPONSE.findall(prompt)[-1]
    if "principle" in props:
        labels = props["principle"]["enum"]
        repaired = any(m["role"] == "assistant" for m in messages)
        if "OFFGRID" in response or ("ONCE" in response and not repaired):
            return Reply.json({"reason": "It is vivid.", "principle": "P99"}, latency=latency)
        return Reply.json({"reason": f"Best explained by {labels[-1]}.", "principle": labels[-1]})
    if "rejected" in props:
        rejected = response if "SAME" in response else response.replace("slow", "quick", 1)
        return Reply.json(
            {"rationale": "Swap one word to flatten the image.", "rejected": rejected},
            latency=latency,
        )
    same = "quick" not in prompt
    return Reply.json(
        {
            "reason": "The rewrite breaks it." if not same else "Nothing changed.",
            "breaks_principle": not same,
            "otherwise_as_good": True,
        },
        latency=latency,
    )


@pytest.fixture
def server():
    with FakeLLMServer(default=negator) as s:
        yield s


def make_endpoint(server, name="negator", concurrency=4):
    return Endpoint.objects.create(
        name=name,
        base_url=server.url,
        model=f"{name}-model",
        max_concurrency=concurrency,
        timeout_seconds=10,
        max_attempts=2,
        input_price_per_million=Decimal("1"),
        output_price_per_million=Decimal("2"),
    )


def setup_principles(author, admin):
    """Approved principles for fiction in English (one for every task, one for content
    writing), one of them with a newer draft; others that must never be offered."""
    every = make_approved(author, admin, task=None, title="Show, don't tell")
    services.principle_version_create(
        principle=every, author=author, content=principle_content(title="Show it (draft v2)")
    )
    writing = make_approved(author, admin, task="content_writing", title="Concrete detail")
    make_approved(author, admin, task=None, language="zh", title="中文原则")
    make_approved(author, admin, task="outlining", title="Outline principle")
    make_principle(author, task=None, title="Draft only")
    every.refresh_from_db()
    writing.refresh_from_db()
    return every, writing


def make_positives(n, *, special=()):
    """``n`` kept, scored positives (content writing, fiction, English)."""
    pairs = []
    for i in range(n):
        marker = special[i] if i < len(special) else ""
        pairs.append(
            make_instruction_pair(
                instruction=f"Write scene {i} on a river at night.",
                response=f"Response number {i}: {marker} the river ran slow under the moon.",
                status=PairStatus.KEPT,
                curation_score=5,
                domain_id=_fiction().pk,
            )
        )
    return pairs


def _fiction():
    from principles.models import Domain

    return Domain.objects.get(slug="fiction")


def run_inline(job):
    negatives.negatives_run(job=Job.objects.get(pk=job.pk), worker="")
    job.refresh_from_db()
    return job


# --- metrics --------------------------------------------------------------------------------


def test_metrics_equal_hand_computed_values_in_english():
    chosen = "The cat sat on the mat. It purred softly."
    rejected = "The dog sat on the mat. It purred softly."
    m = minimality_metrics(chosen, rejected)
    # Tokens: The cat sat on the mat . It purred softly . -> 11; one replaced.
    assert m["edit_ratio"] == round(1 / 11, 4)
    # 41 characters each; "cat" and "dog" share nothing: M = 38, ratio 2*38/82.
    assert m["char_similarity"] == round(76 / 82, 4)
    assert m["sentences_changed"] == 1 and m["length_ratio"] == 1.0
    assert m["identical"] is False
    added = minimality_metrics("He ran.", "He ran. He fell.")
    # Tokens He ran . (3); inserted He fell . (3) -> 3/3; one sentence added; 16/7 long.
    assert added["edit_ratio"] == 1.0 and added["sentences_changed"] == 1
    assert added["length_ratio"] == round(16 / 7, 4)


def test_metrics_equal_hand_computed_values_in_chinese():
    chosen = "春眠不觉晓，处处闻啼鸟。夜来风雨声，花落知多少。"
    rejected = "春眠不觉晓，处处闻啼鸟。夜来风雨声，花落知几何。"
    m = minimality_metrics(chosen, rejected, language="zh")
    # 24 characters (each a token, punctuation too); "多少" -> "几何" is one run of 2.
    assert m["edit_ratio"] == round(2 / 24, 4)
    assert m["char_similarity"] == round(2 * 22 / 48, 4)
    assert m["sentences_changed"] == 1 and m["length_ratio"] == 1.0
    spaced = chosen.replace("。夜", "。\n\n夜")
    assert minimality_metrics(spaced, chosen.replace("。夜", "。 夜"))["identical"] is True
    same = minimality_metrics(chosen, "  " + chosen + "\n", language="zh")
    assert same["identical"] is True and same["edit_ratio"] == 0


def test_flags_name_each_metric_outside_the_thresholds():
    m = {
        "char_similarity": 0.5,
        "edit_ratio": 0.5,
        "sentences_changed": 4,
        "length_ratio": 1.5,
        "identical": False,
    }
    assert metric_flags(m, Thresholds()) == [
        "char_similarity",
        "edit_ratio",
        "sentences_changed",
        "length_ratio",
    ]
    off = Thresholds(
        min_char_similarity=None,
        max_edit_ratio=None,
        max_sentences_changed=None,
        min_length_ratio=None,
        max_length_ratio=None,
    )
    assert metric_flags(m, off) == []
    assert metric_flags({**m, "identical": True}, off) == ["identical"]


# --- jobs -----------------------------------------------------------------------------------


def test_explain_mode_names_a_principle_then_breaks_it(
    transactional_db, reference_data, server, author, admin_user
):
    every, writing = setup_principles(author, admin_user)
    endpoint, judge = make_endpoint(server), make_endpoint(server, "judge")
    positives = make_positives(4, special=["OFFGRID", "ONCE", "SAME"])
    job = negatives.negatives_create(endpoint=endpoint, judge_endpoint=judge)
    assert job.total == 4
    run_inline(job)
    assert job.status == JobStatus.DONE and job.done == 3 and job.failed == 1
    failed = PreferencePair.objects.get(status=PreferenceStatus.FAILED)
    assert failed.positive == positives[0] and failed.principle_version is None
    assert "P99" in failed.raw_text and "principle" in failed.error
    # The gateway sent the not-offered answer back once (repair), then gave up.
    offgrid = [r for r in server.chat_requests if "OFFGRID" in json.dumps(r.json)]
    assert len(offgrid) == 2
    once = PreferencePair.objects.get(positive=positives[1])
    assert once.status == PreferenceStatus.GENERATED
    offered = [every.approved_version_id, writing.approved_version_id]
    for pair in PreferencePair.objects.filter(status=PreferenceStatus.GENERATED):
        # The last offered principle (by id) was named: the version in use, not the draft.
        assert pair.principle_version_id == writing.approved_version_id
        assert pair.offered_versions == offered
        assert pair.selection_reason == "Best explained by P2."
        assert pair.chosen == pair.positive.response
        assert pair.instruction == pair.positive.instruction
        assert pair.rewrite_rationale and pair.model == "negator-model"
        assert pair.endpoint == endpoint and pair.judge_endpoint == judge
        assert set(pair.request_hashes) == {"select", "rewrite", "judge"}
        assert all(pair.call_ids.values()) and pair.cost_usd > 0
        assert pair.params["temperature"] == 0.7 and pair.prompt_version == "cdpo-v1"
        assert set(pair.metrics) == {
            "char_similarity",
            "edit_ratio",
            "sentences_changed",
            "length_ratio",
            "identical",
        }
    same = PreferencePair.objects.get(positive=positives[2])
    assert same.metrics["identical"] is True and "identical" in same.flags and same.flagged
    assert same.judge_verdict == JudgeVerdict.FAIL and same.judge_breaks_principle is False
    normal = PreferencePair.objects.get(positive=positives[3])
    assert normal.rejected == normal.chosen.replace("slow", "quick")
    assert not normal.flagged and normal.judge_verdict == JudgeVerdict.PASS
    # Response number 3 : the river ran slow under the moon . -> 12 tokens, one replaced.
    assert normal.metrics["edit_ratio"] == round(1 / 12, 4)
    # A new job over the same positives adds nothing and pays nothing.
    again = negatives.negatives_create(endpoint=endpoint, judge_endpoint=judge)
    run_inline(again)
    assert PreferencePair.objects.count() == 4
    assert again.calls == 2  # only the failed one is tried again (and fails again)


def test_each_mode_makes_one_negative_per_matching_principle(
    transactional_db, reference_data, server, author, admin_user
):
    every, writing = setup_principles(author, admin_user)
    endpoint = make_endpoint(server)
    make_positives(3)
    job = negatives.negatives_create(
        endpoint=endpoint, mode=NegativeMode.EACH, thresholds={"max_edit_ratio": 0.01}
    )
    assert job.total == 6
    run_inline(job)
    assert job.done == 6
    versions = PreferencePair.objects.values("principle_version").annotate(n=Count("pk"))
    assert {v["principle_version"]: v["n"] for v in versions} == {
        every.approved_version_id: 3,
        writing.approved_version_id: 3,
    }
    # No step 1 in this mode; the job's own threshold flags every pair.
    schemas = [r.json["response_format"]["json_schema"]["schema"] for r in server.chat_requests]
    assert len(schemas) == 6 and all("rejected" in s["properties"] for s in schemas)
    assert all(p.flags == ["edit_ratio"] and p.flagged for p in PreferencePair.objects.all())
    # A chosen set of principles restricts what is offered.
    PreferencePair.objects.all().delete()
    only = negatives.negatives_create(
        endpoint=endpoint, mode=NegativeMode.EACH, principle_ids=[every.pk]
    )
    run_inline(only)
    assert set(PreferencePair.objects.values_list("principle_version", flat=True)) == {
        every.approved_version_id
    }


def test_positives_filters_top_n_and_no_principle(
    transactional_db, reference_data, server, author, admin_user
):
    setup_principles(author, admin_user)
    endpoint = make_endpoint(server)
    pairs = make_positives(5)
    InstructionPair.objects.filter(pk=pairs[0].pk).update(curation_score=3)
    InstructionPair.objects.filter(pk=pairs[1].pk).update(status=PairStatus.GENERATED)
    chosen = negatives.negative_positives(min_score=4)
    assert [p.pk for p in chosen] == [p.pk for p in pairs[2:]]
    top = negatives.negative_positives(kept_only=False, top_n=2)
    assert [p.pk for p in top] == [pairs[1].pk, pairs[2].pk]
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match="approved principle"):
        negatives.negatives_create(endpoint=endpoint, positives={"language": "zh"})


@pytest.mark.worker
def test_a_killed_worker_loses_nothing_and_duplicates_nothing(
    celery_worker_process, reference_data, author, admin_user
):
    with FakeLLMServer(default=lambda body: negator(body, latency=0.1)) as server:
        every, writing = setup_principles(author, admin_user)
        endpoint = make_endpoint(server)
        make_positives(100, special=["SAME"])
        first = celery_worker_process(queues="llm", name="neg")
        job = negatives.negatives_create(endpoint=endpoint)
        assert job.total == 100

        def answered_but_not_stored():
            ok = LLMCall.objects.filter(job=job, status=CallStatus.OK).count()
            return ok >= 10 and Job.objects.get(pk=job.pk).done == 0

        wait_for(answered_but_not_stored, timeout=60, interval=0.05, message="answers")
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
        second = celery_worker_process(queues="llm", name="neg")
        wait_for(
            lambda: Job.objects.get(pk=job.pk).status == JobStatus.DONE,
            timeout=150,
            interval=0.3,
            message=second.log_path.read_text()[-3000:],
        )
        job.refresh_from_db()
        pairs = PreferencePair.objects.filter(job=job)
        assert pairs.count() == 100 and job.done == 100 and job.failed == 0
        assert pairs.values("positive").distinct().count() == 100
        assert set(pairs.values_list("principle_version", flat=True)) == {
            writing.approved_version_id
        }
        assert pairs.filter(flagged=True).count() == 1  # the SAME one: identical
        for pair in pairs:
            assert pair.rejected and pair.selection_reason and pair.metrics
            assert set(pair.request_hashes) == {"select", "rewrite"}
        paid = LLMCall.objects.filter(job=job, status=CallStatus.OK)
        assert paid.count() == 200  # two steps per positive, each paid once
        assert paid.values("request_hash").annotate(n=Count("pk")).filter(n__gt=1).count() == 0
        assert job.spent_usd == paid.aggregate(s=Sum("cost_usd"))["s"]
        assert job.cache_hits >= 10


def test_many_chunks_store_in_order_and_pause_between_them(
    transactional_db, reference_data, server, author, admin_user, monkeypatch
):
    monkeypatch.setattr(negatives, "REQUESTS_PER_SLOT", 1)  # 4 positives a chunk
    setup_principles(author, admin_user)
    endpoint = make_endpoint(server)
    positives = make_positives(10)
    job = negatives.negatives_create(endpoint=endpoint, judge_endpoint=make_endpoint(server, "j"))
    run_inline(job)
    assert job.status == JobStatus.DONE and job.done == 10 and job.failed == 0
    assert job.cursor == max(p.pk for p in positives)
    assert PreferencePair.objects.filter(judge_verdict=JudgeVerdict.PASS).count() == 10
    assert len(server.chat_requests) == 30  # select, rewrite and judge per positive
    # A pause stops the job at a chunk boundary; resuming finishes it without duplicates.
    PreferencePair.objects.all().delete()
    again = negatives.negatives_create(endpoint=endpoint)
    original = negatives.NegativesSource.store
    stored = []

    def store_then_pause(self, job, chunk, results):
        counts = original(self, job, chunk, results)
        stored.append(chunk.cursor)
        if len(stored) == 1:
            Job.objects.filter(pk=job.pk).update(status=JobStatus.PAUSED)
        return counts

    monkeypatch.setattr(negatives.NegativesSource, "store", store_then_pause)
    run_inline(again)
    assert again.status == JobStatus.PAUSED
    # The chunk already in flight when the pause came is finished and stored, in order.
    assert PreferencePair.objects.count() == 4 * len(stored) < 10
    assert again.cursor == stored[-1] and again.done == 4 * len(stored)
    from weaver_site.jobs import job_resume

    monkeypatch.setattr("celery.current_app.send_task", lambda *a, **k: None)
    assert job_resume(job=again)
    run_inline(again)
    assert again.status == JobStatus.DONE and again.done == 10
    assert PreferencePair.objects.count() == 10
    assert PreferencePair.objects.values("positive").distinct().count() == 10

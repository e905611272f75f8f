"""LLM quality scoring (through a real worker and the test LLM server) and selections."""

import json
from decimal import Decimal

import pytest

from pairs.corpus.scoring import PROMPT_VERSION, SCHEMA, corpus_scoring_create, scoring_messages
from pairs.corpus.selection import _percentile_ranks, selection_create
from pairs.models import CorpusImport, CorpusText, Verdict
from principles.models import Domain, Subdomain
from weaver_site.llm.models import Endpoint, LLMCall
from weaver_site.models import Job, JobStatus

from ..conftest import wait_for
from ..fakes.llm_server import FakeLLMServer, Reply


def make_texts(specs):
    imp = CorpusImport.objects.create(name="t", format="jsonl", path="x", original_name="x.jsonl")
    fiction = Domain.objects.get(slug="fiction")
    novel = Subdomain.objects.get(domain=fiction, slug="novel")
    texts = []
    for i, spec in enumerate(specs):
        spec = {"language": "en", "text": f"Text number {i}.", **spec}
        texts.append(
            CorpusText.objects.create(
                corpus_import=imp,
                source_line=i + 1,
                content_hash=f"h{i}-{spec['text'][:20]}",
                domain=spec.pop("domain", fiction),
                subdomain=spec.pop("subdomain", novel),
                **spec,
            )
        )
    return texts


def judge(request_json):
    """The test server's judge: 'GOOD' texts score 5, 'BROKEN' ones get a non-JSON answer."""
    prompt = " ".join(m["content"] for m in request_json["messages"])
    if "BROKEN" in prompt:
        return Reply("I cannot rate this.")
    return Reply.json({"reason": "Vivid and clear.", "score": 5 if "GOOD" in prompt else 2})


@pytest.fixture
def judge_server():
    with FakeLLMServer(default=judge) as server:
        yield server


def test_prompts_in_each_language_ask_reason_first(reference_data):
    zh, en = make_texts([{"language": "zh", "text": "春眠不觉晓。"}, {"text": "x" * 7000}])
    assert "先用一到三句话说明理由" in scoring_messages(zh)[1]["content"]
    assert "春眠不觉晓。" in scoring_messages(zh)[1]["content"]
    en_prompt = scoring_messages(en)[1]["content"]
    assert "First give a short reason" in en_prompt and "Only the opening" in en_prompt
    assert "x" * 6000 in en_prompt and "x" * 6001 not in en_prompt


@pytest.mark.worker
def test_scoring_runs_through_a_worker_and_records_scores_cost_and_failures(
    reference_data, judge_server, celery_worker_process
):
    texts = make_texts(
        [
            {"text": "A GOOD passage."},
            {"text": "A plain passage."},
            {"text": "A BROKEN passage."},
            {"text": "Dropped.", "verdict": Verdict.DROP},
            {"language": "zh", "text": "一段GOOD的中文。"},
        ]
    )
    endpoint = Endpoint.objects.create(
        name="judge",
        base_url=judge_server.url,
        model="fake-model",
        max_concurrency=4,
        input_price_per_million=Decimal("1"),
        output_price_per_million=Decimal("2"),
        max_attempts=2,
    )
    celery_worker_process(queues="llm", name="scorer")
    job = corpus_scoring_create(endpoint=endpoint, budget_usd=Decimal("5"))
    assert job.total == 4  # the filtered-out text is not scored
    wait_for(lambda: Job.objects.get(pk=job.pk).status == JobStatus.DONE, timeout=90)
    job.refresh_from_db()
    assert (job.done, job.failed) == (3, 1) and job.spent_usd > 0
    scores = {t.text: (t.llm_score, t.llm_prompt_version) for t in CorpusText.objects.all()}
    assert scores["A GOOD passage."] == (5, PROMPT_VERSION)
    assert scores["A plain passage."][0] == 2 and scores["一段GOOD的中文。"][0] == 5
    assert scores["A BROKEN passage."][0] is None and scores["Dropped."][0] is None
    invalid = LLMCall.objects.get(job=job, status="invalid")
    assert invalid.raw_text == "I cannot rate this."  # the raw answer is kept
    # The JSON schema was sent with every request.
    formats = {
        json.dumps(r.json.get("response_format"), sort_keys=True)
        for r in judge_server.chat_requests
    }
    assert all(SCHEMA["required"][1] in f for f in formats)
    # Running again scores nothing new and pays nothing.
    requests_before = len(judge_server.chat_requests)
    again = corpus_scoring_create(endpoint=endpoint)
    assert again.total == 1  # only the broken one is left
    wait_for(lambda: Job.objects.get(pk=again.pk).status == JobStatus.DONE, timeout=60)
    assert len(judge_server.chat_requests) == requests_before + 2  # one try and one repair
    assert texts[0].pk


def test_percentile_ranks():
    assert _percentile_ranks([10, 20, 30]) == [0.0, 0.5, 1.0]
    assert _percentile_ranks([5, 5, 9]) == [0.25, 0.25, 1.0]
    assert _percentile_ranks([3]) == [1.0]


def test_selection_ranks_per_group_by_score_and_signals(reference_data):
    poetry = Subdomain.objects.get(slug="poetry")
    texts = make_texts(
        [
            {"text": "a", "llm_score": 5, "signals": {"upvotes": 10}},
            {"text": "b", "llm_score": 3, "signals": {"upvotes": 1000}},
            {"text": "c", "llm_score": 4, "signals": {"upvotes": 50}},
            {"text": "d", "llm_score": 5, "signals": {"upvotes": 5}, "is_active": False},
            {"text": "e", "llm_score": 1, "signals": {}, "subdomain": poetry},
            {"text": "f", "llm_score": None, "signals": {"upvotes": 3}, "subdomain": poetry},
        ]
    )
    sel = selection_create(
        name="top2", top_n=2, weights={"score": 1.0, "signals": {"upvotes": 0.5}}
    )
    picked = {(i.text.text, i.rank) for i in sel.items.select_related("text")}
    # novel: a = 1 + 0.5*0 = 1.0; b = 0.5 + 0.5*1 = 1.0; c = 0.75 + 0.25 = 1.0 -> ties by id: a, b
    # poetry: e = 0 + 0 = 0.0 (no upvotes: lowest); f = 0 + 0.5*1 = 0.5 -> f, e
    assert picked == {("a", 1), ("b", 2), ("f", 1), ("e", 2)}
    assert sel.size == 4 and sel.params["top_n"] == 2
    again = selection_create(name="top2-again", top_n=2, weights=sel.params["weights"])
    assert [(i.text_id, i.rank) for i in again.items.all()] == [
        (i.text_id, i.rank) for i in sel.items.all()
    ]
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        selection_create(name="top2", top_n=2)
    assert texts[3].pk not in {i.text_id for i in sel.items.all()}  # inactive never selected

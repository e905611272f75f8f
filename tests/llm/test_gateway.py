"""The gateway against a real OpenAI-compatible server on 127.0.0.1."""

import logging
import random
from decimal import Decimal

import pytest

from weaver_site.llm.gateway import (
    LLMRequest,
    backoff_delay,
    batch,
    complete,
    parse_json_answer,
    request_hash,
)
from weaver_site.llm.models import CachedResponse, CallStatus, EndpointSpend, LLMCall
from weaver_site.models import Job, JobStatus

from ..fakes.llm_server import Reply

SCHEMA = {
    "type": "object",
    "properties": {"instruction": {"type": "string"}, "score": {"type": "integer"}},
    "required": ["instruction", "score"],
}


def ask(text="Write a haiku about rain.", **kw):
    return LLMRequest(messages=[{"role": "user", "content": text}], **kw)


def test_answer_tokens_cost_and_ledger(make_endpoint, llm_server):
    endpoint = make_endpoint(
        input_price_per_million=Decimal("2"), output_price_per_million=Decimal("8")
    )
    llm_server.script(Reply("Soft rain on tin roofs", prompt_tokens=1000, completion_tokens=500))
    result = complete(endpoint, ask())
    assert result.status == CallStatus.OK and result.text == "Soft rain on tin roofs"
    assert (result.input_tokens, result.output_tokens) == (1000, 500)
    assert result.cost_usd == Decimal("0.006")  # 1000 * 2e-6 + 500 * 8e-6
    assert result.attempts == 1 and result.latency_ms >= 0
    assert result.request_hash == request_hash(endpoint, ask())
    call = LLMCall.objects.get(pk=result.call_id)
    assert (call.status, call.cost_usd, call.endpoint_id) == ("ok", Decimal("0.006"), endpoint.pk)
    assert EndpointSpend.objects.get(endpoint=endpoint).spent_usd == Decimal("0.006")


def test_retry_after_is_honoured(make_endpoint, llm_server):
    endpoint = make_endpoint()
    llm_server.script(Reply.error(429, retry_after=0.6), Reply("after the wait"))
    result = complete(endpoint, ask())
    assert result.ok and result.text == "after the wait" and result.attempts == 2
    first, second = llm_server.chat_requests
    assert second.received_at - first.received_at >= 0.6


def test_a_500_then_a_success_is_retried(make_endpoint, llm_server):
    endpoint = make_endpoint()
    llm_server.script(Reply.error(500), Reply.error(503), Reply("third time"))
    result = complete(endpoint, ask())
    assert result.ok and result.attempts == 3 and len(llm_server.chat_requests) == 3


def test_a_dropped_connection_is_retried(make_endpoint, llm_server):
    endpoint = make_endpoint()
    llm_server.script(Reply.drop(), Reply("back"))
    assert complete(endpoint, ask()).text == "back"


@pytest.mark.parametrize("status", [400, 401, 403, 404])
def test_errors_that_will_not_heal_fail_at_once(make_endpoint, llm_server, status):
    endpoint = make_endpoint()
    llm_server.script(Reply.error(status, "nope"))
    result = complete(endpoint, ask())
    assert result.status == CallStatus.FAILED and result.attempts == 1
    assert f"HTTP {status}" in result.error and "nope" in result.error
    assert len(llm_server.chat_requests) == 1
    assert LLMCall.objects.get(pk=result.call_id).status == CallStatus.FAILED


def test_context_too_long_is_named(make_endpoint, llm_server):
    endpoint = make_endpoint()
    llm_server.script(
        Reply.error(400, "maximum context length is 8192 tokens", code="context_length_exceeded")
    )
    result = complete(endpoint, ask())
    assert result.error.startswith("context too long") and result.attempts == 1


def test_timeouts_retry_up_to_the_cap_then_fail(make_endpoint, llm_server):
    endpoint = make_endpoint(timeout_seconds=0.3, max_attempts=3)
    llm_server.default = Reply.hang(2)
    try:
        result = complete(endpoint, ask())
    finally:
        llm_server.default = Reply("ok")
    assert result.status == CallStatus.FAILED and result.attempts == 3
    assert "gave up after 3 attempts" in result.error and "timed out" in result.error
    assert len(llm_server.chat_requests) == 3
    call = LLMCall.objects.get(pk=result.call_id)
    assert call.status == CallStatus.FAILED and call.attempts == 3


def test_a_repeated_request_makes_no_http_call(make_endpoint, llm_server):
    endpoint = make_endpoint(input_price_per_million=Decimal("1"))
    first = complete(endpoint, ask())
    again = complete(endpoint, ask())
    assert len(llm_server.chat_requests) == 1
    assert again.cached and again.status == CallStatus.CACHED and again.text == first.text
    assert again.cost_usd == 0
    # Another sample index or other parameters are another request.
    complete(endpoint, ask(sample_index=1))
    complete(endpoint, ask(params={"temperature": 0.2}))
    assert len(llm_server.chat_requests) == 3
    assert CachedResponse.objects.count() == 3


def test_identical_requests_in_one_batch_are_sent_once(make_endpoint, llm_server):
    endpoint = make_endpoint()
    results = list(batch(endpoint, [ask(key=i) for i in range(5)]))
    assert len(results) == 5 and all(r.ok for r in results)
    assert len(llm_server.chat_requests) == 1
    assert sorted(r.request.key for r in results) == [0, 1, 2, 3, 4]


def test_batch_keeps_under_the_concurrency_limit(make_endpoint, llm_server):
    endpoint = make_endpoint(max_concurrency=5)
    llm_server.default = Reply("x", latency=0.1)
    try:
        results = list(batch(endpoint, [ask(f"prompt {i}", key=i) for i in range(40)]))
    finally:
        llm_server.default = Reply("ok")
    assert len(results) == 40 and all(r.ok for r in results)
    assert llm_server.peak_concurrency == 5


def test_requests_per_minute_are_paced(make_endpoint, llm_server):
    import time

    endpoint = make_endpoint(requests_per_minute=60)  # a burst of 60, then one per second
    started = time.perf_counter()
    list(batch(endpoint, [ask(f"warm {i}") for i in range(60)]))
    burst = time.perf_counter() - started
    started = time.perf_counter()
    list(batch(endpoint, [ask(f"paced {i}") for i in range(3)]))
    # The bucket is (nearly) empty: three more requests wait about 2 s, minus what refilled.
    assert time.perf_counter() - started >= 2.0 - burst - 0.2


def test_a_budget_stops_a_job_before_the_call_that_would_pass_it(make_endpoint, llm_server):
    endpoint = make_endpoint(
        max_concurrency=1,
        input_price_per_million=Decimal("1000"),
        output_price_per_million=Decimal("1000"),
    )
    request = ask("a", params={"max_tokens": 10})
    from weaver_site.llm.budget import estimate_cost

    _, estimate = estimate_cost(endpoint, request.messages, request.params)
    job = Job.objects.create(kind="test", budget_usd=estimate * Decimal("2.5"))
    requests = [ask(f"prompt {i}", params={"max_tokens": 10}, key=i) for i in range(5)]
    results = list(batch(endpoint, requests, job=job))
    statuses = sorted(r.status for r in results)
    assert statuses.count(CallStatus.OK) == 2 and statuses.count(CallStatus.BUDGET) == 3
    assert len(llm_server.chat_requests) == 2  # the refused calls were never sent
    job.refresh_from_db()
    assert job.status == JobStatus.STOPPED_BUDGET and "budget" in job.error
    assert job.spent_usd <= job.budget_usd and job.reserved_usd == 0
    assert job.calls == 2


def test_an_endpoint_daily_budget_refuses_calls(make_endpoint, llm_server):
    endpoint = make_endpoint(
        input_price_per_million=Decimal("1000"), daily_budget_usd=Decimal("0.001")
    )
    result = complete(endpoint, ask("x" * 300))
    assert result.status == CallStatus.BUDGET and "daily budget" in result.error
    assert llm_server.chat_requests == []


def test_json_schema_is_requested_validated_and_repaired_once(make_endpoint, llm_server):
    endpoint = make_endpoint()
    llm_server.script(
        Reply('Sure! {"instruction": "Write"}'), Reply.json({"instruction": "Write", "score": 4})
    )
    result = complete(endpoint, ask(schema=SCHEMA))
    assert result.ok and result.data == {"instruction": "Write", "score": 4}
    first, repair = llm_server.chat_requests
    assert first.json["response_format"]["type"] == "json_schema"
    assert first.json["response_format"]["json_schema"]["schema"] == SCHEMA
    assert "score" in repair.messages[-1]["content"]  # the repair prompt names the problem
    assert repair.messages[-2] == {"role": "assistant", "content": 'Sure! {"instruction": "Write"}'}


def test_invalid_json_twice_is_recorded_with_the_raw_text(make_endpoint, llm_server):
    endpoint = make_endpoint(json_mode="json_object")
    llm_server.script(Reply("not json at all"), Reply("{still: broken"))
    result = complete(endpoint, ask(schema=SCHEMA))
    assert result.status == CallStatus.INVALID and "not valid JSON" in result.error
    call = LLMCall.objects.get(pk=result.call_id)
    assert call.raw_text == "{still: broken" and call.status == CallStatus.INVALID
    assert llm_server.chat_requests[0].json["response_format"] == {"type": "json_object"}
    assert not CachedResponse.objects.exists()  # a failed answer is never cached


def test_parse_json_answer_accepts_fences_and_names_schema_errors():
    assert parse_json_answer('```json\n{"instruction": "a", "score": 1}\n```', SCHEMA)["score"] == 1
    with pytest.raises(ValueError, match="score"):
        parse_json_answer('{"instruction": "a", "score": "high"}', SCHEMA)


def test_backoff_is_full_jitter_and_honours_retry_after():
    rng = random.Random(1)
    delays = [backoff_delay(3, rng=rng) for _ in range(200)]
    window = 0.01 * 2**3  # BACKOFF_BASE is 0.01 in these tests
    assert min(delays) >= 0 and max(delays) <= window
    assert max(delays) > window / 2 and min(delays) < window / 2  # spread over the window
    assert backoff_delay(0, retry_after=7.5) == 7.5
    assert backoff_delay(0, retry_after=10_000) == 120


def test_the_api_key_reaches_the_server_and_no_log(
    make_endpoint, llm_server, caplog, client_for, admin_user
):
    secret = "sk-test-SECRET-0123456789abcdef"
    endpoint = make_endpoint()
    endpoint.set_api_key(secret)
    endpoint.save()
    assert secret not in endpoint.api_key_encrypted
    caplog.set_level(logging.DEBUG)
    llm_server.script(Reply.error(500), Reply("ok"))
    assert complete(endpoint, ask()).ok
    assert llm_server.chat_requests[0].headers["Authorization"] == f"Bearer {secret}"
    assert secret not in caplog.text
    c = client_for(admin_user)
    for url in (
        "/admin/llm/endpoint/",
        f"/admin/llm/endpoint/{endpoint.pk}/change/",
        "/admin/llm/llmcall/",
    ):
        page = c.get(url)
        assert page.status_code == 200 and secret not in page.content.decode()


def test_the_api_key_can_come_from_the_environment(make_endpoint, llm_server, monkeypatch):
    monkeypatch.setenv("FAKE_LLM_KEY", "sk-from-env")
    endpoint = make_endpoint(api_key_env="FAKE_LLM_KEY")
    complete(endpoint, ask())
    assert llm_server.chat_requests[0].headers["Authorization"] == "Bearer sk-from-env"


def test_admin_test_connection_shows_latency_and_answer(
    make_endpoint, llm_server, client_for, admin_user
):
    endpoint = make_endpoint()
    llm_server.script(Reply("Hello there", latency=0.05))
    response = client_for(admin_user).post(
        "/admin/llm/endpoint/",
        {"action": "test_connection", "_selected_action": [endpoint.pk]},
        follow=True,
    )
    page = response.content.decode()
    assert "answered in" in page and "Hello there" in page
    # Twice in a row: both really sent (the test is never answered from the cache).
    client_for(admin_user).post(
        "/admin/llm/endpoint/", {"action": "test_connection", "_selected_action": [endpoint.pk]}
    )
    assert len(llm_server.chat_requests) == 2


def test_admin_stores_a_typed_key_encrypted(db, client_for, admin_user, llm_server):
    from weaver_site.llm.models import Endpoint

    c = client_for(admin_user)
    form = {
        "name": "openai",
        "backend": "openai",
        "base_url": llm_server.url,
        "model": "gpt-x",
        "is_active": "on",
        "api_key": "sk-typed-in-1234",
        "max_concurrency": 4,
        "timeout_seconds": 30,
        "max_attempts": 3,
        "input_price_per_million": "2.5",
        "output_price_per_million": "10",
        "default_params": "{}",
        "json_mode": "json_schema",
    }
    response = c.post("/admin/llm/endpoint/add/", form)
    assert response.status_code == 302, response.content.decode()[:2000]
    endpoint = Endpoint.objects.get(name="openai")
    assert endpoint.api_key() == "sk-typed-in-1234"
    assert (
        "sk-typed-in-1234"
        not in c.get(f"/admin/llm/endpoint/{endpoint.pk}/change/").content.decode()
    )


def test_endpoints_api_never_returns_keys(make_endpoint, client_for, engineer, author):
    secret = "sk-api-SECRET-abcdef0123"
    endpoint = make_endpoint()
    endpoint.set_api_key(secret)
    endpoint.save()
    response = client_for(engineer).get("/api/llm/endpoints/")
    assert response.status_code == 200
    (record,) = response.json()["results"]
    assert record["has_api_key"] is True and record["name"] == "fake"
    assert secret not in response.content.decode()
    assert "api_key_encrypted" not in record and "api_key_env" not in record
    assert client_for(engineer).get(f"/api/llm/endpoints/{endpoint.pk}/").status_code == 200
    assert client_for(author).get("/api/llm/endpoints/").status_code == 403
    assert client_for(author).get("/api/jobs/").status_code == 403


def test_jobs_api_shows_spend(make_endpoint, llm_server, client_for, engineer):
    endpoint = make_endpoint(input_price_per_million=Decimal("1"))
    job = Job.objects.create(kind="test", budget_usd=Decimal("1"))
    list(batch(endpoint, [ask("one"), ask("two")], job=job))
    record = client_for(engineer).get(f"/api/jobs/{job.pk}/").json()
    assert record["calls"] == 2 and Decimal(record["spent_usd"]) > 0

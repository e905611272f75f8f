"""The fake OpenAI-compatible server, exercised through the real ``openai`` SDK over HTTP."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.fakes.llm_server import FakeLLMServer, Reply, schema_answer

ROOT = Path(__file__).resolve().parent.parent


def _http(method: str, url: str, body: dict | None = None) -> tuple[int, dict]:
    """A plain HTTP call with the standard library: (status, JSON body)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


@pytest.fixture
def server() -> Iterator[FakeLLMServer]:
    """A started fake server, stopped after the test."""
    with FakeLLMServer() as fake:
        yield fake


@pytest.fixture
def client(server: FakeLLMServer) -> Iterator[openai.OpenAI]:
    """A synchronous SDK client for ``server`` that never retries."""
    sdk = openai.OpenAI(base_url=server.url, api_key="sk-test", max_retries=0, timeout=10.0)
    yield sdk
    sdk.close()


def ask(client: openai.OpenAI, text: str = "Say hello", **kwargs: Any) -> Any:
    """One chat completion with a single user message."""
    return client.chat.completions.create(
        model="weaver-test", messages=[{"role": "user", "content": text}], **kwargs
    )


def test_url_is_an_openai_base_url(server: FakeLLMServer) -> None:
    assert server.url == f"http://127.0.0.1:{server.port}/v1"
    assert server.port > 0


def test_scripted_answer_and_its_usage(server: FakeLLMServer, client: openai.OpenAI) -> None:
    server.script(Reply(content="Hello there!"))

    completion = client.chat.completions.create(
        model="weaver-test",
        messages=[
            {"role": "system", "content": "You are terse."},  # 14 chars: 4 + 3
            {"role": "user", "content": "Say hello"},  # 9 chars: 3 + 3
        ],
    )

    assert completion.object == "chat.completion"
    assert completion.id.startswith("chatcmpl-")
    assert completion.model == "weaver-test"
    assert isinstance(completion.created, int)
    choice = completion.choices[0]
    assert choice.index == 0
    assert choice.message.role == "assistant"
    assert choice.message.content == "Hello there!"
    assert choice.finish_reason == "stop"
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == 13
    assert completion.usage.completion_tokens == 3
    assert completion.usage.total_tokens == 16


def test_explicit_usage_and_finish_reason(server: FakeLLMServer, client: openai.OpenAI) -> None:
    server.script(
        Reply(content="cut", prompt_tokens=100, completion_tokens=7, finish_reason="length")
    )

    completion = ask(client)

    assert completion.choices[0].finish_reason == "length"
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (100, 7)
    assert completion.usage.total_tokens == 107


def test_fifo_then_default(server: FakeLLMServer, client: openai.OpenAI) -> None:
    server.default = Reply(content="fallback")
    server.script(Reply(content="first"), Reply(content="second"))
    server.script(Reply(content="third"))
    assert server.pending == 3

    answers = [ask(client).choices[0].message.content for _ in range(5)]

    assert answers == ["first", "second", "third", "fallback", "fallback"]
    assert server.pending == 0


def test_callable_default_echoes_the_last_user_message(
    server: FakeLLMServer, client: openai.OpenAI
) -> None:
    def echo(request: dict[str, Any]) -> Reply:
        users = [m for m in request["messages"] if m["role"] == "user"]
        return Reply(content=f"echo: {users[-1]['content']}")

    server.default = echo

    assert ask(client, "ping").choices[0].message.content == "echo: ping"
    assert ask(client, "pong").choices[0].message.content == "echo: pong"


def test_json_reply_keeps_non_ascii(server: FakeLLMServer, client: openai.OpenAI) -> None:
    server.script(Reply.json({"verdict": "très bien", "score": 4}))

    content = ask(client, response_format={"type": "json_object"}).choices[0].message.content

    assert content is not None
    assert "très bien" in content
    assert json.loads(content) == {"verdict": "très bien", "score": 4}


def test_rate_limit_with_retry_after(server: FakeLLMServer, client: openai.OpenAI) -> None:
    server.script(Reply.error(429, "Slow down.", retry_after=0.2))

    with pytest.raises(openai.RateLimitError) as caught:
        ask(client)

    error = caught.value
    assert error.status_code == 429
    assert error.response.headers["Retry-After"] == "0.2"
    assert error.body == {
        "message": "Slow down.",
        "type": "rate_limit_error",
        "param": None,
        "code": "rate_limit_exceeded",
    }
    assert ask(client).choices[0].message.content == "ok"


def test_server_error(server: FakeLLMServer, client: openai.OpenAI) -> None:
    server.script(Reply.error(500, "Boom."))

    with pytest.raises(openai.InternalServerError) as caught:
        ask(client)

    assert caught.value.status_code == 500
    assert "Retry-After" not in caught.value.response.headers


def test_hang_makes_the_client_time_out(server: FakeLLMServer, client: openai.OpenAI) -> None:
    server.script(Reply.hang(30))

    started = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        ask(client.with_options(timeout=0.3))

    assert time.monotonic() - started < 10
    # The client hung up, so the server stops handling the request.
    deadline = time.monotonic() + 5
    while server.in_flight and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.in_flight == 0


def test_drop_is_a_connection_error(server: FakeLLMServer, client: openai.OpenAI) -> None:
    server.script(Reply.drop())

    with pytest.raises(openai.APIConnectionError) as caught:
        ask(client)

    assert not isinstance(caught.value, openai.APITimeoutError)
    assert ask(client).choices[0].message.content == "ok"


def test_broken_body_is_an_sdk_error(server: FakeLLMServer, client: openai.OpenAI) -> None:
    server.script(Reply.broken_body())

    with pytest.raises((openai.OpenAIError, ValueError)):
        ask(client)


def test_streaming_is_refused(server: FakeLLMServer, client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        ask(client, stream=True)

    assert "Streaming is not supported" in caught.value.message
    assert server.pending == 0


def test_models_and_unknown_paths(server: FakeLLMServer, client: openai.OpenAI) -> None:
    assert [model.id for model in client.models.list()] == ["fake-model"]

    status, body = _http("POST", f"{server.url}/embeddings", {"input": "x"})

    assert status == 404
    assert body == {
        "error": {
            "message": "Invalid URL (POST /v1/embeddings)",
            "type": "invalid_request_error",
            "param": None,
            "code": None,
        }
    }


def test_recorded_requests(server: FakeLLMServer, client: openai.OpenAI) -> None:
    before = time.time()
    ask(client, "first", response_format={"type": "json_object"}, temperature=0.2)
    ask(client, "second")

    recorded = server.wait_for_requests(2, timeout=5)

    assert len(recorded) == 2
    first = recorded[0]
    assert first.path == "/v1/chat/completions"
    assert first.method == "POST"
    assert first.headers["Authorization"] == "Bearer sk-test"
    assert first.json is not None
    assert first.json["model"] == "weaver-test"
    assert first.json["messages"] == [{"role": "user", "content": "first"}]
    assert first.json["response_format"] == {"type": "json_object"}
    assert first.json["temperature"] == 0.2
    assert first.messages[-1]["content"] == "first"
    assert before <= first.received_at <= recorded[1].received_at <= time.time()
    assert server.requests == recorded


def test_wait_for_requests_times_out(server: FakeLLMServer) -> None:
    with pytest.raises(AssertionError, match="expected at least 1"):
        server.wait_for_requests(1, timeout=0.2)


def test_wait_for_requests_wakes_up_for_another_thread(
    server: FakeLLMServer, client: openai.OpenAI
) -> None:
    caller = threading.Timer(0.1, ask, args=(client,))
    caller.start()
    try:
        assert len(server.wait_for_requests(1, timeout=5)) == 1
    finally:
        caller.join()


def test_reset_clears_queue_requests_and_peak(server: FakeLLMServer, client: openai.OpenAI) -> None:
    server.default = Reply(content="kept")
    server.script(Reply(content="one"), Reply(content="two"))
    assert ask(client).choices[0].message.content == "one"

    server.reset()

    assert server.requests == []
    assert server.peak_concurrency == 0
    assert server.pending == 0
    assert ask(client).choices[0].message.content == "kept"


def test_peak_concurrency_counts_simultaneous_requests(
    server: FakeLLMServer, client: openai.OpenAI
) -> None:
    server.default = Reply(content="slow", latency=0.3)
    barrier = threading.Barrier(8)
    answers: list[str | None] = []
    errors: list[BaseException] = []

    def call() -> None:
        barrier.wait()
        try:
            answers.append(ask(client).choices[0].message.content)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert answers == ["slow"] * 8
    assert server.peak_concurrency == 8
    assert server.in_flight == 0


def test_many_concurrent_async_calls(server: FakeLLMServer) -> None:
    """A throughput smoke test (no timing assertion): 400 calls, 64 at a time."""
    server.default = Reply(content="fast", latency=0.05)

    async def run() -> list[str | None]:
        sdk = openai.AsyncOpenAI(
            base_url=server.url, api_key="sk-test", max_retries=0, timeout=30.0
        )
        limit = asyncio.Semaphore(64)

        async def one(i: int) -> str | None:
            async with limit:
                completion = await sdk.chat.completions.create(
                    model="weaver-test", messages=[{"role": "user", "content": f"q{i}"}]
                )
                return completion.choices[0].message.content

        try:
            return await asyncio.gather(*(one(i) for i in range(400)))
        finally:
            await sdk.close()

    answers = asyncio.run(run())

    assert answers == ["fast"] * 400
    assert len(server.requests) == 400
    assert server.peak_concurrency >= 32
    assert server.in_flight == 0


def test_command_line_server() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.llm_server", "--port", "0", "--content", "pong"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("URL http://127.0.0.1:"), line
        url = line.split()[1]
        assert url.endswith("/v1")

        sdk = openai.OpenAI(base_url=url, api_key="sk-test", max_retries=0, timeout=10.0)
        with sdk:
            assert ask(sdk).choices[0].message.content == "pong"

        stats_url = url.removesuffix("/v1") + "/stats"
        stats = _http("GET", stats_url)[1]
        assert stats["requests"] == 1
        assert stats["peak_concurrency"] == 1
        assert _http("POST", f"{stats_url}/reset")[0] == 200
        assert _http("GET", stats_url)[1]["requests"] == 0
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    assert process.returncode == 0, process.stderr.read() if process.stderr else ""


def test_schema_answers_fit_the_schema_each_request_sends(client: openai.OpenAI) -> None:
    import jsonschema

    schema = {
        "type": "object",
        "properties": {
            "reason": {"type": "string", "minLength": 1},
            "principle": {"type": "string", "enum": ["P2", "P1"]},
            "score": {"type": "integer", "minimum": 1, "maximum": 5},
            "ok": {"type": "boolean"},
        },
        "required": ["reason", "principle", "score", "ok"],
    }
    with FakeLLMServer(default=schema_answer()) as server:
        c = openai.OpenAI(base_url=server.url, api_key="sk-test", max_retries=0)
        answer = c.chat.completions.create(
            model="m",
            messages=[{"role": "user", "content": "hi"}],
            response_format={"type": "json_schema", "json_schema": {"name": "a", "schema": schema}},
        )
        data = json.loads(answer.choices[0].message.content)
        jsonschema.validate(data, schema)
        assert data["principle"] == "P2" and data["score"] == 1 and data["ok"] is True
        plain = c.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
        assert plain.choices[0].message.content == "ok"

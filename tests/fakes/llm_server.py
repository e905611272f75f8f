"""A real OpenAI-compatible HTTP server on loopback, scriptable per test.

Tests (and benchmarks) talk to it over real HTTP with the official ``openai`` SDK, so the
gateway's retries, timeouts, rate limits and parsing are exercised end to end instead of being
mocked away::

    with FakeLLMServer() as server:
        server.script(Reply(content="hello"), Reply.error(429, retry_after=0.2))
        server.default = Reply(content="ok", latency=0.05)
        client = openai.OpenAI(base_url=server.url, api_key="sk-test")
        ...
        assert server.requests[0].headers["Authorization"] == "Bearer sk-test"

The aiohttp application runs on its own event loop in a daemon thread, so synchronous tests can
use it; latencies are ``asyncio.sleep`` calls, so many slow requests are served at once.

Benchmarks that need the server in another process run it from the command line::

    python -m tests.fakes.llm_server --port 0 --latency 0.2

which prints one line ``URL http://127.0.0.1:PORT/v1`` once it listens, serves until SIGINT or
SIGTERM, and also answers ``GET /stats`` and ``POST /stats/reset``.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import logging
import math
import signal
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Literal

from aiohttp import web

__all__ = ["FakeLLMServer", "RecordedRequest", "Reply", "main", "schema_answer"]

log = logging.getLogger(__name__)

DEFAULT_MODEL = "fake-model"
CHAT_PATH = "/v1/chat/completions"
MODELS_PATH = "/v1/models"
STATS_PATH = "/stats"
STATS_RESET_PATH = "/stats/reset"

ReplyKind = Literal["completion", "error", "drop", "broken_body"]

# OpenAI's error ``type`` and ``code`` for the statuses a test is likely to script.
_ERROR_TYPES: dict[int, tuple[str, str | None]] = {
    400: ("invalid_request_error", None),
    401: ("authentication_error", "invalid_api_key"),
    403: ("permission_error", None),
    404: ("invalid_request_error", "not_found"),
    408: ("timeout_error", None),
    409: ("conflict_error", None),
    413: ("invalid_request_error", "request_too_large"),
    422: ("invalid_request_error", None),
    429: ("rate_limit_error", "rate_limit_exceeded"),
}


def _error_type(status: int) -> tuple[str, str | None]:
    """OpenAI's error ``(type, code)`` for an HTTP status."""
    if status in _ERROR_TYPES:
        return _ERROR_TYPES[status]
    if status >= 500:
        return "server_error", None
    return "invalid_request_error", None


def _format_seconds(seconds: float | int | str) -> str:
    """``0.2`` -> ``"0.2"``, ``2.0`` -> ``"2"``: a Retry-After value."""
    if isinstance(seconds, str):
        return seconds
    return f"{seconds:g}"


@dataclass(frozen=True)
class Reply:
    """What the server answers to one chat-completion request.

    The plain constructor is a successful completion; the class methods build failures. A reply
    first sleeps ``latency`` seconds (without blocking other requests), then answers.
    """

    content: str = "ok"
    latency: float = 0.0
    status: int = 200
    headers: dict[str, str] | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: str = "stop"
    kind: ReplyKind = "completion"
    error_type: str | None = None
    error_code: str | None = None

    @classmethod
    def error(
        cls,
        status: int,
        message: str = "The fake LLM server was told to fail this request.",
        retry_after: float | str | None = None,
        latency: float = 0.0,
        *,
        error_type: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        """An HTTP error with OpenAI's error body; ``retry_after`` sets the Retry-After header."""
        default_type, default_code = _error_type(status)
        all_headers = dict(headers or {})
        if retry_after is not None:
            all_headers["Retry-After"] = _format_seconds(retry_after)
        return cls(
            content=message,
            latency=latency,
            status=status,
            headers=all_headers or None,
            kind="error",
            error_type=error_type or default_type,
            error_code=code if code is not None else default_code,
        )

    @classmethod
    def hang(cls, seconds: float, content: str = "ok") -> Reply:
        """Sleep ``seconds`` before answering normally (the client has usually given up)."""
        return cls(content=content, latency=seconds)

    @classmethod
    def drop(cls, latency: float = 0.0) -> Reply:
        """Close the TCP connection without any response: the client sees a connection error."""
        return cls(content="", latency=latency, kind="drop")

    @classmethod
    def broken_body(cls, latency: float = 0.0) -> Reply:
        """HTTP 200 with ``Content-Type: application/json`` and a body that is not JSON."""
        return cls(content="", latency=latency, kind="broken_body")

    @classmethod
    def json(cls, obj: Any, **kwargs: Any) -> Reply:
        """A completion whose content is ``obj`` serialised as JSON (non-ASCII kept)."""
        return cls(content=json.dumps(obj, ensure_ascii=False), **kwargs)

    def with_latency(self, latency: float) -> Reply:
        """This reply with another latency."""
        return replace(self, latency=latency)


@dataclass(frozen=True)
class RecordedRequest:
    """One request the server received (``received_at`` is ``time.time()``)."""

    path: str
    headers: dict[str, str]
    json: dict[str, Any] | None
    received_at: float
    method: str = "POST"

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The request's chat messages (empty when there are none)."""
        return list((self.json or {}).get("messages") or [])

    @property
    def model(self) -> str | None:
        """The model the request asked for."""
        return (self.json or {}).get("model")


def _text_of(content: Any) -> str:
    """The text of a message's content: a string, or a list of parts with ``text`` fields."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(part.get("text", "")) if isinstance(part, dict) else str(part) for part in content
        )
    return str(content)


def count_prompt_tokens(messages: list[dict[str, Any]]) -> int:
    """Deterministic prompt tokens: per message ``max(1, ceil(chars / 4)) + 3``."""
    total = 0
    for message in messages:
        text = _text_of(message.get("content") if isinstance(message, dict) else message)
        total += max(1, math.ceil(len(text) / 4)) + 3
    return total


def count_completion_tokens(content: str) -> int:
    """Deterministic completion tokens: ``max(1, ceil(chars / 4))``."""
    return max(1, math.ceil(len(content) / 4))


def _error_body(message: str, type_: str, code: str | None, param: str | None = None) -> bytes:
    """OpenAI's error JSON."""
    body = {"error": {"message": message, "type": type_, "param": param, "code": code}}
    return json.dumps(body).encode()


def _json_response(
    payload: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """A JSON response with optional extra headers."""
    return _bytes_response(json.dumps(payload, ensure_ascii=False).encode(), status, headers)


def _bytes_response(
    body: bytes, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """A response whose body is already JSON-encoded bytes."""
    all_headers = {"Content-Type": "application/json"}
    if headers:
        all_headers.update(headers)
    return web.Response(body=body, status=status, headers=all_headers)


class FakeLLMServer:
    """An OpenAI-compatible HTTP server on ``host`` (loopback) that answers scripted replies.

    Chat-completion requests consume ``script``-ed replies in FIFO order, then use ``default``
    (a :class:`Reply`, or a callable taking the request JSON and returning one). Every request is
    recorded in :attr:`requests`; :attr:`in_flight` and :attr:`peak_concurrency` count the
    chat-completion requests being handled at once.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        default: Reply | Callable[[dict[str, Any]], Reply | str] | None = None,
        backlog: int = 1024,
    ) -> None:
        """Configure the server; nothing listens until :meth:`start`."""
        self.host = host
        self.port = port
        self.backlog = backlog
        self.default: Reply | Callable[[dict[str, Any]], Reply | str] = (
            default if default is not None else Reply(content="ok")
        )
        self._lock = threading.Lock()
        self._queue: collections.deque[Reply | Callable[[dict[str, Any]], Reply | str]] = (
            collections.deque()
        )
        self._requests: list[RecordedRequest] = []
        self._chat_count = 0
        self._in_flight = 0
        self._peak = 0
        self._new_request = threading.Condition(self._lock)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._socket: socket.socket | None = None

    # -- scripting and inspection (any thread) ------------------------------------------------

    @property
    def url(self) -> str:
        """The OpenAI ``base_url``: ``http://HOST:PORT/v1``."""
        if not self.port:
            raise RuntimeError("FakeLLMServer is not listening yet: call start() first")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/v1"

    def script(self, *replies: Reply | Callable[[dict[str, Any]], Reply | str]) -> None:
        """Append replies (or callables like ``default``) to the FIFO queue."""
        with self._lock:
            self._queue.extend(replies)

    @property
    def pending(self) -> int:
        """How many scripted replies are still queued."""
        with self._lock:
            return len(self._queue)

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request received since start or :meth:`reset` (not /stats)."""
        with self._lock:
            return list(self._requests)

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        """Only the chat-completion requests."""
        return [r for r in self.requests if r.path == CHAT_PATH]

    @property
    def in_flight(self) -> int:
        """Chat-completion requests being handled right now."""
        with self._lock:
            return self._in_flight

    @property
    def peak_concurrency(self) -> int:
        """Most chat-completion requests handled at the same time since start or reset."""
        with self._lock:
            return self._peak

    def reset(self) -> None:
        """Clear the queue, the recorded requests and the peak (``default`` is kept)."""
        with self._lock:
            self._queue.clear()
            self._requests.clear()
            self._chat_count = 0
            self._peak = self._in_flight

    def wait_for_requests(self, n: int, timeout: float = 10.0) -> list[RecordedRequest]:
        """Block until at least ``n`` requests are recorded and return them; else AssertionError."""
        deadline = time.monotonic() + timeout
        with self._new_request:
            while len(self._requests) < n:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"FakeLLMServer got {len(self._requests)} request(s), "
                        f"expected at least {n} within {timeout}s"
                    )
                self._new_request.wait(remaining)
            return list(self._requests)

    def stats(self) -> dict[str, int]:
        """Counters, as served by ``GET /stats``."""
        with self._lock:
            return {
                "requests": len(self._requests),
                "chat_completions": self._chat_count,
                "peak_concurrency": self._peak,
                "in_flight": self._in_flight,
                "pending": len(self._queue),
            }

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> FakeLLMServer:
        """Listen on ``host:port`` from a daemon thread with its own event loop; returns self."""
        if self._thread is not None:
            raise RuntimeError("FakeLLMServer is already running")
        sock = self._bind()
        ready = threading.Event()
        failure: list[BaseException] = []
        loop = asyncio.new_event_loop()

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._start_site(sock))
            except BaseException as exc:  # reported to the starting thread
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.close()

        self._loop = loop
        self._thread = threading.Thread(target=run, name=f"FakeLLMServer:{self.port}", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            self._thread.join()
            self._thread = None
            self._loop = None
            sock.close()
            raise failure[0]
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop listening, cancel requests still being handled and end the thread."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        future = asyncio.run_coroutine_threadsafe(self._cleanup(), loop)
        try:
            future.result(timeout)
        except Exception:  # pragma: no cover - best effort on a stuck loop
            log.exception("FakeLLMServer did not shut down cleanly")
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        self._thread = None
        self._loop = None

    def __enter__(self) -> FakeLLMServer:
        """Start the server for a ``with`` block."""
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        """Stop the server at the end of a ``with`` block."""
        self.stop()

    def __repr__(self) -> str:
        """Where it listens."""
        where = self.url if self.port else "not started"
        return f"<FakeLLMServer {where}>"

    def _bind(self) -> socket.socket:
        """Bind the listening socket now, so ``port`` (and ``url``) are known."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError:
            sock.close()
            raise
        sock.setblocking(False)
        self.port = sock.getsockname()[1]
        self._socket = sock
        return sock

    def _make_app(self) -> web.Application:
        """The aiohttp application: one catch-all route that dispatches by path."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        return app

    async def _start_site(self, sock: socket.socket) -> None:
        """Set up the runner and start serving on the bound socket (in the server's loop)."""
        self._runner = web.AppRunner(
            self._make_app(),
            access_log=None,
            handle_signals=False,
            handler_cancellation=True,
            shutdown_timeout=0.1,
        )
        await self._runner.setup()
        site = web.SockSite(self._runner, sock, backlog=self.backlog)
        await site.start()

    async def _cleanup(self) -> None:
        """Close the listening socket and connections (in the server's loop)."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    async def serve_forever(self, on_ready: Callable[[str], None] | None = None) -> None:
        """Serve on the current event loop until SIGINT/SIGTERM (the command-line mode)."""
        sock = self._bind()
        await self._start_site(sock)
        if on_ready is not None:
            on_ready(self.url)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        try:
            await stop.wait()
        finally:
            await self._cleanup()

    # -- request handling (server loop) --------------------------------------------------------

    def _record(self, request: web.Request, body: dict[str, Any] | None, chat: bool) -> None:
        """Append a recorded request and wake ``wait_for_requests``."""
        recorded = RecordedRequest(
            path=request.path,
            headers=dict(request.headers.items()),
            json=body,
            received_at=time.time(),
            method=request.method,
        )
        with self._new_request:
            self._requests.append(recorded)
            if chat:
                self._chat_count += 1
            self._new_request.notify_all()

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        """Route a request by method and path; unknown ones get OpenAI's 404."""
        path, method = request.path, request.method
        if path == STATS_PATH and method == "GET":
            return _json_response(self.stats())
        if path == STATS_RESET_PATH and method == "POST":
            self.reset()
            return _json_response(self.stats())
        if path == CHAT_PATH and method == "POST":
            return await self._chat_completions(request)
        self._record(request, await self._read_json(request), chat=False)
        if path == MODELS_PATH and method == "GET":
            return _json_response(
                {
                    "object": "list",
                    "data": [
                        {
                            "id": DEFAULT_MODEL,
                            "object": "model",
                            "created": 0,
                            "owned_by": "weaver-tests",
                        }
                    ],
                }
            )
        body = _error_body(f"Invalid URL ({method} {path})", "invalid_request_error", None)
        return _bytes_response(body, status=404)

    @staticmethod
    async def _read_json(request: web.Request) -> dict[str, Any] | None:
        """The request's JSON object, or None when there is no (valid) JSON object."""
        if not request.body_exists:
            return None
        raw = await request.read()
        try:
            data = json.loads(raw)
        except ValueError:
            return None
        return data if isinstance(data, dict) else None

    def _enter(self) -> None:
        """Count one more chat-completion request in flight."""
        with self._lock:
            self._in_flight += 1
            if self._in_flight > self._peak:
                self._peak = self._in_flight

    def _leave(self) -> None:
        """Count one chat-completion request less in flight."""
        with self._lock:
            self._in_flight -= 1

    def _next_reply(self, body: dict[str, Any]) -> Reply:
        """The next scripted reply, else the default; callables are called with the body."""
        with self._lock:
            source = self._queue.popleft() if self._queue else self.default
        if isinstance(source, Reply):
            return source
        result = source(body)
        if isinstance(result, str):
            return Reply(content=result)
        if not isinstance(result, Reply):
            raise TypeError(f"a reply callable returned {type(result).__name__}, not Reply")
        return result

    async def _chat_completions(self, request: web.Request) -> web.StreamResponse:
        """``POST /v1/chat/completions``: consume a reply, wait its latency, answer."""
        self._enter()
        try:
            body = await self._read_json(request)
            self._record(request, body, chat=True)
            if body is None:
                return _bytes_response(
                    _error_body(
                        "We could not parse the JSON body of your request.",
                        "invalid_request_error",
                        None,
                    ),
                    status=400,
                )
            if body.get("stream"):
                return _bytes_response(
                    _error_body(
                        "Streaming is not supported by the fake LLM server.",
                        "invalid_request_error",
                        "unsupported_parameter",
                        param="stream",
                    ),
                    status=400,
                )
            try:
                reply = self._next_reply(body)
            except Exception as exc:
                log.exception("FakeLLMServer reply callable failed")
                return _bytes_response(
                    _error_body(f"reply callable failed: {exc!r}", "server_error", None),
                    status=500,
                )
            if reply.latency > 0:
                await asyncio.sleep(reply.latency)
            return self._answer(request, body, reply)
        finally:
            self._leave()

    def _answer(self, request: web.Request, body: dict[str, Any], reply: Reply) -> web.Response:
        """The HTTP response for ``reply`` (or a closed connection for ``drop``)."""
        if reply.kind == "drop":
            if request.transport is not None:
                request.transport.close()
            # Writing to the closed transport fails with ConnectionError, which aiohttp ignores.
            return web.Response(status=500)
        if reply.kind == "broken_body":
            return _bytes_response(
                b'{"id": "chatcmpl-broken", "choices": [{"message": ', reply.status, reply.headers
            )
        if reply.kind == "error":
            error_type = reply.error_type or _error_type(reply.status)[0]
            return _bytes_response(
                _error_body(reply.content, error_type, reply.error_code),
                reply.status,
                reply.headers,
            )
        messages = body.get("messages")
        prompt_tokens = reply.prompt_tokens
        if prompt_tokens is None:
            prompt_tokens = count_prompt_tokens(messages if isinstance(messages, list) else [])
        completion_tokens = reply.completion_tokens
        if completion_tokens is None:
            completion_tokens = count_completion_tokens(reply.content)
        payload = {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model") or DEFAULT_MODEL,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": reply.content},
                    "finish_reason": reply.finish_reason,
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }
        return _json_response(payload, reply.status, reply.headers)


def _fill(schema: dict[str, Any], name: str) -> Any:
    """The smallest value a JSON schema accepts (the first of an enum, the minimum)."""
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object":
        return {key: _fill(sub, key) for key, sub in schema.get("properties", {}).items()}
    if kind == "array":
        return []
    if kind == "integer":
        return int(schema.get("minimum", 0))
    if kind == "number":
        return float(schema.get("minimum", 0))
    if kind == "boolean":
        return True
    return f"{name} from the test server."


def schema_answer(latency: float = 0.0) -> Callable[[dict[str, Any]], Reply]:
    """A reply callable that answers each request with a value valid for the JSON schema it
    sent (``response_format.json_schema``), or ``ok`` when it sent none."""

    def answer(body: dict[str, Any]) -> Reply:
        fmt = body.get("response_format") or {}
        schema = (fmt.get("json_schema") or {}).get("schema")
        if not schema:
            return Reply(content="ok", latency=latency)
        return Reply.json(_fill(schema, "answer"), latency=latency)

    return answer


def main(argv: list[str] | None = None) -> int:
    """Command line: serve in the foreground until SIGINT/SIGTERM, printing ``URL <base_url>``."""
    parser = argparse.ArgumentParser(
        prog="python -m tests.fakes.llm_server",
        description="A fake OpenAI-compatible server for tests and benchmarks.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument("--content", default="ok", help="the assistant's answer")
    parser.add_argument(
        "--schema-answers",
        action="store_true",
        help="answer each request with JSON valid for the schema it sent (else --content)",
    )
    args = parser.parse_args(argv)

    default = (
        schema_answer(args.latency)
        if args.schema_answers
        else Reply(content=args.content, latency=args.latency)
    )
    server = FakeLLMServer(host=args.host, port=args.port, default=default)

    def announce(url: str) -> None:
        sys.stdout.write(f"URL {url}\n")
        sys.stdout.flush()

    try:  # uvloop, where installed, keeps the server's own overhead out of benchmarks
        import uvloop

        loop_factory = uvloop.new_event_loop
    except ImportError:  # pragma: no cover
        loop_factory = None
    with contextlib.suppress(KeyboardInterrupt), asyncio.Runner(loop_factory=loop_factory) as r:
        r.run(server.serve_forever(on_ready=announce))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

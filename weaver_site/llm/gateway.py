"""One call shape for every job: :func:`complete` for one request, :func:`batch` for many.

Each request goes through: the response cache (a repeated request costs nothing and makes no
network call), the budget (its estimated cost is reserved before it is sent), the endpoint's
limits (concurrency slot, request and token buckets, shared across processes), the backend,
and one retry layer (exponential backoff with full jitter, honouring ``Retry-After``). With a
JSON schema, the answer is parsed and validated; invalid JSON gets one repair attempt, then the
call is recorded as invalid with the raw text kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import json
import logging
import queue
import random
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import jsonschema
from django.db import close_old_connections, connections, transaction

from weaver_site.models import Job

from . import budget
from .backends import PermanentError, RetryableError, backend_for
from .limits import EndpointLimiter, make_store
from .models import CachedResponse, CallStatus, Endpoint, LLMCall

logger = logging.getLogger(__name__)

SWITCH_INTERVAL = 0.0002  # seconds; see _prefer_io()
BACKOFF_BASE = 0.5  # seconds; attempt k waits up to BACKOFF_BASE * 2**k
BACKOFF_CAP = 30.0
RETRY_AFTER_CAP = 120.0
DB_THREADS = 4
REPAIR_PROMPT = (
    "Your previous answer could not be used: {error}\n"
    "Reply again with only the corrected JSON, with no other text."
)


@dataclass
class LLMRequest:
    """One chat request. ``key`` is the caller's own tag, handed back with the result."""

    messages: list[dict]
    params: dict = field(default_factory=dict)
    schema: dict | None = None
    sample_index: int = 0
    key: Any = None


@dataclass
class LLMResult:
    request: LLMRequest
    endpoint_id: int
    request_hash: str
    status: str  # a CallStatus value
    text: str = ""
    data: Any = None  # the validated JSON, when a schema was given
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: Decimal = Decimal("0")
    latency_ms: int = 0
    attempts: int = 0
    cached: bool = False
    error: str = ""
    call_id: int | None = None
    sent: int = 0  # requests that reached the server and were answered (a repair makes two)

    @property
    def ok(self) -> bool:
        return self.status in (CallStatus.OK, CallStatus.CACHED)


def request_hash(endpoint: Endpoint, request: LLMRequest) -> str:
    """SHA-256 over backend, model, messages, merged parameters, schema and sample index."""
    payload = {
        "backend": endpoint.backend,
        "model": endpoint.model,
        "messages": request.messages,
        "params": {**endpoint.default_params, **request.params},
        "schema": request.schema,
        "sample": request.sample_index,
    }
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def backoff_delay(attempt: int, retry_after: float | None = None, rng=random) -> float:
    """Seconds to wait before attempt ``attempt + 1``: Retry-After if the server sent one,
    else full jitter over an exponentially growing window."""
    if retry_after is not None:
        return min(retry_after, RETRY_AFTER_CAP)
    return rng.uniform(0, min(BACKOFF_CAP, BACKOFF_BASE * 2**attempt))


@functools.lru_cache(maxsize=512)
def _validator(schema_json: str):
    """A validator per schema, checked once: ``jsonschema.validate`` checks the schema itself
    against its metaschema on every call, which costs more than the validation."""
    schema = json.loads(schema_json)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def parse_json_answer(text: str, schema: dict) -> Any:
    """The JSON object in ``text`` (bare, or in a ```json fence), validated against ``schema``.

    Raises ValueError with a message fit to show the model in a repair prompt.
    """
    candidate = text.strip()
    if candidate.startswith("```"):
        candidate = candidate.split("\n", 1)[1] if "\n" in candidate else ""
        candidate = candidate.rsplit("```", 1)[0]
    try:
        data = json.loads(candidate)
    except json.JSONDecodeError as exc:
        start, end = candidate.find("{"), candidate.rfind("}")
        if start == -1 or end <= start:
            raise ValueError(f"not valid JSON ({exc.msg} at line {exc.lineno})") from None
        try:
            data = json.loads(candidate[start : end + 1])
        except json.JSONDecodeError as inner:
            raise ValueError(f"not valid JSON ({inner.msg} at line {inner.lineno})") from None
    try:
        _validator(json.dumps(schema, sort_keys=True)).validate(data)
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "the top level"
        raise ValueError(f"does not match the schema at {where}: {exc.message}") from None
    return data


class _Runner:
    """Runs requests for one endpoint on one event loop.

    Database work stays off the loop: one bulk look-up of the cache before the first request,
    budget reservations on a small pool (only when a budget applies), and every result written
    in bulk by one writer thread, a few milliseconds after it arrives.
    """

    FLUSH_SECONDS = 0.1
    FLUSH_SIZE = 500

    def __init__(self, endpoint: Endpoint, job: Job | None):
        self.endpoint = endpoint
        self.job = job
        self.backend = backend_for(endpoint)
        self.reserve_pool = ThreadPoolExecutor(DB_THREADS, thread_name_prefix="llm-budget")
        self.writer = ThreadPoolExecutor(1, thread_name_prefix="llm-writer")
        self.budgeted = (job is not None and job.budget_usd is not None) or (
            endpoint.daily_budget_usd is not None
        )
        self.pending: list[tuple[LLMResult, Decimal]] = []
        self.unrecorded = 0  # requests of this batch whose result is not queued for writing yet
        self.limiter: EndpointLimiter | None = None
        self.budget_stop = ""  # set by the first refusal: the rest of the batch is not sent
        self.closing = False
        self.on_drained = None

    async def on(self, pool, fn, *args, **kwargs):
        return await asyncio.get_running_loop().run_in_executor(pool, lambda: fn(*args, **kwargs))

    def close_db(self) -> None:
        """Close the pool threads' database connections (one close task per thread)."""
        for pool, size in ((self.reserve_pool, DB_THREADS), (self.writer, 1)):
            barrier = threading.Barrier(size, timeout=10)

            def close(barrier=barrier):
                with contextlib.suppress(threading.BrokenBarrierError):
                    barrier.wait()
                connections.close_all()

            for future in [pool.submit(close) for _ in range(size)]:
                future.result()
            pool.shutdown(wait=True)

    async def run(self, requests: list[LLMRequest], emit, follow=None, on_drained=None) -> None:
        """Send ``requests``; ``emit`` receives lists of finished results, once written.

        ``follow(result)``, when given, is called on this loop with every result and returns
        the requests to send next in the same run (a second step that needs the first one's
        answer starts as soon as that answer is in)."""
        self.emit = emit
        store = make_store()
        self.limiter = EndpointLimiter(self.endpoint, store)
        hashes = [request_hash(self.endpoint, r) for r in requests]
        cached = await self.on(self.writer, _cache_lookup, set(hashes))
        in_flight: dict[str, asyncio.Future] = {}
        flusher = asyncio.create_task(self._flush_loop())
        self.unrecorded = len(requests)

        async def one(req: LLMRequest, h: str) -> None:
            result = await answer(req, h)
            for nxt in follow(result) if follow is not None else ():
                self.unrecorded += 1
                nh = request_hash(self.endpoint, nxt)
                if nh not in cached:  # looked up beside the writer, never queued behind it
                    cached.update(await self.on(self.reserve_pool, _cache_lookup, {nh}))
                await one(nxt, nh)

        async def answer(req: LLMRequest, h: str) -> LLMResult:
            if h in cached:
                result = self._from_cache(req, h, cached[h])
                await self._record(result)
                return result
            if h in in_flight:  # the same request twice in one batch: ask once
                first = await asyncio.shield(in_flight[h])
                result = self._from_cache(req, h, first)
                await self._record(result)
                return result
            future = asyncio.get_running_loop().create_future()
            in_flight[h] = future
            try:
                result, reserved = await self._call(req, h)
            except BaseException as exc:
                future.set_exception(exc)
                future.exception()  # retrieved: the caller sees it through gather
                raise
            future.set_result(result if result.status == CallStatus.OK else None)
            await self._record(result, reserved)
            return result

        try:
            await asyncio.gather(*(one(r, h) for r, h in zip(requests, hashes, strict=True)))
        finally:
            self.closing = True
            await flusher  # finishes its current write (never cut off halfway)
            await self._flush()
            close = getattr(self.backend, "aclose", None)
            if close is not None:
                await close()
            await self.limiter.aclose()
            await store.aclose()

    # --- one request ---------------------------------------------------------------------

    async def _call(self, req: LLMRequest, h: str) -> tuple[LLMResult, Decimal]:
        params = {**self.endpoint.default_params, **req.params}
        result = LLMResult(request=req, endpoint_id=self.endpoint.pk, request_hash=h, status="")
        estimate = Decimal("0")
        if self.budget_stop:
            result.status, result.error = CallStatus.BUDGET, self.budget_stop
            return result, estimate
        if self.budgeted:
            _, estimate = budget.estimate_cost(self.endpoint, req.messages, params)
            try:
                await self.on(
                    self.reserve_pool,
                    budget.reserve,
                    endpoint=self.endpoint,
                    job=self.job,
                    amount=estimate,
                )
            except budget.BudgetExceeded as exc:
                self.budget_stop = str(exc)
                result.status, result.error = CallStatus.BUDGET, str(exc)
                return result, Decimal("0")
        messages = list(req.messages)
        repaired = False
        while True:
            completion, attempts, error = await self._attempts(messages, params, req.schema)
            result.attempts += attempts
            if completion is None:
                result.status, result.error = CallStatus.FAILED, error
                break
            result.sent += 1
            result.cost_usd += self.endpoint.cost(completion.input_tokens, completion.output_tokens)
            result.input_tokens += completion.input_tokens
            result.output_tokens += completion.output_tokens
            result.latency_ms += completion.latency_ms
            result.text = completion.text
            if req.schema is None:
                result.status = CallStatus.OK
                break
            try:
                result.data = parse_json_answer(completion.text, req.schema)
                result.status = CallStatus.OK
                break
            except ValueError as exc:
                if repaired:
                    result.status, result.error = CallStatus.INVALID, f"answer {exc}"
                    break
                repaired = True
                messages = [
                    *req.messages,
                    {"role": "assistant", "content": completion.text},
                    {"role": "user", "content": REPAIR_PROMPT.format(error=f"it is {exc}")},
                ]
        return result, estimate

    async def _attempts(self, messages, params, schema):
        """Send with retries. Returns (completion or None, attempts made, last error)."""
        error = ""
        tokens = 0
        if self.endpoint.tokens_per_minute:
            tokens = budget.estimate_tokens(messages) + int(
                params.get("max_tokens") or params.get("max_completion_tokens") or 0
            )
        for attempt in range(self.endpoint.max_attempts):
            retry_after = None
            completion = None
            async with self.limiter.slot():
                await self.limiter.take(tokens)
                started = time.perf_counter()
                try:
                    completion = await self.backend.chat(
                        messages, params, json_mode=self.endpoint.json_mode, schema=schema
                    )
                except PermanentError as exc:
                    return None, attempt + 1, str(exc)
                except RetryableError as exc:
                    error, retry_after = str(exc), exc.retry_after
                else:
                    completion.latency_ms = int((time.perf_counter() - started) * 1000)
            if completion is not None:
                # The slot is free: let the request waiting for it go out before this answer
                # is parsed and stored. Answers come in waves, and handling a whole wave first
                # would leave the freed slots idle for as long as that takes.
                await asyncio.sleep(0)
                return completion, attempt + 1, ""
            if attempt + 1 < self.endpoint.max_attempts:
                delay = backoff_delay(attempt, retry_after)
                logger.info(
                    "endpoint %s: %s; retry %d in %.2fs",
                    self.endpoint.name,
                    error,
                    attempt + 1,
                    delay,
                )
                await asyncio.sleep(delay)
        attempts = self.endpoint.max_attempts
        return None, attempts, f"gave up after {attempts} attempts: {error}"

    def _from_cache(self, req: LLMRequest, h: str, source) -> LLMResult:
        """A result served from a stored answer (a CachedResponse, or an LLMResult of this
        batch); ``None`` when the first copy failed."""
        result = LLMResult(request=req, endpoint_id=self.endpoint.pk, request_hash=h, status="")
        if source is None:
            result.status, result.error = CallStatus.FAILED, "the same request failed"
            return result
        result.status, result.cached = CallStatus.CACHED, True
        result.text = source.text
        result.input_tokens, result.output_tokens = source.input_tokens, source.output_tokens
        if req.schema is not None:
            try:
                result.data = parse_json_answer(source.text, req.schema)
            except ValueError as exc:
                result.status, result.error = CallStatus.INVALID, f"answer {exc}"
        return result

    # --- writing results -----------------------------------------------------------------

    async def _record(self, result: LLMResult, reserved: Decimal = Decimal("0")) -> None:
        """Queue the result for the writer; it is emitted once it is in the database."""
        self.pending.append((result, reserved))
        self.unrecorded -= 1
        if self.on_drained is not None and self.limiter.waiting == 0:
            drained, self.on_drained = self.on_drained, None
            drained()
        if len(self.pending) >= self.FLUSH_SIZE or self.unrecorded == 0:
            await self._flush()

    async def _flush_loop(self) -> None:
        while not self.closing:
            await asyncio.sleep(self.FLUSH_SECONDS)
            await self._flush()

    async def _flush(self) -> None:
        items, self.pending = self.pending, []
        if not items:
            return
        ids = await self.on(self.writer, self._write, items)
        for (result, _), call_id in zip(items, ids, strict=True):
            result.call_id = call_id
        self.emit([result for result, _ in items])

    def _write(self, items: list[tuple[LLMResult, Decimal]]) -> list[int]:
        """Store answers, ledger rows and spend for a group of results, in one transaction."""
        with transaction.atomic():
            answers = {
                r.request_hash: CachedResponse(
                    request_hash=r.request_hash,
                    endpoint=self.endpoint,
                    model=self.endpoint.model,
                    text=r.text,
                    input_tokens=r.input_tokens,
                    output_tokens=r.output_tokens,
                    cost_usd=r.cost_usd,
                    latency_ms=r.latency_ms,
                )
                for r, _ in items
                if r.status == CallStatus.OK
            }
            if answers:
                CachedResponse.objects.bulk_create(answers.values(), ignore_conflicts=True)
            calls = LLMCall.objects.bulk_create(
                LLMCall(
                    endpoint=self.endpoint,
                    job=self.job,
                    request_hash=r.request_hash,
                    status=r.status,
                    input_tokens=r.input_tokens,
                    output_tokens=r.output_tokens,
                    cost_usd=r.cost_usd,
                    latency_ms=r.latency_ms,
                    attempts=r.attempts,
                    error=r.error[:5000],
                    raw_text=r.text if r.status == CallStatus.INVALID else "",
                )
                for r, _ in items
            )
            budget.settle(
                endpoint=self.endpoint,
                job=self.job,
                reserved=sum((res for _, res in items), Decimal("0")),
                cost=sum((r.cost_usd for r, _ in items), Decimal("0")),
                calls=sum(r.sent for r, _ in items),
                cache_hits=sum(1 for r, _ in items if r.cached),
            )
        return [c.pk for c in calls]


def _cache_lookup(hashes: set[str]) -> dict[str, CachedResponse]:
    found: dict[str, CachedResponse] = {}
    items = list(hashes)
    for start in range(0, len(items), 500):
        for response in CachedResponse.objects.filter(request_hash__in=items[start : start + 500]):
            found[response.request_hash] = response
    return found


def _loop_factory():
    """uvloop where it is installed (it roughly halves the event loop's own cost)."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - a dependency, but the gateway works without it
        return None
    return uvloop.new_event_loop


def _prefer_io() -> None:
    """Shorten the interpreter's thread switch interval (5 ms by default) in a process that
    runs the gateway. Its event loops wake for every answer while other threads (storing a
    chunk's results, another batch's loop) hold the GIL; at the default, each wake-up can wait
    5 ms, and a request's slot stays idle for tens of milliseconds between answers. Measured in
    ``benchmarks/negatives.py``: 76% of the bound at 1 ms, 82% at 0.2 ms."""
    if sys.getswitchinterval() > SWITCH_INTERVAL:
        sys.setswitchinterval(SWITCH_INTERVAL)


def batch(
    endpoint: Endpoint,
    requests: Iterable[LLMRequest],
    *,
    job: Job | None = None,
    follow: Callable[[LLMResult], Iterable[LLMRequest]] | None = None,
    on_drained: Callable[[], None] | None = None,
) -> Iterator[LLMResult]:
    """Run many requests concurrently under the endpoint's limits; yield results as they finish.

    Results come back in completion order; match them to requests by ``result.request.key``.
    ``follow`` (called on the gateway's event loop thread with each result, so keep it quick
    and free of database queries) returns further requests to send in the same batch; their
    results are yielded too. ``on_drained`` is called once (on that thread) when no request of
    the batch waits for a slot any more: a caller may start its next batch then.
    """
    requests = list(requests)
    if not requests:
        return
    if not endpoint.is_active:
        raise PermanentError(f"endpoint {endpoint.name} is not active")
    _prefer_io()
    results: queue.Queue = queue.Queue()
    done = object()
    runner = _Runner(endpoint, job)

    def main():
        try:
            with asyncio.Runner(loop_factory=_loop_factory()) as loop_runner:
                loop_runner.run(runner.run(requests, results.put, follow, on_drained))
        except BaseException as exc:  # handed to the consuming thread
            results.put(exc)
        finally:
            runner.close_db()
            results.put(done)

    thread = threading.Thread(target=main, name=f"llm-{endpoint.name}", daemon=True)
    thread.start()
    while True:
        item = results.get()
        if item is done:
            break
        if isinstance(item, BaseException):
            thread.join()
            raise item
        yield from item
    thread.join()
    close_old_connections()


def complete(endpoint: Endpoint, request: LLMRequest, *, job: Job | None = None) -> LLMResult:
    """One request through the gateway."""
    (result,) = list(batch(endpoint, [request], job=job))
    return result

"""Endpoint limits shared by every process: a concurrency semaphore and two token buckets
(requests per minute, tokens per minute).

With Redis as the broker the state lives in Redis (atomic Lua scripts), so all workers on all
machines share it. With the embedded broker it lives in a file under ``WEAVER_DATA_DIR``,
guarded by ``fcntl`` locks, which is correct for every process on the one machine.

Slots are leases of :data:`LEASE_SECONDS`, renewed every :data:`RENEW_SECONDS` while held:
a process that dies holding one (a killed worker) loses it within the lease, so the workers
that carry on get the endpoint's whole concurrency back within seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import random
import time
import uuid
from contextlib import asynccontextmanager
from pathlib import Path

from django.conf import settings

logger = logging.getLogger(__name__)

LEASE_SECONDS = 15.0
RENEW_SECONDS = 4.0

_SEM_ACQUIRE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[4])
  redis.call('EXPIRE', KEYS[1], ARGV[5])
  return 1
end
return 0
"""

# Returns 0 when ``n`` units were taken, else the seconds to wait before trying again.
_BUCKET_TAKE = """
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local n = math.min(tonumber(ARGV[4]), capacity)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or capacity
local ts = tonumber(state[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - ts) * rate)
if tokens >= n then
  redis.call('HSET', KEYS[1], 'tokens', tokens - n, 'ts', now)
  redis.call('EXPIRE', KEYS[1], 3600)
  return '0'
end
redis.call('HSET', KEYS[1], 'tokens', tokens, 'ts', now)
redis.call('EXPIRE', KEYS[1], 3600)
return tostring((n - tokens) / rate)
"""


class RedisStore:
    """The limits in Redis, shared by every process on every machine (one per event loop)."""

    def __init__(self, url: str):
        import redis.asyncio

        self.client = redis.asyncio.Redis.from_url(url)
        self._sem = self.client.register_script(_SEM_ACQUIRE)
        self._bucket = self.client.register_script(_BUCKET_TAKE)

    async def try_acquire(self, key, limit, holder, lease) -> bool:
        now = time.time()
        args = [now, limit, now + lease, holder, int(lease) + 60]
        return bool(await self._sem(keys=[key], args=args))

    async def release(self, key, holder) -> None:
        await self.client.zrem(key, holder)

    async def renew(self, key, holders, lease) -> None:
        """Extend the leases of ``holders`` still in the set (never re-adds a lost one)."""
        until = time.time() + lease
        await self.client.zadd(key, {h: until for h in holders}, xx=True)

    async def take(self, key, per_minute, n) -> float:
        args = [per_minute, per_minute / 60.0, time.time(), n]
        return float(await self._bucket(keys=[key], args=args))

    async def aclose(self) -> None:
        await self.client.aclose()


class FileStore:
    """The limits in one JSON file per key, read and written under an exclusive ``fcntl``
    lock: shared by every process on this machine. Each operation takes microseconds, so it
    runs on the event loop."""

    def __init__(self, folder: Path):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def _update(self, key: str, change):
        path = self.folder / (key.replace(":", "_") + ".json")
        with open(path, "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                handle.seek(0)
                raw = handle.read()
                state = json.loads(raw) if raw else {}
                result = change(state)
                handle.seek(0)
                handle.truncate()
                handle.write(json.dumps(state))
                handle.flush()
                return result
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    async def try_acquire(self, key, limit, holder, lease) -> bool:
        def change(state):
            now = time.time()
            holders = {
                h: v
                for h, v in state.get("holders", {}).items()
                if v["until"] > now and _alive(v["pid"])
            }
            ok = len(holders) < limit
            if ok:
                holders[holder] = {"until": now + lease, "pid": os.getpid()}
            state["holders"] = holders
            return ok

        return self._update(key, change)

    async def release(self, key, holder) -> None:
        self._update(key, lambda state: state.get("holders", {}).pop(holder, None))

    async def renew(self, key, holders, lease) -> None:
        def change(state):
            until = time.time() + lease
            for holder in holders:
                if holder in state.get("holders", {}):
                    state["holders"][holder]["until"] = until

        self._update(key, change)

    async def take(self, key, per_minute, n) -> float:
        def change(state):
            now = time.time()
            rate = per_minute / 60.0
            need = min(n, per_minute)
            tokens = min(
                per_minute, state.get("tokens", per_minute) + (now - state.get("ts", now)) * rate
            )
            state["ts"] = now
            if tokens >= need:
                state["tokens"] = tokens - need
                return 0.0
            state["tokens"] = tokens
            return (need - tokens) / rate

        return self._update(key, change)

    async def aclose(self) -> None:
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def make_store():
    """A store for the current event loop: Redis when it is the broker, else a file."""
    if settings.REDIS_URL:
        return RedisStore(settings.REDIS_URL)
    return FileStore(settings.DATA_DIR / "llm-limits")


class EndpointLimiter:
    """The limits of one endpoint, for one event loop.

    A local asyncio semaphore hands slots to this process's coroutines at once; the shared
    store makes sure all processes together stay under ``max_concurrency``. A global slot that
    frees while local requests wait is handed to the next one directly, for up to
    ``REUSE_SECONDS``, then given back so that other processes get their turn: that saves two
    store round trips per request under load.
    """

    POLL_MIN, POLL_MAX = 0.005, 0.05
    REUSE_SECONDS = 2.0

    def __init__(self, endpoint, store):
        self.endpoint = endpoint
        self.store = store
        self.key = f"weaver:llm:{endpoint.pk}"
        self.sem_key = f"{self.key}:sem"
        self.local = asyncio.Semaphore(endpoint.max_concurrency)
        self.lease = LEASE_SECONDS
        self.waiting = 0
        self.idle: list[tuple[str, float]] = []  # global slots held for the next local request
        self.busy: set[str] = set()  # global slots in use by this process's requests
        self.renewer: asyncio.Task | None = None

    @asynccontextmanager
    async def slot(self):
        self.waiting += 1
        try:
            await self.local.acquire()
        finally:
            self.waiting -= 1
        try:
            held = await self._acquire()
            self.busy.add(held[0])
            if self.renewer is None:
                self.renewer = asyncio.create_task(self._renew_loop())
            try:
                yield
            finally:
                self.busy.discard(held[0])
                await self._release(held)
        finally:
            self.local.release()

    async def _renew_loop(self) -> None:
        """Keep the leases of the slots this process holds (a request may outlast a lease)."""
        while True:
            await asyncio.sleep(RENEW_SECONDS)
            holders = self.busy | {holder for holder, _ in self.idle}
            if holders:
                try:
                    await self.store.renew(self.sem_key, list(holders), self.lease)
                except Exception:  # the next round tries again
                    logger.warning("renewing slots of %s failed", self.key, exc_info=True)

    async def _acquire(self) -> tuple[str, float]:
        now = time.monotonic()
        while self.idle:
            holder, since = self.idle.pop()
            if now - since < self.REUSE_SECONDS:
                return holder, since
            await self.store.release(self.sem_key, holder)
        holder = uuid.uuid4().hex
        delay = self.POLL_MIN
        while not await self.store.try_acquire(
            self.sem_key, self.endpoint.max_concurrency, holder, self.lease
        ):
            await asyncio.sleep(delay * (0.5 + random.random()))  # noqa: S311
            delay = min(self.POLL_MAX, delay * 2)
        return holder, time.monotonic()

    async def _release(self, held: tuple[str, float]) -> None:
        if self.waiting and time.monotonic() - held[1] < self.REUSE_SECONDS:
            self.idle.append(held)
        else:
            await self.store.release(self.sem_key, held[0])

    async def aclose(self) -> None:
        """Stop renewing and give back the slots kept for reuse."""
        if self.renewer is not None:
            self.renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.renewer
            self.renewer = None
        while self.idle:
            holder, _ = self.idle.pop()
            await self.store.release(self.sem_key, holder)

    async def take(self, tokens: int) -> None:
        """Wait until the request and token buckets allow one request of ``tokens`` tokens."""
        for suffix, per_minute, n in (
            ("rpm", self.endpoint.requests_per_minute, 1),
            ("tpm", self.endpoint.tokens_per_minute, tokens),
        ):
            if not per_minute:
                continue
            while True:
                wait = await self.store.take(f"{self.key}:{suffix}", per_minute, n)
                if wait <= 0:
                    break
                await asyncio.sleep(wait)

"""The shared concurrency leases: renewed while held, lost soon after a holder dies."""

import asyncio
import time
import uuid

from weaver_site.llm.limits import make_store


def test_a_renewed_lease_is_kept_and_an_abandoned_one_expires(settings, tmp_path):
    settings.DATA_DIR = tmp_path  # the file store (SQLite runs) lives here; Redis in CI

    async def scenario():
        store = make_store()
        key = f"weaver:test:{uuid.uuid4().hex}:sem"
        try:
            assert await store.try_acquire(key, 1, "a", 0.4)
            assert not await store.try_acquire(key, 1, "b", 0.4)  # the one slot is taken
            await asyncio.sleep(0.25)
            await store.renew(key, ["a"], 0.4)  # the holder is alive: it renews
            await asyncio.sleep(0.25)
            assert not await store.try_acquire(key, 1, "b", 0.4)  # past the first lease
            started = time.monotonic()
            while not await store.try_acquire(key, 1, "b", 0.4):  # "a" died: no renewal
                await asyncio.sleep(0.05)
            assert time.monotonic() - started < 1.0
            await store.renew(key, ["a"], 10)  # a lost lease is never brought back
            assert not await store.try_acquire(key, 1, "c", 0.4)  # "b" holds the slot
            await store.release(key, "b")
            assert await store.try_acquire(key, 1, "c", 0.4)
        finally:
            await store.release(key, "c")
            await store.aclose()

    asyncio.run(scenario())

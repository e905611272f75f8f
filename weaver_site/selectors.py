from __future__ import annotations

import time
from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone
from kombu.utils.url import maybe_sanitize_url

from .models import WorkerHeartbeat


def _database_check() -> dict:
    started = time.perf_counter()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # reported, not raised: this is the health page
        return {"ok": False, "vendor": connection.vendor, "error": str(exc)}
    return {
        "ok": True,
        "vendor": connection.vendor,
        "latency_ms": round((time.perf_counter() - started) * 1000, 2),
    }


def _broker_check() -> dict:
    from .celery import app

    url = app.conf.broker_url
    started = time.perf_counter()
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
    except Exception as exc:
        return {"ok": False, "url": maybe_sanitize_url(url), "error": str(exc)}
    return {
        "ok": True,
        "url": maybe_sanitize_url(url),
        "transport": "redis" if url.startswith(("redis", "rediss")) else url.split(":")[0],
        "latency_ms": round((time.perf_counter() - started) * 1000, 2),
    }


def live_workers() -> list[WorkerHeartbeat]:
    cutoff = timezone.now() - timedelta(seconds=3 * settings.WEAVER_HEARTBEAT_SECONDS)
    return list(WorkerHeartbeat.objects.filter(last_seen__gte=cutoff))


def health_report() -> dict:
    """Database, broker and live workers per queue, as shown on the health page and API."""
    database = _database_check()
    broker = _broker_check()
    workers = live_workers() if database["ok"] else []
    queues = {}
    for name in settings.WEAVER_QUEUES:
        hosts = sorted(w.hostname for w in workers if name in w.queue_list)
        queues[name] = {"ok": bool(hosts), "workers": hosts}
    if not (database["ok"] and broker["ok"]):
        status = "down"
    elif all(q["ok"] for q in queues.values()):
        status = "ok"
    else:
        status = "degraded"
    return {
        "status": status,
        "checked_at": timezone.now().isoformat(),
        "database": database,
        "broker": broker,
        "queues": queues,
    }

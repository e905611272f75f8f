"""A worker bootstep that records the worker's queues and liveness in the database."""

from __future__ import annotations

import logging
import os
import threading

from celery import bootsteps

logger = logging.getLogger(__name__)

#: Other work whose worker may die, recovered on every heartbeat: name -> dotted path of a
#: function taking no arguments (registered by the apps that own such work).
RECOVERIES: dict[str, str] = {}


def recovery_register(name: str, path: str) -> None:
    RECOVERIES[name] = path


class HeartbeatStep(bootsteps.StartStopStep):
    """Beats from a thread of its own: the worker's timer runs on its event loop, which a task
    in the solo pool (the ``gpu`` worker, training for hours) blocks with the Redis broker."""

    requires = {"celery.worker.components:Timer"}

    def __init__(self, worker, **kwargs):
        super().__init__(worker, **kwargs)
        self.stopping = threading.Event()
        self.thread = None

    def start(self, worker):
        from django.conf import settings
        from django.utils import timezone

        self.started_at = timezone.now()
        self.beat(worker, restarted=True)
        interval = settings.WEAVER_HEARTBEAT_SECONDS

        def loop():
            from django.db import connections

            try:
                while not self.stopping.wait(interval):
                    self.beat(worker)
            finally:
                connections.close_all()

        self.thread = threading.Thread(target=loop, name="weaver-heartbeat", daemon=True)
        self.thread.start()

    def stop(self, worker):
        self.stopping.set()
        if self.thread is not None:
            self.thread.join(timeout=10)
            self.thread = None
        from django.db import close_old_connections

        from .services import worker_heartbeat_clear

        close_old_connections()
        try:
            worker_heartbeat_clear(hostname=worker.hostname)
        except Exception:  # the database may already be gone at shutdown
            logger.warning("could not clear the heartbeat of %s", worker.hostname, exc_info=True)

    def beat(self, worker, restarted=False):
        from django.db import close_old_connections

        from .jobs import job_recover_orphans
        from .selectors import live_workers
        from .services import worker_heartbeat_record

        close_old_connections()  # this runs in the worker's timer, outside any request
        queues = sorted(q.name for q in worker.app.amqp.queues.consume_from.values())
        try:
            worker_heartbeat_record(
                hostname=worker.hostname,
                queues=queues,
                pid=os.getpid(),
                started_at=self.started_at,
            )
        except Exception:
            logger.warning("heartbeat of %s failed", worker.hostname, exc_info=True)
            return
        try:  # jobs whose worker died go back on their queue
            job_recover_orphans(
                live_workers={w.hostname for w in live_workers()},
                restarted=worker.hostname if restarted else "",
            )
        except Exception:
            logger.warning("job recovery on %s failed", worker.hostname, exc_info=True)
        from django.utils.module_loading import import_string

        for name, path in RECOVERIES.items():
            try:
                import_string(path)()
            except Exception:
                logger.warning("%s recovery on %s failed", name, worker.hostname, exc_info=True)

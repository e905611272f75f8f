"""The Celery application. Queues by kind of work: ``default``, ``llm`` and ``gpu``."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "weaver_site.settings")

app = Celery("weaver_site")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Workers report themselves to the database so that health checks work with any broker,
# including the embedded filesystem broker, which has no broadcast channel.
from .heartbeat import HeartbeatStep  # noqa: E402

app.steps["worker"].add(HeartbeatStep)

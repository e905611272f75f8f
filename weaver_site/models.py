from django.db import models
from django.utils.translation import gettext_lazy as _


class WorkerHeartbeat(models.Model):
    """A Celery worker's last sign of life, written by ``weaver_site.heartbeat.HeartbeatStep``."""

    hostname = models.CharField(_("hostname"), max_length=255, unique=True)
    queues = models.CharField(_("queues"), max_length=255, help_text=_("Comma-separated."))
    pid = models.PositiveIntegerField(_("process id"))
    started_at = models.DateTimeField(_("started at"))
    last_seen = models.DateTimeField(_("last seen"), db_index=True)

    class Meta:
        verbose_name = _("worker heartbeat")
        verbose_name_plural = _("worker heartbeats")
        ordering = ("hostname",)

    def __str__(self) -> str:
        return self.hostname

    @property
    def queue_list(self) -> list[str]:
        return [q for q in self.queues.split(",") if q]

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TrainingConfig(AppConfig):
    """Training runs, metrics, checkpoints and evaluation (issues 9–10)."""

    name = "training"
    verbose_name = _("Training")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from weaver_site.heartbeat import recovery_register
        from weaver_site.jobs import job_kind_register

        from .evaluation.kinds import TASKS

        recovery_register("training runs", "training.services.training_run_recover_orphans")
        for kind, task_name in TASKS.items():
            job_kind_register(kind, task_name)

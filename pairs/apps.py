from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PairsConfig(AppConfig):
    """Corpus texts, instruction pairs, preference pairs, review and datasets (issues 4–8)."""

    name = "pairs"
    verbose_name = _("Pairs")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from weaver_site.jobs import job_kind_register

        from .generation.kinds import TASKS

        for kind, task_name in TASKS.items():
            job_kind_register(kind, task_name)

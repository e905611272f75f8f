from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LLMConfig(AppConfig):
    name = "weaver_site.llm"
    label = "llm"
    verbose_name = _("LLM gateway")
    default_auto_field = "django.db.models.BigAutoField"

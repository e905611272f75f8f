from django.apps import AppConfig
from django.contrib.admin.apps import AdminConfig
from django.utils.translation import gettext_lazy as _


class WeaverAdminConfig(AdminConfig):
    default_site = "weaver_site.admin.WeaverAdminSite"


class WeaverSiteConfig(AppConfig):
    name = "weaver_site"
    verbose_name = _("Studio")
    default_auto_field = "django.db.models.BigAutoField"

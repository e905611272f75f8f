from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from .models import WorkerHeartbeat
from .roles import is_admin


class WeaverAdminSite(admin.AdminSite):
    site_header = _("Weaver studio administration")
    site_title = _("Weaver studio")
    index_title = _("Administration")

    def has_permission(self, request):
        # Only the Admin role enters the Django admin; the same rules as the pages apply.
        return request.user.is_active and is_admin(request.user)


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(admin.ModelAdmin):
    list_display = ("hostname", "queues", "pid", "started_at", "last_seen")
    search_fields = ("hostname", "queues")
    list_filter = ("queues",)
    readonly_fields = ("hostname", "queues", "pid", "started_at", "last_seen")

    def has_add_permission(self, request):
        return False

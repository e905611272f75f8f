from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from .models import Job, WorkerHeartbeat
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


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "kind",
        "name",
        "status",
        "done",
        "failed",
        "total",
        "spent_usd",
        "budget_usd",
        "calls",
        "cache_hits",
        "created_at",
    )
    list_filter = ("kind", "status")
    search_fields = ("name", "error")
    readonly_fields = (
        "kind",
        "status",
        "spent_usd",
        "reserved_usd",
        "total",
        "done",
        "failed",
        "calls",
        "cache_hits",
        "error",
        "created_by",
        "created_at",
        "started_at",
        "finished_at",
    )
    fields = ("name", "budget_usd", *readonly_fields)

    def has_add_permission(self, request):
        return False

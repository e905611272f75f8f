from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils.translation import gettext_lazy as _

from . import services
from .models import Domain, Principle, PrincipleVersion, Subdomain, Task


class SubdomainInline(admin.TabularInline):
    model = Subdomain
    extra = 0
    fields = ("slug", "name_en", "name_zh", "position")


@admin.register(Domain)
class DomainAdmin(admin.ModelAdmin):
    list_display = ("slug", "name_en", "name_zh", "position")
    search_fields = ("slug", "name_en", "name_zh")
    inlines = [SubdomainInline]


@admin.register(Subdomain)
class SubdomainAdmin(admin.ModelAdmin):
    list_display = ("slug", "domain", "name_en", "name_zh", "position")
    list_filter = ("domain",)
    search_fields = ("slug", "name_en", "name_zh")


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin):
    list_display = ("slug", "name_en", "name_zh", "position")
    search_fields = ("slug", "name_en", "name_zh")


class VersionInline(admin.TabularInline):
    """Versions are immutable: shown, never edited, in the admin too."""

    model = PrincipleVersion
    extra = 0
    fields = ("number", "state", "title", "author", "change_note", "created_at", "approved_at")
    readonly_fields = fields
    show_change_link = True
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Principle)
class PrincipleAdmin(admin.ModelAdmin):
    """Content changes go through the pages (new versions); the admin reassigns owners and
    runs the same review transitions as the pages."""

    list_display = ("id", "title", "domain", "task", "language", "status", "owner", "updated_at")
    list_filter = ("status", "language", "domain", "task", "owner")
    search_fields = ("latest_version__title", "latest_version__description", "owner__username")
    list_select_related = ("domain", "task", "owner", "latest_version")
    readonly_fields = (
        "domain",
        "task",
        "language",
        "status",
        "latest_version",
        "approved_version",
        "created_at",
        "updated_at",
        "retired_at",
    )
    fields = ("owner",) + readonly_fields
    autocomplete_fields = ("owner",)
    inlines = [VersionInline]
    actions = ["approve_selected", "retire_selected"]

    @admin.display(description=_("title"), ordering="latest_version__title")
    def title(self, obj):
        return obj.latest_version.title if obj.latest_version_id else ""

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def _run(self, request, queryset, service, done_message):
        done = 0
        for principle in queryset:
            try:
                service(principle=principle, user=request.user)
                done += 1
            except (PermissionDenied, ValidationError) as exc:
                self.message_user(request, f"#{principle.pk}: {exc}", messages.WARNING)
        self.message_user(request, done_message % {"n": done}, messages.SUCCESS)

    @admin.action(description=_("Approve the version in review"))
    def approve_selected(self, request, queryset):
        self._run(request, queryset, services.principle_approve, _("%(n)d approved."))

    @admin.action(description=_("Retire"))
    def retire_selected(self, request, queryset):
        self._run(request, queryset, services.principle_retire, _("%(n)d retired."))


@admin.register(PrincipleVersion)
class PrincipleVersionAdmin(admin.ModelAdmin):
    list_display = ("principle", "number", "state", "title", "author", "created_at")
    list_filter = ("state", "principle__domain", "principle__language")
    search_fields = ("title", "description", "following_text", "violating_text")
    list_select_related = ("principle", "author", "principle__latest_version")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

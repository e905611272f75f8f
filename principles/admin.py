from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils.translation import gettext_lazy as _

from . import services
from .models import (
    Domain,
    FewShotCase,
    FewShotCaseVersion,
    Principle,
    PrincipleVersion,
    Subdomain,
    Task,
)


class ServiceActions:
    """Admin actions that call a service per selected object, as the object's page would."""

    service_arg = "principle"  # the service's keyword for the object

    def _run(self, request, queryset, service, done_message):
        done = 0
        for obj in queryset:
            try:
                service(**{self.service_arg: obj}, user=request.user)
                done += 1
            except (PermissionDenied, ValidationError) as exc:
                self.message_user(request, f"#{obj.pk}: {exc}", messages.WARNING)
        self.message_user(request, done_message % {"n": done}, messages.SUCCESS)


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
class PrincipleAdmin(ServiceActions, admin.ModelAdmin):
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


class FewShotVersionInline(admin.TabularInline):
    """Few-shot versions are immutable: shown, never edited, in the admin too."""

    model = FewShotCaseVersion
    extra = 0
    fields = ("number", "instruction", "author", "change_note", "created_at")
    readonly_fields = fields
    show_change_link = True
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(FewShotCase)
class FewShotCaseAdmin(ServiceActions, admin.ModelAdmin):
    service_arg = "case"

    """Content changes go through the pages (new versions); the admin reassigns owners and
    retires or restores cases through the same services as the pages."""

    list_display = ("id", "instruction", "subdomain", "task", "language", "is_active", "owner")
    list_filter = ("is_active", "language", "subdomain__domain", "task", "owner")
    search_fields = (
        "latest_version__instruction",
        "latest_version__source_span",
        "latest_version__output",
        "owner__username",
    )
    list_select_related = ("subdomain__domain", "task", "owner", "latest_version")
    readonly_fields = (
        "subdomain",
        "task",
        "language",
        "is_active",
        "latest_version",
        "created_at",
        "updated_at",
    )
    fields = ("owner",) + readonly_fields
    autocomplete_fields = ("owner",)
    inlines = [FewShotVersionInline]
    actions = ["retire_selected", "restore_selected"]

    @admin.display(description=_("instruction"), ordering="latest_version__instruction")
    def instruction(self, obj):
        return obj.latest_version.instruction[:80] if obj.latest_version_id else ""

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description=_("Retire"))
    def retire_selected(self, request, queryset):
        self._run(request, queryset, services.fewshot_case_retire, _("%(n)d retired."))

    @admin.action(description=_("Restore"))
    def restore_selected(self, request, queryset):
        self._run(request, queryset, services.fewshot_case_restore, _("%(n)d restored."))


@admin.register(FewShotCaseVersion)
class FewShotCaseVersionAdmin(admin.ModelAdmin):
    list_display = ("case", "number", "instruction_short", "author", "created_at")
    list_filter = ("case__language", "case__task", "case__subdomain__domain")
    search_fields = ("source_span", "instruction", "output", "rationale")
    list_select_related = ("case", "author", "case__subdomain", "case__task")

    @admin.display(description=_("instruction"))
    def instruction_short(self, obj):
        return obj.instruction[:80]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

"""Django admin for training runs: read-only (runs are made on the training pages and the API),
with their checkpoints inline, cancel and resume actions, and deletes that go through
``training_run_delete`` (metrics, log and the run's folder go too; a refused delete is a message,
not an error page). Metrics and log chunks have no pages of their own (there are thousands)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from pairs.admin import ReadOnlyInline
from weaver_site.admin_mixins import ServiceDeleteMixin
from weaver_site.admin_mixins import pretty_json as _pretty_json
from weaver_site.admin_mixins import refusal as _refusal

from . import selectors, services
from .models import RunCheckpoint, RunLogChunk, RunMetric, TrainingRun

LOG_PREVIEW_CHARS = 5_000


class RunCheckpointInline(ReadOnlyInline):
    model = RunCheckpoint
    fields = ("step", "final", "path", "size_bytes", "created_at")
    show_change_link = True


@admin.register(TrainingRun)
class TrainingRunAdmin(ServiceDeleteMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "name",
        "kind",
        "status",
        "steps",
        "snapshot",
        "created_by",
        "created_at",
    )
    list_display_links = ("id", "name")
    list_filter = ("status", "kind", "method")
    search_fields = ("name",)
    list_select_related = ("snapshot", "created_by")
    list_per_page = 50
    fields = (
        "name",
        "kind",
        "snapshot",
        "base_model",
        "base_run",
        "method",
        "gpus",
        "hyperparameters_display",
        "status",
        "steps",
        "epoch",
        "last_loss",
        "attempts",
        "resumed_from",
        "final_dir",
        "summary_display",
        "error",
        "worker",
        "pid",
        "heartbeat_at",
        "lease_expires_at",
        "created_by",
        "created_at",
        "started_at",
        "finished_at",
        "log_tail",
    )
    readonly_fields = fields
    inlines = [RunCheckpointInline]
    actions = ["cancel_selected", "resume_selected", "delete_selected"]

    @admin.display(description=_("step"), ordering="step")
    def steps(self, obj):
        return f"{obj.step}/{obj.max_steps}" if obj.max_steps else str(obj.step)

    @admin.display(description=_("hyperparameters"))
    def hyperparameters_display(self, obj):
        return _pretty_json(obj.hyperparameters)

    @admin.display(description=_("summary"))
    def summary_display(self, obj):
        return _pretty_json(obj.summary)

    @admin.display(description=_("log (end)"))
    def log_tail(self, obj):
        text = selectors.run_log_tail(obj, max_chars=LOG_PREVIEW_CHARS)
        return format_html("<pre>{}</pre>", text) if text else "-"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_train_permission(self, request):
        return services.can_train(request.user)

    # --- Actions ----------------------------------------------------------------------------

    def _change_each(self, request, queryset, change, done):
        try:
            n = sum(bool(change(run=run, user=request.user)) for run in queryset)
        except PermissionDenied as exc:
            self.message_user(request, _refusal(exc), messages.ERROR)
            return
        level = messages.SUCCESS if n else messages.WARNING
        self.message_user(request, done(n) % {"n": n}, level)

    @admin.action(description=_("Cancel selected"), permissions=["train"])
    def cancel_selected(self, request, queryset):
        self._change_each(
            request,
            queryset,
            services.training_run_cancel,
            lambda n: ngettext("%(n)d run cancelled.", "%(n)d runs cancelled.", n),
        )

    @admin.action(description=_("Resume selected"), permissions=["train"])
    def resume_selected(self, request, queryset):
        self._change_each(
            request,
            queryset,
            services.training_run_resume,
            lambda n: ngettext("%(n)d run queued again.", "%(n)d runs queued again.", n),
        )

    # --- Deleting (through the service: ServiceDeleteMixin) ---------------------------------

    def delete_through(self, request, obj):
        services.training_run_delete(run=obj, user=request.user)

    def deleted_message(self, n: int) -> str:
        return ngettext("%(n)d run deleted.", "%(n)d runs deleted.", n) % {"n": n}

    def deleted_with(self, objs):
        """Counted, not listed: the default lists every metric and log line."""
        ids = [r.pk for r in objs]
        return [
            (model._meta.verbose_name_plural, model.objects.filter(run_id__in=ids).count())
            for model in (RunCheckpoint, RunMetric, RunLogChunk)
        ]


@admin.register(RunCheckpoint)
class RunCheckpointAdmin(admin.ModelAdmin):
    """Checkpoints are written by the engine; read-only here. Their folders go with their
    run (deleting a row alone would leave the files, so it is not offered)."""

    list_display = ("run", "name", "step", "final", "size_bytes", "available", "created_at")
    list_filter = ("final",)
    search_fields = ("run__name", "path")
    list_select_related = ("run",)
    list_per_page = 50
    fields = ("run", "step", "final", "path", "size_bytes", "available", "created_at")
    readonly_fields = fields

    @admin.display(description=_("on disk"), boolean=True)
    def available(self, obj):
        return selectors.checkpoint_folder(obj) is not None

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


from .evaluation import admin as _evaluation_admin  # noqa: E402,F401

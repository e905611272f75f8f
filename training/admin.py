"""Django admin for training runs: read-only (runs are made on the training pages and the API),
with their checkpoints inline, cancel and resume actions, and deletes that go through
``training_run_delete`` (metrics, log and the run's folder go too; a refused delete is a message,
not an error page). Metrics and log chunks have no pages of their own (there are thousands)."""

from __future__ import annotations

import json

from django.contrib import admin, messages
from django.contrib.admin.actions import delete_selected as confirm_delete_selected
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from pairs.admin import ReadOnlyInline

from . import selectors, services
from .models import RunCheckpoint, RunLogChunk, RunMetric, TrainingRun

LOG_PREVIEW_CHARS = 5_000


def _pretty_json(value) -> str:
    return format_html(
        "<pre>{}</pre>", json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True)
    )


def _refusal(exc: Exception) -> str:
    return " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)


class RunCheckpointInline(ReadOnlyInline):
    model = RunCheckpoint
    fields = ("step", "final", "path", "size_bytes", "created_at")
    show_change_link = True


@admin.register(TrainingRun)
class TrainingRunAdmin(admin.ModelAdmin):
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

    @admin.action(description=confirm_delete_selected.short_description, permissions=["delete"])
    def delete_selected(self, request, queryset):
        """Django's confirmation page, then each run through the service: those it refuses
        stay, and the message says how many went and why the others did not."""
        if not request.POST.get("post"):
            return confirm_delete_selected(self, request, queryset)
        deleted = self._delete_runs(request, list(queryset))
        if deleted:
            self.message_user(
                request,
                ngettext("%(n)d run deleted.", "%(n)d runs deleted.", deleted) % {"n": deleted},
                messages.SUCCESS,
            )
        return None

    # --- Deleting ---------------------------------------------------------------------------

    def _delete_runs(self, request, runs) -> int:
        """Delete each run through the service (its admin log entry only if it went); say
        why for each refused one. Returns how many went."""
        deleted = 0
        for run in runs:
            label = str(run)
            try:
                with transaction.atomic():
                    self.log_deletions(request, [run])
                    services.training_run_delete(run=run, user=request.user)
            except (PermissionDenied, ValidationError) as exc:
                self.message_user(request, f"{label}: {_refusal(exc)}", messages.ERROR)
            else:
                deleted += 1
        return deleted

    def get_deleted_objects(self, objs, request):
        """What a delete removes, counted: the default lists every metric and log line."""
        runs = list(objs)
        ids = [r.pk for r in runs]
        listed = [f"{capfirst(TrainingRun._meta.verbose_name)}: {r}" for r in runs]
        counts = {TrainingRun._meta.verbose_name_plural: len(runs)}
        for model in (RunCheckpoint, RunMetric, RunLogChunk):
            n = model.objects.filter(run_id__in=ids).count()
            if n:
                counts[model._meta.verbose_name_plural] = n
                listed.append(f"{capfirst(model._meta.verbose_name_plural)}: {n}")
        return listed, counts, set(), []

    def delete_model(self, request, obj):
        # The delete view has logged the deletion already, inside its transaction: a refused
        # delete rolls that back and is told on the run's page.
        try:
            services.training_run_delete(run=obj, user=request.user)
        except (PermissionDenied, ValidationError) as exc:
            if transaction.get_connection().in_atomic_block:
                transaction.set_rollback(True)
            request._training_run_refused = True
            self.message_user(request, _refusal(exc), messages.ERROR)

    def response_delete(self, request, obj_display, obj_id):
        if getattr(request, "_training_run_refused", False):
            opts = self.opts
            url = reverse(
                f"{self.admin_site.name}:{opts.app_label}_{opts.model_name}_change", args=[obj_id]
            )
            return HttpResponseRedirect(url)
        return super().response_delete(request, obj_display, obj_id)

    def delete_queryset(self, request, queryset):
        self._delete_runs(request, list(queryset))


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

"""Django admin for evaluation.

Benchmarks: a draft's name, description and instructions (inline) are edited here through the
benchmark services; a frozen benchmark is read-only, instructions included. Actions freeze a
draft or make a new version; a delete goes through ``benchmark_delete`` (refused while an
evaluation uses the benchmark: a message, not an error page). Models under evaluation and
evaluations are made on the evaluation pages and the API: read-only here, deleted through
their services; evaluations can be cancelled and resumed. Responses, judge grades and
comparisons, human comparisons, arena assignments and contamination reports are records:
read-only. No page shows an endpoint's API key (endpoints appear by name).
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from weaver_site.admin_mixins import ServiceDeleteMixin
from weaver_site.admin_mixins import pretty_json as _pretty_json
from weaver_site.admin_mixins import refusal as _refusal

from .models import (
    ArenaAssignment,
    Benchmark,
    BenchmarkItem,
    BenchmarkStatus,
    ContaminationReport,
    Contestant,
    EvalResponse,
    Evaluation,
    HumanComparison,
    JudgeComparison,
    JudgeGrade,
)


def _change_url(admin_site, obj) -> str:
    opts = obj._meta
    return reverse(f"{admin_site.name}:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])


class ReadOnlyAdmin(admin.ModelAdmin):
    """A record: shown, never added, changed or deleted here."""

    def get_readonly_fields(self, request, obj=None):
        return self.fields or [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# --- Benchmarks -----------------------------------------------------------------------------


def _frozen(obj) -> bool:
    return obj is not None and obj.status == BenchmarkStatus.FROZEN


class BenchmarkItemInline(admin.TabularInline):
    """A draft's instructions, saved through ``benchmark_item_save`` (position, slugs and
    the draft-only rule are the service's); read-only once the benchmark is frozen."""

    model = BenchmarkItem
    fields = ("key", "instruction", "language", "domain", "task", "reference", "metadata")
    extra = 0
    show_change_link = True

    def get_readonly_fields(self, request, obj=None):
        return self.fields if _frozen(obj) else ()

    def has_add_permission(self, request, obj=None):
        return not _frozen(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return not _frozen(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return not _frozen(obj) and super().has_delete_permission(request, obj)


@admin.register(Benchmark)
class BenchmarkAdmin(ServiceDeleteMixin, admin.ModelAdmin):
    list_display = (
        "name",
        "version",
        "status",
        "item_count",
        "short_hash",
        "created_by",
        "created_at",
        "frozen_at",
    )
    list_filter = ("status",)
    search_fields = ("name", "description", "content_hash")
    list_select_related = ("created_by",)
    list_per_page = 50
    fields = (
        "name",
        "version",
        "description",
        "status",
        "content_hash",
        "parent",
        "created_by",
        "created_at",
        "frozen_by",
        "frozen_at",
    )
    inlines = [BenchmarkItemInline]
    actions = ["freeze_selected", "new_version_selected", "delete_selected"]

    def deleted_message(self, n: int) -> str:
        return ngettext("%(n)d benchmark deleted.", "%(n)d benchmarks deleted.", n) % {"n": n}

    def get_readonly_fields(self, request, obj=None):
        if _frozen(obj):
            return self.fields
        return tuple(f for f in self.fields if f not in ("name", "description"))

    @admin.display(description=_("instructions"))
    def item_count(self, obj):
        return obj.items.count()

    @admin.display(description=_("content hash"), ordering="content_hash")
    def short_hash(self, obj):
        return obj.content_hash[:12]

    def has_add_permission(self, request):
        return False  # made on the benchmark pages and the API

    def has_change_permission(self, request, obj=None):
        return not _frozen(obj) and super().has_change_permission(request, obj)

    def delete_through(self, request, obj):
        from . import benchmarks

        benchmarks.benchmark_delete(benchmark=obj)

    def deleted_with(self, objs):
        ids = [b.pk for b in objs]
        return [
            (
                BenchmarkItem._meta.verbose_name_plural,
                BenchmarkItem.objects.filter(benchmark_id__in=ids).count(),
            )
        ]

    # --- Saving through the services -------------------------------------------------------

    def save_model(self, request, obj, form, change):
        from . import benchmarks

        if not change:  # not offered (no add permission)
            raise PermissionDenied
        changed = set(form.changed_data) & {"name", "description"}
        if changed:
            benchmarks.benchmark_update(
                benchmark=obj,
                **{name: form.cleaned_data[name] for name in changed},
            )

    def save_formset(self, request, form, formset, change):
        from . import benchmarks

        if formset.model is not BenchmarkItem:
            return super().save_formset(request, form, formset, change)
        benchmark = form.instance
        for item_form in formset.deleted_forms:
            if item_form.instance.pk:
                benchmarks.benchmark_item_delete(item=item_form.instance)
        for item_form in formset.forms:
            if item_form in formset.deleted_forms or not item_form.has_changed():
                continue
            data = item_form.cleaned_data
            benchmarks.benchmark_item_save(
                benchmark=benchmark,
                item=item_form.instance if item_form.instance.pk else None,
                key=data["key"],
                instruction=data["instruction"],
                language=data["language"],
                domain=data["domain"].slug if data.get("domain") else "",
                task=data["task"].slug if data.get("task") else "",
                reference=data.get("reference") or "",
                metadata=data.get("metadata") or {},
            )
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        return None

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        """A change the services refuse (a name in use, a benchmark frozen meanwhile, a bad
        slug) is rolled back and told as a message on the same page."""
        try:
            with transaction.atomic():
                return super().changeform_view(request, object_id, form_url, extra_context)
        except ValidationError as exc:
            self.message_user(request, _refusal(exc), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    # --- Actions ---------------------------------------------------------------------------

    def _each(self, request, queryset, change) -> int:
        done = 0
        for benchmark in queryset:
            try:
                change(benchmark)
            except (PermissionDenied, ValidationError) as exc:
                self.message_user(request, f"{benchmark}: {_refusal(exc)}", messages.ERROR)
            else:
                done += 1
        return done

    @admin.action(description=_("Freeze selected"), permissions=["change"])
    def freeze_selected(self, request, queryset):
        from . import benchmarks

        n = self._each(
            request,
            queryset,
            lambda b: benchmarks.benchmark_freeze(benchmark=b, user=request.user),
        )
        if n:
            self.message_user(
                request,
                ngettext("%(n)d benchmark frozen.", "%(n)d benchmarks frozen.", n) % {"n": n},
                messages.SUCCESS,
            )

    @admin.action(description=_("Make a new version of selected"), permissions=["view"])
    def new_version_selected(self, request, queryset):
        from . import benchmarks

        n = self._each(
            request,
            queryset,
            lambda b: benchmarks.benchmark_new_version(benchmark=b, created_by=request.user),
        )
        if n:
            self.message_user(
                request,
                ngettext("%(n)d new draft version made.", "%(n)d new draft versions made.", n)
                % {"n": n},
                messages.SUCCESS,
            )


@admin.register(BenchmarkItem)
class BenchmarkItemAdmin(admin.ModelAdmin):
    """Instructions: searched here; a draft's are changed through ``benchmark_item_save``
    (added on the benchmark's page); a frozen benchmark's are read-only."""

    list_display = ("key", "benchmark", "language", "domain", "task", "short_instruction")
    list_filter = ("language", "domain", "task", "benchmark__status")
    search_fields = ("key", "instruction", "benchmark__name")
    list_select_related = ("benchmark", "domain", "task")
    list_per_page = 50
    fields = (
        "benchmark",
        "key",
        "position",
        "instruction",
        "language",
        "domain",
        "task",
        "reference",
        "metadata",
    )

    @admin.display(description=_("instruction"))
    def short_instruction(self, obj):
        text = obj.instruction
        return text if len(text) <= 80 else text[:79] + "…"

    def get_readonly_fields(self, request, obj=None):
        if obj is None or _frozen(obj.benchmark):
            return self.fields
        return ("benchmark", "position")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        frozen = obj is not None and _frozen(obj.benchmark)
        return not frozen and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        frozen = obj is not None and _frozen(obj.benchmark)
        return not frozen and super().has_delete_permission(request, obj)

    def save_model(self, request, obj, form, change):
        from . import benchmarks

        data = form.cleaned_data
        benchmarks.benchmark_item_save(
            benchmark=obj.benchmark,
            item=BenchmarkItem.objects.get(pk=obj.pk),
            key=data["key"],
            instruction=data["instruction"],
            language=data["language"],
            domain=data["domain"].slug if data.get("domain") else "",
            task=data["task"].slug if data.get("task") else "",
            reference=data.get("reference") or "",
            metadata=data.get("metadata") or {},
        )

    def delete_model(self, request, obj):
        from . import benchmarks

        benchmarks.benchmark_item_delete(item=obj)

    def delete_queryset(self, request, queryset):
        from . import benchmarks

        for item in queryset.select_related("benchmark"):
            if not _frozen(item.benchmark):
                benchmarks.benchmark_item_delete(item=item)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            with transaction.atomic():
                return super().changeform_view(request, object_id, form_url, extra_context)
        except ValidationError as exc:
            self.message_user(request, _refusal(exc), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())


# --- Contestants and evaluations ------------------------------------------------------------


@admin.register(Contestant)
class ContestantAdmin(ServiceDeleteMixin, admin.ModelAdmin):
    """Models under evaluation: made on the evaluation pages and the API; read-only here.
    The endpoint is shown by name only."""

    list_display = ("name", "kind", "endpoint_name", "run", "checkpoint", "created_at")
    list_filter = ("kind",)
    search_fields = ("name", "endpoint__name")
    list_select_related = ("endpoint", "run", "checkpoint")
    list_per_page = 50
    fields = (
        "name",
        "kind",
        "endpoint_name",
        "run",
        "checkpoint",
        "decoding_display",
        "system_prompt",
        "created_by",
        "created_at",
    )
    readonly_fields = fields
    actions = ["delete_selected"]

    def deleted_message(self, n: int) -> str:
        return ngettext("%(n)d model deleted.", "%(n)d models deleted.", n) % {"n": n}

    @admin.display(description=_("endpoint"), ordering="endpoint__name")
    def endpoint_name(self, obj):
        return obj.endpoint.name if obj.endpoint_id else "-"

    @admin.display(description=_("decoding parameters"))
    def decoding_display(self, obj):
        return _pretty_json(obj.decoding)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def delete_through(self, request, obj):
        from . import services

        services.contestant_delete(contestant=obj)

    def deleted_with(self, objs):
        return [
            (
                EvalResponse._meta.verbose_name_plural,
                EvalResponse.objects.filter(contestant__in=objs).count(),
            )
        ]


@admin.register(Evaluation)
class EvaluationAdmin(ServiceDeleteMixin, admin.ModelAdmin):
    """Evaluations: made on the evaluation pages and the API; read-only here with their
    jobs' progress; cancel and resume go through the services."""

    list_display = ("name", "benchmark", "status", "model_count", "judge", "created_at")
    list_filter = ("status", "arena_open")
    search_fields = ("name", "benchmark__name")
    list_select_related = ("benchmark", "judge")
    list_per_page = 50
    fields = (
        "name",
        "benchmark",
        "models_display",
        "judge",
        "grade",
        "pairwise",
        "arena_open",
        "status",
        "budget_usd",
        "jobs_display",
        "error",
        "created_by",
        "created_at",
        "finished_at",
    )
    readonly_fields = fields
    actions = ["cancel_selected", "resume_selected", "delete_selected"]

    def deleted_message(self, n: int) -> str:
        return ngettext("%(n)d evaluation deleted.", "%(n)d evaluations deleted.", n) % {"n": n}

    @admin.display(description=_("models"))
    def model_count(self, obj):
        return obj.contestants.count()

    @admin.display(description=_("models"))
    def models_display(self, obj):
        return ", ".join(c.name for c in obj.contestants.order_by("name")) or "-"

    @admin.display(description=_("jobs"))
    def jobs_display(self, obj):
        from . import services

        jobs = services.evaluation_jobs(evaluation=obj)
        if not jobs:
            return "-"
        names = dict(obj.generation_jobs.values_list("job_id", "contestant__name"))
        linked = self.admin_site.is_registered(type(jobs[0]))

        def job_cell(job):
            if linked:
                return format_html(
                    '<a href="{}">#{}</a>', _change_url(self.admin_site, job), job.pk
                )
            return f"#{job.pk}"

        return format_html(
            "<table><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th>"
            "<th>{}</th><th>{}</th></tr></thead><tbody>{}</tbody></table>",
            _("job"),
            _("kind"),
            _("model"),
            _("status"),
            _("done"),
            _("failed"),
            _("spent (USD)"),
            format_html_join(
                "",
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}/{}</td>"
                "<td>{}</td><td>{}</td></tr>",
                (
                    (
                        job_cell(job),
                        job.kind,
                        names.get(job.pk, "-"),
                        job.get_status_display(),
                        job.done,
                        job.total,
                        job.failed,
                        job.spent_usd,
                    )
                    for job in jobs
                ),
            ),
        )

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_manage_permission(self, request):
        """Cancel and resume (the records themselves are not edited here)."""
        return request.user.has_perm("training.change_evaluation")

    def delete_through(self, request, obj):
        from . import services

        services.evaluation_delete(evaluation=obj)

    def _change_each(self, request, queryset, change, done):
        n = sum(bool(change(evaluation=evaluation)) for evaluation in queryset)
        level = messages.SUCCESS if n else messages.WARNING
        self.message_user(request, done(n) % {"n": n}, level)

    @admin.action(description=_("Cancel selected"), permissions=["manage"])
    def cancel_selected(self, request, queryset):
        from . import services

        self._change_each(
            request,
            queryset,
            services.evaluation_cancel,
            lambda n: ngettext("%(n)d evaluation cancelled.", "%(n)d evaluations cancelled.", n),
        )

    @admin.action(description=_("Resume selected"), permissions=["manage"])
    def resume_selected(self, request, queryset):
        from . import services

        self._change_each(
            request,
            queryset,
            services.evaluation_resume,
            lambda n: ngettext("%(n)d evaluation resumed.", "%(n)d evaluations resumed.", n),
        )


# --- Records --------------------------------------------------------------------------------


@admin.register(EvalResponse)
class EvalResponseAdmin(ReadOnlyAdmin):
    list_display = ("contestant", "item", "model_name", "output_tokens", "cost_usd", "created_at")
    list_filter = ("contestant",)
    search_fields = ("text", "item__key")
    list_select_related = ("contestant", "item", "item__benchmark")
    list_per_page = 50
    fields = (
        "item",
        "contestant",
        "text",
        "decoding_display",
        "model_name",
        "request_hash",
        "output_tokens",
        "latency_ms",
        "cost_usd",
        "job",
        "created_at",
    )

    @admin.display(description=_("decoding parameters"))
    def decoding_display(self, obj):
        return _pretty_json(obj.decoding)


@admin.register(JudgeGrade)
class JudgeGradeAdmin(ReadOnlyAdmin):
    list_display = ("response", "judge", "style", "relevance", "creativity", "overall")
    list_filter = ("judge", "prompt_version")
    search_fields = ("reason", "response__item__key", "response__contestant__name")
    list_select_related = ("response__contestant", "response__item__benchmark", "judge")
    list_per_page = 50
    fields = (
        "response",
        "judge",
        "prompt_version",
        "reason",
        "style",
        "relevance",
        "creativity",
        "overall",
        "created_at",
    )


@admin.register(JudgeComparison)
class JudgeComparisonAdmin(ReadOnlyAdmin):
    list_display = ("item", "response_a", "response_b", "outcome", "judge", "created_at")
    list_filter = ("outcome", "judge", "prompt_version")
    search_fields = ("item__key",)
    list_select_related = (
        "item__benchmark",
        "response_a__contestant",
        "response_a__item",
        "response_b__contestant",
        "response_b__item",
        "judge",
    )
    list_per_page = 50
    fields = (
        "item",
        "response_a",
        "response_b",
        "judge",
        "prompt_version",
        "outcome",
        "criteria_display",
        "first_display",
        "second_display",
        "created_at",
    )

    @admin.display(description=_("outcome per criterion"))
    def criteria_display(self, obj):
        return _pretty_json(obj.criteria)

    @admin.display(description=_("answer, A shown first"))
    def first_display(self, obj):
        return _pretty_json(obj.first)

    @admin.display(description=_("answer, B shown first"))
    def second_display(self, obj):
        return _pretty_json(obj.second)


@admin.register(HumanComparison)
class HumanComparisonAdmin(ReadOnlyAdmin):
    list_display = ("item", "evaluation", "evaluator", "outcome", "seconds", "created_at")
    list_filter = ("outcome", "evaluation")
    search_fields = ("item__key", "evaluator__username")
    list_select_related = ("item__benchmark", "evaluation", "evaluator")
    list_per_page = 50
    fields = (
        "evaluation",
        "evaluator",
        "item",
        "response_a",
        "response_b",
        "a_on_left",
        "criteria_display",
        "outcome",
        "seconds",
        "created_at",
    )

    @admin.display(description=_("outcome per criterion"))
    def criteria_display(self, obj):
        return _pretty_json(obj.criteria)


@admin.register(ArenaAssignment)
class ArenaAssignmentAdmin(ReadOnlyAdmin):
    list_display = ("token", "evaluation", "evaluator", "created_at")
    list_filter = ("evaluation",)
    search_fields = ("evaluator__username",)
    list_select_related = ("evaluation", "evaluator")
    list_per_page = 50
    fields = (
        "token",
        "evaluation",
        "evaluator",
        "response_a",
        "response_b",
        "a_on_left",
        "created_at",
    )


@admin.register(ContaminationReport)
class ContaminationReportAdmin(ReadOnlyAdmin):
    list_display = (
        "benchmark",
        "snapshot",
        "threshold",
        "exact",
        "near",
        "instructions",
        "created_at",
    )
    list_select_related = ("benchmark", "snapshot")
    search_fields = ("benchmark__name", "snapshot__name")
    list_per_page = 50
    fields = (
        "benchmark",
        "snapshot",
        "threshold",
        "exact",
        "near",
        "instructions",
        "matches_display",
        "created_at",
    )

    @admin.display(description=_("matches"))
    def matches_display(self, obj):
        if not obj.matches:
            return "-"
        return format_html(
            "<ul>{}</ul>",
            format_html_join(
                "",
                "<li>{} · {} · {} · {}</li>",
                (
                    (
                        m.get("instruction", ""),
                        m.get("kind", ""),
                        m.get("containment", ""),
                        str(m.get("prompt", ""))[:200],
                    )
                    for m in obj.matches
                ),
            ),
        )

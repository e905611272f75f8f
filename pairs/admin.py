import csv
import io
import json
from urllib.parse import urlencode

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from principles.models import Principle
from weaver_site.roles import ADMIN, REVIEWER

from . import services
from .datasets import selectors as dataset_selectors
from .datasets import services as dataset_services
from .models import (
    CorpusImport,
    CorpusText,
    DatasetExport,
    DatasetRow,
    DatasetSnapshot,
    ExportStatus,
    ImportIssue,
    InstructionPair,
    NearDuplicateCluster,
    PairImport,
    PairImportIssue,
    PairRevision,
    PreferencePair,
    PreferenceStatus,
    Review,
    ReviewItem,
    ReviewQueue,
    Selection,
    SelectionItem,
    TextSpan,
)
from .review.selectors import PAIR_UNUSED


class IdSearchMixin:
    """Search: a number (``42`` or ``#42``) also finds the rows whose ``id_search_lookups``
    equal it, on top of the text search of ``search_fields``."""

    id_search_lookups: tuple[str, ...] = ("pk",)

    def get_search_results(self, request, queryset, search_term):
        results, duplicates = super().get_search_results(request, queryset, search_term)
        term = (search_term or "").strip().lstrip("#")
        if term.isdigit() and len(term) <= 18:
            by_id = Q()
            for lookup in self.id_search_lookups:
                by_id |= Q(**{lookup: int(term)})
            results |= queryset.filter(by_id)
        return results, duplicates


class ExportActions:
    """Admin actions that download the selected rows as JSONL or CSV, streamed row by row.

    Subclasses name the columns (``export_columns``), load what they need
    (``export_queryset``) and turn a row into a dict (``export_row``)."""

    export_name = "export"
    export_columns: tuple[str, ...] = ()

    def export_queryset(self, queryset):
        return queryset

    def export_row(self, obj) -> dict:
        raise NotImplementedError

    def _export_rows(self, queryset):
        for obj in self.export_queryset(queryset).order_by("pk").iterator(chunk_size=500):
            yield self.export_row(obj)

    def _download(self, chunks, extension: str, content_type: str):
        response = StreamingHttpResponse(chunks, content_type=content_type)
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        response["Content-Disposition"] = (
            f'attachment; filename="{self.export_name}-{stamp}.{extension}"'
        )
        return response

    @admin.action(description=_("Export selected as JSONL"), permissions=["view"])
    def export_jsonl(self, request, queryset):
        lines = (
            json.dumps(row, ensure_ascii=False, default=str) + "\n"
            for row in self._export_rows(queryset)
        )
        return self._download(lines, "jsonl", "application/x-ndjson; charset=utf-8")

    @admin.action(description=_("Export selected as CSV"), permissions=["view"])
    def export_csv(self, request, queryset):
        def lines():
            buffer = io.StringIO()
            writer = csv.DictWriter(buffer, fieldnames=self.export_columns)
            writer.writeheader()
            for row in self._export_rows(queryset):
                writer.writerow(
                    {
                        key: json.dumps(value, ensure_ascii=False)
                        if isinstance(value, dict | list)
                        else value
                        for key, value in row.items()
                    }
                )
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate(0)
            yield buffer.getvalue()  # the header alone, when nothing was selected

        return self._download(lines(), "csv", "text/csv; charset=utf-8")


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def get_readonly_fields(self, request, obj=None):
        return self.fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class ImportIssueInline(ReadOnlyInline):
    model = ImportIssue
    fields = ("file", "line", "reason", "excerpt")
    max_num = 0


@admin.register(CorpusImport)
class CorpusImportAdmin(admin.ModelAdmin):
    """Imports are made and run from the corpus pages; the admin shows them and renames."""

    list_display = (
        "id",
        "name",
        "format",
        "status",
        "rows_read",
        "rows_total",
        "imported",
        "duplicates",
        "errors",
        "created_by",
        "created_at",
    )
    list_filter = ("status", "format", "created_by")
    search_fields = ("name", "original_name", "path")
    list_select_related = ("created_by",)
    readonly_fields = (
        "format",
        "path",
        "original_name",
        "size_bytes",
        "mapping",
        "defaults",
        "status",
        "created_by",
        "rows_total",
        "rows_read",
        "imported",
        "duplicates",
        "errors",
        "resume_from",
        "cancel_requested",
        "error",
        "created_at",
        "started_at",
        "finished_at",
    )
    fields = ("name",) + readonly_fields
    inlines = [ImportIssueInline]

    def has_add_permission(self, request):
        return False


@admin.register(ImportIssue)
class ImportIssueAdmin(admin.ModelAdmin):
    list_display = ("corpus_import", "file", "line", "reason")
    list_filter = ("corpus_import",)
    search_fields = ("reason", "excerpt", "file")
    list_select_related = ("corpus_import",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class TextSpanInline(ReadOnlyInline):
    model = TextSpan
    fields = ("ordinal", "start", "end")


@admin.register(CorpusText)
class CorpusTextAdmin(admin.ModelAdmin):
    """Texts are read-only here, except whether they are active."""

    list_display = (
        "id",
        "short_title",
        "language",
        "domain",
        "subdomain",
        "length",
        "verdict",
        "llm_score",
        "is_active",
        "corpus_import",
    )
    list_filter = ("language", "domain", "verdict", "is_active", "corpus_import")
    search_fields = ("title", "text", "content_hash")
    list_select_related = ("domain", "subdomain", "corpus_import")
    list_editable = ("is_active",)
    list_per_page = 50
    show_full_result_count = False
    exclude = ("minhash",)
    inlines = [TextSpanInline]

    def get_readonly_fields(self, request, obj=None):
        return [
            f.name
            for f in CorpusText._meta.concrete_fields
            if f.name not in ("is_active", "minhash", "id")
        ]

    @admin.display(description=_("title"), ordering="title")
    def short_title(self, obj):
        return obj.title or obj.text[:40]

    def has_add_permission(self, request):
        return False


@admin.register(TextSpan)
class TextSpanAdmin(admin.ModelAdmin):
    list_display = ("text", "ordinal", "start", "end")
    list_filter = ("text__language", "text__domain")
    search_fields = ("text__title", "text__content_hash")
    list_select_related = ("text",)
    raw_id_fields = ("text",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class ClusterMemberInline(ReadOnlyInline):
    model = CorpusText
    fk_name = "cluster"
    fields = ("title", "language", "length", "is_active")
    show_change_link = True


@admin.register(NearDuplicateCluster)
class NearDuplicateClusterAdmin(admin.ModelAdmin):
    list_display = ("id", "keeper", "size", "created_at")
    list_filter = ("created_at",)
    search_fields = ("keeper__title", "keeper__content_hash")
    list_select_related = ("keeper",)
    readonly_fields = ("keeper", "size", "created_at")
    inlines = [ClusterMemberInline]

    def has_add_permission(self, request):
        return False


class SelectionItemInline(admin.TabularInline):
    model = SelectionItem
    extra = 0
    fields = ("rank", "text", "score")
    readonly_fields = fields
    raw_id_fields = ("text",)
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Selection)
class SelectionAdmin(admin.ModelAdmin):
    list_display = ("name", "size", "created_by", "created_at")
    list_filter = ("created_by", "created_at")
    search_fields = ("name",)
    list_select_related = ("created_by",)
    readonly_fields = ("params", "size", "created_by", "created_at")
    inlines = [SelectionItemInline]

    def has_add_permission(self, request):
        return False


# --- Instruction pairs ----------------------------------------------------------------------
@admin.register(InstructionPair)
class InstructionPairAdmin(admin.ModelAdmin):
    """Pairs are made by backtranslation or imports; here they can be read and corrected.
    How a pair was made (its LLM call, cost, raw answer, import) is read-only."""

    list_display = (
        "id",
        "task",
        "domain",
        "language",
        "status",
        "origin",
        "curation_score",
        "mark",
        "created_at",
    )
    list_filter = ("status", "origin", "task", "language", "mark", "domain")
    search_fields = ("instruction", "response")
    list_select_related = ("task", "domain")
    list_per_page = 50
    show_full_result_count = False
    raw_id_fields = ("span", "source_text", "job", "call", "duplicate_of", "pair_import")
    readonly_fields = (
        "origin",
        "recipe_version",
        "sample_index",
        "fewshot_versions",
        "job",
        "endpoint",
        "model",
        "call",
        "request_hash",
        "cost_usd",
        "error",
        "raw_text",
        "curation_prompt_version",
        "curation_endpoint",
        "pair_import",
        "source_line",
        "content_hash",
        "marked_by",
        "marked_at",
        "created_at",
        "updated_at",
    )

    def has_add_permission(self, request):
        return False


class PairImportIssueInline(ReadOnlyInline):
    model = PairImportIssue
    fields = ("line", "field", "reason", "excerpt")
    max_num = 0


@admin.register(PairImport)
class PairImportAdmin(admin.ModelAdmin):
    """Pair imports are made from the import page, the API or ``manage.py import_pairs``."""

    list_display = (
        "id",
        "name",
        "original_name",
        "rows_read",
        "imported",
        "duplicates",
        "errors",
        "created_by",
        "created_at",
    )
    list_filter = ("created_by", "created_at")
    search_fields = ("name", "original_name")
    list_select_related = ("created_by",)
    readonly_fields = (
        "original_name",
        "created_by",
        "rows_read",
        "imported",
        "duplicates",
        "errors",
        "created_at",
    )
    fields = ("name",) + readonly_fields
    inlines = [PairImportIssueInline]

    def has_add_permission(self, request):
        return False


@admin.register(PairImportIssue)
class PairImportIssueAdmin(admin.ModelAdmin):
    list_display = ("pair_import", "line", "field", "reason")
    list_filter = ("pair_import",)
    search_fields = ("reason", "excerpt", "field")
    list_select_related = ("pair_import",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


# --- Preference pairs -----------------------------------------------------------------------
class PrincipleListFilter(admin.SimpleListFilter):
    """The principle a pair breaks (any version), titled by its latest version."""

    title = _("principle")
    parameter_name = "principle"

    def lookups(self, request, model_admin):
        return [
            (p.pk, str(p))
            for p in Principle.objects.select_related("latest_version").order_by("pk")
        ]

    def queryset(self, request, queryset):
        value = self.value()
        if value and str(value).isdigit():
            return queryset.filter(principle_version__principle_id=int(value))
        return queryset


@admin.register(PreferencePair)
class PreferencePairAdmin(IdSearchMixin, ExportActions, admin.ModelAdmin):
    """Preference pairs are made by negative synthesis jobs and changed by review; here they can
    be read and corrected, accepted or rejected in bulk, and exported. How a pair was made
    (prompt, calls, metrics, judge) is read-only."""

    list_display = (
        "id",
        "principle_version",
        "task",
        "language",
        "status",
        "flagged",
        "judge_verdict",
        "reviewed_by",
        "created_at",
    )
    list_filter = (
        "status",
        "flagged",
        "judge_verdict",
        "language",
        "task",
        PrincipleListFilter,
        "mode",
        "domain",
    )
    search_fields = ("instruction", "chosen", "rejected", "principle_version__title")
    list_select_related = ("principle_version", "task", "reviewed_by")
    list_per_page = 50
    show_full_result_count = False
    raw_id_fields = ("positive", "principle_version", "job", "reviewed_by")
    readonly_fields = (
        "mode",
        "offered_versions",
        "selection_reason",
        "prompt_version",
        "sample_index",
        "job",
        "endpoint",
        "model",
        "params",
        "request_hashes",
        "call_ids",
        "cost_usd",
        "error",
        "raw_text",
        "metrics",
        "flags",
        "flagged",
        "judge_verdict",
        "judge_breaks_principle",
        "judge_otherwise_equal",
        "judge_reason",
        "judge_endpoint",
        "created_at",
        "updated_at",
    )
    actions = ("accept_selected", "reject_selected", "export_jsonl", "export_csv")
    export_name = "preference-pairs"
    export_columns = (
        "id",
        "status",
        "instruction",
        "context",
        "chosen",
        "rejected",
        "principle_version_id",
        "principle_version_title",
        "language",
        "task",
        "metrics",
        "judge_verdict",
    )

    def has_add_permission(self, request):
        return False

    def _set_status(self, request, queryset, status, done):
        try:
            n = services.preference_pairs_set_status(
                pair_ids=queryset.values_list("pk", flat=True), status=status, user=request.user
            )
        except (PermissionDenied, ValidationError) as exc:
            text = " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
            self.message_user(request, text, messages.ERROR)
            return
        self.message_user(request, done(n) % {"n": n}, messages.SUCCESS)

    @admin.action(description=_("Accept selected"), permissions=["change"])
    def accept_selected(self, request, queryset):
        self._set_status(
            request,
            queryset,
            PreferenceStatus.ACCEPTED,
            lambda n: ngettext("%(n)d pair accepted.", "%(n)d pairs accepted.", n),
        )

    @admin.action(description=_("Reject selected"), permissions=["change"])
    def reject_selected(self, request, queryset):
        self._set_status(
            request,
            queryset,
            PreferenceStatus.REJECTED,
            lambda n: ngettext("%(n)d pair rejected.", "%(n)d pairs rejected.", n),
        )

    def export_queryset(self, queryset):
        return (
            queryset.select_related(None)
            .select_related("principle_version", "task")
            .only(
                "id",
                "status",
                "instruction",
                "context",
                "chosen",
                "rejected",
                "language",
                "metrics",
                "judge_verdict",
                "principle_version__title",
                "task__slug",
            )
        )

    def export_row(self, pair) -> dict:
        version = pair.principle_version
        return {
            "id": pair.pk,
            "status": pair.status,
            "instruction": pair.instruction,
            "context": pair.context,
            "chosen": pair.chosen,
            "rejected": pair.rejected,
            "principle_version_id": pair.principle_version_id,
            "principle_version_title": version.title if version else "",
            "language": pair.language,
            "task": pair.task.slug if pair.task_id else "",
            "metrics": pair.metrics,
            "judge_verdict": pair.judge_verdict,
        }


# --- Review ---------------------------------------------------------------------------------
@admin.register(ReviewQueue)
class ReviewQueueAdmin(admin.ModelAdmin):
    """Queues are made (and filled) from the review pages and the API, which match their
    filters against the pairs; here they can be renamed, closed and given reviewers. N only
    changes there too, where it is checked against the reviews already given."""

    list_display = (
        "name",
        "reviews_required",
        "rule",
        "is_active",
        "gold_rate",
        "created_by",
        "created_at",
        "refreshed_at",
    )
    list_filter = ("is_active", "rule", "reviews_required", "created_at")
    search_fields = ("name", "description")
    list_select_related = ("created_by",)
    filter_horizontal = ("reviewers",)
    readonly_fields = ("filters", "reviews_required", "created_by", "created_at", "refreshed_at")
    fields = (
        "name",
        "description",
        "is_active",
        "rule",
        "reservation_minutes",
        "gold_rate",
        "reviewers",
        *readonly_fields,
    )

    def has_add_permission(self, request):
        return False

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "reviewers":
            # Only users who can review are offered (the services refuse anyone else).
            kwargs["queryset"] = (
                get_user_model()
                .objects.filter(Q(groups__name__in=(REVIEWER, ADMIN)) | Q(is_superuser=True))
                .distinct()
                .order_by("username")
            )
        return super().formfield_for_manytomany(db_field, request, **kwargs)


@admin.register(ReviewItem)
class ReviewItemAdmin(IdSearchMixin, admin.ModelAdmin):
    """A pair in a queue with its slots and outcome. Read-only: reviews and adjudication
    change it."""

    list_display = (
        "id",
        "queue",
        "pair",
        "status",
        "taken",
        "submitted",
        "final_decision",
        "is_gold",
    )
    list_filter = ("queue", "status", "is_gold", "final_decision")
    search_fields = ("pair__instruction",)
    id_search_lookups = ("pair_id",)
    list_select_related = ("queue", "pair")
    list_per_page = 50
    show_full_result_count = False
    raw_id_fields = ("queue", "pair", "adjudicated_by")

    def get_queryset(self, request):
        return super().get_queryset(request).defer(*(f"pair__{n}" for n in PAIR_UNUSED))

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class ReviewRecordAdmin(IdSearchMixin, admin.ModelAdmin):
    """Reviews and revisions: records of what reviewers did, shown and never changed here (a
    review holds a slot of its item; removing one alone would break the item's counts)."""

    id_search_lookups = ("pair_id",)

    @admin.display(description=_("pair"), ordering="pair_id")
    def pair_id_display(self, obj):
        return f"#{obj.pair_id}"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Review)
class ReviewAdmin(ExportActions, ReviewRecordAdmin):
    """Reviews, read-only. A reviewer's draft is theirs alone: it is never loaded, shown or
    exported here."""

    list_display = (
        "id",
        "reviewer",
        "queue",
        "pair_id_display",
        "state",
        "decision",
        "submitted_at",
        "seconds_spent",
    )
    list_filter = ("state", "decision", "queue", "is_gold")
    search_fields = ("reviewer__username",)
    list_select_related = ("reviewer", "queue")
    list_per_page = 50
    show_full_result_count = False
    raw_id_fields = ("item", "queue", "pair", "reviewer")
    fields = (
        "reviewer",
        "queue",
        "item",
        "pair",
        "slot",
        "state",
        "is_gold",
        "decision",
        "reasons",
        "comment",
        "edited_rejected",
        "reserved_at",
        "reserved_until",
        "submitted_at",
        "seconds_spent",
    )
    readonly_fields = fields
    actions = ("export_jsonl", "export_csv")
    export_name = "reviews"
    export_columns = (
        "id",
        "reviewer",
        "queue",
        "pair",
        "state",
        "is_gold",
        "decision",
        "reasons",
        "comment",
        "seconds_spent",
        "submitted_at",
    )

    def get_queryset(self, request):
        return super().get_queryset(request).defer("draft")

    def export_queryset(self, queryset):
        return (
            queryset.select_related(None)
            .select_related("reviewer")
            .only(*("reviewer__username" if c == "reviewer" else c for c in self.export_columns))
        )

    def export_row(self, review) -> dict:
        return {
            "id": review.pk,
            "reviewer": review.reviewer.get_username(),
            "queue": review.queue_id,
            "pair": review.pair_id,
            "state": review.state,
            "is_gold": review.is_gold,
            "decision": review.decision,
            "reasons": review.reasons,
            "comment": review.comment,
            "seconds_spent": review.seconds_spent,
            "submitted_at": review.submitted_at.isoformat() if review.submitted_at else None,
        }


@admin.register(PairRevision)
class PairRevisionAdmin(ReviewRecordAdmin):
    """Reviewers' edits of rejected responses, before and after. Read-only."""

    list_display = ("id", "pair_id_display", "review_id", "author", "applied", "created_at")
    list_filter = ("applied", "created_at")
    search_fields = ("author__username",)
    list_select_related = ("author",)
    raw_id_fields = ("pair", "review", "author")
    fields = ("pair", "review", "author", "before", "after", "applied", "created_at")
    readonly_fields = fields


# --- Datasets -------------------------------------------------------------------------------
def _pretty_json(value) -> str:
    return format_html(
        "<pre>{}</pre>", json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True)
    )


class DatasetExportInline(ReadOnlyInline):
    model = DatasetExport
    fields = ("format", "layout", "include_metadata", "status", "rows_written", "created_at")
    show_change_link = True


@admin.register(DatasetSnapshot)
class DatasetSnapshotAdmin(IdSearchMixin, admin.ModelAdmin):
    """Snapshots are made on the dataset pages and the API, and never change: everything is
    read-only here. Deleting one removes its rows, its exports and their files (through
    ``dataset_snapshot_delete``); its rows are counted, not listed, on the confirmation page.
    Rows are not registered on their own (there are millions); the page shows the first few."""

    list_display = (
        "name",
        "version",
        "kind",
        "status",
        "row_count",
        "short_hash",
        "created_by",
        "created_at",
    )
    list_filter = ("kind", "status", "stratify", "created_at")
    search_fields = ("name", "content_hash")
    list_select_related = ("created_by",)
    list_per_page = 50
    fields = (
        "name",
        "version",
        "kind",
        "description",
        "status",
        "error",
        "filters_display",
        "test_fraction",
        "stratify",
        "split_seed",
        "row_count",
        "train_count",
        "test_count",
        "content_hash",
        "stats_display",
        "rows_preview",
        "created_by",
        "created_at",
        "frozen_at",
    )
    readonly_fields = fields
    inlines = [DatasetExportInline]

    @admin.display(description=_("content hash"), ordering="content_hash")
    def short_hash(self, obj):
        return obj.content_hash[:12]

    @admin.display(description=_("filters"))
    def filters_display(self, obj):
        return _pretty_json(obj.filters)

    @admin.display(description=_("statistics"))
    def stats_display(self, obj):
        return _pretty_json(obj.stats)

    @admin.display(description=_("first rows"))
    def rows_preview(self, obj):
        rows = dataset_selectors.snapshot_rows(obj, limit=10)
        if not rows:
            return "-"
        return format_html(
            "<ul>{}</ul>",
            format_html_join(
                "",
                "<li>{} · #{} · {}</li>",
                (
                    (split, row.get("pair_id"), str(row.get("prompt", ""))[:200])
                    for _position, split, row in rows
                ),
            ),
        )

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def get_deleted_objects(self, objs, request):
        """What a delete removes, counted: the default lists every row of every snapshot."""
        snapshots = list(objs)
        ids = [s.pk for s in snapshots]
        rows = DatasetRow.objects.filter(snapshot_id__in=ids).count()
        exports = DatasetExport.objects.filter(snapshot_id__in=ids).count()
        meta_s, meta_r, meta_e = DatasetSnapshot._meta, DatasetRow._meta, DatasetExport._meta
        listed = [f"{capfirst(meta_s.verbose_name)}: {s}" for s in snapshots]
        counts = {meta_s.verbose_name_plural: len(snapshots)}
        if rows:
            counts[meta_r.verbose_name_plural] = rows
            listed.append(f"{capfirst(meta_r.verbose_name_plural)}: {rows}")
        perms_needed = set()
        if exports:
            counts[meta_e.verbose_name_plural] = exports
            listed.append(f"{capfirst(meta_e.verbose_name_plural)}: {exports}")
            if not request.user.has_perm(f"{meta_e.app_label}.delete_{meta_e.model_name}"):
                perms_needed.add(meta_e.verbose_name)
        # Training runs keep the snapshot they trained on (the admin then refuses the delete).
        protected = [
            f"{capfirst(run._meta.verbose_name)}: {run}"
            for snapshot in snapshots
            for run in snapshot.training_runs.all()
        ]
        return listed, counts, perms_needed, protected

    def delete_model(self, request, obj):
        dataset_services.dataset_snapshot_delete(snapshot=obj)

    def delete_queryset(self, request, queryset):
        for snapshot in queryset:
            dataset_services.dataset_snapshot_delete(snapshot=snapshot)


@admin.register(DatasetExport)
class DatasetExportAdmin(IdSearchMixin, admin.ModelAdmin):
    """Exports are queued on the dataset pages and the API and written by a worker; read-only
    here. Deleting one removes its files too (``dataset_export_delete``)."""

    list_display = (
        "id",
        "snapshot",
        "format",
        "layout",
        "status",
        "rows_written",
        "hub_repo",
        "created_by",
        "created_at",
        "finished_at",
    )
    list_filter = ("status", "format", "layout", "include_metadata", "created_at")
    search_fields = ("snapshot__name", "hub_repo")
    list_select_related = ("snapshot", "created_by")
    list_per_page = 50
    fields = (
        "snapshot",
        "format",
        "layout",
        "include_metadata",
        "hub_repo",
        "hub_private",
        "status",
        "rows_written",
        "files_display",
        "hub_url",
        "error_display",
        "worker",
        "created_by",
        "created_at",
        "started_at",
        "finished_at",
    )
    readonly_fields = fields

    @admin.display(description=_("files"))
    def files_display(self, obj):
        if obj.status != ExportStatus.DONE or not obj.files:
            return "-"
        url = reverse("dataset-export-download", args=[obj.pk])
        return format_html(
            "<ul>{}</ul>",
            format_html_join(
                "",
                '<li><a href="{}?{}">{}</a> ({} bytes, sha256 {})</li>',
                (
                    (
                        url,
                        urlencode({"file": f["name"]}),
                        f["name"],
                        f.get("bytes"),
                        f.get("sha256"),
                    )
                    for f in obj.files
                ),
            ),
        )

    @admin.display(description=_("error"))
    def error_display(self, obj):
        return dataset_selectors.export_error(obj)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def delete_model(self, request, obj):
        dataset_services.dataset_export_delete(export=obj)

    def delete_queryset(self, request, queryset):
        for export in queryset:
            dataset_services.dataset_export_delete(export=export)

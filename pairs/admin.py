from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from .models import (
    CorpusImport,
    CorpusText,
    ImportIssue,
    InstructionPair,
    NearDuplicateCluster,
    PairImport,
    PairImportIssue,
    PreferencePair,
    Selection,
    SelectionItem,
    TextSpan,
)


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
@admin.register(PreferencePair)
class PreferencePairAdmin(admin.ModelAdmin):
    """Preference pairs are made by negative synthesis jobs and changed by review; here they can
    be read and corrected. How a pair was made (prompt, calls, metrics, judge) is read-only."""

    list_display = (
        "id",
        "principle_version",
        "task",
        "language",
        "status",
        "flagged",
        "judge_verdict",
        "created_at",
    )
    list_filter = ("status", "flagged", "judge_verdict", "mode", "task", "language", "domain")
    search_fields = ("instruction", "chosen", "rejected", "principle_version__title")
    list_select_related = ("principle_version", "task")
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

    def has_add_permission(self, request):
        return False

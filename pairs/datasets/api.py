"""REST API for datasets: snapshots (freeze, count, new version, compare, rows, verify) and
exports (queue, read, download their files). Engineers and admins only; deleting is for admins.

The services check who may do what and the input (``PermissionDenied`` and
``ValidationError``, which the project's exception handler turns into 403 and
``400 {"field": ["message"]}``); filter errors are given under ``filters``, keyed by the
filter, as in the review API. No response ever holds the Hugging Face token.
"""

from __future__ import annotations

import json
from urllib.parse import urlencode

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import FileResponse, Http404
from django.urls import reverse
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response

from weaver_site.roles import ADMIN, ENGINEER, is_admin

from ..models import (
    DatasetExport,
    DatasetKind,
    DatasetSnapshot,
    ExportFormat,
    ExportLayout,
    ExportStatus,
    SnapshotStatus,
    Split,
)
from ..review.api import _filter_errors
from ..selectors import _int
from . import selectors, services
from .export import export_file
from .filters import filters_for

ROWS_MAX = 100


# --- Fields ---------------------------------------------------------------------------------


def _choice_field(choices, component_name: str):
    """A choice field whose enum is a schema component of its own name (``status``,
    ``format`` and ``kind`` mean other things elsewhere in the API)."""

    @extend_schema_field(
        {"type": "string", "enum": [value for value, _label in choices]},
        component_name=component_name,
    )
    class Field(serializers.ChoiceField):
        def __init__(self, **kwargs):
            super().__init__(choices=choices, **kwargs)

    Field.__name__ = Field.__qualname__ = component_name.removesuffix("Enum") + "Field"
    return Field


DatasetKindField = _choice_field(DatasetKind.choices, "DatasetKindEnum")
SnapshotStatusField = _choice_field(SnapshotStatus.choices, "DatasetSnapshotStatusEnum")
SplitField = _choice_field(Split.choices, "DatasetSplitEnum")
ExportFormatField = _choice_field(ExportFormat.choices, "DatasetExportFormatEnum")
ExportLayoutField = _choice_field(ExportLayout.choices, "DatasetExportLayoutEnum")
ExportStatusField = _choice_field(ExportStatus.choices, "DatasetExportStatusEnum")

FILTERS_HELP = (
    "Which pairs. DPO (preference pairs): the review queue filters (domains, subdomains, "
    "tasks, languages, principles, principle_versions, jobs, statuses (default: accepted), "
    "flagged, judge, metric_ranges) plus min_reviews and min_agreement. SFT (instruction "
    "pairs): statuses (default: kept), origins, domains, subdomains, tasks, languages, jobs, "
    "marks, curation_score [min, max]."
)


def _check_filters(attrs: dict) -> dict:
    try:
        filters_for(attrs["kind"], attrs.get("filters"))
    except DjangoValidationError as exc:
        raise serializers.ValidationError({"filters": _filter_errors(exc)}) from None
    return attrs


# --- Serializers: snapshots -----------------------------------------------------------------

SNAPSHOT_FIELDS = [
    "id",
    "name",
    "version",
    "kind",
    "description",
    "status",
    "filters",
    "test_fraction",
    "stratify",
    "split_seed",
    "row_count",
    "train_count",
    "test_count",
    "content_hash",
    "error",
    "created_by",
    "created_at",
    "frozen_at",
]


class DatasetSnapshotSerializer(serializers.ModelSerializer):
    kind = DatasetKindField(read_only=True)
    status = SnapshotStatusField(read_only=True)
    filters = serializers.DictField(read_only=True, help_text="The filters, as recorded.")
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = DatasetSnapshot
        fields = SNAPSHOT_FIELDS
        read_only_fields = fields


class DatasetSnapshotDetailSerializer(DatasetSnapshotSerializer):
    stats = serializers.DictField(
        read_only=True,
        help_text="Counts per split, domain, task, language, principle and licence; histograms.",
    )

    class Meta(DatasetSnapshotSerializer.Meta):
        fields = [*SNAPSHOT_FIELDS, "stats"]
        read_only_fields = fields


class DatasetSnapshotCreateSerializer(serializers.Serializer):
    name = serializers.CharField(
        max_length=200, help_text="A new name, or an existing one for its next version."
    )
    kind = DatasetKindField()
    description = serializers.CharField(required=False, allow_blank=True, default="")
    filters = serializers.DictField(required=False, default=dict, help_text=FILTERS_HELP)
    test_fraction = serializers.FloatField(
        default=0.1, help_text="Share of prompts in the test split, from 0 up to 1 (not 1)."
    )
    stratify = serializers.BooleanField(
        default=False, help_text="Give every domain the same share of test prompts."
    )
    split_seed = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")

    def validate(self, attrs):
        return _check_filters(attrs)


class DatasetCountRequestSerializer(serializers.Serializer):
    kind = DatasetKindField()
    filters = serializers.DictField(required=False, default=dict, help_text=FILTERS_HELP)

    def validate(self, attrs):
        return _check_filters(attrs)


class DatasetCountSerializer(serializers.Serializer):
    count = serializers.IntegerField(help_text="Pairs the filters match now.")


class SnapshotRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = DatasetSnapshot
        fields = ["id", "name", "version", "content_hash"]
        read_only_fields = fields


class CompareExampleSerializer(serializers.Serializer):
    pair_id = serializers.IntegerField()
    split = SplitField()
    prompt = serializers.CharField(help_text="The first 300 characters.")


class SnapshotCompareSerializer(serializers.Serializer):
    old = SnapshotRefSerializer(help_text="The snapshot named by ``with``.")
    new = SnapshotRefSerializer(help_text="This snapshot.")
    same = serializers.BooleanField(help_text="Same content hash: the same rows, split for split.")
    added = serializers.IntegerField(help_text="Pairs in this snapshot only.")
    removed = serializers.IntegerField(help_text="Pairs in the other snapshot only.")
    changed = serializers.IntegerField(help_text="Pairs in both whose row or split differs.")
    added_examples = CompareExampleSerializer(many=True)
    removed_examples = CompareExampleSerializer(many=True)
    changed_examples = CompareExampleSerializer(many=True)


class RowsQuerySerializer(serializers.Serializer):
    split = SplitField(required=False, allow_blank=True, default="")
    offset = serializers.IntegerField(min_value=0, default=0)
    limit = serializers.IntegerField(
        min_value=1, default=20, help_text=f"At most {ROWS_MAX} (more is read as {ROWS_MAX})."
    )


class SnapshotRowSerializer(serializers.Serializer):
    position = serializers.IntegerField()
    split = SplitField()
    row = serializers.DictField(help_text="The frozen row (its canonical JSON, parsed).")


class SnapshotRowsSerializer(serializers.Serializer):
    count = serializers.IntegerField(help_text="Rows of the snapshot (of the split, if given).")
    offset = serializers.IntegerField()
    limit = serializers.IntegerField()
    results = SnapshotRowSerializer(many=True)


class VerifySerializer(serializers.Serializer):
    ok = serializers.BooleanField(help_text="The rows still hash to the recorded content hash.")


# --- Serializers: exports -------------------------------------------------------------------


class ExportFileSerializer(serializers.Serializer):
    name = serializers.CharField()
    bytes = serializers.IntegerField()
    sha256 = serializers.CharField()
    rows = serializers.IntegerField(allow_null=True)
    split = serializers.CharField(allow_blank=True)
    download_url = serializers.URLField()


class DatasetExportSerializer(serializers.ModelSerializer):
    snapshot = serializers.PrimaryKeyRelatedField(read_only=True)
    snapshot_label = serializers.CharField(source="snapshot.label", read_only=True)
    format = ExportFormatField(read_only=True)
    layout = ExportLayoutField(read_only=True)
    status = ExportStatusField(read_only=True)
    files = serializers.SerializerMethodField()
    error = serializers.SerializerMethodField()
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = DatasetExport
        fields = [
            "id",
            "snapshot",
            "snapshot_label",
            "format",
            "layout",
            "include_metadata",
            "hub_repo",
            "hub_private",
            "status",
            "rows_written",
            "files",
            "hub_url",
            "error",
            "created_by",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields

    @extend_schema_field(ExportFileSerializer(many=True))
    def get_files(self, export) -> list:
        if export.status != ExportStatus.DONE:
            return []
        url = reverse("dataset-export-download", args=[export.pk])
        request = self.context.get("request")
        if request is not None:
            url = request.build_absolute_uri(url)
        return [
            {
                "name": f["name"],
                "bytes": f.get("bytes"),
                "sha256": f.get("sha256", ""),
                "rows": f.get("rows"),
                "split": f.get("split", ""),
                "download_url": f"{url}?{urlencode({'file': f['name']})}",
            }
            for f in export.files or []
        ]

    def get_error(self, export) -> str:
        return selectors.export_error(export)


class DatasetExportCreateSerializer(serializers.Serializer):
    snapshot = serializers.PrimaryKeyRelatedField(
        queryset=DatasetSnapshot.objects.all(), help_text="A ready snapshot's id."
    )
    format = ExportFormatField()
    layout = ExportLayoutField(default=ExportLayout.STANDARD)
    include_metadata = serializers.BooleanField(
        default=True,
        help_text="Principle, domain, task, language, generator, metrics, review, source.",
    )
    hub_repo = serializers.CharField(
        max_length=200,
        required=False,
        allow_blank=True,
        default="",
        help_text="Push to this Hugging Face dataset repository (Parquet or hf format; needs "
        "the studio's token).",
    )
    hub_private = serializers.BooleanField(default=True)


# --- Views ----------------------------------------------------------------------------------

SNAPSHOT_ID = OpenApiParameter("id", int, OpenApiParameter.PATH, description="Snapshot id.")
EXPORT_ID = OpenApiParameter("id", int, OpenApiParameter.PATH, description="Export id.")
SNAPSHOT_LIST_PARAMS = [
    OpenApiParameter("name", str, description="Every version of this dataset."),
    OpenApiParameter("kind", str, enum=DatasetKind.values),
    OpenApiParameter("status", str, enum=SnapshotStatus.values),
]
EXPORT_LIST_PARAMS = [
    OpenApiParameter("snapshot", int, description="Snapshot id."),
    OpenApiParameter("status", str, enum=ExportStatus.values),
]


def _require_admin(user, message: str) -> None:
    if not is_admin(user):
        raise PermissionDenied(message)


@extend_schema_view(
    list=extend_schema(parameters=SNAPSHOT_LIST_PARAMS),
    retrieve=extend_schema(parameters=[SNAPSHOT_ID], responses=DatasetSnapshotDetailSerializer),
    destroy=extend_schema(parameters=[SNAPSHOT_ID], description="Admins only."),
)
class DatasetSnapshotViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Dataset snapshots: named, versioned, immutable copies of SFT or preference pairs.
    Creating one freezes it at once when it is small, else a worker does (status
    ``building`` until then)."""

    required_roles = (ENGINEER, ADMIN)
    queryset = DatasetSnapshot.objects.none()
    serializer_class = DatasetSnapshotSerializer
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        qs = selectors.snapshots()
        params = self.request.query_params
        name = (params.get("name") or "").strip()
        if name:
            qs = qs.filter(name=name)
        if params.get("kind") in DatasetKind.values:
            qs = qs.filter(kind=params["kind"])
        if params.get("status") in SnapshotStatus.values:
            qs = qs.filter(status=params["status"])
        return qs

    def get_object(self):
        snapshot = selectors.snapshots().filter(pk=self.kwargs["pk"]).first()
        if snapshot is None:
            raise Http404
        return snapshot

    def _detail(self, snapshot, code=status.HTTP_200_OK):
        snapshot = selectors.snapshots().get(pk=snapshot.pk)
        return Response(DatasetSnapshotDetailSerializer(snapshot).data, status=code)

    def retrieve(self, request, *args, **kwargs):
        return self._detail(self.get_object())

    @extend_schema(
        request=DatasetSnapshotCreateSerializer, responses={201: DatasetSnapshotDetailSerializer}
    )
    def create(self, request, *args, **kwargs):
        """Freeze the pairs the filters match as the next version of the dataset ``name``."""
        data = DatasetSnapshotCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        snapshot = services.dataset_snapshot_create(created_by=request.user, **data.validated_data)
        return self._detail(snapshot, status.HTTP_201_CREATED)

    def destroy(self, request, *args, **kwargs):
        """Remove a snapshot, its rows, its exports and their files (admins only)."""
        _require_admin(request.user, _("Only admins delete datasets and their exports."))
        services.dataset_snapshot_delete(snapshot=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=DatasetCountRequestSerializer, responses=DatasetCountSerializer)
    @action(detail=False, methods=["post"])
    def count(self, request):
        """How many pairs the filters match now (what a snapshot made now would hold)."""
        data = DatasetCountRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        n = services.dataset_count(**data.validated_data)
        return Response(DatasetCountSerializer({"count": n}).data)

    @extend_schema(
        parameters=[SNAPSHOT_ID],
        request=None,
        responses={201: DatasetSnapshotDetailSerializer},
    )
    @action(detail=True, methods=["post"], url_path="new-version")
    def new_version(self, request, pk=None):
        """Freeze the same filters and split again, now, as the dataset's next version."""
        snapshot = services.dataset_snapshot_new_version(
            snapshot=self.get_object(), created_by=request.user
        )
        return self._detail(snapshot, status.HTTP_201_CREATED)

    @extend_schema(
        parameters=[
            SNAPSHOT_ID,
            OpenApiParameter(
                "with", int, required=True, description="Id of the snapshot to compare with."
            ),
        ],
        responses=SnapshotCompareSerializer,
    )
    @action(detail=True, methods=["get"], pagination_class=None)
    def compare(self, request, pk=None):
        """What changed from the snapshot ``with`` (old) to this one (new): pairs added,
        removed, and kept but changed, with counts and the first 20 of each. Both must be
        ready and of the same kind."""
        snapshot = self.get_object()
        other_id = _int(request.query_params.get("with"))
        other = None if other_id is None else DatasetSnapshot.objects.filter(pk=other_id).first()
        if other is None:
            raise DjangoValidationError({"with": _("No such snapshot.")})
        where, problem = selectors.snapshot_compare_problem(snapshot, other)
        if problem:
            raise DjangoValidationError({"snapshot" if where == "new" else "with": problem})
        result = selectors.snapshot_compare(old=other, new=snapshot)
        return Response(SnapshotCompareSerializer(result).data)

    @extend_schema(
        parameters=[
            SNAPSHOT_ID,
            OpenApiParameter("split", str, enum=Split.values),
            OpenApiParameter("offset", int),
            OpenApiParameter("limit", int, description=f"At most {ROWS_MAX}."),
        ],
        responses=SnapshotRowsSerializer,
    )
    @action(detail=True, methods=["get"], pagination_class=None)
    def rows(self, request, pk=None):
        """A page of the snapshot's frozen rows, in order, parsed."""
        snapshot = self.get_object()
        query = RowsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        split = query.validated_data["split"]
        offset = query.validated_data["offset"]
        limit = min(query.validated_data["limit"], ROWS_MAX)
        count = {Split.TRAIN: snapshot.train_count, Split.TEST: snapshot.test_count}.get(
            split, snapshot.row_count
        )
        rows = selectors.snapshot_rows(snapshot, split=split, offset=offset, limit=limit)
        payload = {
            "count": count,
            "offset": offset,
            "limit": limit,
            "results": [{"position": p, "split": s, "row": row} for p, s, row in rows],
        }
        return Response(SnapshotRowsSerializer(payload).data)

    @extend_schema(parameters=[SNAPSHOT_ID], responses=VerifySerializer)
    @action(detail=True, methods=["get"], pagination_class=None)
    def verify(self, request, pk=None):
        """Whether the stored rows still hash to the snapshot's content hash."""
        snapshot = self.get_object()
        if snapshot.status != SnapshotStatus.READY:
            raise DjangoValidationError({"snapshot": _("The snapshot is not frozen yet.")})
        ok = services.dataset_snapshot_verify(snapshot=snapshot)
        return Response(VerifySerializer({"ok": ok}).data)


class DownloadRenderer(BaseRenderer):
    """Lets a client that asks for ``application/octet-stream`` have the file (the file
    itself bypasses renderers); errors it is given are JSON."""

    media_type = "application/octet-stream"
    format = "download"
    charset = None
    render_style = "binary"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return b"" if data is None else json.dumps(data).encode()


@extend_schema_view(
    list=extend_schema(parameters=EXPORT_LIST_PARAMS),
    retrieve=extend_schema(parameters=[EXPORT_ID]),
    destroy=extend_schema(parameters=[EXPORT_ID], description="Admins only."),
)
class DatasetExportViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Exports of snapshots to files (JSONL, Parquet, a Hugging Face datasets folder as a zip),
    written by a worker and optionally pushed to the Hub; download their files here."""

    required_roles = (ENGINEER, ADMIN)
    queryset = DatasetExport.objects.none()
    serializer_class = DatasetExportSerializer
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        qs = selectors.exports()
        params = self.request.query_params
        snapshot = _int(params.get("snapshot"))
        if snapshot is not None:
            qs = qs.filter(snapshot_id=snapshot)
        if params.get("status") in ExportStatus.values:
            qs = qs.filter(status=params["status"])
        return qs

    def get_object(self):
        export = selectors.exports().filter(pk=self.kwargs["pk"]).first()
        if export is None:
            raise Http404
        return export

    @extend_schema(request=DatasetExportCreateSerializer, responses={201: DatasetExportSerializer})
    def create(self, request, *args, **kwargs):
        """Queue an export of a ready snapshot; a worker writes it (status ``queued``, then
        ``running``, then ``done`` or ``failed``)."""
        data = DatasetExportCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        export = services.dataset_export_create(created_by=request.user, **data.validated_data)
        export = selectors.exports().get(pk=export.pk)
        return Response(
            self.get_serializer(export).data,
            status=status.HTTP_201_CREATED,
        )

    def destroy(self, request, *args, **kwargs):
        """Remove an export and its files (admins only)."""
        _require_admin(request.user, _("Only admins delete datasets and their exports."))
        services.dataset_export_delete(export=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        parameters=[
            EXPORT_ID,
            OpenApiParameter("file", str, required=True, description="A file's name."),
        ],
        responses={
            (200, "application/octet-stream"): OpenApiTypes.BINARY,
            404: OpenApiResponse(description="No such file, or the export is not done."),
        },
    )
    @action(
        detail=True,
        methods=["get"],
        pagination_class=None,
        renderer_classes=[JSONRenderer, DownloadRenderer],
    )
    def download(self, request, pk=None):
        """One of a finished export's files, as an attachment."""
        export = self.get_object()
        if export.status != ExportStatus.DONE:
            raise Http404
        path = export_file(export, request.query_params.get("file") or "")
        if path is None:
            raise Http404
        return FileResponse(path.open("rb"), as_attachment=True, filename=path.name)

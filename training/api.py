"""REST API for training runs: create (checked, then queued on the ``gpu`` queue), list, read,
cancel, resume, delete; each run's metric series, log and checkpoints (downloaded as a zip made
while it is sent). Engineers and admins only; deleting is for admins.

The services check who may do what and the input (``PermissionDenied`` and
``ValidationError``, which the project's exception handler turns into 403 and
``400 {"field": ["message"]}``; a hyperparameter's error is keyed by its name). A cancel or
resume the run's status does not allow is a 409. No response holds the worker's lease token,
the engine's process id or the events offset.
"""

from __future__ import annotations

import json
import math

from django.http import Http404
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
from rest_framework import exceptions, mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response

from pairs.datasets.api import _choice_field
from pairs.models import DatasetSnapshot
from pairs.selectors import _int
from weaver_site.roles import ADMIN, ENGINEER

from . import downloads, selectors, services
from .models import RunKind, RunMethod, RunStatus, TrainingRun

LOG_TAIL_MAX = 1_000_000

# --- Fields ---------------------------------------------------------------------------------

RunKindField = _choice_field(RunKind.choices, "TrainingRunKindEnum")
RunMethodField = _choice_field(RunMethod.choices, "TrainingRunMethodEnum")
RunStatusField = _choice_field(RunStatus.choices, "TrainingRunStatusEnum")


class FiniteFloatField(serializers.FloatField):
    """A float that is ``null`` when it is not a finite number (a diverged loss is NaN, which
    JSON cannot hold)."""

    def to_representation(self, value):
        if value is None:
            return None
        value = float(value)
        return value if math.isfinite(value) else None


# --- Serializers ----------------------------------------------------------------------------


class RunCheckpointSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField(help_text="``checkpoint-<step>``, or ``final``.")
    step = serializers.IntegerField()
    final = serializers.BooleanField(help_text="The finished model (or adapter).")
    size_bytes = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    available = serializers.BooleanField(
        help_text="Its folder is still on disk (the engine keeps only the last few)."
    )
    download_url = serializers.SerializerMethodField(
        help_text="A zip of the folder; null when it is gone."
    )

    def get_download_url(self, checkpoint) -> str | None:
        if not checkpoint.available:
            return None
        url = reverse("training-run-checkpoint-download", args=[checkpoint.run_id, checkpoint.pk])
        request = self.context.get("request")
        return request.build_absolute_uri(url) if request is not None else url


RUN_FIELDS = [
    "id",
    "name",
    "kind",
    "snapshot",
    "snapshot_label",
    "snapshot_hash",
    "base_model",
    "base_run",
    "model",
    "method",
    "gpus",
    "hyperparameters",
    "status",
    "step",
    "max_steps",
    "progress",
    "epoch",
    "last_loss",
    "eta_seconds",
    "attempts",
    "resumed_from",
    "worker",
    "final_dir",
    "summary",
    "error",
    "created_by",
    "created_at",
    "started_at",
    "finished_at",
]


class TrainingRunSerializer(serializers.ModelSerializer):
    kind = RunKindField(read_only=True)
    snapshot = serializers.PrimaryKeyRelatedField(read_only=True)
    snapshot_label = serializers.CharField(source="snapshot.label", read_only=True)
    snapshot_hash = serializers.CharField(source="snapshot.content_hash", read_only=True)
    base_run = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)
    model = serializers.SerializerMethodField(
        help_text="What the run trains from: its base run's final model, or the base model."
    )
    method = RunMethodField(read_only=True)
    hyperparameters = serializers.DictField(
        read_only=True, help_text="As checked when the run was made, defaults filled in."
    )
    status = RunStatusField(read_only=True)
    progress = serializers.FloatField(read_only=True, help_text="step / max_steps, 0 to 1.")
    epoch = FiniteFloatField(read_only=True)
    last_loss = FiniteFloatField(read_only=True, allow_null=True)
    eta_seconds = serializers.SerializerMethodField(
        help_text="Seconds left at the current attempt's pace; null when not running or not "
        "known yet."
    )
    summary = serializers.DictField(read_only=True, help_text="The engine's final report.")
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = TrainingRun
        fields = RUN_FIELDS
        read_only_fields = fields

    def get_model(self, run) -> str:
        return services.model_path(run)

    def get_eta_seconds(self, run) -> float | None:
        return selectors.run_eta_seconds(run)


class TrainingRunDetailSerializer(TrainingRunSerializer):
    checkpoints = serializers.SerializerMethodField()

    class Meta(TrainingRunSerializer.Meta):
        fields = [*RUN_FIELDS, "checkpoints"]
        read_only_fields = fields

    @extend_schema_field(RunCheckpointSerializer(many=True))
    def get_checkpoints(self, run) -> list:
        return RunCheckpointSerializer(
            selectors.run_checkpoints(run), many=True, context=self.context
        ).data


class TrainingRunCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    kind = RunKindField()
    snapshot = serializers.PrimaryKeyRelatedField(
        queryset=DatasetSnapshot.objects.all(),
        help_text="A ready snapshot of the run's kind (its id).",
    )
    base_model = serializers.CharField(
        max_length=500,
        required=False,
        allow_blank=True,
        default="",
        help_text="A local path on the GPU workers or a Hugging Face model id.",
    )
    base_run = serializers.PrimaryKeyRelatedField(
        queryset=TrainingRun.objects.all(),
        required=False,
        allow_null=True,
        default=None,
        help_text="Or train from this finished run's final model (for DPO, usually an SFT "
        "run). Not with base_model.",
    )
    method = RunMethodField(default=RunMethod.FULL)
    gpus = serializers.IntegerField(
        default=1, help_text=f"0: CPU. More than 1: accelerate launch. At most {services.MAX_GPUS}."
    )
    hyperparameters = serializers.DictField(
        required=False,
        default=dict,
        help_text="Any of: "
        + ", ".join((*services.HYPERPARAMETERS, "layout"))
        + ". Missing ones take the kind's defaults; an error is keyed by the setting's name.",
    )


class MetricsQuerySerializer(serializers.Serializer):
    after = serializers.IntegerField(min_value=0, default=0)


class MetricSeriesSerializer(serializers.Serializer):
    steps = serializers.ListField(child=serializers.IntegerField())
    series = serializers.DictField(
        child=serializers.ListField(child=FiniteFloatField(allow_null=True)),
        help_text="Per metric (loss, learning_rate, rewards/..., ...), one value or null per step.",
    )


class LogQuerySerializer(serializers.Serializer):
    tail = serializers.IntegerField(
        min_value=1,
        default=selectors.LOG_TAIL_CHARS,
        help_text=f"At most {LOG_TAIL_MAX} (more is read as {LOG_TAIL_MAX}).",
    )


class LogTailSerializer(serializers.Serializer):
    text = serializers.CharField(allow_blank=True, help_text="The end of the log.")


class ConflictSerializer(serializers.Serializer):
    detail = serializers.CharField()


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


# --- Renderers ------------------------------------------------------------------------------


class _FileRenderer(BaseRenderer):
    """Lets a client that asks for the file's media type have it (the file itself bypasses
    renderers); errors it is given are JSON."""

    charset = None
    render_style = "binary"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return b"" if data is None else json.dumps(data).encode()


class ZipRenderer(_FileRenderer):
    media_type = "application/zip"
    format = "zip"


class PlainTextRenderer(_FileRenderer):
    media_type = "text/plain"
    format = "txt"


# --- Views ----------------------------------------------------------------------------------

RUN_ID = OpenApiParameter("id", int, OpenApiParameter.PATH, description="Run id.")
CHECKPOINT_ID = OpenApiParameter(
    "checkpoint_id", int, OpenApiParameter.PATH, description="Checkpoint id (of this run)."
)
RUN_LIST_PARAMS = [
    OpenApiParameter("status", str, enum=RunStatus.values),
    OpenApiParameter("kind", str, enum=RunKind.values),
    OpenApiParameter("snapshot", int, description="Dataset snapshot id."),
]


@extend_schema_view(
    list=extend_schema(parameters=RUN_LIST_PARAMS),
    destroy=extend_schema(
        parameters=[RUN_ID],
        description="Remove a finished run with its metrics, log and files (admins only). "
        "Refused (400) while it is active or while another run starts from it.",
    ),
)
class TrainingRunViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """SFT and DPO runs on dataset snapshots: a worker on the ``gpu`` queue trains them
    (status ``queued``, ``running``, then ``done``, ``failed`` or ``cancelled``); metrics,
    checkpoints and the log appear as the engine reports them."""

    required_roles = (ENGINEER, ADMIN)
    queryset = TrainingRun.objects.none()
    serializer_class = TrainingRunSerializer
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        qs = selectors.runs_list()
        params = self.request.query_params
        if params.get("status") in RunStatus.values:
            qs = qs.filter(status=params["status"])
        if params.get("kind") in RunKind.values:
            qs = qs.filter(kind=params["kind"])
        snapshot = _int(params.get("snapshot"))
        if snapshot is not None:
            qs = qs.filter(snapshot_id=snapshot)
        return qs

    def get_object(self):
        run = selectors.runs_list().filter(pk=self.kwargs["pk"]).first()
        if run is None:
            raise Http404
        return run

    def _detail(self, run, code=status.HTTP_200_OK):
        run = selectors.runs_list().get(pk=run.pk)
        context = self.get_serializer_context()
        return Response(TrainingRunDetailSerializer(run, context=context).data, status=code)

    @extend_schema(parameters=[RUN_ID], responses=TrainingRunDetailSerializer)
    def retrieve(self, request, *args, **kwargs):
        return self._detail(self.get_object())

    @extend_schema(
        request=TrainingRunCreateSerializer, responses={201: TrainingRunDetailSerializer}
    )
    def create(self, request, *args, **kwargs):
        """Check a new run and queue it (nothing is queued when a check fails)."""
        data = TrainingRunCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        run = services.training_run_create(created_by=request.user, **data.validated_data)
        return self._detail(run, status.HTTP_201_CREATED)

    def destroy(self, request, *args, **kwargs):
        services.training_run_delete(run=self.get_object(), user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _change(self, request, change, refused: str):
        run = self.get_object()
        if not change(run=run, user=request.user):
            raise Conflict(refused % {"status": run.get_status_display()})
        return self._detail(run)

    @extend_schema(
        parameters=[RUN_ID],
        request=None,
        responses={
            200: TrainingRunDetailSerializer,
            409: OpenApiResponse(ConflictSerializer, description="The run has finished."),
        },
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Cancel a run: a queued one at once; a running one stops at the end of its step
        (status ``cancelling``) and keeps a checkpoint."""
        return self._change(
            request,
            services.training_run_cancel,
            _("Only a queued or running run can be cancelled (this one is %(status)s)."),
        )

    @extend_schema(
        parameters=[RUN_ID],
        request=None,
        responses={
            200: TrainingRunDetailSerializer,
            409: OpenApiResponse(
                ConflictSerializer, description="The run has not failed or been cancelled."
            ),
        },
    )
    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        """Queue a failed or cancelled run again: it continues from its last checkpoint."""
        return self._change(
            request,
            services.training_run_resume,
            _("Only a failed or cancelled run can be resumed (this one is %(status)s)."),
        )

    @extend_schema(
        parameters=[
            RUN_ID,
            OpenApiParameter("after", int, description="Only the steps after this one."),
        ],
        responses=MetricSeriesSerializer,
    )
    @action(detail=True, methods=["get"], pagination_class=None)
    def metrics(self, request, pk=None):
        """The logged values, as columns: poll with ``after`` set to the last step you have."""
        run = self.get_object()
        query = MetricsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        series = selectors.run_metric_series(run, after_step=query.validated_data["after"])
        return Response(MetricSeriesSerializer(series).data)

    @extend_schema(
        parameters=[
            RUN_ID,
            OpenApiParameter(
                "tail",
                int,
                description=f"Characters from the end (default "
                f"{selectors.LOG_TAIL_CHARS}, at most {LOG_TAIL_MAX}).",
            ),
        ],
        responses=LogTailSerializer,
    )
    @action(detail=True, methods=["get"], pagination_class=None)
    def log(self, request, pk=None):
        """The end of the run's log (the engine's output and the worker's notes)."""
        run = self.get_object()
        query = LogQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        tail = min(query.validated_data["tail"], LOG_TAIL_MAX)
        return Response(
            LogTailSerializer({"text": selectors.run_log_tail(run, max_chars=tail)}).data
        )

    @extend_schema(
        parameters=[RUN_ID],
        responses={(200, "text/plain"): OpenApiTypes.STR},
    )
    @action(
        detail=True,
        methods=["get"],
        url_path="log-file",
        pagination_class=None,
        renderer_classes=[JSONRenderer, PlainTextRenderer],
    )
    def log_file(self, request, pk=None):
        """The whole log, as a text attachment ``run-<id>.log``."""
        return downloads.run_log_download(self.get_object())

    @extend_schema(
        parameters=[RUN_ID, CHECKPOINT_ID],
        responses={
            (200, "application/zip"): OpenApiTypes.BINARY,
            404: OpenApiResponse(description="No such checkpoint, or its folder is gone."),
        },
    )
    @action(
        detail=True,
        methods=["get"],
        url_path=r"checkpoints/(?P<checkpoint_id>\d+)/download",
        url_name="checkpoint-download",
        pagination_class=None,
        renderer_classes=[JSONRenderer, ZipRenderer],
    )
    def checkpoint_download(self, request, pk=None, checkpoint_id=None):
        """A checkpoint's folder as a zip ``run-<id>-<name>.zip`` (stored, made as it is
        sent)."""
        run = self.get_object()
        return downloads.checkpoint_download(run.checkpoints.filter(pk=checkpoint_id).first())

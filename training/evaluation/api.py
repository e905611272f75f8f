"""REST API for evaluation: benchmarks and their instructions, the models under evaluation
(contestants), evaluations with their jobs, scores, leaderboards, responses and comparisons,
and the blind arena.

Benchmarks, contestants and evaluations are for Engineers and Admins (deleting is for Admins);
the arena is for Evaluators and Admins, and it is the only part of the API an Evaluator may
use. The services (``benchmarks``, ``services``, ``arena``) and selectors check the input and
raise ``ValidationError``, which the project's exception handler turns into
``400 {"field": ["message"]}``; a refused cancel or resume is a 409.

No response holds an endpoint's API key. No arena response holds a model, contestant or
endpoint name, nor a response id: the page knows a pair only by its token.

The services and selectors are imported inside the methods, so this module (and the URLconf
that registers ``ROUTES``) loads on its own.
"""

from __future__ import annotations

import json

from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Count, Prefetch
from django.http import Http404, StreamingHttpResponse
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response

from pairs.models import DatasetSnapshot
from pairs.selectors import _int
from training.api import Conflict, ConflictSerializer
from weaver_site.roles import ADMIN, ENGINEER, EVALUATOR, is_admin

from . import serializers as s
from .models import (
    Benchmark,
    BenchmarkItem,
    BenchmarkStatus,
    Contestant,
    ContestantKind,
    EvalResponse,
    Evaluation,
    EvaluationStatus,
    JudgeGrade,
)

ENGINEERS = (ENGINEER, ADMIN)
EVALUATORS = (EVALUATOR, ADMIN)


def _require_admin(user, message: str) -> None:
    if not is_admin(user):
        raise PermissionDenied(message)


class JSONLRenderer(BaseRenderer):
    """Lets a client that asks for JSON lines have the file (the file itself bypasses
    renderers); errors it is given are JSON."""

    media_type = "application/x-ndjson"
    format = "jsonl"
    charset = None
    render_style = "binary"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return b"" if data is None else json.dumps(data).encode()


class _ById:
    """``get_object`` over the whole of ``base_queryset`` (the list's query filters never hide
    an object), and a detail response read back through it."""

    detail_serializer: type

    def base_queryset(self):
        raise NotImplementedError

    def get_object(self):
        found = self.base_queryset().filter(pk=self.kwargs["pk"]).first()
        if found is None:
            raise Http404
        return found

    def _detail(self, obj, code=status.HTTP_200_OK):
        obj = self.base_queryset().get(pk=obj.pk)
        return Response(self.detail_serializer(obj).data, status=code)


# --- Benchmarks -----------------------------------------------------------------------------

BENCHMARK_ID = OpenApiParameter("id", int, OpenApiParameter.PATH, description="Benchmark id.")
ITEM_ID = OpenApiParameter("id", int, OpenApiParameter.PATH, description="Instruction id.")


def _benchmarks():
    return (
        Benchmark.objects.select_related("created_by", "frozen_by")
        .annotate(item_count=Count("items"))
        .order_by("name", "-version")
    )


def _items():
    return BenchmarkItem.objects.select_related("domain", "task")


@extend_schema_view(
    list=extend_schema(
        parameters=[
            OpenApiParameter("name", str, description="Every version of this benchmark."),
            OpenApiParameter("status", str, enum=BenchmarkStatus.values),
        ]
    ),
    destroy=extend_schema(
        parameters=[BENCHMARK_ID],
        description="Admins only; refused (400) while an evaluation uses the benchmark.",
    ),
)
class BenchmarkViewSet(
    _ById,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Benchmarks: named, versioned sets of writing instructions (language, domain, task). A
    draft is edited (items, import); freezing fixes its content hash; only frozen versions
    are evaluated; a change to a frozen one is a new version."""

    required_roles = ENGINEERS
    queryset = Benchmark.objects.none()
    serializer_class = s.BenchmarkSerializer
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        qs = _benchmarks()
        params = self.request.query_params
        name = (params.get("name") or "").strip()
        if name:
            qs = qs.filter(name=name)
        if params.get("status") in BenchmarkStatus.values:
            qs = qs.filter(status=params["status"])
        return qs

    detail_serializer = s.BenchmarkDetailSerializer

    def base_queryset(self):
        return _benchmarks()

    @extend_schema(parameters=[BENCHMARK_ID], responses=s.BenchmarkDetailSerializer)
    def retrieve(self, request, *args, **kwargs):
        return self._detail(self.get_object())

    @extend_schema(
        request=s.BenchmarkCreateSerializer, responses={201: s.BenchmarkDetailSerializer}
    )
    def create(self, request, *args, **kwargs):
        """A new benchmark: an empty draft, version 1."""
        from . import benchmarks

        data = s.BenchmarkCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        benchmark = benchmarks.benchmark_create(created_by=request.user, **data.validated_data)
        return self._detail(benchmark, status.HTTP_201_CREATED)

    @extend_schema(
        parameters=[BENCHMARK_ID],
        request=s.BenchmarkUpdateSerializer,
        responses=s.BenchmarkDetailSerializer,
    )
    def partial_update(self, request, *args, **kwargs):
        """Rename a draft or change its description."""
        from . import benchmarks

        benchmark = self.get_object()
        data = s.BenchmarkUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        benchmarks.benchmark_update(benchmark=benchmark, **data.validated_data)
        return self._detail(benchmark)

    def destroy(self, request, *args, **kwargs):
        from . import benchmarks

        _require_admin(request.user, _("Only admins delete benchmarks."))
        benchmarks.benchmark_delete(benchmark=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        methods=["GET"], parameters=[BENCHMARK_ID], responses=s.BenchmarkItemSerializer(many=True)
    )
    @extend_schema(
        methods=["POST"],
        parameters=[BENCHMARK_ID],
        request=s.BenchmarkItemWriteSerializer,
        responses={201: s.BenchmarkItemSerializer},
    )
    @action(detail=True, methods=["get", "post"])
    def items(self, request, pk=None):
        """GET: the instructions, in order (paginated). POST: add one to a draft."""
        benchmark = self.get_object()
        if request.method == "GET":
            page = self.paginate_queryset(_items().filter(benchmark=benchmark))
            return self.get_paginated_response(s.BenchmarkItemSerializer(page, many=True).data)
        from . import benchmarks

        data = s.BenchmarkItemWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        item = benchmarks.benchmark_item_save(benchmark=benchmark, **data.validated_data)
        item = _items().get(pk=item.pk)
        return Response(s.BenchmarkItemSerializer(item).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        parameters=[BENCHMARK_ID],
        request={"multipart/form-data": s.BenchmarkImportSerializer},
        responses={
            200: s.BenchmarkImportResultSerializer,
            400: OpenApiResponse(
                s.BenchmarkImportErrorSerializer,
                description="The file has problems: nothing was imported.",
            ),
        },
    )
    @action(
        detail=True,
        methods=["post"],
        url_path="import",
        url_name="import",
        parser_classes=[MultiPartParser, FormParser],
    )
    def import_file(self, request, pk=None):
        """Import a JSONL file into a draft, all or nothing (``replace``: instead of its
        instructions). A bad file imports nothing and every problem is listed with its
        file, line and field."""
        from . import benchmarks
        from .benchmark_file import BenchmarkFileError

        benchmark = self.get_object()
        data = s.BenchmarkImportSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        upload = data.validated_data["file"]
        try:
            n = benchmarks.benchmark_import(
                benchmark=benchmark,
                file=upload,
                file_name=upload.name,
                replace=data.validated_data["replace"],
            )
        except BenchmarkFileError as exc:
            body = {
                "file": [str(p) for p in exc.problems],
                "problems": [
                    {"file": p.file, "line": p.line, "field": p.field, "message": p.message}
                    for p in exc.problems
                ],
                "more": exc.more,
            }
            return Response(body, status=status.HTTP_400_BAD_REQUEST)
        benchmark = _benchmarks().get(pk=benchmark.pk)
        return Response(
            s.BenchmarkImportResultSerializer({"imported": n, "benchmark": benchmark}).data
        )

    @extend_schema(parameters=[BENCHMARK_ID], request=None, responses=s.BenchmarkDetailSerializer)
    @action(detail=True, methods=["post"])
    def freeze(self, request, pk=None):
        """Freeze a draft: its content and content hash are fixed; it can be evaluated."""
        from . import benchmarks

        benchmark = benchmarks.benchmark_freeze(benchmark=self.get_object(), user=request.user)
        return self._detail(benchmark)

    @extend_schema(
        parameters=[BENCHMARK_ID], request=None, responses={201: s.BenchmarkDetailSerializer}
    )
    @action(detail=True, methods=["post"], url_path="new-version", url_name="new-version")
    def new_version(self, request, pk=None):
        """A draft copy of this benchmark as its next version."""
        from . import benchmarks

        copy = benchmarks.benchmark_new_version(
            benchmark=self.get_object(), created_by=request.user
        )
        return self._detail(copy, status.HTTP_201_CREATED)

    @extend_schema(
        parameters=[BENCHMARK_ID],
        responses={(200, "application/x-ndjson"): OpenApiTypes.BINARY},
    )
    @action(
        detail=True,
        methods=["get"],
        pagination_class=None,
        renderer_classes=[JSONRenderer, JSONLRenderer],
    )
    def export(self, request, pk=None):
        """The instructions as JSONL (the import format), as an attachment."""
        from . import benchmarks

        benchmark = self.get_object()
        lines = benchmarks.benchmark_jsonl(benchmark=benchmark)
        response = StreamingHttpResponse(
            (line if line.endswith("\n") else line + "\n" for line in lines),
            content_type="application/x-ndjson; charset=utf-8",
        )
        filename = f"{benchmark.name}-v{benchmark.version}.jsonl".replace('"', "")
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response

    @extend_schema(
        parameters=[
            BENCHMARK_ID,
            OpenApiParameter("snapshot", int, required=True, description="Dataset snapshot id."),
            OpenApiParameter(
                "threshold", float, description="Near-duplicate threshold (default 0.7)."
            ),
        ],
        responses=s.ContaminationReportSerializer,
    )
    @action(detail=True, methods=["get"], pagination_class=None)
    def contamination(self, request, pk=None):
        """Benchmark instructions found (exact or near copies) in a dataset snapshot's
        prompts. Computed once per snapshot and threshold, then kept."""
        from . import benchmarks

        benchmark = self.get_object()
        query = s.ContaminationQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        snapshot = DatasetSnapshot.objects.filter(pk=query.validated_data["snapshot"]).first()
        if snapshot is None:
            raise DjangoValidationError({"snapshot": _("No such snapshot.")})
        options = {}
        if query.validated_data.get("threshold") is not None:
            options["threshold"] = query.validated_data["threshold"]
        report = benchmarks.contamination_report_get(
            benchmark=benchmark, snapshot=snapshot, **options
        )
        return Response(s.ContaminationReportSerializer(report).data)


@extend_schema_view(
    retrieve=extend_schema(parameters=[ITEM_ID]),
    destroy=extend_schema(parameters=[ITEM_ID], description="Drafts only."),
)
class BenchmarkItemViewSet(
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """One benchmark instruction: read it; change or remove it while its benchmark is a
    draft. Add instructions with ``POST /api/benchmarks/{id}/items/``."""

    required_roles = ENGINEERS
    queryset = BenchmarkItem.objects.none()
    serializer_class = s.BenchmarkItemSerializer
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        return _items().select_related("benchmark")

    def get_object(self):
        item = self.get_queryset().filter(pk=self.kwargs["pk"]).first()
        if item is None:
            raise Http404
        return item

    @extend_schema(
        parameters=[ITEM_ID],
        request=s.BenchmarkItemWriteSerializer(partial=True),
        responses=s.BenchmarkItemSerializer,
    )
    def partial_update(self, request, *args, **kwargs):
        """Change any of the instruction's fields (drafts only)."""
        from . import benchmarks

        item = self.get_object()
        data = s.BenchmarkItemWriteSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        values = {
            "key": item.key,
            "instruction": item.instruction,
            "language": item.language,
            "domain": item.domain.slug if item.domain else "",
            "task": item.task.slug if item.task else "",
            "reference": item.reference,
            "metadata": item.metadata,
        }
        values.update(data.validated_data)
        benchmarks.benchmark_item_save(benchmark=item.benchmark, item=item, **values)
        return Response(s.BenchmarkItemSerializer(self.get_object()).data)

    def destroy(self, request, *args, **kwargs):
        from . import benchmarks

        benchmarks.benchmark_item_delete(item=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Contestants ----------------------------------------------------------------------------

CONTESTANT_ID = OpenApiParameter("id", int, OpenApiParameter.PATH, description="Model id.")


def _contestants():
    return Contestant.objects.select_related("endpoint", "created_by")


@extend_schema_view(
    list=extend_schema(parameters=[OpenApiParameter("kind", str, enum=ContestantKind.values)]),
    retrieve=extend_schema(parameters=[CONTESTANT_ID]),
    destroy=extend_schema(
        parameters=[CONTESTANT_ID],
        description="Admins only; refused (400) while an evaluation uses the model.",
    ),
)
class ContestantViewSet(
    _ById,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Models under evaluation: a gateway endpoint or a training run's checkpoint, with the
    decoding parameters and system prompt of their answers. Endpoints are shown by id and
    name only."""

    required_roles = ENGINEERS
    queryset = Contestant.objects.none()
    serializer_class = s.ContestantSerializer
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        qs = _contestants()
        if self.request.query_params.get("kind") in ContestantKind.values:
            qs = qs.filter(kind=self.request.query_params["kind"])
        return qs

    detail_serializer = s.ContestantSerializer

    def base_queryset(self):
        return _contestants()

    @extend_schema(request=s.ContestantCreateSerializer, responses={201: s.ContestantSerializer})
    def create(self, request, *args, **kwargs):
        """A model to evaluate: give ``endpoint`` or ``checkpoint`` (not both)."""
        from . import services

        data = s.ContestantCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        contestant = services.contestant_create(created_by=request.user, **data.validated_data)
        return self._detail(contestant, status.HTTP_201_CREATED)

    def destroy(self, request, *args, **kwargs):
        from . import services

        _require_admin(request.user, _("Only admins delete models under evaluation."))
        services.contestant_delete(contestant=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Evaluations ----------------------------------------------------------------------------

EVALUATION_ID = OpenApiParameter("id", int, OpenApiParameter.PATH, description="Evaluation id.")


def _evaluations():
    return Evaluation.objects.select_related("benchmark", "judge", "created_by").prefetch_related(
        Prefetch("contestants", queryset=Contestant.objects.order_by("name"))
    )


@extend_schema_view(
    list=extend_schema(
        parameters=[
            OpenApiParameter("status", str, enum=EvaluationStatus.values),
            OpenApiParameter("benchmark", int, description="Benchmark id."),
        ]
    ),
    destroy=extend_schema(parameters=[EVALUATION_ID], description="Admins only."),
)
class EvaluationViewSet(
    _ById,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Evaluations: models on a frozen benchmark. One generation job per model, then a judge
    job (grades 1-10 and pairwise comparisons in both orders); evaluators compare responses
    blind in the arena. Scores, leaderboards (Elo and Bradley-Terry with bootstrap
    intervals), responses and comparisons are read here."""

    required_roles = ENGINEERS
    queryset = Evaluation.objects.none()
    serializer_class = s.EvaluationSerializer
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        qs = _evaluations()
        params = self.request.query_params
        if params.get("status") in EvaluationStatus.values:
            qs = qs.filter(status=params["status"])
        benchmark = _int(params.get("benchmark"))
        if benchmark is not None:
            qs = qs.filter(benchmark_id=benchmark)
        return qs

    detail_serializer = s.EvaluationDetailSerializer

    def base_queryset(self):
        return _evaluations()

    @extend_schema(parameters=[EVALUATION_ID], responses=s.EvaluationDetailSerializer)
    def retrieve(self, request, *args, **kwargs):
        return self._detail(self.get_object())

    @extend_schema(
        request=s.EvaluationCreateSerializer, responses={201: s.EvaluationDetailSerializer}
    )
    def create(self, request, *args, **kwargs):
        """Evaluate models on a frozen benchmark: their generation jobs are queued at once."""
        from . import services

        data = s.EvaluationCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        evaluation = services.evaluation_create(created_by=request.user, **data.validated_data)
        return self._detail(evaluation, status.HTTP_201_CREATED)

    def destroy(self, request, *args, **kwargs):
        from . import services

        _require_admin(request.user, _("Only admins delete evaluations."))
        services.evaluation_delete(evaluation=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _change(self, change, refused: str):
        evaluation = self.get_object()
        if not change(evaluation=evaluation):
            raise Conflict(refused % {"status": evaluation.get_status_display()})
        return self._detail(evaluation)

    @extend_schema(
        parameters=[EVALUATION_ID],
        request=None,
        responses={
            200: s.EvaluationDetailSerializer,
            409: OpenApiResponse(ConflictSerializer, description="It is done or cancelled."),
        },
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Stop the evaluation and its jobs for good (what is done is kept)."""
        from . import services

        return self._change(
            services.evaluation_cancel,
            _("A done or cancelled evaluation cannot be cancelled (this one is %(status)s)."),
        )

    @extend_schema(
        parameters=[EVALUATION_ID],
        request=None,
        responses={
            200: s.EvaluationDetailSerializer,
            409: OpenApiResponse(ConflictSerializer, description="It is done or cancelled."),
        },
    )
    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        """Queue a failed or stalled evaluation's stopped jobs again (done work is kept)."""
        from . import services

        return self._change(
            services.evaluation_resume,
            _("A done or cancelled evaluation cannot be resumed (this one is %(status)s)."),
        )

    @extend_schema(
        parameters=[
            EVALUATION_ID,
            OpenApiParameter("source", str, enum=["judge", "human"]),
            OpenApiParameter(
                "criterion",
                str,
                enum=["overall", "creativity", "style", "relevance", "fluency"],
            ),
            OpenApiParameter("rounds", int, description="Bootstrap rounds (default 1000)."),
            OpenApiParameter("seed", int, description="Bootstrap seed (default 0)."),
        ],
        responses=s.LeaderboardGroupSerializer(many=True),
    )
    @action(detail=True, methods=["get"], pagination_class=None)
    def leaderboard(self, request, pk=None):
        """Elo and Bradley-Terry ratings with bootstrap 95% intervals, from the judge's or
        the evaluators' comparisons: overall first, then per domain."""
        from . import selectors

        evaluation = self.get_object()
        query = s.LeaderboardQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        groups = selectors.evaluation_leaderboard(evaluation=evaluation, **query.validated_data)
        return Response(s.LeaderboardGroupSerializer(groups, many=True).data)

    @extend_schema(parameters=[EVALUATION_ID], responses=s.ScoreTableSerializer)
    @action(detail=True, methods=["get"], pagination_class=None)
    def scores(self, request, pk=None):
        """The judge's mean scores per model (style, relevance, creativity, overall), best
        overall first, overall and per domain."""
        from . import selectors

        table = selectors.evaluation_score_table(evaluation=self.get_object())
        return Response(s.ScoreTableSerializer(table).data)

    @extend_schema(
        parameters=[
            EVALUATION_ID,
            OpenApiParameter("item", int, description="Only this instruction's responses."),
        ],
        responses=s.EvalResponseSerializer(many=True),
    )
    @action(detail=True, methods=["get"])
    def responses(self, request, pk=None):
        """The models' responses (paginated, by instruction), with the judge's grade."""
        evaluation = self.get_object()
        qs = (
            EvalResponse.objects.filter(
                item__benchmark_id=evaluation.benchmark_id,
                contestant__in=evaluation.contestants.all(),
            )
            .select_related("item", "contestant")
            .prefetch_related(
                Prefetch("grades", queryset=JudgeGrade.objects.order_by("created_at", "pk"))
            )
            .order_by("item__position", "contestant__name", "pk")
        )
        if "item" in request.query_params:
            item = _int(request.query_params.get("item"))
            if item is None:
                raise DjangoValidationError({"item": _("An instruction id is a number.")})
            qs = qs.filter(item_id=item)
        page = self.paginate_queryset(qs)
        context = {"request": request, "judge_id": evaluation.judge_id}
        return self.get_paginated_response(
            s.EvalResponseSerializer(page, many=True, context=context).data
        )

    @extend_schema(
        parameters=[
            EVALUATION_ID,
            OpenApiParameter("source", str, enum=["judge", "human"]),
            OpenApiParameter(
                "criterion",
                str,
                enum=["overall", "creativity", "style", "relevance", "fluency"],
            ),
        ],
        responses=s.ComparisonSerializer(many=True),
    )
    @action(detail=True, methods=["get"], pagination_class=None)
    def comparisons(self, request, pk=None):
        """Every comparison of two models (names), with its outcome (``a``, ``b`` or
        ``tie``) and group (the instruction's domain)."""
        from . import selectors

        evaluation = self.get_object()
        query = s.ComparisonsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        rows = selectors.evaluation_comparisons(evaluation=evaluation, **query.validated_data)
        data = [{"a": c.a, "b": c.b, "outcome": c.outcome, "group": c.group} for c in rows]
        return Response(s.ComparisonSerializer(data, many=True).data)


# --- Arena ----------------------------------------------------------------------------------

ARENA_EVALUATION_ID = OpenApiParameter(
    "id", int, OpenApiParameter.PATH, description="An open evaluation's id."
)


class ArenaViewSet(viewsets.GenericViewSet):
    """The blind arena, for Evaluators (and Admins): an instruction and two anonymised
    responses in random order; say which is better on creativity, style, relevance and
    fluency. Nothing here names a model."""

    required_roles = EVALUATORS
    queryset = Evaluation.objects.none()
    serializer_class = s.ArenaEvaluationSerializer
    pagination_class = None
    lookup_value_regex = r"\d+"
    parser_classes = [JSONParser, FormParser, MultiPartParser]

    @extend_schema(responses=s.ArenaEvaluationSerializer(many=True))
    def list(self, request):
        """The evaluations open to evaluators that have pairs to compare, with how far I
        have got in each."""
        from . import arena

        rows = [
            {
                "id": row["evaluation"].pk,
                "label": row["label"],
                "benchmark": str(row["evaluation"].benchmark),
                "done": row["done"],
                "total": row["total"],
            }
            for row in arena.arena_evaluations(user=request.user)
        ]
        return Response(s.ArenaEvaluationSerializer(rows, many=True).data)

    @extend_schema(
        parameters=[ARENA_EVALUATION_ID],
        request=None,
        responses={
            200: s.ArenaPairSerializer,
            204: OpenApiResponse(description="Nothing is left for me to compare."),
            404: OpenApiResponse(description="No such evaluation open to evaluators."),
        },
    )
    @action(detail=True, methods=["post"], url_path="next", url_name="next")
    def next_pair(self, request, pk=None):
        """The next pair to compare (the one I have not answered comes back first). A pair
        I have compared is never shown again."""
        from . import arena

        evaluation = arena.arena_evaluation_get(user=request.user, pk=int(pk))
        if evaluation is None:
            raise Http404
        assignment = arena.arena_next(evaluation=evaluation, evaluator=request.user)
        if assignment is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        view = arena.arena_assignment_view(assignment=assignment)
        progress = arena.arena_progress(evaluation=evaluation, evaluator=request.user)
        payload = {
            **{k: view[k] for k in ("token", "instruction", "language", "left", "right")},
            "done": progress["done"],
            "total": progress["total"],
        }
        return Response(s.ArenaPairSerializer(payload).data)

    @extend_schema(
        request=s.ArenaSubmitSerializer,
        responses={
            201: s.ArenaProgressSerializer,
            400: OpenApiResponse(
                description="A bad answer, or a token not waiting for an answer (answered "
                "already, or the evaluation closed)."
            ),
        },
    )
    @action(detail=False, methods=["post"])
    def submit(self, request):
        """Answer the pair shown with ``token``: for each criterion ``left``, ``right`` or
        ``tie``, as shown. A pair is answered once."""
        from . import arena

        data = s.ArenaSubmitSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        criteria = {k: values[k] for k in ("creativity", "style", "relevance", "fluency")}
        try:
            comparison = arena.arena_submit(
                token=values["token"],
                evaluator=request.user,
                criteria=criteria,
                seconds=values["seconds"],
            )
        except ObjectDoesNotExist:
            raise DjangoValidationError(
                {"token": _("No such pair is waiting for your answer.")}
            ) from None
        evaluation = Evaluation.objects.get(pk=comparison.evaluation_id)
        progress = arena.arena_progress(evaluation=evaluation, evaluator=request.user)
        payload = {"evaluation": evaluation.pk, **{k: progress[k] for k in ("done", "total")}}
        return Response(s.ArenaProgressSerializer(payload).data, status=status.HTTP_201_CREATED)


ROUTES = [
    ("benchmarks", BenchmarkViewSet, "benchmark"),
    ("benchmark-items", BenchmarkItemViewSet, "benchmark-item"),
    ("contestants", ContestantViewSet, "contestant"),
    ("evaluations", EvaluationViewSet, "evaluation"),
    ("arena", ArenaViewSet, "arena"),
]

"""Serializers of the evaluation API (``training/evaluation/api.py``): explicit fields only.

No serializer exposes an endpoint's API key (nor its variable's name): a contestant or an
evaluation shows an endpoint by id and name. The arena's serializers carry only what an
evaluator may see: the instruction, the two texts, a token and a count; never a model,
contestant, endpoint or response id.
"""

from __future__ import annotations

from collections import Counter

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from pairs.datasets.api import _choice_field
from training.api import FiniteFloatField
from weaver_site.llm.models import Endpoint

from ..models import RunCheckpoint
from .models import (
    Benchmark,
    BenchmarkItem,
    BenchmarkStatus,
    Contestant,
    ContestantKind,
    EvalResponse,
    Evaluation,
    EvaluationStatus,
    Outcome,
)

BenchmarkStatusField = _choice_field(BenchmarkStatus.choices, "BenchmarkStatusEnum")
ContestantKindField = _choice_field(ContestantKind.choices, "ContestantKindEnum")
EvaluationStatusField = _choice_field(EvaluationStatus.choices, "EvaluationStatusEnum")
OutcomeField = _choice_field(Outcome.choices, "ComparisonOutcomeEnum")
ItemLanguageField = _choice_field(
    BenchmarkItem._meta.get_field("language").choices, "BenchmarkLanguageEnum"
)
SOURCES = (("judge", "Model judge"), ("human", "Evaluators in the arena"))
CRITERIA = (
    ("overall", "Overall"),
    ("creativity", "Creativity"),
    ("style", "Style"),
    ("relevance", "Relevance"),
    ("fluency", "Fluency"),
)
ARENA_CHOICES = (("left", "Left is better"), ("right", "Right is better"), ("tie", "Tie"))
SourceField = _choice_field(SOURCES, "ComparisonSourceEnum")
CriterionField = _choice_field(CRITERIA, "ComparisonCriterionEnum")
ArenaChoiceField = _choice_field(ARENA_CHOICES, "ArenaChoiceEnum")
MAX_ROUNDS = 10_000


# --- Benchmarks -----------------------------------------------------------------------------

BENCHMARK_FIELDS = [
    "id",
    "name",
    "version",
    "description",
    "status",
    "item_count",
    "content_hash",
    "parent",
    "created_by",
    "created_at",
    "frozen_at",
    "frozen_by",
]


class BenchmarkSerializer(serializers.ModelSerializer):
    status = BenchmarkStatusField(read_only=True)
    item_count = serializers.SerializerMethodField(help_text="Instructions in this version.")
    content_hash = serializers.CharField(
        read_only=True, help_text="SHA-256 of the items, set when the version is frozen."
    )
    parent = serializers.PrimaryKeyRelatedField(
        read_only=True, help_text="The version this one was made from."
    )
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    frozen_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Benchmark
        fields = BENCHMARK_FIELDS
        read_only_fields = fields

    def get_item_count(self, benchmark) -> int:
        count = getattr(benchmark, "item_count", None)
        return benchmark.items.count() if count is None else count


class BenchmarkDetailSerializer(BenchmarkSerializer):
    by_language = serializers.SerializerMethodField(help_text="Instructions per language.")
    by_domain = serializers.SerializerMethodField(
        help_text='Instructions per domain slug ("" for none).'
    )
    by_task = serializers.SerializerMethodField(
        help_text='Instructions per task slug ("" for none).'
    )

    class Meta(BenchmarkSerializer.Meta):
        fields = [*BENCHMARK_FIELDS, "by_language", "by_domain", "by_task"]
        read_only_fields = fields

    def _count(self, benchmark, field: str) -> dict[str, int]:
        counts = Counter(v or "" for v in benchmark.items.values_list(field, flat=True))
        return dict(sorted(counts.items()))

    @extend_schema_field(serializers.DictField(child=serializers.IntegerField()))
    def get_by_language(self, benchmark) -> dict:
        return self._count(benchmark, "language")

    @extend_schema_field(serializers.DictField(child=serializers.IntegerField()))
    def get_by_domain(self, benchmark) -> dict:
        return self._count(benchmark, "domain__slug")

    @extend_schema_field(serializers.DictField(child=serializers.IntegerField()))
    def get_by_task(self, benchmark) -> dict:
        return self._count(benchmark, "task__slug")


class BenchmarkCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=120)
    description = serializers.CharField(required=False, allow_blank=True, default="")


class BenchmarkUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=120, required=False)
    description = serializers.CharField(required=False, allow_blank=True)


class BenchmarkItemSerializer(serializers.ModelSerializer):
    benchmark = serializers.PrimaryKeyRelatedField(read_only=True)
    language = ItemLanguageField(read_only=True)
    domain = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)
    task = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)
    metadata = serializers.DictField(read_only=True)

    class Meta:
        model = BenchmarkItem
        fields = [
            "id",
            "benchmark",
            "key",
            "position",
            "instruction",
            "language",
            "domain",
            "task",
            "reference",
            "metadata",
        ]
        read_only_fields = fields


class BenchmarkItemWriteSerializer(serializers.Serializer):
    key = serializers.CharField(max_length=100, help_text="The instruction's id in the benchmark.")
    instruction = serializers.CharField()
    language = ItemLanguageField()
    domain = serializers.CharField(
        max_length=64, required=False, allow_blank=True, default="", help_text="A domain slug."
    )
    task = serializers.CharField(
        max_length=64, required=False, allow_blank=True, default="", help_text="A task slug."
    )
    reference = serializers.CharField(
        required=False, allow_blank=True, default="", help_text="Never shown to the judge."
    )
    metadata = serializers.DictField(required=False, default=dict)


class BenchmarkImportSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="JSONL, one instruction a line.")
    replace = serializers.BooleanField(
        default=False, help_text="Replace the draft's instructions instead of adding to them."
    )


class BenchmarkImportResultSerializer(serializers.Serializer):
    imported = serializers.IntegerField()
    benchmark = BenchmarkDetailSerializer()


class ProblemSerializer(serializers.Serializer):
    file = serializers.CharField(allow_blank=True)
    line = serializers.IntegerField()
    field = serializers.CharField(allow_blank=True)
    message = serializers.CharField()


class BenchmarkImportErrorSerializer(serializers.Serializer):
    file = serializers.ListField(
        child=serializers.CharField(), help_text="Each problem as 'file, line N, field: message'."
    )
    problems = ProblemSerializer(many=True)
    more = serializers.IntegerField(help_text="Problems found beyond those listed.")


class ContaminationQuerySerializer(serializers.Serializer):
    snapshot = serializers.IntegerField(min_value=1)
    threshold = serializers.FloatField(
        required=False, min_value=0.01, max_value=1.0, allow_null=True, default=None
    )


class ContaminationReportSerializer(serializers.Serializer):
    id = serializers.IntegerField(
        allow_null=True, help_text="null for a draft's report (computed, not kept)."
    )
    benchmark = serializers.IntegerField(source="benchmark_id")
    snapshot = serializers.IntegerField(source="snapshot_id")
    snapshot_label = serializers.CharField(source="snapshot.label")
    threshold = serializers.FloatField()
    exact = serializers.IntegerField(help_text="Exact copies found.")
    near = serializers.IntegerField(help_text="Near duplicates found.")
    instructions = serializers.IntegerField(help_text="Benchmark instructions found at all.")
    matches = serializers.ListField(child=serializers.DictField())
    created_at = serializers.DateTimeField()


# --- Contestants ----------------------------------------------------------------------------


class ContestantSerializer(serializers.ModelSerializer):
    kind = ContestantKindField(read_only=True)
    endpoint = serializers.PrimaryKeyRelatedField(read_only=True)
    endpoint_name = serializers.CharField(source="endpoint.name", read_only=True)
    run = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)
    checkpoint = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)
    decoding = serializers.DictField(read_only=True)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Contestant
        fields = [
            "id",
            "name",
            "kind",
            "endpoint",
            "endpoint_name",
            "run",
            "checkpoint",
            "decoding",
            "system_prompt",
            "created_by",
            "created_at",
        ]
        read_only_fields = fields


class ContestantCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=120)
    endpoint = serializers.PrimaryKeyRelatedField(
        queryset=Endpoint.objects.all(),
        required=False,
        allow_null=True,
        default=None,
        help_text="A gateway endpoint's id (or give checkpoint).",
    )
    checkpoint = serializers.PrimaryKeyRelatedField(
        queryset=RunCheckpoint.objects.all(),
        required=False,
        allow_null=True,
        default=None,
        help_text="A training run checkpoint's id (or give endpoint).",
    )
    decoding = serializers.DictField(
        required=False,
        default=dict,
        help_text="Any of temperature, top_p, max_tokens, seed.",
    )
    system_prompt = serializers.CharField(required=False, allow_blank=True, default="")


# --- Evaluations ----------------------------------------------------------------------------


class NamedRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class EvaluationJobSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    contestant = serializers.CharField(
        allow_null=True, help_text="The model a generation job answers for; null for the judge."
    )
    status = serializers.CharField()
    total = serializers.IntegerField()
    done = serializers.IntegerField()
    failed = serializers.IntegerField()
    spent_usd = serializers.DecimalField(max_digits=14, decimal_places=6)
    budget_usd = serializers.DecimalField(max_digits=12, decimal_places=4, allow_null=True)
    error = serializers.CharField(allow_blank=True)


EVALUATION_FIELDS = [
    "id",
    "name",
    "benchmark",
    "benchmark_label",
    "contestants",
    "judge",
    "judge_name",
    "grade",
    "pairwise",
    "arena_open",
    "status",
    "budget_usd",
    "error",
    "created_by",
    "created_at",
    "finished_at",
]


class EvaluationSerializer(serializers.ModelSerializer):
    benchmark = serializers.PrimaryKeyRelatedField(read_only=True)
    benchmark_label = serializers.CharField(source="benchmark.__str__", read_only=True)
    contestants = serializers.SerializerMethodField()
    judge = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)
    judge_name = serializers.CharField(source="judge.name", read_only=True, allow_null=True)
    status = EvaluationStatusField(read_only=True)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Evaluation
        fields = EVALUATION_FIELDS
        read_only_fields = fields

    @extend_schema_field(NamedRefSerializer(many=True))
    def get_contestants(self, evaluation) -> list:
        return [{"id": c.pk, "name": c.name} for c in evaluation.contestants.all()]


class EvaluationDetailSerializer(EvaluationSerializer):
    jobs = serializers.SerializerMethodField(
        help_text="The generation jobs (one per model), then the judge job."
    )

    class Meta(EvaluationSerializer.Meta):
        fields = [*EVALUATION_FIELDS, "jobs"]
        read_only_fields = fields

    @extend_schema_field(EvaluationJobSerializer(many=True))
    def get_jobs(self, evaluation) -> list:
        from . import services

        names = dict(evaluation.generation_jobs.values_list("job_id", "contestant__name"))
        rows = [
            {
                "id": job.pk,
                "kind": job.kind,
                "contestant": names.get(job.pk),
                "status": job.status,
                "total": job.total,
                "done": job.done,
                "failed": job.failed,
                "spent_usd": job.spent_usd,
                "budget_usd": job.budget_usd,
                "error": job.error,
            }
            for job in services.evaluation_jobs(evaluation=evaluation)
        ]
        return EvaluationJobSerializer(rows, many=True).data


class EvaluationCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    benchmark = serializers.PrimaryKeyRelatedField(
        queryset=Benchmark.objects.all(), help_text="A frozen benchmark's id."
    )
    contestants = serializers.PrimaryKeyRelatedField(
        queryset=Contestant.objects.all(), many=True, allow_empty=False
    )
    judge = serializers.PrimaryKeyRelatedField(
        queryset=Endpoint.objects.all(),
        required=False,
        allow_null=True,
        default=None,
        help_text="The judge endpoint's id; null: human comparisons only.",
    )
    grade = serializers.BooleanField(default=True)
    pairwise = serializers.BooleanField(default=True)
    arena_open = serializers.BooleanField(default=True)
    budget_usd = serializers.DecimalField(
        max_digits=12,
        decimal_places=4,
        min_value=0,
        required=False,
        allow_null=True,
        default=None,
        help_text="For each job; null: no limit.",
    )


class LeaderboardQuerySerializer(serializers.Serializer):
    source = SourceField(default="judge")
    criterion = CriterionField(default="overall")
    rounds = serializers.IntegerField(min_value=1, max_value=MAX_ROUNDS, default=1000)
    seed = serializers.IntegerField(min_value=0, default=0)


class ComparisonsQuerySerializer(serializers.Serializer):
    source = SourceField(default="judge")
    criterion = CriterionField(default="overall")


class RatingRowSerializer(serializers.Serializer):
    model = serializers.CharField()
    games = serializers.IntegerField()
    wins = serializers.IntegerField()
    losses = serializers.IntegerField()
    ties = serializers.IntegerField()
    elo = FiniteFloatField(allow_null=True)
    elo_low = FiniteFloatField(allow_null=True)
    elo_high = FiniteFloatField(allow_null=True)
    bt = FiniteFloatField(allow_null=True)
    bt_low = FiniteFloatField(allow_null=True)
    bt_high = FiniteFloatField(allow_null=True)


class LeaderboardGroupSerializer(serializers.Serializer):
    group = serializers.CharField(allow_blank=True, help_text='A domain slug; "" overall.')
    label = serializers.CharField(allow_blank=True)
    comparisons = serializers.IntegerField()
    rows = RatingRowSerializer(many=True)


class ScoreRowSerializer(serializers.Serializer):
    contestant = serializers.CharField()
    contestant_id = serializers.IntegerField()
    n = serializers.IntegerField()
    style = FiniteFloatField(allow_null=True)
    relevance = FiniteFloatField(allow_null=True)
    creativity = FiniteFloatField(allow_null=True)
    overall = FiniteFloatField(allow_null=True)


class ScoreTableSerializer(serializers.Serializer):
    criteria = serializers.ListField(child=serializers.CharField())
    rows = ScoreRowSerializer(many=True)
    by_domain = serializers.DictField(child=ScoreRowSerializer(many=True))


class ComparisonSerializer(serializers.Serializer):
    a = serializers.CharField()
    b = serializers.CharField()
    outcome = OutcomeField()
    group = serializers.CharField(allow_blank=True)


class GradeSerializer(serializers.Serializer):
    style = serializers.IntegerField()
    relevance = serializers.IntegerField()
    creativity = serializers.IntegerField()
    overall = serializers.IntegerField()
    reason = serializers.CharField()
    prompt_version = serializers.CharField()


class EvalResponseSerializer(serializers.ModelSerializer):
    item = serializers.PrimaryKeyRelatedField(read_only=True)
    item_key = serializers.CharField(source="item.key", read_only=True)
    contestant = serializers.PrimaryKeyRelatedField(read_only=True)
    contestant_name = serializers.CharField(source="contestant.name", read_only=True)
    decoding = serializers.DictField(read_only=True)
    grade = serializers.SerializerMethodField(
        help_text="The evaluation judge's grade of this response; null when none."
    )

    class Meta:
        model = EvalResponse
        fields = [
            "id",
            "item",
            "item_key",
            "contestant",
            "contestant_name",
            "text",
            "decoding",
            "model_name",
            "output_tokens",
            "latency_ms",
            "cost_usd",
            "grade",
        ]
        read_only_fields = fields

    @extend_schema_field(GradeSerializer(allow_null=True))
    def get_grade(self, response) -> dict | None:
        judge_id = self.context.get("judge_id")
        if judge_id is None:
            return None
        grades = [g for g in response.grades.all() if g.judge_id == judge_id]
        if not grades:
            return None
        grade = max(grades, key=lambda g: (g.created_at, g.pk))
        return GradeSerializer(grade).data


# --- Arena ----------------------------------------------------------------------------------


class ArenaEvaluationSerializer(serializers.Serializer):
    """An open evaluation as an evaluator sees it: its id, a label that names no model, its
    benchmark and this evaluator's progress."""

    id = serializers.IntegerField()
    label = serializers.CharField(
        help_text='Its name, unless that names one of its models ("Evaluation #id").'
    )
    benchmark = serializers.CharField(help_text="The benchmark's name and version.")
    done = serializers.IntegerField(help_text="Comparisons this evaluator has made.")
    total = serializers.IntegerField(help_text="Comparisons this evaluator may make.")


class ArenaPairSerializer(serializers.Serializer):
    token = serializers.UUIDField(help_text="Send it back with the answer.")
    instruction = serializers.CharField()
    language = serializers.CharField()
    left = serializers.CharField(help_text="One response (which one is random).")
    right = serializers.CharField(help_text="The other response.")
    done = serializers.IntegerField()
    total = serializers.IntegerField()


class ArenaSubmitSerializer(serializers.Serializer):
    token = serializers.UUIDField()
    creativity = ArenaChoiceField()
    style = ArenaChoiceField()
    relevance = ArenaChoiceField()
    fluency = ArenaChoiceField()
    seconds = serializers.IntegerField(
        min_value=0, default=0, help_text="Time taken (a long one is recorded as 6 hours)."
    )


class ArenaProgressSerializer(serializers.Serializer):
    evaluation = serializers.IntegerField()
    done = serializers.IntegerField()
    total = serializers.IntegerField()

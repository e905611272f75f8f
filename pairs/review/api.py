"""REST API for review: queues, the next pair, drafts, decisions, adjudication, agreement and
the feedback that reaches principle authors.

Who may do what is the services' business (they raise ``PermissionDenied`` and
``ValidationError``, which the project's exception handler turns into 403 and
``400 {"field": ["message"]}``). The views add the visibility rules: reviewers see only their
queues and only their own reviews (anything else is 404), and nothing served to a reviewer
tells a gold pair apart from any other (no ``is_gold``, no gold answer, no slot).

"Next" and "submit" are the hot paths: each reads the queue or review once, lets the service
do its few indexed statements, and serialises the review from one joined row.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.utils.translation import gettext as _
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import JSONParser
from rest_framework.response import Response

from principles.models import Principle, PrincipleVersion
from weaver_site.roles import ADMIN, AUTHOR, ENGINEER, REVIEWER, STUDIO_ROLES, has_role

from ..models import (
    AggregationRule,
    Decision,
    ItemStatus,
    PairRevision,
    PreferencePair,
    RejectReason,
    Review,
    ReviewItem,
    ReviewQueue,
    ReviewState,
)
from ..selectors import _int
from . import selectors, services
from .filters import RANGE_METRICS, REVIEWABLE_STATUSES, QueueFilters
from .selectors import PAIR_UNUSED

GOLD_DECISIONS = [
    (Decision.ACCEPT, Decision.ACCEPT.label),
    (Decision.REJECT, Decision.REJECT.label),
]


@extend_schema_field(
    {"type": "string", "enum": [v for v, _label in GOLD_DECISIONS]},
    component_name="FinalDecisionEnum",
)
class FinalDecisionField(serializers.ChoiceField):
    """Accept or reject. Its enum is a component of its own: ``decision`` (accept, reject or
    edit) is a reviewer's choice elsewhere in the API."""

    def __init__(self, **kwargs):
        super().__init__(choices=GOLD_DECISIONS, **kwargs)


@extend_schema_field(
    {"type": "string", "enum": [*(v for v, _label in GOLD_DECISIONS), ""]},
    component_name="ItemDecisionEnum",
)
class ItemDecisionField(serializers.ChoiceField):
    """An item's gold or final decision: accept, reject or empty (none yet)."""

    def __init__(self, **kwargs):
        super().__init__(choices=[*GOLD_DECISIONS, ("", "")], **kwargs)


@extend_schema_field(
    {"type": "string", "enum": ItemStatus.values}, component_name="ReviewItemStatusEnum"
)
class ItemStatusField(serializers.ChoiceField):
    def __init__(self, **kwargs):
        super().__init__(choices=ItemStatus.choices, **kwargs)


def _bool(value):
    value = (value or "").strip().lower()
    if value in ("1", "true", "yes"):
        return True
    if value in ("0", "false", "no"):
        return False
    return None


def _is_manager(user) -> bool:
    return services.can_manage_queues(user)


def _require_manager(user) -> None:
    if not _is_manager(user):
        raise PermissionDenied(_("Only engineers and admins manage review queues."))


def reviews_for_reviewer(*, reviewer):
    """The reviewer's own reviews, with everything the review serializer reads (one query)."""
    return (
        Review.objects.filter(reviewer=reviewer)
        .select_related("pair__principle_version", "pair__task", "pair__domain", "queue")
        .defer(*(f"pair__{name}" for name in PAIR_UNUSED))
    )


# --- Serializers: queues ------------------------------------------------------------------


class QueueFiltersSchema(serializers.Serializer):
    """The queue filters object (documentation; checked by ``QueueFilters.from_dict``)."""

    domains = serializers.ListField(child=serializers.IntegerField(), required=False)
    subdomains = serializers.ListField(child=serializers.IntegerField(), required=False)
    tasks = serializers.ListField(child=serializers.IntegerField(), required=False)
    languages = serializers.ListField(child=serializers.CharField(), required=False)
    principles = serializers.ListField(child=serializers.IntegerField(), required=False)
    principle_versions = serializers.ListField(child=serializers.IntegerField(), required=False)
    jobs = serializers.ListField(
        child=serializers.IntegerField(), required=False, help_text="Negatives job ids."
    )
    statuses = serializers.ListField(
        child=serializers.ChoiceField(choices=list(REVIEWABLE_STATUSES)),
        required=False,
        help_text="Default: generated and in_review.",
    )
    flagged = serializers.BooleanField(required=False, allow_null=True)
    judge = serializers.ListField(
        child=serializers.ChoiceField(choices=["pass", "fail", "none"]), required=False
    )
    metric_ranges = serializers.DictField(
        child=serializers.ListField(
            child=serializers.FloatField(allow_null=True), min_length=2, max_length=2
        ),
        required=False,
        help_text=(f"[min, max] per metric ({', '.join(RANGE_METRICS)}); null leaves a side open."),
    )


def _filter_errors(exc: DjangoValidationError):
    """The filters' errors, keyed by the filter they are about (under ``filters``)."""
    if not hasattr(exc, "error_dict"):
        return exc.messages
    errors = exc.message_dict
    if set(errors) == {"filters"}:
        return errors["filters"]
    return errors


@extend_schema_field(QueueFiltersSchema)
class QueueFiltersField(serializers.Field):
    default_error_messages = {}

    def to_internal_value(self, data):
        try:
            return QueueFilters.from_dict(data).as_dict()
        except DjangoValidationError as exc:
            raise serializers.ValidationError(_filter_errors(exc)) from None

    def to_representation(self, value):
        return value


class QueueProgressSerializer(serializers.Serializer):
    total = serializers.IntegerField(help_text="Pairs in the queue (gold pairs not counted).")
    open = serializers.IntegerField()
    conflict = serializers.IntegerField(help_text="Pairs waiting for adjudication.")
    decided = serializers.IntegerField()
    accepted = serializers.IntegerField()
    rejected = serializers.IntegerField()
    percent = serializers.IntegerField(help_text="Decided pairs, percent of the total.")
    gold = serializers.IntegerField(required=False, help_text="Gold pairs (managers only).")
    reviews_submitted = serializers.IntegerField()
    reviews_reserved = serializers.IntegerField()
    reviews_skipped = serializers.IntegerField()


class ReviewQueueSerializer(serializers.ModelSerializer):
    """A queue as everyone who can see it reads it; ``gold_rate`` is for managers only."""

    filters = QueueFiltersField(read_only=True)
    reviewers = serializers.SlugRelatedField(slug_field="username", many=True, read_only=True)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    gold_rate = serializers.FloatField(
        read_only=True, required=False, help_text="Engineers and admins only."
    )

    class Meta:
        model = ReviewQueue
        fields = [
            "id",
            "name",
            "description",
            "filters",
            "reviews_required",
            "rule",
            "reservation_minutes",
            "gold_rate",
            "reviewers",
            "is_active",
            "created_by",
            "created_at",
            "refreshed_at",
        ]
        read_only_fields = fields

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if not self.context.get("manager"):
            data.pop("gold_rate", None)
        return data


class ReviewQueueDetailSerializer(ReviewQueueSerializer):
    progress = serializers.SerializerMethodField()

    class Meta(ReviewQueueSerializer.Meta):
        fields = [*ReviewQueueSerializer.Meta.fields, "progress"]
        read_only_fields = fields

    @extend_schema_field(QueueProgressSerializer)
    def get_progress(self, queue) -> dict:
        progress = dict(selectors.queue_progress(queue=queue))
        if not self.context.get("manager"):
            progress.pop("gold", None)
        return QueueProgressSerializer(progress).data


class UsernamesField(serializers.ListField):
    """A list of usernames, turned into users; an unknown name is an error that names it."""

    child = serializers.CharField(max_length=150)

    def to_internal_value(self, data):
        names = list(dict.fromkeys(super().to_internal_value(data)))
        users = {u.get_username(): u for u in get_user_model().objects.filter(username__in=names)}
        unknown = [n for n in names if n not in users]
        if unknown:
            raise serializers.ValidationError(
                _("Unknown user: %(names)s.") % {"names": ", ".join(unknown)}
            )
        return [users[n] for n in names]


class ReviewQueueCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    filters = QueueFiltersField(required=False, default=dict)
    reviews_required = serializers.IntegerField(min_value=1, max_value=10, default=2)
    rule = serializers.ChoiceField(
        choices=AggregationRule.choices, default=AggregationRule.UNANIMOUS
    )
    reservation_minutes = serializers.IntegerField(min_value=1, max_value=24 * 60, default=20)
    gold_rate = serializers.FloatField(min_value=0.0, max_value=1.0, default=0.0)
    reviewers = UsernamesField(
        required=False, default=list, help_text="Usernames (Reviewer or Admin role)."
    )


class ReviewQueueUpdateSerializer(serializers.Serializer):
    """Every setting but the filters (make a new queue for other pairs)."""

    name = serializers.CharField(max_length=200, required=False)
    description = serializers.CharField(required=False, allow_blank=True)
    reviews_required = serializers.IntegerField(min_value=1, max_value=10, required=False)
    rule = serializers.ChoiceField(choices=AggregationRule.choices, required=False)
    reservation_minutes = serializers.IntegerField(min_value=1, max_value=24 * 60, required=False)
    gold_rate = serializers.FloatField(min_value=0.0, max_value=1.0, required=False)
    is_active = serializers.BooleanField(required=False)
    reviewers = UsernamesField(required=False, help_text="Replaces the queue's reviewers.")


class FillResultSerializer(serializers.Serializer):
    added = serializers.IntegerField(help_text="Pairs added to the queue.")


class GoldSerializer(serializers.Serializer):
    pair = serializers.PrimaryKeyRelatedField(queryset=PreferencePair.objects.all())
    decision = FinalDecisionField(help_text="The known answer.")
    note = serializers.CharField(required=False, allow_blank=True, default="")


class CoefficientsSerializer(serializers.Serializer):
    items = serializers.IntegerField(help_text="Pairs with at least two reviews.")
    percent = serializers.FloatField(allow_null=True, help_text="Percent agreement (0-1).")
    alpha = serializers.FloatField(allow_null=True, help_text="Krippendorff's alpha (nominal).")


class ReviewerPairAgreementSerializer(serializers.Serializer):
    a = serializers.CharField(help_text="Username.")
    b = serializers.CharField(help_text="Username.")
    items = serializers.IntegerField(help_text="Pairs both reviewed.")
    percent = serializers.FloatField(allow_null=True)
    kappa = serializers.FloatField(allow_null=True, help_text="Cohen's kappa.")


class PrincipleAgreementSerializer(CoefficientsSerializer):
    id = serializers.IntegerField(allow_null=True, help_text="Principle id.")
    title = serializers.CharField()


class ReviewerStatsSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="Username.")
    reviews = serializers.IntegerField(help_text="Submitted reviews of pairs that are not gold.")
    accepts = serializers.IntegerField()
    skips = serializers.IntegerField()
    accept_rate = serializers.FloatField(allow_null=True)
    median_seconds = serializers.FloatField(allow_null=True)
    per_hour = serializers.FloatField(allow_null=True)
    gold_total = serializers.IntegerField()
    gold_accuracy = serializers.FloatField(allow_null=True)


class QueueAgreementSerializer(serializers.Serializer):
    """Agreement over accept/reject decisions (an edit counts as accept)."""

    queue = CoefficientsSerializer()
    pairs = ReviewerPairAgreementSerializer(many=True, help_text="Every two reviewers.")
    principles = PrincipleAgreementSerializer(many=True)
    reviewers = ReviewerStatsSerializer(many=True)


# --- Serializers: reviews -----------------------------------------------------------------


class ReviewPrincipleVersionSerializer(serializers.ModelSerializer):
    class Meta:
        model = PrincipleVersion
        fields = [
            "id",
            "title",
            "number",
            "description",
            "following_text",
            "following_rationale",
            "violating_text",
            "violating_rationale",
        ]
        read_only_fields = fields


class ReviewPairSerializer(serializers.ModelSerializer):
    """What a reviewer reads of the pair: the prompt, both responses and the principle."""

    task = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    domain = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    principle_version = ReviewPrincipleVersionSerializer(read_only=True, allow_null=True)
    metrics = serializers.DictField(read_only=True)

    class Meta:
        model = PreferencePair
        fields = [
            "id",
            "instruction",
            "context",
            "chosen",
            "rejected",
            "language",
            "task",
            "domain",
            "principle_version",
            "selection_reason",
            "rewrite_rationale",
            "metrics",
        ]
        read_only_fields = fields


class ReviewSerializer(serializers.ModelSerializer):
    """A reservation or review, served only to its reviewer (the draft is theirs)."""

    queue = serializers.PrimaryKeyRelatedField(read_only=True)
    reasons = serializers.ListField(child=serializers.CharField(), read_only=True)
    draft = serializers.DictField(
        read_only=True, help_text="What you have typed so far (yours only)."
    )
    pair = ReviewPairSerializer(read_only=True)

    class Meta:
        model = Review
        fields = [
            "id",
            "queue",
            "state",
            "reserved_until",
            "submitted_at",
            "decision",
            "reasons",
            "comment",
            "edited_rejected",
            "seconds_spent",
            "draft",
            "pair",
        ]
        read_only_fields = fields


_DATETIME = serializers.DateTimeField(read_only=True)


def review_payload(review: Review) -> dict:
    """What :class:`ReviewSerializer` gives for ``review``, built directly: "next" and "submit"
    are the hot paths of a reviewer's day, and building a model serializer's fields costs more
    than the rest of the response (a test keeps the two equal)."""
    pair = review.pair
    version = pair.principle_version

    def when(value):
        return None if value is None else _DATETIME.to_representation(value)

    return {
        "id": review.pk,
        "queue": review.queue_id,
        "state": review.state,
        "reserved_until": when(review.reserved_until),
        "submitted_at": when(review.submitted_at),
        "decision": review.decision,
        "reasons": [str(r) for r in review.reasons or []],
        "comment": review.comment,
        "edited_rejected": review.edited_rejected,
        "seconds_spent": review.seconds_spent,
        "draft": dict(review.draft or {}),
        "pair": {
            "id": pair.pk,
            "instruction": pair.instruction,
            "context": pair.context,
            "chosen": pair.chosen,
            "rejected": pair.rejected,
            "language": pair.language,
            "task": pair.task.slug if pair.task_id else None,
            "domain": pair.domain.slug if pair.domain_id else None,
            "principle_version": None
            if version is None
            else {
                "id": version.pk,
                "title": version.title,
                "number": version.number,
                "description": version.description,
                "following_text": version.following_text,
                "following_rationale": version.following_rationale,
                "violating_text": version.violating_text,
                "violating_rationale": version.violating_rationale,
            },
            "selection_reason": pair.selection_reason,
            "rewrite_rationale": pair.rewrite_rationale,
            "metrics": dict(pair.metrics or {}),
        },
    }


class DraftSerializer(serializers.Serializer):
    """A draft (documentation; checked by the service). Every field is optional."""

    decision = serializers.ChoiceField(choices=Decision.choices, required=False, allow_blank=True)
    reasons = serializers.ListField(
        child=serializers.ChoiceField(choices=RejectReason.choices), required=False
    )
    comment = serializers.CharField(required=False, allow_blank=True)
    edited_rejected = serializers.CharField(required=False, allow_blank=True)
    active_seconds = serializers.FloatField(required=False, allow_null=True)


class SubmitSerializer(serializers.Serializer):
    decision = serializers.ChoiceField(choices=Decision.choices)
    reasons = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        default=list,
        help_text=f"Required to reject: {', '.join(RejectReason.values)}.",
    )
    comment = serializers.CharField(
        required=False, allow_blank=True, default="", trim_whitespace=False
    )
    edited_rejected = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        trim_whitespace=False,
        help_text="The corrected rejected response (decision 'edit').",
    )
    active_seconds = serializers.FloatField(
        required=False,
        allow_null=True,
        default=None,
        min_value=0,
        help_text="Time the page was visible and focused; capped by the wall time.",
    )


# --- Serializers: adjudication and feedback ----------------------------------------------


class ReviewItemSerializer(serializers.ModelSerializer):
    """An item of a queue, as admins see it (gold included)."""

    queue = serializers.PrimaryKeyRelatedField(read_only=True)
    pair = serializers.PrimaryKeyRelatedField(read_only=True)
    instruction = serializers.CharField(source="pair.instruction", read_only=True)
    principle_version_title = serializers.CharField(
        source="pair.principle_version.title", read_only=True, allow_null=True, default=None
    )
    status = ItemStatusField(read_only=True)
    gold_decision = ItemDecisionField(read_only=True)
    final_decision = ItemDecisionField(read_only=True)
    adjudicated_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = ReviewItem
        fields = [
            "id",
            "queue",
            "pair",
            "instruction",
            "principle_version_title",
            "status",
            "taken",
            "submitted",
            "is_gold",
            "gold_decision",
            "gold_note",
            "final_decision",
            "decided_at",
            "adjudicated_by",
            "adjudication_note",
        ]
        read_only_fields = fields


class ItemReviewSerializer(serializers.ModelSerializer):
    """A submitted review as the adjudicator reads it (never a draft)."""

    reviewer = serializers.SlugRelatedField(slug_field="username", read_only=True)
    reasons = serializers.ListField(child=serializers.CharField(), read_only=True)
    revision = serializers.SerializerMethodField()

    class Meta:
        model = Review
        fields = [
            "id",
            "reviewer",
            "slot",
            "decision",
            "reasons",
            "comment",
            "edited_rejected",
            "seconds_spent",
            "submitted_at",
            "revision",
        ]
        read_only_fields = fields

    def get_revision(self, review) -> int | None:
        revision = getattr(review, "revision", None)
        return revision.pk if revision is not None else None


class PairRevisionSerializer(serializers.ModelSerializer):
    author = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = PairRevision
        fields = ["id", "review", "author", "before", "after", "applied", "created_at"]
        read_only_fields = fields


class ReviewItemDetailSerializer(ReviewItemSerializer):
    pair_detail = serializers.SerializerMethodField()
    reviews = serializers.SerializerMethodField()
    revisions = serializers.SerializerMethodField()

    class Meta(ReviewItemSerializer.Meta):
        fields = [*ReviewItemSerializer.Meta.fields, "pair_detail", "reviews", "revisions"]
        read_only_fields = fields

    @extend_schema_field(ReviewPairSerializer)
    def get_pair_detail(self, item) -> dict:
        return ReviewPairSerializer(item.pair).data

    @extend_schema_field(ItemReviewSerializer(many=True))
    def get_reviews(self, item) -> list:
        return ItemReviewSerializer(selectors.item_reviews(item=item), many=True).data

    @extend_schema_field(PairRevisionSerializer(many=True))
    def get_revisions(self, item) -> list:
        return PairRevisionSerializer(selectors.pair_revisions(pair=item.pair), many=True).data


class AdjudicateSerializer(serializers.Serializer):
    decision = FinalDecisionField()
    note = serializers.CharField(required=False, allow_blank=True, default="")
    revision = serializers.IntegerField(
        required=False,
        allow_null=True,
        default=None,
        help_text="Id of a reviewer's edit of this pair to apply (accept only).",
    )


class FeedbackPrincipleSerializer(serializers.ModelSerializer):
    title = serializers.CharField(source="latest_version.title", read_only=True, default="")
    owner = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Principle
        fields = ["id", "title", "owner", "language"]
        read_only_fields = fields


class ReasonCountSerializer(serializers.Serializer):
    code = serializers.CharField()
    label = serializers.CharField()
    count = serializers.IntegerField()


class FeedbackExampleSerializer(serializers.ModelSerializer):
    class Meta:
        model = PreferencePair
        fields = ["id", "instruction", "principle_version"]
        read_only_fields = fields


class PrincipleFeedbackSerializer(serializers.Serializer):
    principle = FeedbackPrincipleSerializer(allow_null=True)
    decided = serializers.IntegerField(help_text="Decided pairs made with the principle.")
    rejected = serializers.IntegerField()
    share = serializers.FloatField(help_text="Rejected over decided.")
    reasons = ReasonCountSerializer(many=True, help_text="Why reviewers rejected, most first.")
    flagged = serializers.BooleanField(help_text="Over the flag threshold.")
    examples = FeedbackExampleSerializer(many=True, help_text="Rejected pairs (flagged only).")


# --- Views --------------------------------------------------------------------------------

QUEUE_ID = OpenApiParameter("id", int, OpenApiParameter.PATH, description="Queue id.")
REVIEW_ID = OpenApiParameter("id", int, OpenApiParameter.PATH, description="Review id.")
ITEM_ID = OpenApiParameter("id", int, OpenApiParameter.PATH, description="Review item id.")


@extend_schema_view(
    list=extend_schema(description="Engineers and admins: every queue; reviewers: theirs."),
    retrieve=extend_schema(parameters=[QUEUE_ID], responses=ReviewQueueDetailSerializer),
)
class ReviewQueueViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Review queues. Engineers and admins make and change them; reviewers see the queues they
    are assigned to and ask them for their next pair."""

    required_roles = STUDIO_ROLES
    queryset = ReviewQueue.objects.none()
    serializer_class = ReviewQueueSerializer
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        return (
            selectors.review_queues_for(user=self.request.user)
            .select_related("created_by")
            .prefetch_related("reviewers")
        )

    def get_object(self):
        queue = self.get_queryset().filter(pk=self.kwargs["pk"]).first()
        if queue is None:
            raise Http404
        return queue

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "manager": _is_manager(self.request.user)}

    def _detail(self, queue, code=status.HTTP_200_OK):
        return Response(
            ReviewQueueDetailSerializer(queue, context=self.get_serializer_context()).data,
            status=code,
        )

    def _queue(self) -> ReviewQueue:
        """The queue, if the user may see it (no prefetching: for the actions)."""
        queue = selectors.review_queue_get(user=self.request.user, pk=self.kwargs["pk"])
        if queue is None:
            raise Http404
        return queue

    def retrieve(self, request, *args, **kwargs):
        return self._detail(self.get_object())

    @extend_schema(
        request=ReviewQueueCreateSerializer, responses={201: ReviewQueueDetailSerializer}
    )
    def create(self, request, *args, **kwargs):
        """Make a queue and fill it at once with the pairs its filters match."""
        _require_manager(request.user)
        data = ReviewQueueCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        queue = services.review_queue_create(created_by=request.user, **data.validated_data)
        return self._detail(self.get_queryset().get(pk=queue.pk), status.HTTP_201_CREATED)

    @extend_schema(
        parameters=[QUEUE_ID],
        request=ReviewQueueUpdateSerializer,
        responses=ReviewQueueDetailSerializer,
    )
    def partial_update(self, request, *args, **kwargs):
        """Change a queue's settings; N can grow, never shrink below reviews already given."""
        queue = self._queue()
        _require_manager(request.user)
        if "filters" in request.data:
            raise DjangoValidationError(
                {"filters": _("A queue's filters cannot be changed; make a new queue.")}
            )
        data = ReviewQueueUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        services.review_queue_update(
            queue=queue,
            user=request.user,
            reviewers=fields.pop("reviewers", None),
            is_active=fields.pop("is_active", None),
            **fields,
        )
        return self._detail(self.get_object())

    @extend_schema(parameters=[QUEUE_ID], request=None, responses=FillResultSerializer)
    @action(detail=True, methods=["post"])
    def fill(self, request, pk=None):
        """Add the pairs that match the queue's filters now and are not in it yet."""
        queue = self._queue()
        _require_manager(request.user)
        added = services.review_queue_fill(queue=queue)
        return Response(FillResultSerializer({"added": added}).data)

    @extend_schema(parameters=[QUEUE_ID], responses=QueueAgreementSerializer)
    @action(detail=True, methods=["get"], pagination_class=None)
    def agreement(self, request, pk=None):
        """Agreement (percent, Cohen's kappa, Krippendorff's alpha) and reviewer statistics.
        Engineers and admins: the statistics include gold accuracy, which would tell a reviewer
        which of their pairs were gold."""
        queue = self._queue()
        _require_manager(request.user)
        return Response(QueueAgreementSerializer(selectors.queue_agreement(queue=queue)).data)

    @extend_schema(parameters=[QUEUE_ID], request=GoldSerializer, responses=ReviewItemSerializer)
    @action(detail=True, methods=["post"])
    def gold(self, request, pk=None):
        """Make a pair a gold pair of the queue, with its known answer."""
        queue = self._queue()
        _require_manager(request.user)
        data = GoldSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        item = services.review_gold_add(
            queue=queue,
            user=request.user,
            pair=data.validated_data["pair"],
            decision=data.validated_data["decision"],
            note=data.validated_data["note"],
        )
        return Response(ReviewItemSerializer(item).data)

    @extend_schema(
        parameters=[QUEUE_ID],
        request=None,
        responses={
            200: ReviewSerializer,
            204: OpenApiResponse(description="Nothing left in this queue for you."),
        },
    )
    @action(detail=True, methods=["post"])
    def next(self, request, pk=None):
        """Your current reservation in the queue, or a new one on the next pair you have not
        reviewed. For the queue's reviewers."""
        queue = self._queue()
        review = services.review_next(queue=queue, reviewer=request.user)
        if review is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        review = reviews_for_reviewer(reviewer=request.user).get(pk=review.pk)
        return Response(review_payload(review))


REVIEW_LIST_PARAMS = [
    OpenApiParameter("queue", int, description="Queue id."),
    OpenApiParameter("state", str, enum=ReviewState.values),
]


@extend_schema_view(
    list=extend_schema(parameters=REVIEW_LIST_PARAMS),
    retrieve=extend_schema(parameters=[REVIEW_ID]),
)
class ReviewViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Your own reviews and reservations (anyone else's is 404): save a draft, submit, skip."""

    required_roles = (REVIEWER, ADMIN)
    queryset = Review.objects.none()
    serializer_class = ReviewSerializer
    lookup_value_regex = r"\d+"

    def _own(self):
        return reviews_for_reviewer(reviewer=self.request.user)

    def get_queryset(self):
        qs = self._own()
        params = self.request.query_params
        queue = _int(params.get("queue"))
        if queue is not None:
            qs = qs.filter(queue_id=queue)
        state = params.get("state")
        if state in ReviewState.values:
            qs = qs.filter(state=state)
        return qs.order_by("-id")

    def get_object(self):
        review = self._own().filter(pk=self.kwargs["pk"]).first()
        if review is None:
            raise Http404
        return review

    @staticmethod
    def _out(result: Review, review: Review):
        # The service returns the review row it locked; it has the same pair and queue.
        result.pair = review.pair
        return Response(review_payload(result))

    @extend_schema(parameters=[REVIEW_ID], request=DraftSerializer, responses=ReviewSerializer)
    @action(detail=True, methods=["put"], parser_classes=[JSONParser])
    def draft(self, request, pk=None):
        """Keep what you have typed (the body is the draft); renews a live reservation."""
        review = self.get_object()
        result = services.review_draft_save(
            review=review, reviewer=request.user, draft=request.data
        )
        return self._out(result, review)

    @extend_schema(parameters=[REVIEW_ID], request=SubmitSerializer, responses=ReviewSerializer)
    @action(detail=True, methods=["post"])
    def submit(self, request, pk=None):
        """Record your decision; submitting again is harmless (the first one stands)."""
        review = self.get_object()
        data = SubmitSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = services.review_submit(review=review, reviewer=request.user, **data.validated_data)
        return self._out(result, review)

    @extend_schema(parameters=[REVIEW_ID], request=None, responses=ReviewSerializer)
    @action(detail=True, methods=["post"])
    def skip(self, request, pk=None):
        """Pass on the pair: its slot goes back and you are not offered it again."""
        review = self.get_object()
        result = services.review_skip(review=review, reviewer=request.user)
        return self._out(result, review)


ITEM_LIST_PARAMS = [
    OpenApiParameter("status", str, enum=ItemStatus.values),
    OpenApiParameter("queue", int, description="Queue id."),
    OpenApiParameter("is_gold", bool),
]


@extend_schema_view(
    list=extend_schema(parameters=ITEM_LIST_PARAMS),
    retrieve=extend_schema(parameters=[ITEM_ID], responses=ReviewItemDetailSerializer),
)
class ReviewItemViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Pairs in queues with their outcome, for admins; ``?status=conflict`` lists the pairs
    waiting for adjudication."""

    required_roles = (ADMIN,)
    queryset = ReviewItem.objects.none()
    serializer_class = ReviewItemSerializer
    lookup_value_regex = r"\d+"

    def _base(self):
        return ReviewItem.objects.select_related(
            "pair__principle_version", "pair__task", "pair__domain", "adjudicated_by"
        ).defer(*(f"pair__{name}" for name in PAIR_UNUSED))

    def get_queryset(self):
        qs = self._base()
        params = self.request.query_params
        if params.get("status") in ItemStatus.values:
            qs = qs.filter(status=params["status"])
        queue = _int(params.get("queue"))
        if queue is not None:
            qs = qs.filter(queue_id=queue)
        gold = _bool(params.get("is_gold"))
        if gold is not None:
            qs = qs.filter(is_gold=gold)
        return qs.order_by("id")

    def get_object(self):
        item = self._base().filter(pk=self.kwargs["pk"]).first()
        if item is None:
            raise Http404
        return item

    def retrieve(self, request, *args, **kwargs):
        return Response(ReviewItemDetailSerializer(self.get_object()).data)

    @extend_schema(
        parameters=[ITEM_ID], request=AdjudicateSerializer, responses=ReviewItemDetailSerializer
    )
    @action(detail=True, methods=["post"])
    def adjudicate(self, request, pk=None):
        """Settle a pair: accept (optionally applying one reviewer's edit) or reject."""
        item = self.get_object()
        data = AdjudicateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.review_item_adjudicate(
            item=item,
            user=request.user,
            decision=data.validated_data["decision"],
            note=data.validated_data["note"],
            revision_id=data.validated_data["revision"],
        )
        return Response(ReviewItemDetailSerializer(self.get_object()).data)


@extend_schema_view(
    list=extend_schema(
        parameters=[
            OpenApiParameter(
                "owner", str, description="Owner's username (engineers and admins only)."
            )
        ],
    )
)
class PrincipleFeedbackViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Per principle: decided pairs, the share rejected and why; flagged principles come first
    with example pairs. Authors see their own principles, engineers and admins all."""

    required_roles = (AUTHOR, ENGINEER, ADMIN)
    queryset = Principle.objects.none()
    serializer_class = PrincipleFeedbackSerializer
    pagination_class = None

    def list(self, request, *args, **kwargs):
        user = request.user
        if has_role(user, ENGINEER, ADMIN):
            owner = None
            name = (request.query_params.get("owner") or "").strip()
            if name:
                owner = get_user_model().objects.filter(username=name).first()
                if owner is None:
                    return Response([])
        else:
            owner = user
        rows = selectors.principle_feedback(owner=owner)
        return Response(PrincipleFeedbackSerializer(rows, many=True).data)

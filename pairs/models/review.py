"""Human review of preference pairs: queues, the items in them, reviews and revisions.

A queue is a saved filter over preference pairs, the reviewers it is assigned to, how many
reviews each pair needs (N) and the rule that turns those reviews into the pair's final status.
Creating or refreshing a queue materialises one :class:`ReviewItem` per matching pair, so
"the next pair for this reviewer" is an indexed scan of one table, whatever the number of pairs.

A :class:`Review` is first a reservation (``reserved``), holding one of the item's N slots for
one reviewer until ``reserved_until``; it becomes ``submitted`` with the decision, ``skipped``
(the slot is freed, the reviewer is not offered the pair again) or ``expired`` (the slot is
freed, the draft is kept for its reviewer). The database enforces what the services promise:
one active review per item x slot and per item x reviewer, so N is never exceeded and no slot
is held twice, even when requests race.
"""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from .preferences import PreferencePair


class AggregationRule(models.TextChoices):
    UNANIMOUS = "unanimous", _("Unanimous (any disagreement goes to adjudication)")
    MAJORITY = "majority", _("Majority (a tie goes to adjudication)")
    ANY_REJECT = "any_reject", _("Any reject rejects")


class Decision(models.TextChoices):
    ACCEPT = "accept", _("Accept")
    REJECT = "reject", _("Reject")
    EDIT = "edit", _("Edit and accept")


class RejectReason(models.TextChoices):
    NOT_BROKEN = "not_broken", _("Does not break the principle")
    CHANGES_MORE = "changes_more", _("Changes more than the principle")
    REJECTED_BETTER = "rejected_better", _("Rejected is actually better")
    CHOSEN_POOR = "chosen_poor", _("Chosen is poor")
    WRONG_PRINCIPLE = "wrong_principle", _("Wrong principle")
    OTHER = "other", _("Other (comment)")


class ReviewQueue(models.Model):
    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    filters = models.JSONField(
        _("filters"),
        default=dict,
        blank=True,
        help_text=_(
            "Which pairs the queue holds: domain, task, language, principle, job, status and "
            "metric ranges."
        ),
    )
    reviews_required = models.PositiveSmallIntegerField(
        _("reviews per pair"),
        default=2,
        validators=[MinValueValidator(1), MaxValueValidator(10)],
    )
    rule = models.CharField(
        _("aggregation rule"),
        max_length=16,
        choices=AggregationRule.choices,
        default=AggregationRule.UNANIMOUS,
    )
    reservation_minutes = models.PositiveSmallIntegerField(
        _("reservation (minutes)"),
        default=20,
        validators=[MinValueValidator(1), MaxValueValidator(24 * 60)],
        help_text=_("How long a pair stays reserved for a reviewer who has opened it."),
    )
    gold_rate = models.FloatField(
        _("gold share"),
        default=0.0,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text=_("Share of the pairs a reviewer is given that are gold pairs (0 to 1)."),
    )
    reviewers = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        related_name="review_queues",
        blank=True,
        verbose_name=_("reviewers"),
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    refreshed_at = models.DateTimeField(_("filled at"), null=True, blank=True)

    class Meta:
        verbose_name = _("review queue")
        verbose_name_plural = _("review queues")
        ordering = ("-created_at", "-id")

    def __str__(self) -> str:
        return self.name


class ItemStatus(models.TextChoices):
    OPEN = "open", _("Open")
    CONFLICT = "conflict", _("Needs adjudication")
    DECIDED = "decided", _("Decided")


class ReviewItem(models.Model):
    """One pair in one queue: how many of its slots are taken, and its outcome."""

    queue = models.ForeignKey(
        ReviewQueue, on_delete=models.CASCADE, related_name="items", verbose_name=_("queue")
    )
    pair = models.ForeignKey(
        PreferencePair,
        on_delete=models.CASCADE,
        related_name="review_items",
        verbose_name=_("pair"),
    )
    status = models.CharField(
        _("status"), max_length=16, choices=ItemStatus.choices, default=ItemStatus.OPEN
    )
    taken = models.PositiveSmallIntegerField(
        _("slots taken"), default=0, help_text=_("Reserved plus submitted reviews.")
    )
    submitted = models.PositiveSmallIntegerField(_("reviews submitted"), default=0)
    is_gold = models.BooleanField(_("gold"), default=False)
    gold_decision = models.CharField(
        _("gold answer"),
        max_length=8,
        choices=[(Decision.ACCEPT, _("Accept")), (Decision.REJECT, _("Reject"))],
        blank=True,
    )
    gold_note = models.TextField(_("gold note"), blank=True)
    final_decision = models.CharField(
        _("final decision"),
        max_length=8,
        choices=[(Decision.ACCEPT, _("Accept")), (Decision.REJECT, _("Reject"))],
        blank=True,
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    adjudicated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("adjudicated by"),
    )
    adjudication_note = models.TextField(_("adjudication note"), blank=True)

    class Meta:
        verbose_name = _("review item")
        verbose_name_plural = _("review items")
        ordering = ("id",)
        constraints = [
            models.UniqueConstraint(fields=["queue", "pair"], name="review_item_once_per_queue"),
        ]
        indexes = [
            models.Index(fields=["queue", "is_gold", "status", "id"], name="review_item_status"),
            # "The next pair": only the open items, so the decided ones piling up at the start
            # of a long queue are never walked past.
            models.Index(
                fields=["queue", "id"],
                condition=Q(status="open", is_gold=False),
                name="review_item_open",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.queue_id}/{self.pair_id}"


class ReviewState(models.TextChoices):
    RESERVED = "reserved", _("Reserved")
    SUBMITTED = "submitted", _("Submitted")
    SKIPPED = "skipped", _("Skipped")
    EXPIRED = "expired", _("Expired")


ACTIVE_STATES = (ReviewState.RESERVED, ReviewState.SUBMITTED)


class Review(models.Model):
    item = models.ForeignKey(
        ReviewItem, on_delete=models.CASCADE, related_name="reviews", verbose_name=_("item")
    )
    # Denormalised from the item, for the per-queue and per-reviewer statistics.
    queue = models.ForeignKey(
        ReviewQueue, on_delete=models.CASCADE, related_name="reviews", verbose_name=_("queue")
    )
    pair = models.ForeignKey(
        PreferencePair, on_delete=models.CASCADE, related_name="reviews", verbose_name=_("pair")
    )
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="pair_reviews",
        verbose_name=_("reviewer"),
    )
    slot = models.PositiveSmallIntegerField(
        _("slot"), null=True, blank=True, help_text=_("Empty for gold pairs and freed slots.")
    )
    state = models.CharField(
        _("state"), max_length=16, choices=ReviewState.choices, default=ReviewState.RESERVED
    )
    is_gold = models.BooleanField(_("gold"), default=False)
    decision = models.CharField(_("decision"), max_length=8, choices=Decision.choices, blank=True)
    reasons = models.JSONField(_("reasons"), default=list, blank=True)
    comment = models.TextField(_("comment"), blank=True)
    edited_rejected = models.TextField(_("edited rejected response"), blank=True)
    draft = models.JSONField(
        _("draft"),
        default=dict,
        blank=True,
        help_text=_("What the reviewer has typed so far; only they can read it."),
    )
    reserved_at = models.DateTimeField(_("reserved at"), auto_now_add=True)
    reserved_until = models.DateTimeField(_("reserved until"))
    submitted_at = models.DateTimeField(_("submitted at"), null=True, blank=True)
    seconds_spent = models.FloatField(_("seconds spent"), null=True, blank=True)

    class Meta:
        verbose_name = _("review")
        verbose_name_plural = _("reviews")
        ordering = ("-id",)
        constraints = [
            models.UniqueConstraint(
                fields=["item", "slot"],
                condition=Q(state__in=["reserved", "submitted"], slot__isnull=False),
                name="review_one_per_slot",
            ),
            models.UniqueConstraint(
                fields=["item", "reviewer"],
                condition=Q(state__in=["reserved", "submitted", "skipped"]),
                name="review_once_per_reviewer",
            ),
            models.UniqueConstraint(
                fields=["queue", "reviewer"],
                condition=Q(state="reserved"),
                name="review_one_reservation_per_reviewer",
            ),
        ]
        indexes = [
            models.Index(fields=["queue", "reviewer", "state"], name="review_by_reviewer"),
            models.Index(fields=["queue", "state", "reserved_until"], name="review_expiry"),
            models.Index(fields=["queue", "state", "submitted_at"], name="review_submitted"),
        ]

    def __str__(self) -> str:
        return f"{self.reviewer_id} on {self.item_id}: {self.decision or self.state}"


class PairRevision(models.Model):
    """A reviewer's correction of a rejected response, with the text before and after."""

    pair = models.ForeignKey(
        PreferencePair, on_delete=models.CASCADE, related_name="revisions", verbose_name=_("pair")
    )
    review = models.OneToOneField(
        Review,
        on_delete=models.CASCADE,
        related_name="revision",
        verbose_name=_("review"),
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
        verbose_name=_("author"),
    )
    before = models.TextField(_("before"))
    after = models.TextField(_("after"))
    applied = models.BooleanField(
        _("applied"), default=False, help_text=_("Whether the pair's rejected text is this one.")
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("pair revision")
        verbose_name_plural = _("pair revisions")
        ordering = ("-id",)

    def __str__(self) -> str:
        return f"revision of #{self.pair_id} by {self.author_id}"

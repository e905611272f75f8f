"""Review: queues, reserving the next pair, drafts, decisions, aggregation and adjudication.

How "no two reviewers hold one slot and N is never exceeded" holds, on PostgreSQL and SQLite:

- A reservation first increments the item's ``taken`` with a conditional ``UPDATE ... WHERE
  taken < N`` (atomic: the row lock serialises racing claims, and the loser's condition is
  checked again against the winner's value), then inserts a :class:`Review` in the lowest free
  slot, in the same transaction. Partial unique constraints (one active review per item x slot
  and per item x reviewer) make a bug here fail loudly instead of over-filling.
- Locks are taken in one order everywhere (item, then review), so submits, skips, expiry and
  claims never deadlock.
- Expired reservations are released lazily, when anyone asks for the next pair of the queue:
  the slot is freed, the draft stays with its reviewer.
"""

from __future__ import annotations

import hashlib
import random
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, F, OuterRef
from django.utils import timezone
from django.utils.translation import gettext as _

from weaver_site.roles import ADMIN, ENGINEER, REVIEWER, has_role

from ..generation.metrics import Thresholds, metric_flags, minimality_metrics
from ..models import (
    ACTIVE_STATES,
    AggregationRule,
    Decision,
    ItemStatus,
    PairRevision,
    PreferencePair,
    PreferenceStatus,
    RejectReason,
    Review,
    ReviewItem,
    ReviewQueue,
    ReviewState,
)
from .filters import QueueFilters

#: How many candidate items one claim looks at before reading the queue again.
CLAIM_CANDIDATES = 8
#: Longest edited rejected response and comment a review keeps.
MAX_EDIT_CHARS = 100_000
MAX_COMMENT_CHARS = 5_000
DRAFT_KEYS = ("decision", "reasons", "comment", "edited_rejected", "active_seconds")


# --- Access --------------------------------------------------------------------------------


def can_manage_queues(user) -> bool:
    return has_role(user, ENGINEER, ADMIN)


def can_review(user, queue: ReviewQueue) -> bool:
    """Reviewers work the queues they are assigned to; nobody else is given pairs."""
    if not has_role(user, REVIEWER, ADMIN):
        return False
    return queue.reviewers.filter(pk=user.pk).exists()


def _check_reviewer(user, queue: ReviewQueue) -> None:
    if not can_review(user, queue):
        raise PermissionDenied(_("You are not a reviewer of this queue."))
    if not queue.is_active:
        raise ValidationError(_("This queue is closed."))


# --- Queues --------------------------------------------------------------------------------


def _check_reviewers(users) -> None:
    bad = [u.get_username() for u in users if not has_role(u, REVIEWER, ADMIN)]
    if bad:
        raise ValidationError(
            {"reviewers": _("Not reviewers: %(names)s.") % {"names": ", ".join(bad)}}
        )


def review_queue_create(
    *,
    name: str,
    created_by,
    filters: dict | None = None,
    reviews_required: int = 2,
    rule: str = AggregationRule.UNANIMOUS,
    reservation_minutes: int = 20,
    gold_rate: float = 0.0,
    reviewers=(),
    description: str = "",
) -> ReviewQueue:
    """A queue with the pairs its filters match: filled at once, or by a worker when they are
    more than ``WEAVER_REVIEW_SYNC_FILL_MAX``."""
    if not can_manage_queues(created_by):
        raise PermissionDenied(_("Only engineers and admins create review queues."))
    parsed = QueueFilters.from_dict(filters)
    queue = ReviewQueue(
        name=(name or "").strip(),
        description=description,
        filters=parsed.as_dict(),
        reviews_required=reviews_required,
        rule=rule,
        reservation_minutes=reservation_minutes,
        gold_rate=gold_rate,
        created_by=created_by,
    )
    if not queue.name:
        raise ValidationError({"name": _("A queue needs a name.")})
    queue.full_clean(exclude=["created_by"])
    reviewers = list(reviewers)
    _check_reviewers(reviewers)
    limit = settings.WEAVER_REVIEW_SYNC_FILL_MAX
    matching = parsed.apply(PreferencePair.objects.all()).order_by()[: limit + 1]
    with transaction.atomic():
        queue.save()
        queue.reviewers.set(reviewers)
        if matching.count() <= limit:
            review_queue_fill(queue=queue)
        else:
            # Hundreds of thousands of pairs take longer than a web request may: a worker on
            # the default queue fills it (``refreshed_at`` stays empty until then).
            from .tasks import fill_queue

            transaction.on_commit(lambda: fill_queue.delay(queue.pk))
    return queue


def review_queue_update(
    *, queue: ReviewQueue, user, reviewers=None, is_active: bool | None = None, **fields
) -> ReviewQueue:
    """Change a queue's settings. N can grow but not shrink below reviews already given."""
    if not can_manage_queues(user):
        raise PermissionDenied(_("Only engineers and admins change review queues."))
    allowed = {
        "name",
        "description",
        "reviews_required",
        "rule",
        "reservation_minutes",
        "gold_rate",
    }
    for key, value in fields.items():
        if key not in allowed:
            raise ValidationError({key: _("This setting cannot be changed.")})
        setattr(queue, key, value)
    if is_active is not None:
        queue.is_active = is_active
    if "reviews_required" in fields:
        most = (
            ReviewItem.objects.filter(queue=queue)
            .order_by("-taken")
            .values_list("taken", flat=True)
            .first()
        )
        if most and queue.reviews_required < most:
            raise ValidationError(
                {"reviews_required": _("Some pairs already have %(n)d reviews.") % {"n": most}}
            )
    queue.full_clean(exclude=["created_by"])
    with transaction.atomic():
        queue.save()
        if reviewers is not None:
            _check_reviewers(reviewers)
            queue.reviewers.set(reviewers)
        if "reviews_required" in fields:
            # Pairs that already have the (lower) number of reviews are decided now.
            now = timezone.now()
            for item in ReviewItem.objects.select_for_update().filter(
                queue=queue,
                is_gold=False,
                status=ItemStatus.OPEN,
                submitted__gte=queue.reviews_required,
            ):
                _aggregate(item, queue, now)
    return queue


def review_queue_fill(*, queue: ReviewQueue) -> int:
    """Add the pairs that match the queue's filters and are not in it yet; return how many.

    One ``INSERT ... SELECT`` whatever the number of pairs; generated pairs become "in review".
    """
    filters = QueueFilters.from_dict(queue.filters)
    pairs = filters.apply(PreferencePair.objects.all()).filter(
        ~Exists(ReviewItem.objects.filter(queue=queue, pair=OuterRef("pk")))
    )
    select_sql, params = (
        pairs.order_by().annotate(pid=F("pk")).values_list("pid").query.sql_with_params()
    )
    item = ReviewItem._meta
    table = connection.ops.quote_name(item.db_table)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} (queue_id, pair_id, status, taken, submitted, is_gold, "  # noqa: S608 - names from the model, values bound
                "gold_decision, gold_note, final_decision, adjudication_note) "
                f"SELECT %s, sub.pid, %s, 0, 0, %s, '', '', '', '' FROM ({select_sql}) sub "
                "ORDER BY sub.pid",
                [queue.pk, ItemStatus.OPEN, False, *params],
            )
            added = cursor.rowcount
        PreferencePair.objects.filter(
            status=PreferenceStatus.GENERATED,
            pk__in=ReviewItem.objects.filter(queue=queue, status=ItemStatus.OPEN).values("pair_id"),
        ).update(status=PreferenceStatus.IN_REVIEW, updated_at=timezone.now())
        ReviewQueue.objects.filter(pk=queue.pk).update(refreshed_at=timezone.now())
    return max(added, 0)


def review_gold_add(
    *, queue: ReviewQueue, user, pair: PreferencePair, decision: str, note: str = ""
) -> ReviewItem:
    """Make ``pair`` a gold pair of the queue, with its known answer."""
    if not can_manage_queues(user):
        raise PermissionDenied(_("Only engineers and admins add gold pairs."))
    if decision not in (Decision.ACCEPT, Decision.REJECT):
        raise ValidationError({"decision": _("A gold answer is accept or reject.")})
    if not pair.rejected:
        raise ValidationError({"pair": _("This pair has no rejected response.")})
    with transaction.atomic():
        item, created = ReviewItem.objects.select_for_update().get_or_create(
            queue=queue,
            pair=pair,
            defaults={"is_gold": True, "gold_decision": decision, "gold_note": note},
        )
        if not created:
            if not item.is_gold and item.taken:
                raise ValidationError(
                    {"pair": _("This pair is already being reviewed in this queue.")}
                )
            item.is_gold, item.gold_decision, item.gold_note = True, decision, note
            item.save(update_fields=["is_gold", "gold_decision", "gold_note"])
    return item


# --- Reserving the next pair ---------------------------------------------------------------


def _reservation_end(queue: ReviewQueue, now):
    return now + timedelta(minutes=queue.reservation_minutes)


def review_expire_stale(*, queue: ReviewQueue, now=None, reviewer=None) -> int:
    """Free the slots of reservations that ran out (only ``reviewer``'s, when given); their
    drafts stay with their reviewers."""
    now = now or timezone.now()
    stale = Review.objects.filter(queue=queue, state=ReviewState.RESERVED, reserved_until__lte=now)
    if reviewer is not None:
        stale = stale.filter(reviewer=reviewer)
    stale = list(stale.values_list("pk", "item_id", "is_gold")[:200])
    freed = 0
    for pk, item_id, is_gold in stale:
        with transaction.atomic():
            list(ReviewItem.objects.select_for_update().filter(pk=item_id).values_list("pk"))
            done = Review.objects.filter(
                pk=pk, state=ReviewState.RESERVED, reserved_until__lte=now
            ).update(state=ReviewState.EXPIRED, slot=None)
            if done and not is_gold:
                ReviewItem.objects.filter(pk=item_id).update(taken=F("taken") - 1)
            freed += done
    return freed


def _gold_turn(queue: ReviewQueue, reviewer) -> bool:
    """Whether this reviewer's next pair is a gold pair: a deterministic draw per reviewer and
    position, so reviewers cannot tell gold pairs by when they come."""
    if queue.gold_rate <= 0:
        return False
    done = Review.objects.filter(
        queue=queue, reviewer=reviewer, state__in=(ReviewState.SUBMITTED, ReviewState.SKIPPED)
    ).count()
    seed = hashlib.sha256(f"{queue.pk}:{reviewer.pk}:{done}".encode()).digest()
    return random.Random(seed).random() < queue.gold_rate


def not_seen_by(reviewer):
    """Items this reviewer holds, has reviewed or has skipped are left out."""
    return ~Exists(
        Review.objects.filter(
            item=OuterRef("pk"),
            reviewer=reviewer,
            state__in=(*ACTIVE_STATES, ReviewState.SKIPPED),
        )
    )


def _claim_gold(queue: ReviewQueue, reviewer, now) -> Review | None:
    item = (
        ReviewItem.objects.filter(queue=queue, is_gold=True)
        .filter(not_seen_by(reviewer))
        .order_by("id")
        .values_list("pk", "pair_id")
        .first()
    )
    if item is None:
        return None
    try:
        with transaction.atomic():
            return Review.objects.create(
                item_id=item[0],
                queue=queue,
                pair_id=item[1],
                reviewer=reviewer,
                slot=None,
                is_gold=True,
                reserved_until=_reservation_end(queue, now),
            )
    except IntegrityError:
        return _reserved_elsewhere(queue, reviewer, now)


def _reserved_elsewhere(queue: ReviewQueue, reviewer, now) -> Review | None:
    """After a claim lost to the reviewer's own request in another tab (one reservation per
    reviewer and queue): the reservation that request made, which both then show."""
    return (
        Review.objects.filter(
            queue=queue, reviewer=reviewer, state=ReviewState.RESERVED, reserved_until__gt=now
        )
        .order_by("id")
        .first()
    )


def _free_slots(item_id: int, n: int, *, exclude: int | None = None) -> list[int]:
    """The item's slots (0 to N - 1) that no active review holds, lowest first."""
    used = Review.objects.filter(item_id=item_id, state__in=ACTIVE_STATES, slot__isnull=False)
    if exclude is not None:
        used = used.exclude(pk=exclude)
    return sorted(set(range(n)) - set(used.values_list("slot", flat=True)))


def _claim_item(queue: ReviewQueue, reviewer, item_id: int, pair_id: int, now) -> Review | None:
    n = queue.reviews_required
    try:
        with transaction.atomic():
            won = ReviewItem.objects.filter(pk=item_id, status=ItemStatus.OPEN, taken__lt=n).update(
                taken=F("taken") + 1
            )
            if not won:
                return None
            slot = _free_slots(item_id, n)[0]
            return Review.objects.create(
                item_id=item_id,
                queue=queue,
                pair_id=pair_id,
                reviewer=reviewer,
                slot=slot,
                reserved_until=_reservation_end(queue, now),
            )
    except IntegrityError:
        # This reviewer reserved a pair in another tab at the same moment: the transaction is
        # rolled back, ``taken`` with it.
        return _reserved_elsewhere(queue, reviewer, now)


def review_next(*, queue: ReviewQueue, reviewer, now=None) -> Review | None:
    """The reviewer's current reservation in the queue, or a new one on the next pair they have
    not reviewed; None when the queue holds nothing more for them."""
    _check_reviewer(reviewer, queue)
    now = now or timezone.now()
    # A reviewer holds at most one reservation per queue (a constraint says so).
    current = (
        Review.objects.filter(queue=queue, reviewer=reviewer, state=ReviewState.RESERVED)
        .order_by("id")
        .first()
    )
    if current is not None:
        if current.reserved_until > now:
            return current
        review_expire_stale(queue=queue, now=now, reviewer=reviewer)
    if Review.objects.filter(
        queue=queue, state=ReviewState.RESERVED, reserved_until__lte=now
    ).exists():
        review_expire_stale(queue=queue, now=now)
    if _gold_turn(queue, reviewer):
        review = _claim_gold(queue, reviewer, now)
        if review is not None:
            return review
    rng = random.Random()
    for _attempt in range(6):
        candidates = list(
            ReviewItem.objects.filter(
                queue=queue,
                is_gold=False,
                status=ItemStatus.OPEN,
                taken__lt=queue.reviews_required,
            )
            .filter(not_seen_by(reviewer))
            .order_by("id")
            .values_list("pk", "pair_id")[:CLAIM_CANDIDATES]
        )
        if not candidates:
            return None
        # Reviewers asking at once would all race for the first pair: try the first two in
        # order (pairs are finished oldest first), the rest shuffled.
        head, tail = candidates[:2], candidates[2:]
        rng.shuffle(tail)
        for item_id, pair_id in head + tail:
            review = _claim_item(queue, reviewer, item_id, pair_id, now)
            if review is not None:
                return review
    return None


# --- Drafts --------------------------------------------------------------------------------


def _own(review: Review, reviewer) -> None:
    if review.reviewer_id != reviewer.pk:
        raise PermissionDenied(_("This is another reviewer's review."))


def _clean_draft(data) -> dict:
    if not isinstance(data, dict):
        raise ValidationError({"draft": _("Expected an object.")})
    unknown = sorted(set(data) - set(DRAFT_KEYS))
    if unknown:
        raise ValidationError({"draft": _("Unknown field: %(f)s.") % {"f": ", ".join(unknown)}})
    draft = {}
    decision = data.get("decision") or ""
    if decision and decision not in Decision.values:
        raise ValidationError({"decision": _("Unknown decision.")})
    draft["decision"] = decision
    reasons = data.get("reasons") or []
    if not isinstance(reasons, list) or any(r not in RejectReason.values for r in reasons):
        raise ValidationError({"reasons": _("Unknown reason.")})
    draft["reasons"] = list(dict.fromkeys(reasons))
    for key, limit in (("comment", MAX_COMMENT_CHARS), ("edited_rejected", MAX_EDIT_CHARS)):
        value = data.get(key) or ""
        if not isinstance(value, str):
            raise ValidationError({key: _("Expected text.")})
        if len(value) > limit:
            raise ValidationError({key: _("At most %(n)d characters.") % {"n": limit}})
        draft[key] = value
    seconds = data.get("active_seconds")
    if seconds not in (None, ""):
        try:
            draft["active_seconds"] = max(0.0, float(seconds))
        except (TypeError, ValueError):
            raise ValidationError({"active_seconds": _("Expected a number.")}) from None
    return draft


def review_draft_save(*, review: Review, reviewer, draft: dict, now=None) -> Review:
    """Keep what the reviewer has typed; a live reservation is extended while they work."""
    _own(review, reviewer)
    clean = _clean_draft(draft)
    now = now or timezone.now()
    unsubmitted = Review.objects.filter(pk=review.pk).exclude(state=ReviewState.SUBMITTED)
    if not unsubmitted.update(draft=clean):
        raise ValidationError(_("This review is already submitted."))
    review.draft = clean
    # Still reserved (not expired meanwhile): the reservation lasts while they work.
    until = _reservation_end(review.queue, now)
    if unsubmitted.filter(state=ReviewState.RESERVED).update(reserved_until=until):
        review.reserved_until = until
    return review


# --- Decisions -----------------------------------------------------------------------------


def _clean_decision(review: Review, decision, reasons, comment, edited_rejected) -> tuple:
    if decision not in Decision.values:
        raise ValidationError({"decision": _("Choose accept, reject or edit.")})
    reasons = list(dict.fromkeys(reasons or []))
    comment = (comment or "").strip()
    edited = edited_rejected or ""
    if len(comment) > MAX_COMMENT_CHARS:
        raise ValidationError(
            {"comment": _("At most %(n)d characters.") % {"n": MAX_COMMENT_CHARS}}
        )
    if decision == Decision.REJECT:
        if not reasons:
            raise ValidationError({"reasons": _("Give at least one reason to reject.")})
        bad = [r for r in reasons if r not in RejectReason.values]
        if bad:
            raise ValidationError(
                {"reasons": _("Unknown reason: %(r)s.") % {"r": ", ".join(map(str, bad))}}
            )
        if RejectReason.OTHER in reasons and not comment:
            raise ValidationError({"comment": _("Say what is wrong when the reason is “other”.")})
    else:
        reasons = []
    if decision == Decision.EDIT:
        if not edited.strip():
            raise ValidationError({"edited_rejected": _("The edited response is empty.")})
        if len(edited) > MAX_EDIT_CHARS:
            raise ValidationError(
                {"edited_rejected": _("At most %(n)d characters.") % {"n": MAX_EDIT_CHARS}}
            )
        if edited == review.pair.rejected:
            raise ValidationError(
                {"edited_rejected": _("The edit is the same as the rejected response.")}
            )
    else:
        edited = ""
    return decision, reasons, comment, edited


def review_submit(
    *,
    review: Review,
    reviewer,
    decision: str,
    reasons=(),
    comment: str = "",
    edited_rejected: str = "",
    active_seconds: float | None = None,
    now=None,
) -> Review:
    """Record a decision. Submitting twice is harmless (the first one stands); a reservation
    that ran out is taken back if its slot is still free, else the submit is refused and the
    draft kept."""
    _own(review, reviewer)
    now = now or timezone.now()
    decision, reasons, comment, edited = _clean_decision(
        review, decision, reasons, comment, edited_rejected
    )
    queue = review.queue
    with transaction.atomic():
        item = ReviewItem.objects.select_for_update().get(pk=review.item_id)
        locked = Review.objects.select_for_update().get(pk=review.pk)
        if locked.state == ReviewState.SUBMITTED:
            return locked
        if locked.state == ReviewState.SKIPPED:
            raise ValidationError(_("You skipped this pair."))
        if locked.state == ReviewState.EXPIRED:
            _retake(locked, item, queue)
        if not locked.is_gold and item.status != ItemStatus.OPEN:
            raise ValidationError(_("This pair has already been decided."))
        wall = max(0.0, (now - locked.reserved_at).total_seconds())
        spent = wall if active_seconds is None else min(max(0.0, float(active_seconds)), wall)
        locked.state = ReviewState.SUBMITTED
        locked.decision, locked.reasons, locked.comment = decision, reasons, comment
        locked.edited_rejected = edited
        locked.submitted_at = now
        locked.seconds_spent = round(spent, 2)
        locked.draft = {}
        locked.save()
        if edited:
            PairRevision.objects.create(
                pair_id=locked.pair_id,
                review=locked,
                author=reviewer,
                before=review.pair.rejected,
                after=edited,
            )
        if not locked.is_gold:
            item.submitted += 1
            ReviewItem.objects.filter(pk=item.pk).update(submitted=F("submitted") + 1)
            if item.submitted >= queue.reviews_required:
                _aggregate(item, queue, now)
    return locked


def _retake(review: Review, item: ReviewItem, queue: ReviewQueue) -> None:
    """Give an expired reservation its slot back, if nobody has taken it meanwhile."""
    if Review.objects.filter(
        item=item, reviewer=review.reviewer_id, state__in=(*ACTIVE_STATES, ReviewState.SKIPPED)
    ).exists():
        raise ValidationError(
            _("You have this pair open again in another review; your draft here is kept.")
        )
    if review.is_gold:
        review.slot = None
        return
    free = _free_slots(item.pk, queue.reviews_required, exclude=review.pk)
    if item.status != ItemStatus.OPEN or item.taken >= queue.reviews_required or not free:
        raise ValidationError(
            _("Your reservation ran out and the pair went to another reviewer. Your draft is kept.")
        )
    ReviewItem.objects.filter(pk=item.pk).update(taken=F("taken") + 1)
    item.taken += 1
    review.slot = free[0]


def review_skip(*, review: Review, reviewer) -> Review:
    """Pass on a pair: its slot goes back to the queue and this reviewer is not offered it
    again."""
    _own(review, reviewer)
    with transaction.atomic():
        list(ReviewItem.objects.select_for_update().filter(pk=review.item_id).values_list("pk"))
        locked = Review.objects.select_for_update().get(pk=review.pk)
        if locked.state == ReviewState.SUBMITTED:
            raise ValidationError(_("This review is already submitted."))
        held = locked.state == ReviewState.RESERVED and not locked.is_gold
        locked.state, locked.slot = ReviewState.SKIPPED, None
        locked.save(update_fields=["state", "slot"])
        if held:
            ReviewItem.objects.filter(pk=locked.item_id).update(taken=F("taken") - 1)
    return locked


def verdict(decision: str) -> str:
    """Accept or reject: an edit counts as accept."""
    return Decision.REJECT if decision == Decision.REJECT else Decision.ACCEPT


def aggregate_decisions(rule: str, decisions: list[str]) -> str | None:
    """The final decision (accept or reject) under ``rule``, or None for a conflict."""
    verdicts = [verdict(d) for d in decisions]
    accepts = verdicts.count(Decision.ACCEPT)
    rejects = len(verdicts) - accepts
    if rule == AggregationRule.ANY_REJECT:
        return Decision.REJECT if rejects else Decision.ACCEPT
    if rule == AggregationRule.MAJORITY:
        if accepts == rejects:
            return None
        return Decision.ACCEPT if accepts > rejects else Decision.REJECT
    if rejects == 0:
        return Decision.ACCEPT
    if accepts == 0:
        return Decision.REJECT
    return None


def _aggregate(item: ReviewItem, queue: ReviewQueue, now) -> None:
    reviews = list(
        Review.objects.filter(item=item, state=ReviewState.SUBMITTED, is_gold=False).order_by(
            "submitted_at", "id"
        )
    )
    final = aggregate_decisions(queue.rule, [r.decision for r in reviews])
    if final is None:
        ReviewItem.objects.filter(pk=item.pk).update(status=ItemStatus.CONFLICT)
        return
    _decide(item, final, now, edits=[r for r in reviews if r.decision == Decision.EDIT])


def _decide(item: ReviewItem, final: str, now, *, edits=(), user=None, note="") -> None:
    ReviewItem.objects.filter(pk=item.pk).update(
        status=ItemStatus.DECIDED,
        final_decision=final,
        decided_at=now,
        adjudicated_by=user,
        adjudication_note=note,
    )
    pair = (
        PreferencePair.objects.select_for_update(of=("self",))
        .select_related("job")
        .get(pk=item.pair_id)
    )
    pair.status = (
        PreferenceStatus.ACCEPTED if final == Decision.ACCEPT else PreferenceStatus.REJECTED
    )
    pair.reviewed_by = user
    fields = ["status", "reviewed_by", "updated_at"]
    if final == Decision.ACCEPT and edits:
        _apply_revision(pair, PairRevision.objects.get(review=list(edits)[-1]))
        fields += ["rejected", "metrics", "flags", "flagged"]
    pair.save(update_fields=fields)


def _apply_revision(pair: PreferencePair, revision: PairRevision) -> None:
    """The pair's rejected text becomes the reviewer's edit; its metrics are measured again."""
    pair.rejected = revision.after
    pair.metrics = minimality_metrics(pair.chosen, pair.rejected, language=pair.language)
    params = pair.job.params if pair.job_id and isinstance(pair.job.params, dict) else {}
    pair.flags = metric_flags(pair.metrics, Thresholds.from_dict(params.get("thresholds")))
    pair.flagged = bool(pair.flags)
    PairRevision.objects.filter(pair=pair, applied=True).update(applied=False)
    PairRevision.objects.filter(pk=revision.pk).update(applied=True)


def review_item_adjudicate(
    *, item: ReviewItem, user, decision: str, note: str = "", revision_id: int | None = None
) -> ReviewItem:
    """An admin settles a pair: accept (optionally with one of the reviewers' edits) or reject."""
    if not has_role(user, ADMIN):
        raise PermissionDenied(_("Only admins adjudicate."))
    if decision not in (Decision.ACCEPT, Decision.REJECT):
        raise ValidationError({"decision": _("Choose accept or reject.")})
    with transaction.atomic():
        locked = ReviewItem.objects.select_for_update().get(pk=item.pk)
        if locked.is_gold:
            raise ValidationError(_("Gold pairs are not adjudicated."))
        edits = []
        if revision_id:
            revision = PairRevision.objects.filter(
                pk=revision_id, pair_id=locked.pair_id, review__item=locked
            ).first()
            if revision is None:
                raise ValidationError({"revision": _("Not an edit of this pair.")})
            if decision != Decision.ACCEPT:
                raise ValidationError({"revision": _("An edit is applied only when accepting.")})
            edits = [revision.review]
        _decide(locked, decision, timezone.now(), edits=edits, user=user, note=note.strip())
        locked.refresh_from_db()
    return locked


def flag_threshold() -> tuple[float, int]:
    """(rejection rate, minimum decided pairs) above which a principle is flagged."""
    return settings.WEAVER_REVIEW_FLAG_RATE, settings.WEAVER_REVIEW_FLAG_MIN_PAIRS
